import { describe, expect, it } from 'vitest';
import { internalsOf } from '../../lib/cache/cache-manager.js';
import { invalidationFixture } from '../helpers/invalidation-fixture.js';

/**
 * The bound of pending invalidations (`invalidationRetry.maxPending`) and its fallbacks: past
 * it, the tenant with the most pending items is merged into one pending clear of that tenant;
 * with more tenants pending than the bound, a new invalidation is covered by an instance-wide
 * horizon (no entry written before it is served here until all of them have expired).
 */
const setup = invalidationFixture();

describe('pending invalidations stay within maxPending', () => {
  it('10,000 distinct failing tag invalidations of one tenant: at most 1,000 kept, merged into a pending clear of that tenant, applied as a clear', async () => {
    const { manager, chaos, clock, advance, pending, lines } = setup({ invalidationRetry: { maxPending: 1000 } });
    const acme = manager.forTenant('acme');
    const globex = manager.forTenant('globex');
    for (let i = 0; i < 100; i++) await acme.set(`p${i}`, i, { tags: [`product:${i}`] });
    await globex.set('g', 'kept', { tags: ['product:1'] });
    chaos.failAll();
    let most = 0;
    const started = performance.now();
    for (let i = 0; i < 10_000; i++) {
      await acme.invalidateTags([`product:${i}`]).catch(() => undefined);
      most = Math.max(most, pending.count);
    }
    const ms = performance.now() - started;
    console.log(`10,000 distinct failing invalidations of one tenant: at most ${most} pending (bound 1,000), ${pending.count} now, ${(ms / 10).toFixed(1)} µs each`);
    expect(most).toBeLessThanOrEqual(1000);
    expect(pending.forScope(internalsOf(manager).access('acme').scope.id)?.clear).toBeDefined();
    expect(lines().some((l) => l.includes('merged into one pending clear of that tenant'))).toBe(true);

    chaos.heal();
    expect(await acme.get('p1')).toBeUndefined(); // covered by the pending clear
    expect(await globex.get('g')).toBe('kept'); // another tenant: untouched
    clock.advance(1);
    await acme.set('later', 'served');
    expect(await acme.get('later')).toBe('served');
    await advance(31_000, 250);
    expect(pending.count).toBe(0);
    expect(chaos.calls.get('clearScope')).toBeGreaterThanOrEqual(1);
    expect(await chaos.inner.get(internalsOf(manager).access('acme').key('p1'))).toBeUndefined();
    expect(await globex.get('g')).toBe('kept');
  });

  it('10,000 tenants with one failing invalidation each: 1,000 kept and retried, the rest covered by the horizon until their entries expire', async () => {
    const { manager, chaos, clock, advance, pending, lines } = setup({ invalidationRetry: { maxPending: 1000 } });
    const tenants = Array.from({ length: 10_000 }, (_, i) => manager.forTenant(`t${i}`));
    for (const t of tenants) await t.set('k', t.tenantId!, { tags: ['product'] });
    chaos.failAll();
    let most = 0;
    for (const t of tenants) {
      await t.invalidateTags(['product']).catch(() => undefined);
      most = Math.max(most, pending.count);
    }
    console.log(`10,000 tenants, one failing invalidation each: at most ${most} pending (bound 1,000), ${pending.scopeCount} tenants retried, horizon ${pending.horizon === undefined ? 'none' : 'up'}`);
    expect(most).toBeLessThanOrEqual(1000);
    expect(pending.horizon).toBeDefined();
    expect(lines().some((l) => l.includes('this instance serves no entry of any tenant written before now'))).toBe(true);

    chaos.heal();
    // Nothing written before the overflow is served, kept or not.
    for (const i of [0, 999, 1000, 5000, 9999]) expect(await tenants[i]!.get('k')).toBeUndefined();
    clock.advance(1);
    await tenants[5000]!.set('later', 'served');
    expect(await tenants[5000]!.get('later')).toBe('served');
    await advance(10_000, 250);
    expect(pending.count).toBe(0);
    // The kept ones were applied in the store; the one the horizon took was not (other instances may serve it until it expires).
    expect(await chaos.inner.get(internalsOf(manager).access('t0').key('k'))).toBeUndefined();
    expect(await chaos.inner.get(internalsOf(manager).access('t5000').key('k'))).toBeDefined();
    expect(await tenants[5000]!.get('k')).toBeUndefined();
    // defaultTtl is 1m: once every entry written before the horizon has expired, it is dropped.
    await advance(55_000, 1000);
    expect(pending.horizon).toBeUndefined();
    expect(lines().some((l) => l.includes('The overflow horizon was dropped: every entry written before it has expired'))).toBe(true);
  });
});
