/**
 * Invalidation cost against the number of entries, in its own process (forked by run.mjs;
 * argv[2] = JSON { quick, redisUrl, cases }): for each case, a fresh tenant is filled with
 * `entries` entries carrying one tag, then one `invalidateTags` of that tag or one `clearScope`
 * of the tenant is timed, on a fresh tenant per trial. On Redis the commands the operation ran
 * are counted from `INFO commandstats` (the script and the commands inside it). O(1) means the
 * figures stay flat from 1,000 to 100,000 entries.
 *
 * Our stores come from the BUILT library (dist/, or the runner's snapshot of it).
 */
import { Redis } from 'ioredis';
import { performance } from 'node:perf_hooks';
import { libModule } from './lib/built.mjs';
import { summarize } from './lib/stats.mjs';

const { newStamp } = await libModule('envelope/envelope.js');
const { KeyScope, storageKey } = await libModule('keys/storage-key.js');
const { MemoryStore } = await libModule('stores/memory.store.js');
const { RedisStore } = await libModule('stores/redis.store.js');

const config = JSON.parse(process.argv[2] ?? '{}');
const TTL_MS = 600_000;
let tenantSeq = 0;

function envelope(key, value) {
  return { value, createdAt: Date.now(), expiresAt: 0, stamp: newStamp(), scope: key.scope.id, tags: ['hot'] };
}

/** A fresh tenant holding `n` entries, all tagged 'hot'. */
async function filledTenant(store, n, batch) {
  const scope = KeyScope.of('bench-inv', `tenant-${process.pid}-${++tenantSeq}`);
  for (let i = 0; i < n; i += batch) {
    const writes = [];
    for (let j = i; j < Math.min(i + batch, n); j++) {
      const key = storageKey(scope, 'entry', `item:${j}`);
      writes.push(store.set(key, envelope(key, { id: j, name: 'entry' }), TTL_MS));
    }
    await Promise.all(writes);
  }
  return scope;
}

/** Data-path commands Redis ran (connection and introspection commands left out). */
async function commandCount(raw) {
  let total = 0;
  for (const [, command, calls] of String(await raw.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),/gm)) {
    if (!/^(info|ping|client|config|command)/.test(command)) total += Number(calls);
  }
  return total;
}

const operations = {
  invalidateTags: (store, scope) => store.invalidateTags([storageKey(scope, 'tag', 'hot')]),
  clearScope: (store, scope) => store.clearScope(scope),
};

async function runCase(c, stores) {
  const { store, raw, batch } = stores[c.store];
  const op = operations[c.op];
  const trials = config.quick ? 2 : c.entries >= 100_000 ? 3 : 7;
  const ms = [];
  const commands = [];
  // One warm-up on a small tenant: scripts loaded, code paths compiled.
  await op(store, await filledTenant(store, 10, batch));
  for (let t = 0; t < trials; t++) {
    const scope = await filledTenant(store, c.entries, batch);
    const before = raw ? await commandCount(raw) : 0;
    const started = performance.now();
    await op(store, scope);
    ms.push(performance.now() - started);
    if (raw) commands.push((await commandCount(raw)) - before);
    if (c.store === 'memory') store.sweep(); // reclaim, so the next fill starts from the same place
    else await store.purgeScope(scope);
  }
  return { name: c.name, store: c.store, op: c.op, entries: c.entries, ...summarize(ms), commands: commands.length ? summarize(commands).median : undefined };
}

async function main() {
  const stores = {
    memory: { store: new MemoryStore({ maxEntries: 150_000, maxBytes: 2 ** 34, sweepInterval: 0 }), batch: 1_000 },
  };
  if (config.redisUrl) {
    const raw = new Redis(config.redisUrl);
    stores.redis = { store: new RedisStore({ url: config.redisUrl, commandTimeout: 5_000, logger: false }), raw, batch: 2_000 };
  }
  const results = {};
  try {
    for (const c of config.cases) {
      if (!stores[c.store]) continue;
      results[c.id] = await runCase(c, stores);
      process.stderr.write(`  invalidation ${c.name}: ${results[c.id].median.toFixed(3)} ms${results[c.id].commands === undefined ? '' : `, ${results[c.id].commands} Redis commands`}\n`);
    }
  } finally {
    for (const { store, raw } of Object.values(stores)) {
      await store.close();
      raw?.disconnect();
    }
  }
  return results;
}

const reply = process.send ? (m) => (process.send(m), process.disconnect()) : (m) => console.log(JSON.stringify(m, null, 2));
main().then(
  (results) => reply({ results }),
  (err) => {
    reply({ failed: String(err?.stack ?? err) });
    process.exitCode = 1;
  },
);
