import { resolveModuleOptions } from '../../lib/options/module-options.js';
import { HttpCache } from '../../lib/http/http-cache.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { describe, expect, it, vi } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheClosedError, TenantRequiredError } from '../../lib/errors/cache.errors.js';
import { managerFixture } from '../helpers/manager-fixture.js';
import { ManualClock } from '../helpers/manual-clock.js';

const { setup, managers } = managerFixture();

describe('CacheManager', () => {
  it('current() follows runWithTenant and throws outside it', async () => {
    const { manager } = setup();
    expect(() => manager.current()).toThrow(TenantRequiredError);
    await manager.runWithTenant('acme', async () => {
      await Promise.resolve();
      await manager.current().set('k', 'v');
    });
    expect(await manager.forTenant('acme').get('k')).toBe('v');
  });

  it('counts per tenant: hits, misses, puts, evictions, size; bounded cardinality', async () => {
    // No tenant share: b's writes evict a's entry through plain LRU (memory-tenant-share.spec.ts has the share).
    const { manager } = setup({ maxEntries: 5, maxTenantShare: 1, maxTrackedTenants: 2 });
    const a = manager.forTenant('a');
    await a.get('x');
    await a.set('x', 1);
    await a.get('x');
    const b = manager.forTenant('b');
    for (let i = 0; i < 5; i++) await b.set(`k${i}`, i); // evicts a's entry
    await manager.forTenant('c').set('k', 1); // beyond maxTrackedTenants: counted under other
    const stats = await manager.stats();
    const byTenant = Object.fromEntries(stats.tenants.map((t) => [t.tenant, t]));
    expect(byTenant.a).toMatchObject({ hits: 1, misses: 1, puts: 1, evictions: 1, sizeEntries: 0 });
    expect(byTenant.b).toMatchObject({ puts: 5, sizeEntries: 4 });
    expect(byTenant.c).toBeUndefined();
    expect(stats.otherTenants.puts).toBe(1);
    expect(stats).toMatchObject({ hits: 1, misses: 1, puts: 7, evictions: 2, sizeEntries: 5 });
  });

  it("calls a user's store observer alongside its own, and the manager's clock drives the store", async () => {
    const clock = new ManualClock();
    const evicted = vi.fn();
    const manager = CacheManager.createSync({ store: { type: 'memory', maxEntries: 1, sweepInterval: 0, observer: { evicted }, clock: new ManualClock(1) }, clock, logger: false });
    managers.push(manager);
    const cache = manager.forTenant('a');
    await cache.set('one', 1, { ttl: 1000 });
    await cache.set('two', 2, { ttl: 1000 });
    expect(evicted).toHaveBeenCalledTimes(1);
    expect((await manager.stats()).evictions).toBe(1);
    clock.advance(999);
    expect(await cache.get('two')).toBe(2);
    clock.advance(1);
    expect(await cache.get('two')).toBeUndefined();
  });

  it('counts bypasses per tenant, and those without a tenant in the totals only', async () => {
    const { manager } = setup();
    const http = new HttpCache(resolveModuleOptions({ tenant: fromHeader('x-tenant-id') }), manager, () => undefined);
    http.countBypass('fresh-tenant', 'method');
    http.countBypass(undefined, 'no tenant');
    http.countBypass('', 'invalid tenant');
    const stats = await manager.stats();
    expect(stats.bypasses).toBe(3);
    expect(stats.tenants.find((t) => t.tenant === 'fresh-tenant')?.bypasses).toBe(1);
    expect(stats.otherTenants.bypasses).toBe(0);
  });

  it('health reflects the store', async () => {
    const { manager, chaos } = setup({ chaos: true });
    expect((await manager.health()).ok).toBe(true);
    chaos.failAll();
    expect(await manager.health()).toMatchObject({ ok: false, store: { ok: false } });
  });

  it('after close every call rejects with CacheClosedError; close is idempotent', async () => {
    const { manager } = setup();
    const cache = manager.forTenant('a');
    await manager.close();
    await manager.close();
    for (const call of [
      () => cache.get('k'),
      () => cache.set('k', 1),
      () => cache.has('k'),
      () => cache.delete('k'),
      () => cache.getOrSet('k', 1),
      () => cache.compareAndSet('k', undefined, 1),
      () => cache.wrap('k', () => 1),
      () => cache.invalidateTags(['t']),
      () => cache.clear(),
      () => cache.stats(),
      () => manager.stats(),
      () => manager.forTenant('b').get('k'),
    ]) {
      await expect((async () => call())()).rejects.toBeInstanceOf(CacheClosedError);
    }
    expect((await manager.health()).ok).toBe(false);
  });
});

