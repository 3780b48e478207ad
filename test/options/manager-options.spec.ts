import { afterEach, describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheConfigError } from '../../lib/errors/cache.errors.js';

/** The options of CacheManager (lib/options/manager-options.ts), checked when a manager is created. */
const managers: CacheManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

describe('options are checked at creation', () => {
  it.each([
    [{ namespace: 'a b' }, 'namespace'],
    [{ namespace: '' }, 'namespace'],
    [{ defaultTtl: -1 }, 'defaultTtl'],
    [{ defaultTtl: '5 minutes' }, 'defaultTtl'],
    [{ maxTrackedTenants: 0 }, 'maxTrackedTenants'],
    [{ defaultTTL: '5m' }, 'defaultTTL'],
    [{ store: { type: 'memory', maxEntries: 0 } }, 'store.maxEntries'],
    [{ store: { type: 'memcached' } }, 'store'],
    [{ tenantStores: { factory: 'nope' } }, 'tenantStores.factory'],
    [{ tenantStores: { factory: () => undefined, maxOpen: -2 } }, 'tenantStores.maxOpen'],
    [{ logger: 'console' }, 'logger'],
    // Fractional or negative milliseconds: the wire format takes whole ones (every Redis write failed).
    [{ clock: { now: () => 1_700_000_000_000.5 } }, 'clock'],
    [{ clock: { now: () => -1 } }, 'clock'],
    [{ clock: { now: () => '1700000000000' } }, 'clock'],
  ])('%j fails naming %s', async (options, option) => {
    const err = await CacheManager.create(options as never).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CacheConfigError);
    expect((err as Error).message).toContain(`"${option}`);
    expect((err as Error).message).toMatch(/Fix:/);
  });

  it('suggests the right spelling of a mistyped option', () => {
    expect(() => CacheManager.createSync({ defaultTTL: '5m' } as never)).toThrow(/did you mean "defaultTtl"/);
  });

  it('never mutates the options object', async () => {
    const options = { store: { type: 'memory' as const, maxEntries: 10 }, defaultTtl: '1m' as const };
    const manager = await CacheManager.create(options);
    managers.push(manager);
    await manager.forTenant('a').set('k', 1);
    expect(options).toStrictEqual({ store: { type: 'memory', maxEntries: 10 }, defaultTtl: '1m' });
    // A frozen one is accepted too (a write to it would throw).
    managers.push(await CacheManager.create(Object.freeze({ store: Object.freeze({ type: 'memory' as const, maxEntries: 10 }), defaultTtl: '1m' })));
  });
});
