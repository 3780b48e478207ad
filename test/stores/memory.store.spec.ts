import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { GLOBAL_SCOPE, KeyScope, storageKey, type StorageKey } from '../../lib/keys/storage-key.js';
import { CacheClosedError, CacheConfigError, EncodeError } from '../../lib/errors/cache.errors.js';
import type { StoreObserver } from '../../lib/stores/cache-store.interface.js';
import type { MemoryStoreOptions } from '../../lib/stores/memory-store-options.interface.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { MEMORY_STORE_DEFAULTS } from '../../lib/stores/memory-store-options.js';
import { MAX_COMPUTATION_MS } from '../../lib/stores/computation-bound.js';
import { systemClock } from '../../lib/utils/clock.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { describeStoreConformance } from '../helpers/store-conformance.js';

describeStoreConformance('MemoryStore', async () => {
  const clock = new ManualClock();
  const store = new MemoryStore({ clock, maxEntries: 10_000 });
  return {
    store,
    clock,
    flush: async () => {
      // Each test has its own namespace; nothing to flush between tests.
    },
    teardown: () => store.close(),
  };
});

const NS = `mem-${randomBytes(4).toString('hex')}`;
const stores: MemoryStore[] = [];

function makeStore(options: MemoryStoreOptions = {}): MemoryStore {
  const store = new MemoryStore({ sweepInterval: 0, ...options });
  stores.push(store);
  return store;
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function key(tenant: string | typeof GLOBAL_SCOPE, k: string): StorageKey {
  return storageKey(KeyScope.of(NS, tenant), 'entry', k);
}

function env<T>(k: StorageKey, value: T, extra: Partial<Envelope<T>> = {}): Envelope<T> {
  return { value, createdAt: Date.now(), expiresAt: 0, stamp: newStamp(), scope: k.scope.id, ...extra };
}

describe('MemoryStore', () => {
  describe('options', () => {
    it.each<[keyof MemoryStoreOptions, unknown]>([
      ['maxEntries', 0],
      ['maxEntries', -1],
      ['maxEntries', Number.NaN],
      ['maxEntries', Number.POSITIVE_INFINITY],
      ['maxEntries', 1.5],
      ['maxEntries', '100'],
      ['maxBytes', 0],
      ['maxBytes', -10],
      ['maxBytes', Number.POSITIVE_INFINITY],
      ['maxEntriesPerTenant', 0],
      ['maxEntriesPerTenant', Number.NaN],
      ['sweepInterval', -1],
      ['sweepInterval', 'often'],
      ['sweepInterval', Number.NaN],
      ['clock', { now: 5 }],
    ])('%s = %s is refused with a CacheConfigError naming the option', (option, value) => {
      let caught: unknown;
      try {
        makeStore({ [option]: value } as MemoryStoreOptions);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(CacheConfigError);
      expect((caught as CacheConfigError).option).toBe(option);
      expect((caught as Error).message).toContain(`"${option}"`);
    });

    it('accepts defaults and duration strings', () => {
      expect(() => makeStore()).not.toThrow();
      expect(() => makeStore({ sweepInterval: '30s', maxBytes: 1024, maxEntriesPerTenant: 10 })).not.toThrow();
    });

    it('does not mutate the options object', () => {
      const options: MemoryStoreOptions = { maxEntries: 10, sweepInterval: '1m' };
      makeStore(options);
      expect(options).toStrictEqual({ maxEntries: 10, sweepInterval: '1m' });
      // A frozen one is accepted too (a write to it would throw).
      expect(() => makeStore(Object.freeze({ maxEntries: 10, sweepInterval: '1m' }))).not.toThrow();
    });
  });

  describe('hit path', () => {
    it('a string value is handed out as stored: the same held envelope on every read, no copy', async () => {
      const store = makeStore();
      const k = key('a', 'k');
      const e = env(k, '<html>response body</html>', { http: { status: 200, etag: '"x"', headers: [['content-type', 'text/html']] } });
      await store.set(k, e, 0);
      const held = store.getSync(k)!;
      expect(await store.get(k)).toBe(held);
      expect(store.getSync(k)).toBe(held);
      expect(held.value).toBe(e.value);
      expect(held.http).toBe(e.http);
      // What the store keeps about the entry besides the envelope is not visible to readers.
      expect({ ...held }).toEqual({ ...e, staleUntil: undefined, tags: undefined });
    });

    it('an object value is copied on write and on every read: no caller can change what the cache holds', async () => {
      const store = makeStore();
      const k = key('a', 'k');
      const value = { list: [1, { deep: 'x' }], when: new Date(0), m: new Map([['a', new Set([1])]]), bytes: Buffer.from('ab') };
      const snapshot = structuredClone({ ...value, bytes: undefined });
      await store.set(k, env(k, value), 0);
      value.list.push(2);
      (value.list[1] as { deep: string }).deep = 'changed by the writer';

      const first = (await store.get(k))!.value as typeof value;
      const second = store.getSync(k)!.value as typeof value;
      expect(first).not.toBe(second);
      first.list.length = 0;
      first.when.setTime(1);
      first.m.get('a')!.add(2);
      second.bytes[0] = 0x7a;

      const third = (await store.get(k))!.value as typeof value;
      expect({ ...third, bytes: undefined }).toStrictEqual(snapshot);
      expect(third.bytes).toStrictEqual(Buffer.from('ab'));
      expect(Object.getPrototypeOf(third.bytes)).toBe(Buffer.prototype);
    });

    it('getOrSet hands out a copy of the present value; the value it writes is copied too', async () => {
      const store = makeStore();
      const k = key('a', 'k');
      const mine = { n: 1 };
      expect((await store.getOrSet(k, env(k, mine), 0)).set).toBe(true);
      mine.n = 2;
      const got = await store.getOrSet(k, env(k, { n: 3 }), 0);
      expect(got.set).toBe(false);
      expect(got.envelope.value).toStrictEqual({ n: 1 });
      (got.envelope.value as { n: number }).n = 4;
      expect((await store.get(k))!.value).toStrictEqual({ n: 1 });
    });

    it('refuses what a remote store refuses, with the same EncodeError, and writes nothing', async () => {
      const store = makeStore();
      const k = key('a', 'k');
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      for (const value of [() => 1, Symbol('s'), { items: [1, new (class Money {
        readonly cents = 100;
      })()] }, cyclic, new Promise(() => undefined), Object.create(null) as object]) {
        await expect(store.set(k, env(k, value), 0)).rejects.toBeInstanceOf(EncodeError);
        await expect(store.getOrSet(k, env(k, value), 0)).rejects.toBeInstanceOf(EncodeError);
        await expect(store.compareAndSet(k, null, env(k, value), 0)).rejects.toBeInstanceOf(EncodeError);
        expect(await store.get(k)).toBeUndefined();
      }
      await expect(store.set(k, env(k, { items: [1, new (class Money {
        readonly cents = 100;
      })()] }), 0)).rejects.toThrow(/value\.items\[1\]: an instance of Money cannot be cached/);
    });

    it('getSync misses with undefined and throws CacheClosedError after close', async () => {
      const store = makeStore();
      expect(store.getSync(key('a', 'none'))).toBeUndefined();
      await store.close();
      expect(() => store.getSync(key('a', 'none'))).toThrow(CacheClosedError);
    });
  });

  describe('bounds', () => {
    it('maxEntries holds under 10x inserts and evicts least recently used first', async () => {
      const store = makeStore({ maxEntries: 100 });
      const keep = key('a', 'hot');
      await store.set(keep, env(keep, 'hot'), 0);
      for (let i = 0; i < 1_000; i++) {
        const k = key('a', `k${i}`);
        await store.set(k, env(k, i), 0);
        await store.get(keep); // stays recently used
        expect(store.stats().entries).toBeLessThanOrEqual(100);
      }
      expect(store.stats().entries).toBe(100);
      expect(store.scopeSize(keep.scope)).toBe(100);
      expect((await store.get(keep))?.value).toBe('hot');
      expect(await store.get(key('a', 'k0'))).toBeUndefined();
      expect((await store.get(key('a', 'k999')))?.value).toBe(999);
      expect(store.stats().evictions).toBe(901);
    });

    it('maxBytes holds, and the byte estimate follows writes, overwrites and deletes', async () => {
      const maxBytes = 20_000;
      const store = makeStore({ maxBytes, maxEntries: 10_000 });
      for (let i = 0; i < 500; i++) {
        const k = key('a', `k${i}`);
        await store.set(k, env(k, 'x'.repeat(500)), 0); // ~1 KB each
        expect(store.stats().bytes).toBeLessThanOrEqual(maxBytes);
      }
      const { entries, bytes } = store.stats();
      expect(entries).toBeGreaterThan(5);
      expect(entries).toBeLessThan(25);
      expect(bytes).toBeGreaterThan(maxBytes / 2);
      expect(store.stats().evictions).toBe(500 - entries!);

      // A clear retires the entries at once; the bytes go as they are reclaimed (here: the sweep).
      await store.clearScope(KeyScope.of(NS, 'a'));
      expect(store.stats()).toMatchObject({ entries, bytes });
      store.sweep();
      expect(store.stats()).toMatchObject({ entries: 0, bytes: 0 });
    });

    it('maxBytes alone (no maxEntries) holds its byte bound over 10x inserts, with no entry bound', async () => {
      const maxBytes = 50_000;
      const store = makeStore({ maxBytes });
      let maxHeld = 0;
      for (let i = 0; i < 500; i++) {
        const k = key(i % 2 ? 'a' : 'b', `k${i}`);
        await store.set(k, env(k, 'x'.repeat(500)), 0); // ~1 KB each: 10x what fits
        expect(store.stats().bytes).toBeLessThanOrEqual(maxBytes);
        maxHeld = Math.max(maxHeld, store.stats().entries!);
      }
      const { entries, bytes, evictions } = store.stats();
      expect(entries).toBeGreaterThan(20);
      expect(entries).toBeLessThan(60);
      expect(bytes).toBeGreaterThan(maxBytes / 2);
      expect(evictions).toBe(500 - entries!);
      expect(maxHeld).toBe(entries);
      expect(store.indexSizes().keys).toBe(entries);
      expect(await store.get(key('b', 'k0'))).toBeUndefined(); // the least recently used went first
      expect((await store.get(key('a', 'k499')))?.value).toBe('x'.repeat(500));
    });

    it('maxBytes alone does not apply the default entry bound, and tiny entries stay byte-bounded', async () => {
      const store = makeStore({ maxBytes: 10_000_000 }); // ~1 KB estimated per tiny entry
      for (let i = 0; i < 6_000; i++) {
        const k = key('a', `k${i}`);
        await store.set(k, env(k, i), 0);
      }
      expect(store.stats().entries).toBe(6_000); // more than the default maxEntries (4096)
      expect(store.stats().evictions).toBe(0);
      for (let i = 6_000; i < 60_000; i++) {
        const k = key('a', `k${i}`);
        await store.set(k, env(k, i), 0);
      }
      expect(store.stats().bytes).toBeLessThanOrEqual(10_000_000);
      expect(store.stats().entries).toBeLessThan(60_000);
      expect(store.stats().evictions).toBe(60_000 - store.stats().entries!);
    });

    it('with neither bound given, the default maxEntries (4096) applies', async () => {
      const store = makeStore();
      for (let i = 0; i < 5_000; i++) {
        const k = key('a', `k${i}`);
        await store.set(k, env(k, i), 0);
      }
      expect(store.stats().entries).toBe(4_096);
      expect(store.stats().evictions).toBe(5_000 - 4_096);
    });

    it('maxEntries with maxBytes still bounds by both', async () => {
      const store = makeStore({ maxEntries: 10, maxBytes: 1_000_000 });
      for (let i = 0; i < 100; i++) {
        const k = key('a', `k${i}`);
        await store.set(k, env(k, i), 0);
      }
      expect(store.stats().entries).toBe(10);
    });

    it('with no maxBytes given the byte bound still applies, and the per-scope bytes add up to stats().bytes through every change', async () => {
      const clock = new ManualClock();
      const store = makeStore({ clock, maxEntries: 100 });
      expect(store.bounds.maxBytes).toBe(MEMORY_STORE_DEFAULTS.maxBytes);
      const scopes = [KeyScope.of(NS, 'a'), KeyScope.of(NS, 'b')];
      const check = (): void => {
        const { bytes } = store.stats();
        expect(scopes.reduce((sum, s) => sum + store.scopeBytes(s), 0)).toBe(bytes);
      };
      for (let i = 0; i < 300; i++) {
        const k = key(i % 3 ? 'a' : 'b', `k${i % 150}`); // overwrites, and evictions past 100
        await store.set(k, env(k, { i, text: 'y'.repeat(i) }, { tags: i % 5 ? undefined : ['t'] }), i % 4 === 0 ? 500 : 0);
        check();
      }
      expect(store.stats().bytes).toBeGreaterThan(0);
      clock.advance(1_000); // some expired but still held: counted until removed
      await store.delete(key('a', 'k1'));
      check();
      await store.invalidateTags([storageKey(KeyScope.of(NS, 'a'), 'tag', 't')]);
      check();
      store.sweep();
      check();
      await store.clearScope(KeyScope.of(NS, 'b'));
      check(); // retired entries count until reclaimed
      store.sweep();
      check();
      expect(store.scopeBytes(KeyScope.of(NS, 'b'))).toBe(0);
      expect(store.scopeBytes(KeyScope.of(NS, 'a'))).toBeGreaterThan(0);
      await store.clearScope(KeyScope.of(NS, 'a'));
      store.sweep();
      expect(store.stats()).toMatchObject({ entries: 0, bytes: 0 });
    });

    it('an entry larger than maxBytes is not stored and removes the older value under its key', async () => {
      const store = makeStore({ maxBytes: 4_096 });
      const k = key('a', 'k');
      await store.set(k, env(k, 'small'), 0);
      await store.set(k, env(k, 'x'.repeat(10_000)), 0);
      expect(await store.get(k)).toBeUndefined();
      expect(store.stats()).toMatchObject({ entries: 0, bytes: 0, evictions: 0 });
    });

    it('estimates Buffers by byteLength and stays bounded on the largest values the limits allow', async () => {
      const store = makeStore();
      const small = key('a', 'small');
      await store.set(small, env(small, 1), 0);
      const base = store.stats().bytes!;
      const buf = key('a', 'buf');
      await store.set(buf, env(buf, Buffer.alloc(100_000)), 0);
      expect(store.stats().bytes! - base).toBeGreaterThanOrEqual(100_000);

      // The largest value the limits allow: 10,000 objects of 10 keys (the estimate walks a bounded part).
      const huge = Array.from({ length: 10_000 }, (_, i) => Object.fromEntries(Array.from({ length: 10 }, (__, j) => [`k${j}`, i + j])));
      const h = key('a', 'huge');
      const started = performance.now();
      await store.set(h, env(h, huge), 0);
      store.stats();
      expect(performance.now() - started).toBeLessThan(200);
      expect(((await store.get(h))!.value as unknown[]).length).toBe(10_000);
    });
  });

  describe('per-tenant quota', () => {
    it('a tenant inserting 10,000 entries never evicts another tenant\'s entries', async () => {
      const evicted: StorageKey[] = [];
      const store = makeStore({ maxEntries: 1_000, maxEntriesPerTenant: 100, observer: { evicted: (k) => evicted.push(k) } });
      const others = ['b', 'a:b', 'ab'].flatMap((t) => Array.from({ length: 50 }, (_, i) => key(t, `k${i}`)));
      for (const k of others) await store.set(k, env(k, k.full), 0);
      const global = key(GLOBAL_SCOPE, 'shared');
      await store.set(global, env(global, 'shared'), 0);

      for (let i = 0; i < 10_000; i++) {
        const k = key('a', `k${i}`);
        await store.set(k, env(k, i), 0);
      }
      for (const k of others) expect((await store.get(k))?.value).toBe(k.full);
      expect((await store.get(global))?.value).toBe('shared');
      expect(store.scopeSize(KeyScope.of(NS, 'a'))).toBe(100);
      expect(store.stats().entries).toBe(100 + others.length + 1);
      expect(evicted).toHaveLength(9_900);
      expect(evicted.every((k) => k.scope.tenant === 'a')).toBe(true);
      expect(evicted[0]!.full).toBe(key('a', 'k0').full);
    });

    it('evicts the tenant\'s least recently used entry, not its oldest', async () => {
      const store = makeStore({ maxEntriesPerTenant: 3 });
      const [k1, k2, k3, k4] = ['1', '2', '3', '4'].map((k) => key('a', k)) as [StorageKey, StorageKey, StorageKey, StorageKey];
      for (const k of [k1, k2, k3]) await store.set(k, env(k, k.full), 0);
      await store.get(k1); // k2 is now the least recently used
      await store.set(k4, env(k4, 4), 0);
      expect(await store.get(k2)).toBeUndefined();
      expect((await store.get(k1))?.value).toBe(k1.full);
      expect((await store.get(k3))?.value).toBe(k3.full);
      // Overwriting a key already held is not a new key: nothing is evicted.
      await store.set(k3, env(k3, 'again'), 0);
      expect(store.scopeSize(k1.scope)).toBe(3);
      expect(store.stats().evictions).toBe(1);
    });
  });

  describe('observer', () => {
    it('evicted() gets the evicted key on LRU eviction, and nothing on delete, overwrite, clear or expiry', async () => {
      const clock = new ManualClock();
      const evicted = vi.fn<NonNullable<StoreObserver['evicted']>>();
      const store = makeStore({ maxEntries: 2, clock, observer: { evicted } });
      const [k1, k2, k3] = ['1', '2', '3'].map((k) => key('a', k)) as [StorageKey, StorageKey, StorageKey];

      await store.set(k1, env(k1, 1), 0);
      await store.set(k1, env(k1, 'overwrite'), 0);
      await store.set(k2, env(k2, 2), 1_000);
      await store.delete(k1);
      clock.advance(1_001);
      expect(await store.get(k2)).toBeUndefined(); // expired
      await store.set(k1, env(k1, 1), 0);
      await store.clearScope(k1.scope);
      expect(evicted).not.toHaveBeenCalled();

      await store.set(k1, env(k1, 1), 0);
      await store.set(k2, env(k2, 2), 0);
      await store.set(k3, env(k3, 3), 0);
      expect(evicted).toHaveBeenCalledTimes(1);
      expect(evicted.mock.calls[0]![0]).toBe(k1);
      expect(store.stats().evictions).toBe(1);
    });

    it('a throwing observer does not break the store', async () => {
      const store = makeStore({ maxEntries: 1, observer: { evicted: () => { throw new Error('observer bug'); } } });
      const [k1, k2] = [key('a', '1'), key('a', '2')];
      await store.set(k1, env(k1, 1), 0);
      await expect(store.set(k2, env(k2, 2), 0)).resolves.toBe(true);
      expect((await store.get(k2))?.value).toBe(2);
      expect(store.indexSizes()).toMatchObject({ scopes: 1, keys: 1 });
    });
  });

  describe('ttl and sweep', () => {
    it('follows the injected clock: hit until the ttl passes, then a miss', async () => {
      const clock = new ManualClock();
      const store = makeStore({ clock });
      const k = key('a', 'k');
      await store.set(k, env(k, 'v'), 60_000);
      clock.advance(60_000);
      expect((await store.get(k))?.value).toBe('v');
      clock.advance(1);
      expect(await store.get(k)).toBeUndefined();
      expect(store.scopeSize(k.scope)).toBe(0);
    });

    it('an explicitly passed systemClock works like no clock (lru-cache keeps its monotonic time)', async () => {
      const store = makeStore({ clock: systemClock });
      const k = key('a', 'k');
      const e = env(k, 'v', { expiresAt: Date.now() + 60_000 });
      await store.set(k, e, 60_000);
      expect((await store.get(k))?.stamp).toBe(e.stamp);
      expect((await store.getOrSet(k, env(k, 'other'), 60_000)).set).toBe(false);
    });

    it('getOrSet uses the clock for logical expiry', async () => {
      const clock = new ManualClock();
      const store = makeStore({ clock });
      const k = key('a', 'k');
      const first = env(k, 1, { expiresAt: clock.now() + 1_000 });
      await store.set(k, first, 0);
      expect((await store.getOrSet(k, env(k, 2), 0)).set).toBe(false);
      clock.advance(1_000);
      expect((await store.getOrSet(k, env(k, 3), 0)).set).toBe(true);
    });

    it('sweep() purges expired entries nobody reads, and their indexes', async () => {
      const clock = new ManualClock();
      const store = makeStore({ clock });
      for (let i = 0; i < 10; i++) {
        const k = key('a', `short${i}`);
        await store.set(k, env(k, i, { tags: ['t'] }), 1_000);
      }
      const long = key('a', 'long');
      await store.set(long, env(long, 'long', { tags: ['t'] }), 0);
      expect(store.sweep()).toBe(0);
      clock.advance(1_001);
      expect(store.sweep()).toBe(10);
      expect(store.stats().entries).toBe(1);
      expect(store.indexSizes()).toEqual({ scopes: 1, keys: 1, tags: 1, tagMembers: 1, retired: 0, overShare: 0 });
    });

    it('the background sweep runs every sweepInterval', async () => {
      vi.useFakeTimers();
      const clock = new ManualClock();
      const store = makeStore({ clock, sweepInterval: '10s' });
      const k = key('a', 'k');
      await store.set(k, env(k, 1), 1_000);
      clock.advance(5_000);
      expect(store.stats().entries).toBe(1); // expired but not yet swept
      vi.advanceTimersByTime(10_000);
      expect(store.stats().entries).toBe(0);
    });

    it('close() stops the sweep timer', async () => {
      vi.useFakeTimers();
      const store = makeStore({ sweepInterval: 1_000 });
      expect(vi.getTimerCount()).toBe(1);
      await store.close();
      expect(vi.getTimerCount()).toBe(0);
    });
  });

  describe('indexes', () => {
    const EMPTY = { scopes: 0, keys: 0, tags: 0, tagMembers: 0, retired: 0, overShare: 0 };

    it('stay consistent through overwrite, delete, expiry, eviction, tags and clear (no leaks)', async () => {
      const clock = new ManualClock();
      const store = makeStore({ clock, maxEntries: 50 });
      const scope = KeyScope.of(NS, 'a');
      const tag = (t: string): StorageKey => storageKey(scope, 'tag', t);

      const k = key('a', 'retag');
      await store.set(k, env(k, 1, { tags: ['x'] }), 0);
      await store.set(k, env(k, 2, { tags: ['z', 'z'] }), 0); // overwrite with other tags
      await store.invalidateTags([tag('x')]);
      expect((await store.get(k))?.value).toBe(2);
      await store.delete(k);
      await store.set(k, env(k, 3), 0);
      await store.invalidateTags([tag('z')]);
      expect((await store.get(k))?.value).toBe(3);

      for (let i = 0; i < 200; i++) {
        const e = key(i % 2 ? 'a' : 'b', `k${i}`);
        await store.set(e, env(e, i, { tags: [`t${i % 7}`, 'all'] }), i % 3 === 0 ? 1_000 : 0);
      }
      clock.advance(2_000);
      store.sweep();
      const sizes = store.indexSizes();
      expect(sizes.keys).toBe(store.stats().entries);
      expect(sizes.tagMembers).toBeLessThanOrEqual(3 * sizes.keys);

      await store.clearScope(scope);
      await store.clearScope(KeyScope.of(NS, 'b'));
      expect(store.scopeSize(scope)).toBe(0);
      expect(store.indexSizes().retired).toBe(store.stats().entries); // retired at once, reclaimed later
      store.sweep();
      expect(store.stats()).toMatchObject({ entries: 0, bytes: 0 });
      // What is left: the two epochs and the invalidated tags x and z, kept for the computation bound.
      expect(store.indexSizes()).toEqual({ ...EMPTY, scopes: 2, tags: 2 });
      clock.advance(MAX_COMPUTATION_MS);
      store.sweep();
      expect(store.indexSizes()).toEqual(EMPTY);
    });
  });

  describe('indexes found from the full key on removal', () => {
    it('the same envelope object written again under its key keeps bytes, tags and index right', async () => {
      const clock = new ManualClock();
      const store = makeStore({ clock, maxBytes: 100_000, maxEntries: 10 });
      const k = key('a', 'same');
      const e = env(k, 'v'.repeat(100), { tags: ['t'] });
      await store.set(k, e, 0);
      const { bytes } = store.stats();
      await store.set(k, e, 0);
      await store.set(k, e, 1_000);
      expect(store.stats()).toMatchObject({ entries: 1, bytes });
      expect(store.indexSizes()).toEqual({ scopes: 1, keys: 1, tags: 1, tagMembers: 1, retired: 0, overShare: 0 });
      await store.invalidateTags([storageKey(k.scope, 'tag', 't')]);
      expect(await store.get(k)).toBeUndefined(); // the read that finds it invalidated deletes it
      expect(store.stats()).toMatchObject({ entries: 0, bytes: 0 });
      expect(store.indexSizes()).toEqual({ scopes: 1, keys: 0, tags: 1, tagMembers: 0, retired: 0, overShare: 0 });
      clock.advance(MAX_COMPUTATION_MS);
      store.sweep();
      expect(store.indexSizes()).toEqual({ scopes: 0, keys: 0, tags: 0, tagMembers: 0, retired: 0, overShare: 0 });
    });

    it('scopes whose namespace or tenant is a prefix of another\'s are told apart on eviction', async () => {
      const clock = new ManualClock();
      const evicted = vi.fn<NonNullable<StoreObserver['evicted']>>();
      const store = makeStore({ clock, maxEntries: 2, observer: { evicted } });
      const scopes = [KeyScope.of(NS, 'a'), KeyScope.of(NS, 'ab'), KeyScope.of(`${NS}x`, 'a'), KeyScope.of(`${NS}x`, 'ab')];
      const keys = scopes.map((s) => storageKey(s, 'entry', 'k'));
      for (const k of keys) await store.set(k, env(k, k.full, { tags: ['t'] }), 0);
      // Each write evicted the entry written two before it, from another scope than the writer's.
      expect(evicted.mock.calls.map(([k]) => k)).toEqual([keys[0], keys[1]]);
      expect(store.scopeSize(scopes[0]!)).toBe(0);
      expect(store.scopeSize(scopes[1]!)).toBe(0);
      expect(store.indexSizes()).toEqual({ scopes: 2, keys: 2, tags: 2, tagMembers: 2, retired: 0, overShare: 0 });
      for (const s of scopes.slice(2)) await store.invalidateTags([storageKey(s, 'tag', 't')]);
      for (const k of keys.slice(2)) expect(await store.get(k)).toBeUndefined();
      expect(store.indexSizes()).toEqual({ scopes: 2, keys: 0, tags: 2, tagMembers: 0, retired: 0, overShare: 0 });
      clock.advance(MAX_COMPUTATION_MS);
      store.sweep();
      expect(store.indexSizes()).toEqual({ scopes: 0, keys: 0, tags: 0, tagMembers: 0, retired: 0, overShare: 0 });
    });
  });

  describe('one KeyScope object reused across operations (as facades do)', () => {
    it('indexes stay right when the scope index is dropped and recreated in between', async () => {
      const clock = new ManualClock();
      // No share: plain LRU over 3 entries decides which scope loses entries below.
      const store = makeStore({ clock, maxEntries: 3, maxTenantShare: 1 });
      const a = KeyScope.of(NS, 'a');
      const b = KeyScope.of(NS, 'b');
      const ka = (k: string): StorageKey => storageKey(a, 'entry', k);
      const kb = (k: string): StorageKey => storageKey(b, 'entry', k);
      const EMPTY = { scopes: 0, keys: 0, tags: 0, tagMembers: 0, retired: 0, overShare: 0 };

      await store.set(ka('1'), env(ka('1'), 1), 0);
      expect(await store.purgeScope(a)).toBe(1);
      expect(store.indexSizes()).toEqual({ ...EMPTY, scopes: 1 }); // a's epoch, kept for the bound
      clock.advance(MAX_COMPUTATION_MS);
      store.sweep(); // drops a's index
      expect(store.indexSizes()).toEqual(EMPTY);
      await store.set(ka('2'), env(ka('2'), 2), 0); // same KeyScope object: must land in a new, listed index
      expect(store.scopeSize(a)).toBe(1);
      expect(await store.purgeScope(a)).toBe(1);
      clock.advance(MAX_COMPUTATION_MS);
      store.sweep();
      expect(store.indexSizes()).toEqual(EMPTY);

      await store.set(ka('3'), env(ka('3'), 3, { tags: ['t'] }), 1_000);
      clock.advance(2_000);
      store.sweep(); // expiry drops a's index through dispose
      expect(store.indexSizes().scopes).toBe(0);
      await store.set(ka('4'), env(ka('4'), 4, { tags: ['t'] }), 0);
      await store.invalidateTags([storageKey(a, 'tag', 't')]);
      expect(await store.get(ka('4'))).toBeUndefined();

      for (const k of ['1', '2', '3']) await store.set(kb(k), env(kb(k), k), 0);
      await store.set(ka('5'), env(ka('5'), 5), 0); // evicts b's LRU entry
      await store.set(ka('6'), env(ka('6'), 6), 0);
      await store.set(ka('7'), env(ka('7'), 7), 0); // b is evicted completely: its index goes
      expect(store.scopeSize(b)).toBe(0);
      expect(store.scopeSize(a)).toBe(3);
      await store.set(kb('9'), env(kb('9'), 9), 0);
      expect(store.scopeSize(b)).toBe(1);
      expect(store.indexSizes()).toEqual({ ...EMPTY, scopes: 2, keys: 3, tags: 1 }); // a's tag t: invalidated, kept for the bound
      expect(await store.purgeScope(b)).toBe(1);
      expect(await store.purgeScope(a)).toBe(2);
      clock.advance(MAX_COMPUTATION_MS);
      store.sweep();
      expect(store.indexSizes()).toEqual(EMPTY);
    });
  });

  describe('close', () => {
    it('clears the data, stats stay readable, scopeSize throws CacheClosedError', async () => {
      const store = makeStore();
      const k = key('a', 'k');
      await store.set(k, env(k, 1), 0);
      await store.close();
      expect(store.stats()).toMatchObject({ entries: 0, bytes: 0 });
      expect(() => store.scopeSize(k.scope)).toThrow(CacheClosedError);
      expect(await store.health()).toEqual({ ok: false, detail: 'closed' });
    });
  });
});
