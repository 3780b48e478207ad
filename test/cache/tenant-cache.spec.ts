import { describe, expect, it, vi } from 'vitest';
import {
  CacheClosedError,
  CacheConnectionError,
  EncodeError,
  InvalidKeyError,
  InvalidTtlError,
} from '../../lib/errors/cache.errors.js';
import { CacheManager, internalsOf } from '../../lib/cache/cache-manager.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { managerFixture } from '../helpers/manager-fixture.js';
import type { Duration } from '../../lib/utils/duration.js';

const { setup, managers } = managerFixture();

describe('TenantCache: values', () => {
  it('distinguishes a miss from stored falsy values', async () => {
    const cache = setup().manager.forTenant('acme');
    expect(await cache.get('missing')).toBeUndefined();
    expect(await cache.has('missing')).toBe(false);
    for (const [key, value] of [['null', null], ['zero', 0], ['empty', ''], ['false', false], ['obj', { a: [1, { b: null }] }]] as const) {
      await cache.set(key, value);
      expect(await cache.has(key)).toBe(true);
      expect(await cache.get(key)).toEqual(value);
    }
  });

  it('refuses to store undefined, naming the fix', async () => {
    const cache = setup().manager.forTenant('acme');
    // The type refuses undefined (Defined<T>); JavaScript callers get the run-time error.
    // @ts-expect-error -- undefined does not compile
    await expect(cache.set('k', undefined)).rejects.toThrow(EncodeError);
    // @ts-expect-error -- undefined does not compile
    await expect(cache.set('k', undefined)).rejects.toThrow(/store null instead/);
  });

  it('expires entries by TTL on the injected clock (ms and duration strings, default TTL, 0 = never)', async () => {
    const { manager, clock } = setup();
    const cache = manager.forTenant('acme');
    await cache.set('short', 1, { ttl: '30s' });
    await cache.set('ms', 2, { ttl: 500 });
    await cache.set('default', 3);
    await cache.set('forever', 4, { ttl: 0 });
    clock.advance(499);
    expect(await cache.get('ms')).toBe(2);
    clock.advance(1);
    expect(await cache.get('ms')).toBeUndefined();
    clock.advance(29_499);
    expect(await cache.get('short')).toBe(1);
    clock.advance(1);
    expect(await cache.get('short')).toBeUndefined();
    expect(await cache.get('default')).toBe(3);
    clock.advance(30_000);
    expect(await cache.get('default')).toBeUndefined();
    clock.advance(365 * 86_400_000);
    expect(await cache.get('forever')).toBe(4);
  });

  it('rejects bad TTLs with InvalidTtlError and writes nothing', async () => {
    const cache = setup().manager.forTenant('acme');
    await cache.set('k', 'old');
    // '5 minutes' and '' do not compile (Duration); JavaScript callers and config values still get here.
    for (const ttl of [-1, Number.NaN, '5 minutes', ''] as Duration[]) {
      await expect(cache.set('k', 'new', { ttl })).rejects.toThrow(InvalidTtlError);
    }
    expect(await cache.get('k')).toBe('old');
  });

  it('deletes', async () => {
    const cache = setup().manager.forTenant('acme');
    await cache.set('k', 1);
    expect(await cache.delete('k')).toBe(true);
    expect(await cache.delete('k')).toBe(false);
    expect(await cache.get('k')).toBeUndefined();
  });
});

describe('ComputeEngine.peekSync (the synchronous hit path of the HTTP face)', () => {
  const peek = (manager: CacheManager, tenant: string | undefined, key: string) => {
    const internals = internalsOf(manager);
    return internals.state.engine.peekSync(internals.access(tenant), key);
  };

  it('answers from a memory store without a promise, counting hits only (a miss is counted by getOrCompute)', async () => {
    const { manager, clock } = setup();
    const cache = manager.forTenant('acme');
    expect(peek(manager, 'acme', 'k')).toBeUndefined();
    await cache.set('k', null, { ttl: 1000 });
    expect(peek(manager, 'acme', 'k')?.value).toBeNull();
    clock.advance(1000);
    expect(peek(manager, 'acme', 'k')).toBeUndefined();
    expect(await cache.stats()).toMatchObject({ hits: 1, misses: 0 });
  });

  it('says nothing for a store without getSync and for tenants with a dedicated store', async () => {
    const { manager } = setup({ chaos: true }); // ChaosStore has no getSync, like Redis
    await manager.forTenant('acme').set('k', 1);
    expect(peek(manager, 'acme', 'k')).toBeUndefined();
    expect(internalsOf(manager).access('acme').readsSync).toBe(false);
    const pooled = CacheManager.createSync({ logger: false, tenantStores: { factory: () => undefined } });
    managers.push(pooled);
    expect(internalsOf(pooled).access('acme').readsSync).toBe(false);
    await pooled.global().set('k', 1);
    expect(peek(pooled, undefined, 'k')?.value).toBe(1); // the global scope never uses a dedicated store
  });

  it('fails open and throws after close', async () => {
    const { manager } = setup();
    const cache = manager.forTenant('acme');
    const spy = vi.spyOn(MemoryStore.prototype, 'getSync').mockImplementationOnce(() => {
      throw new CacheConnectionError('get', 'x');
    });
    expect(peek(manager, 'acme', 'k')).toBeUndefined();
    expect((await cache.stats()).errors).toBe(1);
    spy.mockRestore();
    await manager.close();
    expect(() => peek(manager, 'acme', 'k')).toThrow(CacheClosedError);
  });
});

