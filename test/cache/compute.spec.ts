import { afterEach, describe, expect, it, vi } from 'vitest';
import { CacheManager, internalsOf } from '../../lib/cache/cache-manager.js';
import { FactoryTimeoutError } from '../../lib/errors/cache.errors.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import type { CacheStore } from '../../lib/stores/cache-store.interface.js';
import { ChaosStore } from '../helpers/chaos.store.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';

/**
 * The one get-or-compute of the cache layer (`ComputeEngine`), through `wrap()`: one store read
 * and one factory run for N concurrent callers, stale-while-revalidate for every caller during
 * a refresh, soft and hard timeouts, the cross-process lock re-read after it is taken.
 */
const managers: CacheManager[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

async function managerOn(store: CacheStore | { type: 'redis'; url: string }, clock = new ManualClock()): Promise<CacheManager> {
  const manager = await CacheManager.create({ store, clock, logger: false, circuitBreaker: false, defaultTtl: '1m' });
  managers.push(manager);
  return manager;
}

/** A store read that goes through a promise, like Redis, with every call counted. */
function chaosMemory(clock: ManualClock): ChaosStore {
  return new ChaosStore(new MemoryStore({ clock, sweepInterval: 0 }));
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('ComputeEngine: joining after the value is there', () => {
  it('with awaitWrite off (HTTP), a caller that joins once the value is computed but before its write lands counts a hit, not a stampede wait', async () => {
    const clock = new ManualClock();
    const store = chaosMemory(clock);
    const manager = await managerOn(store, clock);
    const { engine } = internalsOf(manager).state;
    const access = internalsOf(manager).access('acme');
    const policy = { ttl: 60_000, grace: 0, staleWhileRevalidate: 'joiners', staleIfError: () => false, softTimeoutMs: undefined, hardTimeoutMs: undefined, lock: false, lockTtlMs: 5_000, shareUnstored: false, isAbandoned: () => false, awaitWrite: false } as const;
    let produce!: () => void;
    const produced = new Promise<void>((resolve) => (produce = resolve));
    const first = engine.getOrCompute(access, 'k', async () => {
      await produced;
      return 'v';
    }, policy);
    await vi.waitFor(() => expect(store.calls.get('get')).toBe(1));
    store.hold(); // the leader's write waits
    produce();
    await vi.waitFor(() => expect(store.calls.get('set')).toBe(1));
    expect((await first).kind).toBe('computed');
    const second = await engine.getOrCompute(access, 'k', async () => 'again', policy);
    const stats = await manager.forTenant('acme').stats();
    console.log(`joined after the value, before its write: ${second.kind} "${String(second.entry?.value)}"; hits ${stats.hits}, stampede waits ${stats.stampedeWaits}`);
    expect(second.entry?.value).toBe('v');
    expect(stats.hits).toBe(1);
    expect(stats.stampedeWaits).toBe(0);
    store.release();
  });
});

describe('ComputeEngine: N concurrent cold wrap() calls', () => {
  it.each([5, 100, 1000])('%i callers make 1 store read and 1 factory run, and all get its value', async (n) => {
    const clock = new ManualClock();
    const store = chaosMemory(clock);
    const cache = (await managerOn(store, clock)).forTenant('acme');
    let runs = 0;
    const values = await Promise.all(Array.from({ length: n }, () => cache.wrap('report', async () => ({ run: ++runs }))));
    const reads = store.calls.get('get') ?? 0;
    console.log(`${n} concurrent cold wrap(): ${reads} store read(s), ${runs} factory run(s)`);
    expect(reads).toBe(1);
    expect(runs).toBe(1);
    expect(values.every((v) => v.run === 1)).toBe(true);
    expect((await cache.stats()).stampedeWaits).toBe(n - 1);
  });

  it('a caller arriving after the value but before its write completed joins the flight (no second run)', async () => {
    const clock = new ManualClock();
    const store = chaosMemory(clock);
    const cache = (await managerOn(store, clock)).forTenant('acme');
    const slowSet = gate();
    const set = store.set.bind(store);
    vi.spyOn(store, 'set').mockImplementationOnce(async (...args) => {
      await slowSet.promise;
      return set(...args);
    });
    let runs = 0;
    const first = cache.wrap('k', () => ++runs);
    // Let the factory finish; its write is still pending.
    await new Promise((r) => setImmediate(r));
    const second = cache.wrap('k', () => ++runs);
    slowSet.open();
    expect(await Promise.all([first, second])).toEqual([1, 1]);
    expect(runs).toBe(1);
  });
});

describe('ComputeEngine: counting', () => {
  it('100 concurrent wrap() calls of a warm key are 100 hits (joining a read is no stampede wait)', async () => {
    const clock = new ManualClock();
    const cache = (await managerOn(chaosMemory(clock), clock)).forTenant('acme');
    await cache.set('k', 1);
    await Promise.all(Array.from({ length: 100 }, () => cache.wrap('k', () => 2)));
    const stats = await cache.stats();
    console.log(`100 concurrent wrap() of a warm key: hits ${stats.hits}, stampedeWaits ${stats.stampedeWaits}, misses ${stats.misses}`);
    expect(stats).toMatchObject({ hits: 100, stampedeWaits: 0, misses: 0 });
  });

  it('a stale entry served is counted once per caller that got it', async () => {
    const clock = new ManualClock();
    const cache = (await managerOn(chaosMemory(clock), clock)).forTenant('acme');
    await cache.set('k', 'old', { ttl: 1000, grace: '1h' });
    clock.advance(1001);
    const opts = { ttl: 1000, grace: '1h', staleWhileRevalidate: true } as const;
    await Promise.all(Array.from({ length: 10 }, () => cache.wrap('k', () => 'new', opts)));
    expect((await cache.stats()).staleServed).toBe(10);
  });
});

describe('ComputeEngine: callers that joined one flight', () => {
  it('each get their own copy of the value: a mutation by one never reaches another or the cache', async () => {
    const clock = new ManualClock();
    const cache = (await managerOn(chaosMemory(clock), clock)).forTenant('acme');
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => cache.wrap('k', () => ({ items: [1, 2] }))));
    a!.items.push(3);
    b!.items.length = 0;
    expect(c).toEqual({ items: [1, 2] });
    expect(await cache.get('k')).toEqual({ items: [1, 2] });
  });
});

