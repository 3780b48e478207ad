import { afterEach, describe, expect, it, vi } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheError, CacheUnsupportedError } from '../../lib/errors/cache.errors.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';

const closing: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(closing.splice(0).map((c) => c.close()));
});

/** A custom store that leaves the optional `pull` out (the README says `pull()` then rejects). */
class NoPullStore extends MemoryStore {
  constructor() {
    super({ sweepInterval: 0 });
    Object.defineProperty(this, 'pull', { value: undefined });
  }
}

const recorder = () => ({ warn: vi.fn(), error: vi.fn(), log: vi.fn() });

describe('pull() on a store without pull', () => {
  it.each([
    ['with the circuit breaker', undefined],
    ['without it', false as const],
  ])('%s: rejects with CacheUnsupportedError naming the fix; no error counted or logged; the entry stays', async (_, circuitBreaker) => {
    const logger = recorder();
    const manager = await CacheManager.create({ store: new NoPullStore(), logger, circuitBreaker });
    closing.push(manager);
    const acme = manager.forTenant('acme');
    await acme.set('k', { n: 1 });

    const err: unknown = await acme.pull('k').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CacheUnsupportedError);
    expect(err).toBeInstanceOf(CacheError);
    expect((err as CacheError).code).toBe('ERR_CACHE_UNSUPPORTED');
    expect((err as Error).message).toMatch(/pull is not supported: the store has no atomic pull\(\)\. Fix: implement CacheStore\.pull/);

    const stats = await manager.stats();
    console.log(`pull() on a store without pull: errors counted ${stats.errors}, log lines ${logger.warn.mock.calls.length + logger.error.mock.calls.length}`);
    expect(stats.errors).toBe(0);
    expect(logger.warn).not.toHaveBeenCalled();
    expect(logger.error).not.toHaveBeenCalled();
    // Nothing was taken: the entry is still there, and the store still counts as healthy.
    expect(await acme.get('k')).toEqual({ n: 1 });
    expect((await manager.health()).ok).toBe(true);
  });
});
