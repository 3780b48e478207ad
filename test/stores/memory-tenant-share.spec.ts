import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { CacheConfigError } from '../../lib/errors/cache.errors.js';
import { GLOBAL_SCOPE, KeyScope, storageKey, type StorageKey, type TenantRef } from '../../lib/keys/storage-key.js';
import { MANAGER_DEFAULTS } from '../../lib/options/manager-options.js';
import type { MemoryStoreOptions } from '../../lib/stores/memory-store-options.interface.js';
import { MEMORY_STORE_DEFAULTS } from '../../lib/stores/memory-store-options.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { ManualClock } from '../helpers/manual-clock.js';

/**
 * The tenant share of the memory store (`maxTenantShare`, on by default) and the default bounds
 * (entries and bytes): no tenant floods the others out of a shared store (issue observation 12).
 */
const NS = `share-${randomBytes(4).toString('hex')}`;
const MiB = 1024 * 1024;
const stores: MemoryStore[] = [];
const managers: CacheManager[] = [];

afterEach(async () => {
  await Promise.all([...stores.splice(0).map((s) => s.close()), ...managers.splice(0).map((m) => m.close())]);
});

function makeStore(options: MemoryStoreOptions = {}): MemoryStore {
  const store = new MemoryStore({ sweepInterval: 0, ...options });
  stores.push(store);
  return store;
}

function key(tenant: TenantRef, k: string): StorageKey {
  return storageKey(KeyScope.of(NS, tenant), 'entry', k);
}

function env<T>(k: StorageKey, value: T): Envelope<T> {
  return { value, createdAt: Date.now(), expiresAt: 0, stamp: newStamp(), scope: k.scope.id };
}

/** What `@Cached()` stores for a small JSON response: the body as a string, ~200 bytes. */
function body(tenant: string, i: number): string {
  return JSON.stringify({ tenant, id: i, sku: `SKU-${String(i).padStart(6, '0')}`, name: 'Product name', price: 1999, currency: 'EUR', inStock: true, description: 'A typical small JSON body.' });
}

async function fill(store: MemoryStore, tenant: TenantRef, count: number, from = 0, value: (i: number) => unknown = (i) => i): Promise<void> {
  for (let i = from; i < from + count; i++) {
    const k = key(tenant, `k${i}`);
    await store.set(k, env(k, value(i)), 0);
  }
}

const size = (store: MemoryStore, tenant: TenantRef): number => store.scopeSize(KeyScope.of(NS, tenant))!;

describe('memory store defaults: bounded by entries and bytes, with a tenant share', () => {
  const DEFAULT_BOUNDS = {
    maxEntries: 4096,
    maxBytes: 64 * MiB,
    maxEntriesPerTenant: undefined,
    tenantShareEntries: 1024,
    tenantShareBytes: 16 * MiB,
  };

  it('new MemoryStore(), { type: "memory" } and the manager with no store all get the same bounds', () => {
    expect(MEMORY_STORE_DEFAULTS).toMatchObject({ maxEntries: 4096, maxBytes: 64 * MiB, maxTenantShare: 0.25 });
    expect(makeStore().bounds).toEqual(DEFAULT_BOUNDS);
    for (const options of [{}, { store: { type: 'memory' as const } }]) {
      const manager = CacheManager.createSync({ logger: false, ...options });
      managers.push(manager);
      expect(manager.store).toBeInstanceOf(MemoryStore);
      expect((manager.store as MemoryStore).bounds).toEqual(DEFAULT_BOUNDS);
    }
  });

  it('each bound a user gives replaces its default only; the byte bound always applies', () => {
    // maxEntries alone keeps the default byte bound (an entry bound alone lets large values take the heap).
    expect(makeStore({ maxEntries: 10_000 }).bounds).toEqual({ ...DEFAULT_BOUNDS, maxEntries: 10_000, tenantShareEntries: 2_500 });
    // maxBytes alone: no entry bound (nothing preallocated), so no entry share either.
    expect(makeStore({ maxBytes: 8 * MiB }).bounds).toEqual({ ...DEFAULT_BOUNDS, maxEntries: undefined, maxBytes: 8 * MiB, tenantShareEntries: undefined, tenantShareBytes: 2 * MiB });
    expect(makeStore({ maxTenantShare: 0.5 }).bounds).toEqual({ ...DEFAULT_BOUNDS, tenantShareEntries: 2048, tenantShareBytes: 32 * MiB });
    expect(makeStore({ maxTenantShare: 1 }).bounds).toEqual({ ...DEFAULT_BOUNDS, tenantShareEntries: undefined, tenantShareBytes: undefined });
    // An explicit entry quota replaces the entry part of the share; the byte part stays.
    expect(makeStore({ maxEntriesPerTenant: 10 }).bounds).toEqual({ ...DEFAULT_BOUNDS, maxEntriesPerTenant: 10, tenantShareEntries: undefined });
    // A share of a tiny store is at least one entry.
    expect(makeStore({ maxEntries: 2, maxTenantShare: 0.1 }).bounds.tenantShareEntries).toBe(1);
  });
});