describe('ComputeEngine: stale-while-revalidate', () => {
  it('every caller during a refresh gets the stale value at once; one factory run', async () => {
    const clock = new ManualClock();
    const cache = (await managerOn(chaosMemory(clock), clock)).forTenant('acme');
    await cache.wrap('price', () => 'v1', { ttl: 1000, grace: '1h' });
    clock.advance(1001);
    const refresh = gate();
    let runs = 0;
    const factory = async () => {
      runs++;
      await refresh.promise; // a refresh that takes as long as the test wants
      return 'v2';
    };
    const opts = { ttl: 1000, grace: '1h', staleWhileRevalidate: true } as const;
    const t0 = performance.now();
    const a = await cache.wrap('price', factory, opts);
    const aMs = performance.now() - t0;
    clock.advance(100); // a second caller 100 ms later, while the refresh still runs
    const t1 = performance.now();
    const b = await Promise.race([cache.wrap('price', factory, opts), new Promise((r) => setTimeout(() => r('still waiting'), 500))]);
    const bMs = performance.now() - t1;
    console.log(`SWR: caller at 0 ms got ${String(a)} in ${aMs.toFixed(2)} ms, caller at 100 ms got ${String(b)} in ${bMs.toFixed(2)} ms; factory runs ${runs}`);
    expect([a, b]).toEqual(['v1', 'v1']);
    expect(aMs).toBeLessThan(20);
    expect(bMs).toBeLessThan(20);
    refresh.open();
    await vi.waitFor(async () => expect(await cache.get('price')).toBe('v2'));
    expect(runs).toBe(1);
  });
});