describe('TenantCache: atomic operations', () => {
  it('getOrSet returns the stored value and whether it set; one writer among 100', async () => {
    const cache = setup().manager.forTenant('acme');
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => cache.getOrSet('k', `v${i}`)));
    const writers = results.filter((r) => r.set);
    expect(writers).toHaveLength(1);
    for (const r of results) expect(r.value).toBe(writers[0]!.value);
    expect(await cache.get('k')).toBe(writers[0]!.value);
  });

  it('compareAndSet: undefined means absent; deep equality; one winner among 100', async () => {
    const cache = setup().manager.forTenant('acme');
    expect(await cache.compareAndSet('k', undefined, { n: 0 })).toBe(true);
    expect(await cache.compareAndSet('k', undefined, { n: 9 })).toBe(false);
    expect(await cache.compareAndSet('k', { n: 5 }, { n: 9 })).toBe(false);
    const wins = await Promise.all(Array.from({ length: 100 }, (_, i) => cache.compareAndSet('k', { n: 0 }, { n: i + 1 })));
    expect(wins.filter(Boolean)).toHaveLength(1);
    const winner = wins.indexOf(true) + 1;
    expect(await cache.get('k')).toEqual({ n: winner });
  });

  it('compareAndSet treats an expired entry as absent', async () => {
    const { manager, clock } = setup();
    const cache = manager.forTenant('acme');
    await cache.set('k', 1, { ttl: 1000 });
    clock.advance(1000);
    expect(await cache.compareAndSet('k', 1, 2)).toBe(false);
    expect(await cache.compareAndSet('k', undefined, 3)).toBe(true);
    expect(await cache.get('k')).toBe(3);
  });
});

