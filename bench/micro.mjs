/**
 * Micro benchmarks, in their own process (forked by run.mjs; argv[2] = JSON { quick, redisUrl }).
 * Cases of one group run interleaved (A B C A B C ...) for a fixed time per round; the figure is
 * the median ops/s over the measured rounds, after one warm-up round.
 *
 * Each case is `{ id, name, group, setup }`; `setup()` resolves `{ batch(n, offset), teardown? }`
 * where `batch` performs n operations and returns something derived from the results (so nothing
 * is optimised away). Each case owns its loop, so no shared call site is megamorphic.
 *
 * Our stores come from the BUILT library (dist/, or the runner's snapshot of it); they are internals, hence paths.
 * Whole-engine cases (ours against bentocache and cacheable; tenant scaling; bentocache's Redis get) are in micro-engines.mjs.
 */
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { performance } from 'node:perf_hooks';
import { libModule } from './lib/built.mjs';
import { PAYLOAD } from './lib/payload.mjs';
import { summarize } from './lib/stats.mjs';
import { engineCases } from './micro-engines.mjs';

const { newStamp } = await libModule('envelope/envelope.js');
const { KeyScope, storageKey } = await libModule('keys/storage-key.js');
const { MemoryStore } = await libModule('stores/memory.store.js');
// internalsOf: the manager's store access per tenant and its engine, for the HTTP lookup rows (micro-engines.mjs).
const { CacheManager, internalsOf } = await libModule('cache/cache-manager.js');
const { RedisStore } = await libModule('stores/redis.store.js');
const { encodeEntry } = await libModule('envelope/wire.js');
const { JsonCodec } = await libModule('envelope/codecs/json.codec.js');
const { DEFAULT_DECODE_LIMITS } = await libModule('envelope/decode-limits.js');

const config = JSON.parse(process.argv[2] ?? '{}');
const ROUNDS = config.quick ? 2 : 7;
const ROUND_MS = config.quick ? 150 : 400;
const TTL_MS = 600_000;

const IDX_BITS = 16;
const IDX_MASK = (1 << IDX_BITS) - 1;
/** A fixed pseudo-random access sequence (same for every case of a size). */
function accessSequence(n) {
  const idx = new Uint32Array(1 << IDX_BITS);
  let x = 0x9e3779b9;
  for (let i = 0; i < idx.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    idx[i] = (x >>> 0) % n;
  }
  return idx;
}

function envelopeFor(scope, value) {
  const now = Date.now();
  return { value, createdAt: now, expiresAt: now + TTL_MS, stamp: newStamp(), scope: scope.id };
}

/**
 * A new envelope object for each set (same fields), as a real write brings a new value: setting
 * the very object already stored would let lru-cache take its "same value" shortcut.
 */
function fresh(env) {
  return { value: env.value, createdAt: env.createdAt, expiresAt: env.expiresAt, stamp: env.stamp, scope: env.scope };
}

/** N storage keys (prebuilt, as TenantCache hands them to the store), their envelopes, an access sequence. */
function dataset(n, namespace = 'bench') {
  const scope = KeyScope.of(namespace, 'acme');
  const keys = new Array(n);
  const envs = new Array(n);
  for (let i = 0; i < n; i++) {
    keys[i] = storageKey(scope, 'entry', `item:${i}`);
    envs[i] = envelopeFor(scope, { ...PAYLOAD, id: i });
  }
  return { scope, keys, fulls: keys.map((k) => k.full), envs, idx: accessSequence(n) };
}

/**
 * The same keys holding what `@Cached()` stores for an HTTP response: the body as a string (a
 * primitive, so the store hands it out without a copy) plus the response metadata.
 */
function responseDataset(n) {
  const data = dataset(n);
  const body = JSON.stringify(PAYLOAD);
  const http = { status: 200, etag: '"bench"', headers: [['content-type', 'application/json; charset=utf-8']] };
  return { ...data, envs: data.envs.map((e) => ({ ...e, value: body, http })) };
}