// `performance` is faked with the timers: the engine takes the time a call already spent
// (performance.now()) off its timeouts, and real milliseconds passing on a busy machine would
// move them against the fake clock.
describe('ComputeEngine: timeouts (fake timers)', () => {
  it('soft timeout: with an entry in grace the caller gets it after softTimeout; the factory goes on and stores', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const clock = new ManualClock();
    const cache = (await managerOn(chaosMemory(clock), clock)).forTenant('acme');
    await cache.set('k', 'old', { ttl: 1000, grace: '1h' });
    clock.advance(1001);
    const slow = gate();
    const pending = cache.wrap(
      'k',
      async () => {
        await slow.promise;
        return 'new';
      },
      { ttl: 1000, grace: '1h', softTimeout: 100 },
    );
    let settled: unknown;
    void pending.then((v) => (settled = v));
    await vi.advanceTimersByTimeAsync(99);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBe('old');
    slow.open();
    await vi.waitFor(async () => expect(await cache.get('k')).toBe('new'));
  });

  it('hard timeout: with nothing in grace the caller gets FactoryTimeoutError; the value is stored when it arrives', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const clock = new ManualClock();
    const cache = (await managerOn(chaosMemory(clock), clock)).forTenant('acme');
    const slow = gate();
    const pending = cache.wrap(
      'k',
      async () => {
        await slow.promise;
        return 'late';
      },
      { hardTimeout: '2s' },
    );
    const outcome = pending.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await vi.advanceTimersByTimeAsync(2000);
    const err = await outcome;
    expect(err).toBeInstanceOf(FactoryTimeoutError);
    expect((err as Error).message).toMatch(/hardTimeout/);
    slow.open();
    await vi.waitFor(async () => expect(await cache.get('k')).toBe('late'));
  });

  it('hard timeout on a store without locks: later callers join the late factory instead of starting another', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const clock = new ManualClock();
    const cache = (await managerOn(chaosMemory(clock), clock)).forTenant('acme');
    const slow = gate();
    let runs = 0;
    const factory = async () => {
      runs++;
      await slow.promise;
      return 'late';
    };
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 5; i++) {
      calls.push(cache.wrap('k', factory, { hardTimeout: 100 }).catch((e: unknown) => e));
      await vi.advanceTimersByTimeAsync(150);
    }
    expect(runs).toBe(1);
    expect((await Promise.all(calls)).every((e) => e instanceof FactoryTimeoutError)).toBe(true);
    slow.open();
    await vi.waitFor(async () => expect(await cache.get('k')).toBe('late'));
  });

  it('hard timeout with an entry in grace serves it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const clock = new ManualClock();
    const cache = (await managerOn(chaosMemory(clock), clock)).forTenant('acme');
    await cache.set('k', 'old', { ttl: 1000, grace: '1h' });
    clock.advance(1001);
    const pending = cache.wrap('k', () => new Promise<string>(() => undefined), { ttl: 1000, grace: '1h', hardTimeout: 50 });
    await vi.advanceTimersByTimeAsync(50);
    expect(await pending).toBe('old');
  });
});

describe('ComputeEngine: factory context', () => {
  it('ctx.skip() returns the value without storing it; ctx.setEntry() sets the TTL from the result', async () => {
    const clock = new ManualClock();
    const cache = (await managerOn(chaosMemory(clock), clock)).forTenant('acme');
    expect(await cache.wrap('a', (ctx) => (ctx.skip(), 'not stored'))).toBe('not stored');
    expect(await cache.get('a')).toBeUndefined();
    await cache.wrap('b', (ctx) => (ctx.setEntry({ ttl: 10 }), 'short-lived'));
    clock.advance(10);
    expect(await cache.get('b')).toBeUndefined();
  });
});

/** Whether the lock of key 'k' of tenant 'acme' is held (read with the store's own client). */
async function redisHasLock(manager: CacheManager): Promise<boolean> {
  const store = internalsOf(manager).state.store as unknown as { client?: { exists(key: string): Promise<number> } };
  const internals = internalsOf(manager);
  const lockKey = `${internals.access('acme').scope.namespace}:{${internals.access('acme').scope.id}}:lock:k`;
  return (await store.client!.exists(lockKey)) === 1;
}

