import { afterEach, describe, expect, it, vi } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheError, CacheUnsupportedError } from '../../lib/errors/cache.errors.js';
import type { CacheStore } from '../../lib/stores/cache-store.interface.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { ChaosStore } from '../helpers/chaos.store.js';

const closing: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(closing.splice(0).map((c) => c.close()));
});

const recorder = () => ({ warn: vi.fn(), error: vi.fn(), log: vi.fn() });

/**
 * A custom store that leaves the optional `pull` out (the README says `pull()` then rejects):
 * ChaosStore has none. Not a memory store, so the manager puts its circuit breaker around it
 * unless told not to; a breaker that counted the refusal as a failure would open at the first.
 */
const cases: Array<[string, () => CacheStore, false | { failureThreshold: number }]> = [
  ['behind the circuit breaker (failureThreshold 1)', () => new ChaosStore(new MemoryStore({ sweepInterval: 0 })), { failureThreshold: 1 }],
  ['without a breaker', () => new ChaosStore(new MemoryStore({ sweepInterval: 0 })), false],
];

describe('pull() on a store without pull', () => {
  it.each(cases)('%s: rejects with CacheUnsupportedError naming the fix; no error counted or logged; the circuit stays closed; the entry stays', async (_, makeStore, circuitBreaker) => {
    const logger = recorder();
    const manager = await CacheManager.create({ store: makeStore(), logger, circuitBreaker });
    closing.push(manager);
    const acme = manager.forTenant('acme');
    await acme.set('k', { n: 1 });

    for (let i = 0; i < 3; i++) {
      const err: unknown = await acme.pull('k').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CacheUnsupportedError);
      expect(err).toBeInstanceOf(CacheError);
      expect((err as CacheError).code).toBe('ERR_CACHE_UNSUPPORTED');
      expect((err as Error).message).toMatch(/pull is not supported: the store has no atomic pull\(\)\. Fix: implement CacheStore\.pull/);
    }

    const stats = await manager.stats();
    const health = await manager.health();
    console.log(`pull() on a store without pull, ${_}: 3 pulls, errors counted ${stats.errors}, log lines ${logger.warn.mock.calls.length + logger.error.mock.calls.length}, circuit ${health.circuit ?? 'none'}`);
    expect(stats.errors).toBe(0);
    expect(logger.warn).not.toHaveBeenCalled();
    expect(logger.error).not.toHaveBeenCalled();
    expect(health.circuit).toBe(circuitBreaker === false ? undefined : 'closed');
    // Nothing was taken: the entry is still there, and the store still counts as healthy.
    expect(await acme.get('k')).toEqual({ n: 1 });
    expect(health.ok).toBe(true);
  });
});
