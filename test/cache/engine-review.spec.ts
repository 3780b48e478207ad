import { describe, expect, it, vi } from 'vitest';
import { CacheManager, internalsOf } from '../../lib/cache/cache-manager.js';
import { CacheConfigError } from '../../lib/errors/cache.errors.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { RecordingLogger } from '../e2e/helpers/app-factory.js';

/**
 * What a review of the engine API found, each a test that failed before its fix: an eager
 * refresh's failure was never reported and a hung one stopped refreshes of its key for good;
 * forceFresh could return the entry in grace; expire() after a concurrent write retried until
 * it failed, and its background retry then deleted the newer write; a bad per-call ttlJitter
 * surfaced only when the entry was built.
 */
function boot(logger = new RecordingLogger()) {
  const clock = new ManualClock(Date.now());
  const manager = CacheManager.createSync({ store: { type: 'memory', sweepInterval: 0 }, clock, logger, circuitBreaker: false });
  return { manager, clock, logger, cache: manager.forTenant('acme') };
}

describe('engine API, review fixes', () => {
  it('reports an eager refresh whose factory throws (the entry is still served and kept)', async () => {
    const { manager, clock, logger, cache } = boot();
    await cache.wrap('k', () => 'v1', { ttl: 10_000, eagerRefresh: 0.5 });
    clock.advance(6_000);
    const served = await cache.wrap('k', () => Promise.reject(new Error('source down')), { ttl: 10_000, eagerRefresh: 0.5 });
    expect(served).toBe('v1');
    await logger.waitFor('eager refresh');
    expect(logger.errors.concat(logger.warnings).join('\n')).not.toContain('source down'); // the name only, never the message
    expect(await cache.get('k')).toBe('v1');
    await manager.close();
  });

  it('ends an eager refresh whose factory hangs at its hard timeout: a later due hit refreshes the key', async () => {
    const { manager, clock, cache } = boot();
    const eager = internalsOf(manager).state.engine.eager;
    await cache.wrap('k', () => 'v1', { ttl: 10_000, eagerRefresh: 0.5 });
    clock.advance(6_000);
    await cache.wrap('k', () => new Promise<string>(() => undefined), { ttl: 10_000, eagerRefresh: 0.5, hardTimeout: 20, lock: false });
    expect(eager.inFlight).toBe(1);
    // The hard timeout runs on real timers (the factory's own time): wait for the refresh to be given up.
    await vi.waitFor(() => expect(eager.inFlight).toBe(0), { timeout: 2_000, interval: 5 });
    clock.advance(1_000);
    await cache.wrap('k', () => 'v2', { ttl: 10_000, eagerRefresh: 0.5, hardTimeout: 20, lock: false });
    await vi.waitFor(async () => expect(await cache.get('k')).toBe('v2'), { timeout: 2_000, interval: 5 });
    await manager.close();
  });

  it('forceFresh never returns the entry in grace that a stale-while-revalidate flight answered with', async () => {
    const { manager, clock, cache } = boot();
    await cache.wrap('k', () => 'old', { ttl: 1_000, grace: '1h' });
    clock.advance(2_000);
    let release!: (v: string) => void;
    const revalidating = cache.wrap('k', () => new Promise<string>((r) => (release = r)), { ttl: 1_000, staleWhileRevalidate: true });
    expect(await revalidating).toBe('old');
    const forced = await cache.wrap('k', () => 'forced', { ttl: 1_000, forceFresh: true });
    release('new');
    expect(forced).toBe('forced');
    await manager.close();
  });

  it('expire() after a concurrent write resolves false and leaves that write alone (no pending delete)', async () => {
    const { manager, cache } = boot();
    await cache.set('k', 'v1', { ttl: 10_000, grace: 10_000 });
    const store = manager.store;
    const original = store.compareAndSet!.bind(store);
    // Another instance writes between expire()'s read and its swap.
    const swap = vi.spyOn(store, 'compareAndSet').mockImplementationOnce(async (...args) => {
      await cache.set('k', 'v2', { ttl: 10_000 });
      return original(...args);
    });
    expect(await cache.expire('k')).toBe(false);
    expect(swap).toHaveBeenCalledTimes(1);
    expect(internalsOf(manager).state.pending.size).toBe(0);
    expect(await cache.get('k')).toBe('v2');
    await manager.close();
  });

  it('checks a per-call ttlJitter when called, naming the call', async () => {
    const { manager, cache } = boot();
    await expect(cache.wrap('k', () => 1, { ttlJitter: 2 })).rejects.toThrow(CacheConfigError);
    await expect(cache.wrap('k', () => 1, { ttlJitter: 2 })).rejects.toThrow(/wrap\.ttlJitter/);
    await expect(cache.set('k', 1, { ttlJitter: -1 })).rejects.toThrow(/set\.ttlJitter/);
    expect(await cache.has('k')).toBe(false);
    await manager.close();
  });
});