describeWithRedis('ComputeEngine on Redis', () => {
  let redis: RedisServer;
  afterEach(async () => {
    await redis?.stop();
  });

  it('1,000 concurrent cold wrap() calls make 1 store read (plus the re-read under the lock) and 1 factory run', async () => {
    redis = await startRedis();
    const manager = await managerOn({ type: 'redis', url: redis.url });
    const cache = manager.forTenant('acme');
    const store = internalsOf(manager).state.store;
    const get = vi.spyOn(store, 'get');
    let runs = 0;
    const values = await Promise.all(Array.from({ length: 1000 }, () => cache.wrap('report', async () => ++runs)));
    console.log(`Redis, 1000 concurrent cold wrap(): ${get.mock.calls.length} store read(s) (the read, then the re-read once the lock is held), ${runs} factory run(s)`);
    expect(get).toHaveBeenCalledTimes(2);
    expect(runs).toBe(1);
    expect(new Set(values)).toEqual(new Set([1]));
  });

  it('a caller waiting on another instance lock computes as soon as the holder releases it without an entry', async () => {
    redis = await startRedis();
    const a = await managerOn({ type: 'redis', url: redis.url });
    const b = await managerOn({ type: 'redis', url: redis.url });
    const holderWorks = gate();
    const failing = a
      .forTenant('acme')
      .wrap('k', async () => {
        await holderWorks.promise;
        throw new Error('upstream down');
      })
      .catch((e: unknown) => e);
    await vi.waitFor(async () => expect(await redisHasLock(a)).toBe(true));
    const waiting = b.forTenant('acme').wrap('k', () => 'computed by b', { lockTtl: '5s' });
    // b found the lock busy (a stampede wait) and polls for a's entry; now a fails and releases.
    await vi.waitFor(async () => expect((await b.forTenant('acme').stats()).stampedeWaits).toBe(1));
    const t0 = performance.now();
    holderWorks.open();
    expect(await failing).toBeInstanceOf(Error);
    const value = await waiting;
    const waited = performance.now() - t0;
    console.log(`computed ${waited.toFixed(0)} ms after the lock holder failed (lockTtl 5000 ms)`);
    expect(value).toBe('computed by b');
    expect(waited).toBeLessThan(1000);
  });

  it('hardTimeout bounds the wait for another instance lock', async () => {
    redis = await startRedis();
    const a = await managerOn({ type: 'redis', url: redis.url });
    const b = await managerOn({ type: 'redis', url: redis.url });
    const slow = gate();
    const holding = a.forTenant('acme').wrap('k', async () => {
      await slow.promise;
      return 'a';
    });
    await vi.waitFor(async () => expect(await redisHasLock(a)).toBe(true));
    const t0 = performance.now();
    const err = await b.forTenant('acme').wrap('k', () => 'b', { hardTimeout: 200, lockTtl: '5s' }).catch((e: unknown) => e);
    const waited = performance.now() - t0;
    slow.open();
    await holding;
    console.log(`hardTimeout 200 ms while another instance holds the lock: settled after ${waited.toFixed(0)} ms`);
    expect(err).toBeInstanceOf(FactoryTimeoutError);
    expect(waited).toBeLessThan(1500);
  });

  it('re-reads the entry after taking the cross-process lock (another instance wrote it meanwhile): no factory run', async () => {
    redis = await startRedis();
    const writer = await managerOn({ type: 'redis', url: redis.url });
    const reader = await managerOn({ type: 'redis', url: redis.url });
    const store = internalsOf(reader).state.store;
    const acquire = store.acquireLock!.bind(store);
    // Between the reader's miss and its lock, the other instance computes, writes and releases.
    vi.spyOn(store, 'acquireLock').mockImplementationOnce(async (...args) => {
      await writer.forTenant('acme').wrap('k', () => 'from the other instance');
      return acquire(...args);
    });
    let runs = 0;
    expect(await reader.forTenant('acme').wrap('k', () => (runs++, 'computed here'))).toBe('from the other instance');
    expect(runs).toBe(0);
  });
});