/** A raw lru-cache with the settings our store gives it (same max, per-entry TTL, no stale reads, no age update), filled. */
function filledLru(keys, envs) {
  const lru = new LRUCache({ max: keys.length, allowStale: false, updateAgeOnGet: false });
  for (let i = 0; i < keys.length; i++) lru.set(keys[i], envs[i], { ttl: TTL_MS });
  return lru;
}

/**
 * Our MemoryStore with our settings, filled with the same entries. The byte bound (64 MiB by
 * default) is raised so that it holds all of them, as the raw lru-cache does: 100,000 entries of
 * ~1.5 KB estimated would not fit, and the hit cases would measure misses. One tenant, so the
 * tenant share never evicts (a tenant alone may fill the store).
 */
async function filledStore(keys, envs) {
  const store = new MemoryStore({ maxEntries: keys.length, maxBytes: 2 ** 40, sweepInterval: 0 });
  for (let i = 0; i < keys.length; i++) await store.set(keys[i], envs[i], TTL_MS);
  if (store.stats().entries !== keys.length) throw new Error(`the store holds ${store.stats().entries} of ${keys.length} entries: every get case must hit`);
  return store;
}

/** A `Map` holding the same entries. */
function filledMap(keys, envs) {
  const map = new Map();
  for (let i = 0; i < keys.length; i++) map.set(keys[i], envs[i]);
  return map;
}

// ---- memory: get and set at 10k and 100k entries ---------------------------------------------

