import { describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheConfigError } from '../../lib/errors/cache.errors.js';
import { MEMORY_STORE_DEFAULTS } from '../../lib/stores/memory-store-options.js';
import { resolveTieredStoreOptions, TIERED_STORE_DEFAULTS } from '../../lib/stores/tiered-store-options.js';

const l2 = { url: 'redis://127.0.0.1:1' };

async function createError(store: unknown): Promise<CacheConfigError> {
  const err = await CacheManager.create({ logger: false, store } as never).then(
    async (manager) => {
      await manager.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CacheConfigError);
  return err as CacheConfigError;
}

/** `store: { type: 'tiered', … }` is checked at start-up at every nesting level, before any connection is made. */
describe("store: { type: 'tiered' } options", () => {
  it.each([
    [{ type: 'tiered' }, 'store.l2', /missing.*l2: \{ url/],
    [{ type: 'tiered', l2: 'redis://x' }, 'store.l2', /expected an object/],
    [{ type: 'tiered', l2: {} }, 'store.l2', /no Redis connection given/],
    [{ type: 'tiered', l2: { type: 'redis', url: 'redis://x' } }, 'store.l2.type', /l2 is always a Redis store/],
    [{ type: 'tiered', l1: { type: 'memory' }, l2 }, 'store.l1.type', /l1 is always a memory store/],
    [{ type: 'tiered', l1: { maxTenantShare: 25 }, l2 }, 'store.l1.maxTenantShare', /0\.25 for 25%/],
    [{ type: 'tiered', l1: { maxBytes: -1 }, l2 }, 'store.l1.maxBytes', /positive size in bytes/],
    [{ type: 'tiered', l2: { ...l2, writeDeadlineMargin: 600 } }, 'store.l2.writeDeadlineMargin', /not below the commandTimeout/],
    [{ type: 'tiered', l2: { url: 'redis://x', cluster: { nodes: [] } } }, 'store.l2', /url and cluster given together/],
    [{ type: 'tiered', l2, l2Writes: 'later' }, 'store.l2Writes', /expected 'await' or 'background'/],
    [{ type: 'tiered', l2, bus: { maxStaleness: 50 } }, 'store.bus.maxStaleness', /50 ms is below 100 ms/],
    [{ type: 'tiered', l2, bus: { maxStaleness: 'soon' } }, 'store.bus.maxStaleness', /not a duration/],
    [{ type: 'tiered', l2, bus: true }, 'store.bus', /expected an object/],
    [{ type: 'tiered', url: 'redis://x' }, 'store.url', /Redis options go under l2/],
    [{ type: 'tiered', l2, maxEntries: 10 }, 'store.maxEntries', /memory options go under l1/],
    [{ type: 'tiered', l2, maxStaleness: 10 }, 'store.maxStaleness', /bus: \{ maxStaleness/],
    [{ type: 'tierd', l2 }, 'store.type', /did you mean 'tiered'/],
  ])('%j fails naming %s', async (store, option, message) => {
    const err = await createError(store);
    expect(err.option).toBe(option);
    expect(err.message).toMatch(message);
  });

  it('resolves the defaults: L1 as a memory store (share 0.25 of it per tenant), writes awaited, a 1 s staleness bound', () => {
    const resolved = resolveTieredStoreOptions({ l2 });
    expect(resolved).toMatchObject({ l1: {}, l2, l2Writes: 'await', maxStalenessMs: 1_000 });
    expect(TIERED_STORE_DEFAULTS).toEqual({ l2Writes: 'await', bus: { maxStaleness: 1_000 } });
    expect(MEMORY_STORE_DEFAULTS.maxTenantShare).toBe(0.25);
    expect(resolveTieredStoreOptions({ l2, bus: { maxStaleness: '2s' }, l2Writes: 'background' })).toMatchObject({ maxStalenessMs: 2_000, l2Writes: 'background' });
  });

  it('is refused by CacheManager.createSync (it connects to Redis), naming the fix', () => {
    expect(() => CacheManager.createSync({ store: { type: 'tiered', l2 }, logger: false })).toThrow(/use `await CacheManager.create\(options\)`/);
  });
});