describe('maxTenantShare validation', () => {
  it.each<[unknown, RegExp]>([
    [0, /got 0\. Fix: set the part of the store one tenant keeps/],
    [-0.25, /got -0\.25\./],
    [1.5, /got 1\.5\. Fix: set the part/],
    [25, /got 25\. Fix: write a percentage as a fraction: 0\.25 for 25%/],
    [Number.NaN, /got NaN\./],
    [Number.POSITIVE_INFINITY, /got Infinity\./],
    ['x', /got string\./],
    ['0.25', /got string\./],
    [null, /got null\./],
    [true, /got boolean\./],
  ])('%s is refused at start-up with a CacheConfigError naming store.maxTenantShare and the fix', (value, message) => {
    const errorOf = (fn: () => unknown): CacheConfigError => {
      try {
        fn();
      } catch (error) {
        expect(error).toBeInstanceOf(CacheConfigError);
        return error as CacheConfigError;
      }
      throw new Error(`maxTenantShare = ${String(value)} was accepted`);
    };
    const viaManager = errorOf(() => CacheManager.createSync({ logger: false, store: { type: 'memory', maxTenantShare: value as number } }));
    expect(viaManager.option).toBe('store.maxTenantShare');
    expect(viaManager.message).toMatch(/^Invalid option "store\.maxTenantShare": expected a fraction of the store, 0 < share <= 1, /);
    expect(viaManager.message).toMatch(message);
    const direct = errorOf(() => new MemoryStore({ maxTenantShare: value as number }));
    expect(direct.option).toBe('maxTenantShare');
  });

  it('accepts (0, 1]', () => {
    for (const share of [Number.MIN_VALUE, 0.01, 0.25, 0.999, 1]) expect(() => makeStore({ maxTenantShare: share })).not.toThrow();
  });

  it('a misspelt or borrowed name gets the right one', () => {
    const messageOf = (store: Record<string, unknown>): string => {
      try {
        CacheManager.createSync({ logger: false, store: { type: 'memory', ...store } as never });
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    };
    expect(messageOf({ maxTenantShares: 0.2 })).toBe('Invalid option "store.maxTenantShares": unknown option. Fix: did you mean "store.maxTenantShare"?');
    expect(messageOf({ tenantShare: 0.2 })).toContain('Fix: use maxTenantShare');
    expect(messageOf({ maxBytesPerTenant: 1000 })).toContain('Fix: use maxTenantShare');
  });
});

describe('the tenant share under a flood (issue observation 12)', () => {
  const VICTIMS = 20;
  const PER_VICTIM = 5;
  const FLOOD = 100_000;

  /** 20 tenants write a few responses, then one tenant writes 100,000 distinct ones; what is left. */
  async function flood(options: { store?: { type: 'memory'; maxTenantShare: number } }) {
    const manager = CacheManager.createSync({ logger: false, clock: new ManualClock(), ...options });
    managers.push(manager);
    const victims = Array.from({ length: VICTIMS }, (_, v) => `victim-${v}`);
    for (const tenant of victims) {
      const cache = manager.forTenant(tenant);
      for (let i = 0; i < PER_VICTIM; i++) await cache.set(`http:/products/${i}`, body(tenant, i), { ttl: '5m' });
    }
    const flooder = manager.forTenant('flooder');
    for (let i = 0; i < FLOOD; i++) await flooder.set(`http:/search?q=${i}`, body('flooder', i), { ttl: '5m' });
    const kept: number[] = [];
    for (const tenant of victims) {
      const cache = manager.forTenant(tenant);
      let n = 0;
      for (let i = 0; i < PER_VICTIM; i++) if ((await cache.get(`http:/products/${i}`)) === body(tenant, i)) n++;
      kept.push(n);
    }
    const store = manager.store as MemoryStore;
    const scope = KeyScope.of(MANAGER_DEFAULTS.namespace, 'flooder');
    return { kept, floodEntries: store.scopeSize(scope)!, floodBytes: store.scopeBytes(scope), stats: store.stats(), bounds: store.bounds };
  }

  it('one tenant writing 100,000 distinct keys into the default store leaves every other tenant all of its entries', async () => {
    const { kept, floodEntries, floodBytes, stats, bounds } = await flood({});
    console.log(
      `default store (${bounds.maxEntries} entries, ${bounds.maxBytes / MiB} MiB, share ${MEMORY_STORE_DEFAULTS.maxTenantShare}): ` +
        `each of ${VICTIMS} victims kept ${Math.min(...kept)}-${Math.max(...kept)} of ${PER_VICTIM} entries; ` +
        `the flooder holds ${floodEntries} entries, ${(floodBytes / MiB).toFixed(2)} MiB estimated, of its ${FLOOD} writes; store ${stats.entries} entries, ${(stats.bytes! / MiB).toFixed(2)} MiB`,
    );
    expect(kept).toEqual(Array.from({ length: VICTIMS }, () => PER_VICTIM));
    // The store was full: the flooder kept the free room it took, and recycles its own entries.
    expect(stats.entries).toBe(bounds.maxEntries);
    expect(floodEntries).toBe(bounds.maxEntries! - VICTIMS * PER_VICTIM);
    expect(stats.bytes).toBeLessThanOrEqual(bounds.maxBytes);
  });

  it('control: with maxTenantShare: 1 (plain LRU, the old default) the same flood evicts every other tenant', async () => {
    const { kept, floodEntries } = await flood({ store: { type: 'memory', maxTenantShare: 1 } });
    console.log(`maxTenantShare: 1: each victim kept ${Math.min(...kept)}-${Math.max(...kept)} of ${PER_VICTIM} entries; the flooder holds ${floodEntries}`);
    expect(kept).toEqual(Array.from({ length: VICTIMS }, () => 0));
  });
});

describe('who makes room when the store is full', () => {
  it('a tenant alone fills the store; others take their share back from it, then evict their own', async () => {
    const evicted: string[] = [];
    const store = makeStore({ maxEntries: 100, observer: { evicted: (k) => evicted.push(k.scope.tenant!) } });
    await fill(store, 'a', 100); // alone: all the free room, no eviction
    expect([size(store, 'a'), evicted.length]).toEqual([100, 0]);

    await fill(store, 'b', 25); // within its share (25): from a, the tenant above its share
    expect([size(store, 'a'), size(store, 'b')]).toEqual([75, 25]);
    expect(evicted).toEqual(Array.from({ length: 25 }, () => 'a'));
    expect(await store.get(key('a', 'k0'))).toBeUndefined(); // a's least recently used went first
    expect((await store.get(key('a', 'k25')))?.value).toBe(25);

    evicted.length = 0;
    await store.get(key('b', 'k0')); // a read does not count: a tenant gives up its least recently written
    await fill(store, 'b', 10, 25); // at its share: b evicts its own, never a's
    expect([size(store, 'a'), size(store, 'b')]).toEqual([75, 25]);
    expect(evicted).toEqual(Array.from({ length: 10 }, () => 'b'));
    expect(await store.get(key('b', 'k9'))).toBeUndefined();
    expect((await store.get(key('b', 'k10')))?.value).toBe(10);

    evicted.length = 0;
    await fill(store, 'c', 10); // c within its share: from a again
    expect([size(store, 'a'), size(store, 'b'), size(store, 'c')]).toEqual([65, 25, 10]);
    expect(evicted).toEqual(Array.from({ length: 10 }, () => 'a'));
    expect(store.stats()).toMatchObject({ entries: 100, evictions: 45 });
    expect(store.indexSizes().overShare).toBe(1); // a, still above its share
  });

  it('a tenant alone in the store stays plain LRU: what it reads is kept', async () => {
    const store = makeStore({ maxEntries: 100 });
    const hot = key('a', 'hot');
    await store.set(hot, env(hot, 'hot'), 0);
    for (let i = 0; i < 1_000; i++) {
      const k = key('a', `k${i}`);
      await store.set(k, env(k, i), 0);
      await store.get(hot);
    }
    expect((await store.get(hot))?.value).toBe('hot');
    expect([size(store, 'a'), store.stats().evictions]).toEqual([100, 901]);
  });

  it('with maxEntriesPerTenant, reads are tracked: a tenant at its quota gives up its least recently used', async () => {
    const store = makeStore({ maxEntries: 1_000, maxEntriesPerTenant: 50 });
    await fill(store, 'other', 10);
    await fill(store, 'b', 50);
    await store.get(key('b', 'k0'));
    await fill(store, 'b', 5, 50);
    expect(size(store, 'b')).toBe(50);
    for (let i = 1; i <= 5; i++) expect(await store.get(key('b', `k${i}`))).toBeUndefined();
    expect((await store.get(key('b', 'k0')))?.value).toBe(0);
    expect(size(store, 'other')).toBe(10);
  });

  it('the share holds in bytes too: a tenant writing large entries keeps the others\' small ones', async () => {
    const store = makeStore({ maxBytes: 1 * MiB, maxEntries: 10_000 }); // share: 256 KiB
    for (const tenant of ['v1', 'v2', 'v3']) await fill(store, tenant, 20, 0, (i) => body(tenant, i));
    const victimBytes = ['v1', 'v2', 'v3'].reduce((sum, t) => sum + store.scopeBytes(KeyScope.of(NS, t)), 0);
    await fill(store, 'big', 200, 0, (i) => `${i}:${'x'.repeat(20_000)}`); // ~40 KB estimated each, 8 MB in all
    for (const tenant of ['v1', 'v2', 'v3']) expect(size(store, tenant)).toBe(20);
    const bigBytes = store.scopeBytes(KeyScope.of(NS, 'big'));
    expect(bigBytes).toBeLessThanOrEqual(1 * MiB - victimBytes);
    expect(bigBytes).toBeGreaterThan(256 * 1024); // it kept the free room it took
    expect(store.stats().bytes).toBeLessThanOrEqual(1 * MiB);
  });

  it('the global scope counts as one tenant', async () => {
    const store = makeStore({ maxEntries: 200 });
    await fill(store, 't1', 10);
    await fill(store, 't2', 10);
    await fill(store, GLOBAL_SCOPE, 5_000);
    expect([size(store, 't1'), size(store, 't2'), size(store, GLOBAL_SCOPE)]).toEqual([10, 10, 180]);
  });

  it('an entry larger than its tenant\'s share is stored while there is room, not into a full store with nothing of its own to evict', async () => {
    const store = makeStore({ maxBytes: 400_000, maxEntries: 10_000 }); // share: 100,000 bytes
    const large = key('big', 'one');
    const largeValue = 'x'.repeat(60_000); // ~120 KB estimated: over the share, under the store
    await store.set(large, env(large, largeValue), 0);
    expect((await store.get(large))?.value).toBe(largeValue); // free room: stored
    await store.delete(large);

    // Four tenants, each within its share, leave less room than the large entry needs.
    for (const tenant of ['v1', 'v2', 'v3', 'v4']) await fill(store, tenant, 70, 0, (i) => body(tenant, i));
    for (const tenant of ['v1', 'v2', 'v3', 'v4']) expect(store.scopeBytes(KeyScope.of(NS, tenant))).toBeLessThanOrEqual(store.bounds.tenantShareBytes!);
    const before = store.stats();
    expect(before.bytes! + 120_000).toBeGreaterThan(400_000);
    await store.set(large, env(large, largeValue), 0);
    expect(await store.get(large)).toBeUndefined();
    expect(store.stats()).toEqual(before); // nothing was evicted for it
  });

  it('maxEntriesPerTenant is a hard quota, free room or not; the byte share still applies', async () => {
    const store = makeStore({ maxEntries: 100, maxEntriesPerTenant: 50 });
    await fill(store, 'a', 80);
    expect(size(store, 'a')).toBe(50);
    expect(store.bounds).toMatchObject({ maxEntriesPerTenant: 50, tenantShareEntries: undefined, tenantShareBytes: 16 * MiB });
    await fill(store, 'b', 80);
    expect([size(store, 'a'), size(store, 'b')]).toEqual([50, 50]);
  });

  it('a rewrite that grows an entry makes room from its own tenant first, never by evicting itself', async () => {
    const store = makeStore({ maxBytes: 100_000, maxEntries: 1_000 }); // share: 25,000 bytes
    await fill(store, 'v', 10, 0, (i) => body('v', i));
    await fill(store, 'a', 100, 0, (i) => `${i}:${'y'.repeat(500)}`); // fills the store, a above its share
    const k = key('a', 'k99');
    const grown = 'z'.repeat(10_000);
    await store.set(k, env(k, grown), 0);
    expect((await store.get(k))?.value).toBe(grown);
    expect(size(store, 'v')).toBe(10);
    expect(store.stats().bytes).toBeLessThanOrEqual(100_000);
  });
});