function memoryCases(n, label) {
  let data;
  let responses;
  const ds = () => (data ??= dataset(n));
  const group = (op) => `memory.${op}.${label}`;
  return [
    // Group get: synchronous reads, the HTTP hit path (getSync) against raw lru.get.
    // Group getAwaited: the async contract (await store.get) against raw lru.get awaited the same way.
    {
      id: `memory.get.${label}.oursSync`, name: `ours MemoryStore.getSync (the hit path), ${label}`, group: group('get'),
      async setup() {
        const { keys, envs, idx } = ds();
        const store = await filledStore(keys, envs);
        return {
          batch(count, off) {
            let hits = 0;
            for (let i = 0; i < count; i++) if (store.getSync(keys[idx[(off + i) & IDX_MASK]]) !== undefined) hits++;
            return hits;
          },
          teardown: () => store.close(),
        };
      },
    },
    {
      // The HTTP hit path proper: string values, which getSync hands out with no copy (an object
      // value, as in oursSync above, is deep-copied on every read so no caller can change the cache).
      id: `memory.get.${label}.oursSyncResponse`, name: `ours MemoryStore.getSync of HTTP responses (string values), ${label}`, group: group('get'),
      async setup() {
        const { keys, envs, idx } = (responses ??= responseDataset(n));
        const store = await filledStore(keys, envs);
        return {
          // Reads the body as the hit path does (so the envelope's load is counted here on every version).
          batch(count, off) {
            let bytes = 0;
            for (let i = 0; i < count; i++) bytes += store.getSync(keys[idx[(off + i) & IDX_MASK]])?.value.length ?? 0;
            return bytes;
          },
          teardown: () => store.close(),
        };
      },
    },
    ...(config.redisUrl === undefined || n > 10_000
      ? []
      : [
          {
            // The same read from a tiered store's L1 (memory over Redis, bus subscribed): the hit path of `type: 'tiered'`.
            id: `memory.get.${label}.tieredSyncResponse`, name: `ours TieredStore.getSync of HTTP responses (L1 hit), ${label}`, group: group('get'),
            async setup() {
              const { keys, envs, idx } = (responses ??= responseDataset(n));
              const manager = await CacheManager.create({
                namespace: `micro-tiered-${process.pid}`,
                store: { type: 'tiered', l1: { maxEntries: keys.length, maxBytes: 2 ** 40, sweepInterval: 0 }, l2: { url: config.redisUrl } },
                logger: false,
              });
              const store = manager.store;
              for (let i = 0; i < keys.length; i++) await store.set(keys[i], envs[i], TTL_MS);
              if (store.stats().entries !== keys.length) throw new Error(`L1 holds ${store.stats().entries} of ${keys.length} entries: every get case must hit`);
              return {
                batch(count, off) {
                  let bytes = 0;
                  for (let i = 0; i < count; i++) bytes += store.getSync(keys[idx[(off + i) & IDX_MASK]])?.value.length ?? 0;
                  return bytes;
                },
                teardown: () => manager.close(),
              };
            },
          },
        ]),
    {
      // The base of the target: raw lru-cache holding the same HTTP-response envelopes, read the same way.
      id: `memory.get.${label}.lruResponse`, name: `raw lru-cache get of HTTP responses (string values), ${label}`, group: group('get'),
      async setup() {
        const { fulls, envs, idx } = (responses ??= responseDataset(n));
        const lru = filledLru(fulls, envs);
        return {
          batch(count, off) {
            let bytes = 0;
            for (let i = 0; i < count; i++) bytes += lru.get(fulls[idx[(off + i) & IDX_MASK]])?.value.length ?? 0;
            return bytes;
          },
        };
      },
    },
    {
      id: `memory.get.${label}.lru`, name: `raw lru-cache get (sync), ${label}`, group: group('get'),
      async setup() {
        const { fulls, envs, idx } = ds();
        const lru = filledLru(fulls, envs);
        return {
          batch(count, off) {
            let hits = 0;
            for (let i = 0; i < count; i++) if (lru.get(fulls[idx[(off + i) & IDX_MASK]]) !== undefined) hits++;
            return hits;
          },
        };
      },
    },
    {
      // Where getSync's gap comes from: the same raw lru.get, but the key read from a StorageKey
      // (key.full, one more dependent load per call) as every store call receives it.
      id: `memory.get.${label}.lruViaKey`, name: `raw lru-cache get of key.full (StorageKey input), ${label}`, group: group('get'),
      async setup() {
        const { keys, envs, idx } = ds();
        const lru = filledLru(keys.map((k) => k.full), envs);
        return {
          batch(count, off) {
            let hits = 0;
            for (let i = 0; i < count; i++) if (lru.get(keys[idx[(off + i) & IDX_MASK]].full) !== undefined) hits++;
            return hits;
          },
        };
      },
    },
    {
      id: `memory.getAwaited.${label}.ours`, name: `ours MemoryStore.get, awaited, ${label}`, group: group('getAwaited'),
      async setup() {
        const { keys, envs, idx } = ds();
        const store = await filledStore(keys, envs);
        return {
          async batch(count, off) {
            let hits = 0;
            for (let i = 0; i < count; i++) if ((await store.get(keys[idx[(off + i) & IDX_MASK]])) !== undefined) hits++;
            return hits;
          },
          teardown: () => store.close(),
        };
      },
    },
    {
      // The floor for any Promise-returning get: raw lru-cache behind an async function, awaited.
      // The base (".raw") of the awaited group.
      id: `memory.getAwaited.${label}.raw`, name: `raw lru-cache get in an async function, awaited, ${label}`, group: group('getAwaited'),
      async setup() {
        const { fulls, envs, idx } = ds();
        const lru = filledLru(fulls, envs);
        const get = async (k) => lru.get(k);
        return {
          async batch(count, off) {
            let hits = 0;
            for (let i = 0; i < count; i++) if ((await get(fulls[idx[(off + i) & IDX_MASK]])) !== undefined) hits++;
            return hits;
          },
        };
      },
    },
    {
      id: `memory.get.${label}.map`, name: `Map get, ${label}`, group: group('get'),
      async setup() {
        const { fulls, envs, idx } = ds();
        const map = filledMap(fulls, envs);
        return {
          batch(count, off) {
            let hits = 0;
            for (let i = 0; i < count; i++) if (map.get(fulls[idx[(off + i) & IDX_MASK]]) !== undefined) hits++;
            return hits;
          },
        };
      },
    },
    {
      id: `memory.set.${label}.ours`, name: `ours MemoryStore.set (awaited), ${label}`, group: group('set'),
      async setup() {
        const { keys, envs, idx } = ds();
        const store = await filledStore(keys, envs);
        return {
          async batch(count, off) {
            for (let i = 0; i < count; i++) {
              const j = idx[(off + i) & IDX_MASK];
              await store.set(keys[j], fresh(envs[j]), TTL_MS);
            }
            return count;
          },
          teardown: () => store.close(),
        };
      },
    },
    {
      id: `memory.set.${label}.lru`, name: `raw lru-cache set, ${label}`, group: group('set'),
      async setup() {
        const { fulls, envs, idx } = ds();
        const lru = filledLru(fulls, envs);
        return {
          batch(count, off) {
            for (let i = 0; i < count; i++) {
              const j = idx[(off + i) & IDX_MASK];
              lru.set(fulls[j], fresh(envs[j]), { ttl: TTL_MS });
            }
            return lru.size;
          },
        };
      },
    },
    {
      // Informative: our set is awaited (the async contract), raw lru.set above is not.
      id: `memory.set.${label}.lruAwaited`, name: `raw lru-cache set in an async function, awaited, ${label}`, group: group('set'),
      async setup() {
        const { fulls, envs, idx } = ds();
        const lru = filledLru(fulls, envs);
        const set = async (k, v) => {
          lru.set(k, v, { ttl: TTL_MS });
        };
        return {
          async batch(count, off) {
            for (let i = 0; i < count; i++) {
              const j = idx[(off + i) & IDX_MASK];
              await set(fulls[j], fresh(envs[j]));
            }
            return lru.size;
          },
        };
      },
    },
    {
      id: `memory.set.${label}.map`, name: `Map set, ${label}`, group: group('set'),
      async setup() {
        const { fulls, envs, idx } = ds();
        const map = filledMap(fulls, envs);
        return {
          batch(count, off) {
            for (let i = 0; i < count; i++) {
              const j = idx[(off + i) & IDX_MASK];
              map.set(fulls[j], fresh(envs[j]));
            }
            return map.size;
          },
        };
      },
    },
  ];
}