describe('TenantCache.wrap', () => {
  it('runs the factory once for 100 concurrent callers, then serves hits', async () => {
    const cache = setup().manager.forTenant('acme');
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const factory = async () => {
      runs++;
      await gate;
      return { report: 42 };
    };
    const all = Promise.all(Array.from({ length: 100 }, () => cache.wrap('report', factory)));
    await new Promise((r) => setImmediate(r));
    release();
    const values = await all;
    expect(runs).toBe(1);
    for (const v of values) expect(v).toEqual({ report: 42 });
    expect(await cache.wrap('report', factory)).toEqual({ report: 42 });
    expect(runs).toBe(1);
    const stats = await cache.stats();
    expect(stats.puts).toBe(1);
  });

  it('runs the factory once even when it resolves synchronously', async () => {
    const cache = setup().manager.forTenant('acme');
    let runs = 0;
    await Promise.all(Array.from({ length: 100 }, () => cache.wrap('k', () => ++runs)));
    expect(runs).toBe(1);
  });

  it('a throwing factory stores nothing and every waiter gets the error', async () => {
    const cache = setup().manager.forTenant('acme');
    let runs = 0;
    const boom = new Error('boom');
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        cache.wrap('k', async () => {
          runs++;
          await Promise.resolve();
          throw boom;
        }),
      ),
    );
    expect(runs).toBe(1);
    for (const r of results) expect(r).toEqual({ status: 'rejected', reason: boom });
    expect(await cache.has('k')).toBe(false);
    expect(await cache.wrap('k', () => 'ok')).toBe('ok');
  });

  it('returns but does not cache undefined', async () => {
    const cache = setup().manager.forTenant('acme');
    let runs = 0;
    // The type refuses such a factory (UndefinedGuard); JavaScript callers get this behaviour.
    // @ts-expect-error -- a factory resolving undefined does not compile
    expect(await cache.wrap('k', () => (runs++, undefined))).toBeUndefined();
    // @ts-expect-error -- a factory resolving undefined does not compile
    expect(await cache.wrap('k', () => (runs++, undefined))).toBeUndefined();
    expect(runs).toBe(2);
  });

  it('fails open: store down -> the factory value is served, errors counted, logged once per burst', async () => {
    const { manager, chaos, logger } = setup({ chaos: true });
    chaos.failAll();
    const cache = manager.forTenant('acme');
    for (let i = 0; i < 50; i++) expect(await cache.wrap(`k${i}`, () => i)).toBe(i);
    expect(await cache.get('k1')).toBeUndefined();
    const stats = await manager.stats();
    expect(stats.errors).toBe(101); // 50 reads + 50 writes in wrap, 1 read in get
    expect(logger.warn).toHaveBeenCalledTimes(1); // one burst for the store's connection: its failed gets and sets together
    for (const [message] of logger.warn.mock.calls) {
      expect(message).toMatch(/key #[A-Za-z0-9_-]{12}/);
      expect(message).not.toContain('acme');
      expect(message).not.toMatch(/k\d/);
    }
    chaos.heal();
    expect(await cache.wrap('k1', () => 'fresh')).toBe('fresh');
    expect(await cache.get('k1')).toBe('fresh');
  });

  it('writes report failure: set/delete/getOrSet reject with a typed error while the store is down', async () => {
    const { manager, chaos } = setup({ chaos: true });
    chaos.failAll();
    const cache = manager.forTenant('acme');
    await expect(cache.set('k', 1)).rejects.toBeInstanceOf(CacheConnectionError);
    await expect(cache.delete('k')).rejects.toBeInstanceOf(CacheConnectionError);
    await expect(cache.getOrSet('k', 1)).rejects.toBeInstanceOf(CacheConnectionError);
    await expect(cache.clear()).rejects.toBeInstanceOf(CacheConnectionError);
  });

  it('stale-if-error: within grace a failing factory serves the stale value', async () => {
    const { manager, clock } = setup();
    const cache = manager.forTenant('acme');
    expect(await cache.wrap('k', () => 'v1', { ttl: '10s', grace: '1m' })).toBe('v1');
    clock.advance(11_000);
    expect(await cache.wrap('k', () => Promise.reject(new Error('db down')), { ttl: '10s', grace: '1m' })).toBe('v1');
    expect((await cache.stats()).staleServed).toBe(1);
    clock.advance(60_000);
    await expect(cache.wrap('k', () => Promise.reject(new Error('db down')), { ttl: '10s', grace: '1m' })).rejects.toThrow('db down');
  });

  it('stale-while-revalidate: serves stale at once and refreshes in the background, once', async () => {
    const { manager, clock } = setup();
    const cache = manager.forTenant('acme');
    await cache.wrap('k', () => 'v1', { ttl: '10s', grace: '1m' });
    clock.advance(10_001);
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const refresh = async () => {
      runs++;
      await gate;
      return 'v2';
    };
    const served = await Promise.all(Array.from({ length: 10 }, () => cache.wrap('k', refresh, { ttl: '10s', grace: '1m', staleWhileRevalidate: true })));
    expect(served).toEqual(Array(10).fill('v1'));
    release();
    await vi.waitFor(async () => expect(await cache.get('k')).toBe('v2'));
    expect(runs).toBe(1);
  });
});

describe('isolation', () => {
  it('tenants never see each other, and global is apart from every tenant', async () => {
    const { manager } = setup();
    const a = manager.forTenant('a');
    const b = manager.forTenant('b');
    await a.set('k', 'from-a');
    expect(await b.get('k')).toBeUndefined();
    await manager.global().set('k', 'global');
    expect(await manager.forTenant('g').get('k')).toBeUndefined();
    expect(await a.get('k')).toBe('from-a');
    expect(await manager.global().get('k')).toBe('global');
  });

  it('clear() and invalidateTags() act on one tenant only', async () => {
    const { manager } = setup();
    const a = manager.forTenant('a');
    const ab = manager.forTenant('a:b');
    await a.set('p1', 1, { tags: ['product:1'] });
    await a.set('p2', 2, { tags: ['product:2'] });
    await ab.set('p1', 10, { tags: ['product:1'] });
    await a.invalidateTags(['product:1']);
    expect(await a.get('p1')).toBeUndefined();
    expect(await a.get('p2')).toBe(2);
    expect(await ab.get('p1')).toBe(10);
    await a.clear();
    expect(await a.get('p2')).toBeUndefined();
    expect(await ab.get('p1')).toBe(10);
  });

  it('rejects empty and oversized tenant ids with a clear error', () => {
    const { manager } = setup();
    expect(() => manager.forTenant('')).toThrow(InvalidKeyError);
    expect(() => manager.forTenant('x'.repeat(257))).toThrow(/over 256/);
    expect(() => manager.forTenant('x'.repeat(256))).not.toThrow();
  });

  it('two managers in one process share nothing', async () => {
    const one = setup().manager;
    const two = setup().manager;
    await one.forTenant('a').set('k', 1);
    expect(await two.forTenant('a').get('k')).toBeUndefined();
  });
});
