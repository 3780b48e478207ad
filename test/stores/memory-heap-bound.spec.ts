import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { newStamp, type Envelope, type HttpMeta } from '../../lib/envelope/envelope.js';
import { KeyScope, storageKey } from '../../lib/keys/storage-key.js';
import { MANAGER_DEFAULTS } from '../../lib/options/manager-options.js';
import type { CacheStore } from '../../lib/stores/cache-store.interface.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';

/**
 * The byte bound measured on the heap (issue observation 12: 1,100 responses of 200 KB grew the
 * heap by 190 MB with an entry bound only). heapUsed is read after full collections: vitest runs
 * the test workers with --expose-gc (vitest.config.ts). Without gc the figures would include
 * garbage, so the test then allows for it and says so.
 *
 * The bodies must really be distinct strings on the heap, or the test would measure nothing:
 * `prefix + big` or `big.slice()` make a cons or sliced string that shares `big` (a few dozen
 * bytes each), and `'x'.repeat(n)` is itself a tree of shared halves. `Buffer#toString('latin1')`
 * copies the buffer into a new flat one-byte string each time, on the V8 heap (Node makes an
 * external string only past ~1 MB), and costs a memcpy: 10,000 of them take well under a second.
 * A unique prefix written into the buffer first makes each body different as well.
 */
const gc = (globalThis as { gc?: () => void }).gc;
const MB = 1e6;
const MiB = 1024 * 1024;
const managers: CacheManager[] = [];

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

function heapUsed(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

/** A distinct, flat string of `length` Latin-1 characters (see above). */
function bodyMaker(length: number): (i: number) => string {
  const buf = Buffer.alloc(length, 'x');
  return (i) => {
    buf.write(`${i}:`, 0, 'latin1');
    return buf.toString('latin1');
  };
}

/** What `@Cached()` stores with a response: status, recorded headers, a strong ETag. */
function httpMeta(body: string): HttpMeta {
  return {
    status: 200,
    etag: `"${createHash('sha256').update(body).digest('base64url')}"`,
    headers: [
      ['content-type', 'application/json; charset=utf-8'],
      ['cache-control', 'public, max-age=300'],
    ],
  };
}

/** Writes `count` HTTP responses through the store of `manager`, spread over `tenants` tenants. */
async function writeResponses(store: CacheStore, count: number, tenants: number, body: (i: number) => string): Promise<void> {
  const scopes = Array.from({ length: tenants }, (_, t) => KeyScope.of(MANAGER_DEFAULTS.namespace, `tenant-${t}`));
  for (let i = 0; i < count; i++) {
    const scope = scopes[i % tenants]!;
    const key = storageKey(scope, 'entry', `http:${createHash('sha256').update(String(i)).digest('base64url')}`);
    const value = body(i);
    const now = Date.now();
    const env: Envelope<string> = { value, createdAt: now, expiresAt: now + 300_000, stamp: newStamp(), scope: scope.id, http: httpMeta(value) };
    await store.set(key, env, 300_000);
  }
}

describe('the memory store stays within its byte bound on the heap', () => {
  it('10,000 responses of 200 KB into the default store (CacheManager with no store option) grow the heap by less than maxBytes', async () => {
    const before = heapUsed();
    const manager = CacheManager.createSync({ logger: false });
    managers.push(manager);
    const store = manager.store as MemoryStore;
    const { maxBytes } = store.bounds;
    await writeResponses(store, 10_000, 10, bodyMaker(200_000));
    const growth = heapUsed() - before;
    const { entries, bytes } = store.stats();
    console.log(
      `10,000 x 200 KB responses (2 GB written) into the default memory store: heap growth ${(growth / MB).toFixed(1)} MB${gc ? '' : ' (no gc: garbage included)'}, ` +
        `bound maxBytes ${maxBytes / MiB} MiB (${(maxBytes / MB).toFixed(1)} MB); the store holds ${entries} entries, ${(bytes! / MiB).toFixed(1)} MiB estimated`,
    );
    expect(bytes).toBeLessThanOrEqual(maxBytes);
    expect(entries).toBeGreaterThan(100);
    expect(growth).toBeLessThan(gc ? maxBytes : 2 * maxBytes);
    // What the store holds really is on the heap (the bodies are not shared strings): ~100 KB per entry at least.
    if (gc) expect(growth).toBeGreaterThan(entries! * 100_000);
  });

  it('100,000 responses of 200 bytes into { maxBytes: 16 MiB } grow the heap by less than maxBytes (the per-entry cost is counted)', async () => {
    const before = heapUsed();
    const manager = CacheManager.createSync({ logger: false, store: { type: 'memory', maxBytes: 16 * MiB } });
    managers.push(manager);
    const store = manager.store as MemoryStore;
    await writeResponses(store, 100_000, 20, bodyMaker(200));
    const growth = heapUsed() - before;
    const { entries, bytes } = store.stats();
    console.log(
      `100,000 x 200 B responses into { maxBytes: 16 MiB }: heap growth ${(growth / MB).toFixed(1)} MB${gc ? '' : ' (no gc: garbage included)'}, ` +
        `bound ${((16 * MiB) / MB).toFixed(1)} MB; the store holds ${entries} entries, ${(bytes! / MiB).toFixed(1)} MiB estimated (${Math.round(bytes! / entries!)} B each)`,
    );
    expect(bytes).toBeLessThanOrEqual(16 * MiB);
    expect(entries).toBeGreaterThan(5_000);
    expect(entries).toBeLessThan(100_000);
    expect(growth).toBeLessThan(gc ? 16 * MiB : 32 * MiB);
  });
});
