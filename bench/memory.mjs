/**
 * The memory bound, in its own process with --expose-gc (forked by run.mjs; argv[2] = JSON case
 * from cases.mjs memoryCases). Writes `sets` distinct ~1 KB values through the built MemoryStore
 * bounded by maxBytes = 64 MiB (plus maxEntries where the case gives one), awaiting each set as a caller would, then reports heap growth after
 * full GCs: from before the store exists (includes lru-cache's preallocated arrays) and from just
 * after it was constructed.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { MEMORY_BOUND_BYTES } from './cases.mjs';
import { libModule } from './lib/built.mjs';

const { newStamp } = await libModule('envelope/envelope.js');
const { KeyScope, storageKey } = await libModule('keys/storage-key.js');
const { MemoryStore } = await libModule('stores/memory.store.js');

const spec = JSON.parse(process.argv[2]);
const MB = 1024 * 1024;
const TTL_MS = 600_000;

if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');

async function settle() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await tick();
  }
  return process.memoryUsage();
}

/** A distinct, flat 1,024-byte one-byte string per i (a Buffer template with the counter written in). */
const template = Buffer.alloc(1024, 'abcdefghijklmnopqrstuvwxyz0123456789');
function stringValue(i) {
  template.write(i.toString(36).padStart(12, '0'), 0, 'latin1');
  return template.toString('latin1');
}

/** A distinct JSON-shaped object of about 1 KB when serialised (fresh objects and strings per i). */
const OBJECT_TEMPLATE = JSON.stringify({
  id: 0,
  name: 'Customer record',
  email: 'someone@example.com',
  createdAt: '2025-01-01T00:00:00.000Z',
  active: true,
  lines: Array.from({ length: 16 }, (_, k) => ({ sku: `SKU-${String(k).padStart(6, '0')}`, qty: k + 1, price: 1000 + k, note: 'ok' })),
});
function objectValue(i) {
  return JSON.parse(OBJECT_TEMPLATE.replace('"id":0', `"id":${i}`).replace('someone', `u${i}`));
}

async function main() {
  const makeValue = spec.value === 'object' ? objectValue : stringValue;
  const valueBytes = Buffer.byteLength(spec.value === 'object' ? JSON.stringify(objectValue(1)) : stringValue(1));
  const scope = KeyScope.of('bench', 'acme');

  const before = await settle();
  // maxEntries only where the case names one: without it the store is bounded by bytes alone.
  const store = new MemoryStore({ maxBytes: MEMORY_BOUND_BYTES, ...(spec.maxEntries !== undefined ? { maxEntries: spec.maxEntries } : {}), sweepInterval: 0 });
  const constructed = await settle();

  let peakHeap = 0;
  const start = performance.now();
  for (let i = 0; i < spec.sets; i++) {
    const now = Date.now();
    const key = storageKey(scope, 'entry', `item:${i}`);
    await store.set(key, { value: makeValue(i), createdAt: now, expiresAt: now + TTL_MS, stamp: newStamp(), scope: scope.id }, TTL_MS);
    if ((i & 0xffff) === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }
  const seconds = (performance.now() - start) / 1000;
  const after = await settle();
  const stats = store.stats();

  const growth = (field, from) => (after[field] - from[field]) / MB;
  return {
    name: spec.name,
    value: spec.value,
    valueBytes,
    maxEntries: spec.maxEntries ?? null,
    maxBytesMB: MEMORY_BOUND_BYTES / MB,
    sets: spec.sets,
    setsPerSec: spec.sets / seconds,
    entriesHeld: stats.entries,
    estimatedBytesMB: stats.bytes / MB,
    evictions: stats.evictions,
    heapGrowthMB: growth('heapUsed', before),
    heapGrowthSinceConstructMB: growth('heapUsed', constructed),
    constructionHeapMB: (constructed.heapUsed - before.heapUsed) / MB,
    externalGrowthMB: growth('external', before),
    rssGrowthMB: growth('rss', before),
    peakHeapGrowthMB: (peakHeap - before.heapUsed) / MB,
  };
}

main().then(
  (result) => {
    process.send({ result });
    process.disconnect();
  },
  (err) => {
    process.send({ failed: String(err?.stack ?? err) });
    process.exit(1);
  },
);