// ---- Redis: get, sequential and 50 in flight; set, 50 in flight --------------------------------

const REDIS_KEYS = 1_000;
/** The ioredis options RedisStore applies to the clients it creates (redis/redis-client.factory.ts nodeDefaults). */
const STORE_CLIENT_OPTIONS = {
  commandTimeout: 500,
  connectTimeout: 2_000,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  autoResendUnfulfilledCommands: false,
  enableAutoPipelining: true,
  retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), 2_000),
};

async function ready(client) {
  if (client.status === 'ready') return;
  await new Promise((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
}

function redisCases(redisUrl) {
  if (!redisUrl) return [];
  let seeded;
  const seed = () =>
    (seeded ??= (async () => {
      const data = dataset(REDIS_KEYS);
      const writer = new RedisStore({ url: redisUrl, logger: { error() {}, warn() {} } });
      for (let i = 0; i < REDIS_KEYS; i++) await writer.set(data.keys[i], data.envs[i], TTL_MS);
      await writer.close();
      return data;
    })());
  // The same entries with two tags each, under keys of their own: a read checks their tags' versions too.
  let seededTagged;
  const seedTagged = () =>
    (seededTagged ??= (async () => {
      const data = dataset(REDIS_KEYS, 'bench-tagged');
      const writer = new RedisStore({ url: redisUrl, logger: { error() {}, warn() {} } });
      for (let i = 0; i < REDIS_KEYS; i++) await writer.set(data.keys[i], { ...data.envs[i], tags: [`item:${i}`, 'items'] }, TTL_MS);
      await writer.close();
      return data;
    })());
  const ours = (inFlight, seeding = seed) => async () => {
    const { keys, idx } = await seeding();
    const store = new RedisStore({ url: redisUrl });
    if ((await store.get(keys[0])) === undefined) throw new Error('seeded key missing');
    return { batch: (count, off) => inParallel(inFlight, count, off, async (i) => (await store.get(keys[idx[i & IDX_MASK] % REDIS_KEYS])) !== undefined), teardown: () => store.close() };
  };
  const raw = (inFlight) => async () => {
    const { fulls, idx } = await seed();
    const client = new Redis(redisUrl, STORE_CLIENT_OPTIONS);
    await ready(client);
    if ((await client.getBuffer(fulls[0])) === null) throw new Error('seeded key missing');
    return { batch: (count, off) => inParallel(inFlight, count, off, async (i) => (await client.getBuffer(fulls[idx[i & IDX_MASK] % REDIS_KEYS])) !== null), teardown: () => client.quit() };
  };
  // Sets go to keys of their own scope, so the get cases keep reading what was seeded.
  const setData = () => dataset(REDIS_KEYS, 'bench-set');
  const oursSet = async () => {
    const { keys, envs, idx } = setData();
    const store = new RedisStore({ url: redisUrl });
    await store.set(keys[0], fresh(envs[0]), TTL_MS); // connected, scripts loaded
    return { batch: (count, off) => inParallel(50, count, off, async (i) => { const j = idx[i & IDX_MASK] % REDIS_KEYS; await store.set(keys[j], fresh(envs[j]), TTL_MS); return true; }), teardown: () => store.close() };
  };
  // The same bytes our store writes, encoded per call (rawEncoded) or once up front (raw): ours /
  // rawEncoded is the cost of the deadline script (EVALSHA, TIME, Lua) over a plain SET.
  const rawSet = (encodePerCall) => async () => {
    const { keys, fulls, envs, idx } = setData();
    const codec = new JsonCodec();
    const encode = (j) => encodeEntry(fresh(envs[j]), codec, DEFAULT_DECODE_LIMITS);
    const bytes = keys.map((_, j) => encode(j));
    const client = new Redis(redisUrl, STORE_CLIENT_OPTIONS);
    await ready(client);
    return {
      batch: (count, off) =>
        inParallel(50, count, off, async (i) => {
          const j = idx[i & IDX_MASK] % REDIS_KEYS;
          return (await client.set(fulls[j], encodePerCall ? encode(j) : bytes[j], 'PX', TTL_MS)) === 'OK';
        }),
      teardown: () => client.quit(),
    };
  };
  return [
    // Longer rounds: a round trip through redis-server on a shared 2-core machine is noisier than a Map lookup.
    { id: 'redis.get.1.ours', name: 'ours RedisStore.get, sequential', group: 'redis.get.1', roundScale: 2.5, setup: ours(1) },
    { id: 'redis.get.1.raw', name: 'raw ioredis getBuffer, sequential', group: 'redis.get.1', roundScale: 2.5, setup: raw(1) },
    { id: 'redis.get.50.ours', name: 'ours RedisStore.get, 50 in flight', group: 'redis.get.50', roundScale: 2.5, setup: ours(50) },
    { id: 'redis.get.50.raw', name: 'raw ioredis getBuffer, 50 in flight', group: 'redis.get.50', roundScale: 2.5, setup: raw(50) },
    { id: 'redis.get.50.oursTagged', name: 'ours RedisStore.get of entries with 2 tags, 50 in flight', group: 'redis.get.50', roundScale: 2.5, setup: ours(50, seedTagged) },
    { id: 'redis.set.50.ours', name: 'ours RedisStore.set (deadline-checked script), 50 in flight', group: 'redis.set.50', roundScale: 2.5, setup: oursSet },
    { id: 'redis.set.50.rawEncoded', name: 'raw ioredis SET PX, our encoding per call, 50 in flight', group: 'redis.set.50', roundScale: 2.5, setup: rawSet(true) },
    { id: 'redis.set.50.raw', name: 'raw ioredis SET PX of pre-encoded bytes, 50 in flight', group: 'redis.set.50', roundScale: 2.5, setup: rawSet(false) },
  ];
}

/** `count` operations by `workers` concurrent sequential loops; resolves how many returned true. */
async function inParallel(workers, count, off, op) {
  let next = 0;
  let ok = 0;
  const worker = async () => {
    while (next < count) {
      const i = off + next++;
      if (await op(i)) ok++;
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return ok;
}

// ---- runner -----------------------------------------------------------------------------------

const only = config.only ? new RegExp(config.only) : undefined; // e.g. {"only":"^memory\\.get\\.10k"} when profiling
const engines = engineCases({ CacheManager, internalsOf, TTL_MS, inParallel, redisUrl: config.redisUrl });
const cases = [...memoryCases(10_000, '10k'), ...memoryCases(100_000, '100k'), ...redisCases(config.redisUrl), ...engines].filter((c) => only === undefined || only.test(c.id));

/** Runs `batch` in growing chunks for `ms`; resolves ops/s. */
async function timed(bench, ms, offset) {
  let ops = 0;
  let chunk = 1_000;
  let sink = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    sink += await bench.batch(chunk, offset + ops);
    ops += chunk;
    elapsed = performance.now() - start;
    if (elapsed < ms / 20) chunk *= 2;
  }
  if (sink < 0) console.log(sink);
  return (ops / elapsed) * 1000;
}

async function main() {
  const groups = new Map();
  for (const c of cases) {
    if (!groups.has(c.group)) groups.set(c.group, []);
    groups.get(c.group).push(c);
  }
  const results = {};
  const unavailable = {};
  for (const [group, members] of groups) {
    const benches = [];
    // A case that cannot start (e.g. the built library lacks what it reads) is reported, not fatal to the others.
    for (const c of members) {
      try {
        benches.push({ c, bench: await c.setup() });
      } catch (err) {
        unavailable[c.id] = String(err?.message ?? err).split('\n')[0];
        process.stderr.write(`  micro ${c.id} not measured: ${unavailable[c.id]}\n`);
      }
    }
    const samples = new Map(benches.map(({ c }) => [c.id, []]));
    for (let round = -1; round < ROUNDS; round++) {
      // Rotate the starting case each round so no case always runs first after the previous group.
      for (let k = 0; k < benches.length; k++) {
        const { c, bench } = benches[(k + Math.max(round, 0)) % benches.length];
        const opsPerSec = await timed(bench, ROUND_MS * (c.roundScale ?? 1), round * 7919 + k);
        if (round >= 0) samples.get(c.id).push(opsPerSec);
      }
    }
    for (const { c, bench } of benches) {
      results[c.id] = { name: c.name, group, ...summarize(samples.get(c.id)) };
      await bench.teardown?.();
    }
    process.stderr.write(`  micro ${group}: ${benches.map(({ c }) => `${c.id.split('.').pop()} ${Math.round(results[c.id].median).toLocaleString('en-US')}/s`).join(', ')}\n`);
  }
  return { results, unavailable };
}

// Forked by run.mjs: answer over IPC. Run by hand (e.g. under --cpu-prof): print JSON.
const reply = process.send ? (m) => (process.send(m), process.disconnect()) : (m) => console.log(JSON.stringify(m, null, 2));
main().then(
  ({ results, unavailable }) => reply({ results, unavailable }),
  (err) => {
    reply({ failed: String(err?.stack ?? err) });
    process.exitCode = 1;
  },
);
