import { describe, expect, it } from 'vitest';
import { internalsOf } from '../../lib/cache/cache-manager.js';
import { CacheError } from '../../lib/errors/cache.errors.js';
import type { Envelope } from '../../lib/envelope/envelope.js';
import { invalidationFixture } from '../helpers/invalidation-fixture.js';

/**
 * Durable invalidation (`lib/cache/invalidation.ts`, `pending-invalidations.ts`): an
 * invalidation the store failed is kept, never served around, retried past any number of
 * failures until applied, dropped only once every entry it covers has expired, and logged as
 * what happened.
 */
const setup = invalidationFixture();

describe('durable invalidation: never given up', () => {
  it('an invalidation that fails 30 times (the old code gave up after 5 retries) is applied, and its entry is never served meanwhile', async () => {
    // Only public behaviour and the store are asserted, so this test runs on the old code too (and fails there).
    const { manager, chaos, lines, advance } = setup();
    const cache = manager.forTenant('acme');
    await cache.set('p1', 'old', { tags: ['product:1'] });
    chaos.failNext.set('invalidateTags', 30);
    await expect(cache.invalidateTags(['product:1'])).rejects.toThrow(CacheError);
    let elapsed = 0;
    let served = 0;
    while ((chaos.calls.get('invalidateTags') ?? 0) < 31 && elapsed < 3_600_000) {
      if ((await cache.get('p1')) !== undefined) served++;
      await advance(1000, 1000);
      elapsed += 1000;
    }
    const attempts = chaos.calls.get('invalidateTags');
    const left = await chaos.inner.get(internalsOf(manager).access('acme').key('p1'));
    console.log(`30 failures in a row: ${attempts} attempts, entry ${left === undefined ? 'deleted' : 'still stored'} ${elapsed / 1000} s of (fake) time after the first failure; served meanwhile: ${served} times`);
    expect(served).toBe(0);
    expect(attempts).toBe(31);
    expect(await chaos.inner.get(internalsOf(manager).access('acme').key('p1'))).toBeUndefined();
    expect((await manager.stats()).pendingInvalidations).toBe(0);
    expect(lines().some((l) => l.includes('Pending invalidation applied after 31 attempt(s)'))).toBe(true);
    expect(lines().some((l) => l.includes('still pending (1), retrying'))).toBe(true);
    expect(lines().join('\n')).not.toMatch(/gave up|giving up/);
  });

  it('retry delays are full jitter of a doubling ceiling, capped at maxBackoff', async () => {
    const randoms = [0.25, 0.5, 0.9, 0.5, 0.5, 0.5];
    const { manager, chaos, advance } = setup({ invalidationRetry: { backoff: '200ms', maxBackoff: '1s', random: () => randoms.shift() ?? 0.5 } });
    const at: number[] = [];
    chaos.failing.add('invalidateTags');
    const calls = (): number => chaos.calls.get('invalidateTags') ?? 0;
    await manager.forTenant('acme').invalidateTags(['t']).catch(() => undefined);
    for (let t = 1; calls() < 7; t++) {
      const before = calls();
      await advance(1, 1);
      if (calls() > before) at.push(t);
    }
    const delays = at.map((x, i) => x - (i === 0 ? 0 : at[i - 1]!));
    console.log(`retry delays with random 0.25, 0.5, 0.9, 0.5…: ${delays.join(', ')} ms (ceilings 200, 400, 800, 1000, 1000, 1000)`);
    expect(delays).toEqual([50, 200, 720, 500, 500, 500]);
  });

  it('retries past circuit openings: the retry is the probe that closes the circuit', async () => {
    const { manager, chaos, advance, pending, lines } = setup({ circuitBreaker: true });
    const cache = manager.forTenant('acme');
    await cache.set('p', 1, { ttl: '10m', tags: ['t'] });
    chaos.failAll();
    for (let i = 0; i < 5; i++) await cache.get('x');
    expect((await manager.health()).circuit).toBe('open');
    await expect(cache.invalidateTags(['t'])).rejects.toThrow(/circuit/i);
    // 60 s of outage: the circuit opens again after every failed probe; the retry keeps going.
    await advance(60_000, 250);
    expect(pending.count).toBe(1);
    chaos.heal();
    await advance(35_000, 250);
    expect(pending.count).toBe(0);
    expect((await manager.health()).circuit).toBe('closed');
    expect(await chaos.inner.get(internalsOf(manager).access('acme').key('p'))).toBeUndefined();
    expect(lines().some((l) => l.includes('ERR_CIRCUIT_OPEN'))).toBe(true);
  });

  it('a burst of the same tag is one pending item, applied by one call', async () => {
    const { manager, chaos, advance, pending } = setup();
    const cache = manager.forTenant('acme');
    chaos.failing.add('invalidateTags');
    await Promise.all(Array.from({ length: 1000 }, () => cache.invalidateTags(['product:1']).catch(() => undefined)));
    expect(pending.count).toBe(1);
    expect((await manager.stats()).pendingInvalidations).toBe(1);
    const before = chaos.calls.get('invalidateTags')!;
    chaos.heal();
    await advance(1000);
    expect(pending.count).toBe(0);
    expect(chaos.calls.get('invalidateTags')! - before).toBe(1);
  });

  it('a later invalidation of the same target that succeeds settles the pending one', async () => {
    const { manager, chaos, lines, pending } = setup();
    const cache = manager.forTenant('acme');
    chaos.failNext.set('invalidateTags', 1);
    await expect(cache.invalidateTags(['t'])).rejects.toThrow(CacheError);
    expect(pending.count).toBe(1);
    await cache.invalidateTags(['t']);
    expect(pending.count).toBe(0);
    expect(lines().some((l) => l.includes('applied after 1 attempt(s) (a later invalidation of the same target succeeded)'))).toBe(true);
  });
});

describe('durable invalidation: what is pending is never served', () => {
  it('a pending tag hides entries with that tag written before it, on get, has, getEntry and wrap; later ones are served', async () => {
    const { manager, chaos, clock } = setup();
    const cache = manager.forTenant('acme');
    await cache.set('tagged', 'old', { tags: ['product:1'] });
    await cache.set('other', 'kept', { tags: ['product:2'] });
    chaos.failing.add('invalidateTags');
    await expect(cache.invalidateTags(['product:1'])).rejects.toThrow(CacheError);
    expect(await cache.get('tagged')).toBeUndefined();
    expect(await cache.has('tagged')).toBe(false);
    expect(await cache.getEntry('tagged')).toBeUndefined();
    expect(await cache.get('other')).toBe('kept');
    // Entries written later than the invalidation (a millisecond is enough) are served.
    clock.advance(1);
    expect(await cache.wrap('tagged', () => 'fresh', { tags: ['product:1'] })).toBe('fresh');
    expect(await cache.get('tagged')).toBe('fresh');
    await cache.set('newer', 'new', { tags: ['product:1'] });
    expect(await cache.get('newer')).toBe('new');
  });

  it('a pending delete hides that key; a pending clear hides every entry of the tenant written before it, and no other tenant', async () => {
    const { manager, chaos, clock } = setup();
    const acme = manager.forTenant('acme');
    const globex = manager.forTenant('globex');
    await acme.set('a', 1);
    await acme.set('b', 2);
    await globex.set('a', 'g');
    chaos.failing.add('delete');
    await expect(acme.delete('a')).rejects.toThrow(CacheError);
    expect(await acme.get('a')).toBeUndefined();
    expect(await acme.get('b')).toBe(2);
    chaos.failing.add('clearScope');
    await expect(acme.clear()).rejects.toThrow(CacheError);
    expect(await acme.get('b')).toBeUndefined();
    expect(await globex.get('a')).toBe('g');
    clock.advance(1);
    await acme.set('c', 3);
    expect(await acme.get('c')).toBe(3);
    expect((await acme.stats()).pendingInvalidations).toBe(1); // the clear took the delete in
  });

  it('getOrSet and compareAndSet treat a covered entry as absent', async () => {
    const { manager, chaos } = setup();
    const cache = manager.forTenant('acme');
    await cache.set('k', 'old', { tags: ['t'] });
    await cache.set('c', 'old', { tags: ['t'] });
    chaos.failing.add('invalidateTags');
    await expect(cache.invalidateTags(['t'])).rejects.toThrow(CacheError);
    expect(await cache.getOrSet('k', 'new')).toEqual({ value: 'new', set: true });
    expect(await cache.compareAndSet('c', 'old', 'swapped')).toBe(false);
    expect(await cache.compareAndSet('c', undefined, 'fresh')).toBe(true);
    expect(await cache.get('c')).toBe('fresh');
  });

  it('a read on its way when the invalidation is applied still hides what it returns', async () => {
    const { manager, chaos, advance, pending } = setup();
    const cache = manager.forTenant('acme');
    await cache.set('k', 'old', { tags: ['t'] });
    const k = internalsOf(manager).access('acme').key('k');
    const oldEntry = (await chaos.inner.get(k)) as Envelope;
    chaos.failNext.set('invalidateTags', 1);
    await expect(cache.invalidateTags(['t'])).rejects.toThrow(CacheError);
    // The read leaves before the retry and comes back, with the old entry, after it applied.
    let answer!: (env: Envelope) => void;
    const get = chaos.get.bind(chaos);
    chaos.get = () => new Promise<Envelope>((resolve) => (answer = resolve));
    const reading = cache.get('k');
    chaos.get = get;
    await advance(1000);
    expect(pending.count).toBe(0);
    answer(oldEntry);
    expect(await reading).toBeUndefined();
  });
});

describe('durable invalidation: dropped only when every entry it covers has expired', () => {
  it('the longest TTL + grace written bounds it; the log says it was dropped because they expired', async () => {
    const { manager, chaos, advance, pending, lines } = setup();
    const cache = manager.forTenant('acme');
    await cache.set('long', 1, { ttl: '10m', grace: '5m', tags: ['t'] });
    chaos.failAll();
    await expect(cache.invalidateTags(['t'])).rejects.toThrow(CacheError);
    await advance(14 * 60_000, 1000);
    expect(pending.count).toBe(1);
    await advance(61_000 + 30_000, 1000);
    expect(pending.count).toBe(0);
    expect(lines().some((l) => l.includes('1 pending invalidation(s) dropped: every entry it covered has expired'))).toBe(true);
  });

  it('maxEntryLifetime states it for entries other instances wrote; 0 = retried until applied', async () => {
    const stated = setup({ invalidationRetry: { maxEntryLifetime: '2h' } });
    stated.chaos.failAll();
    await stated.manager.forTenant('acme').invalidateTags(['t']).catch(() => undefined);
    await stated.advance(119 * 60_000, 10_000);
    expect(stated.pending.count).toBe(1);
    await stated.advance(2 * 60_000, 10_000);
    expect(stated.pending.count).toBe(0);

    const forever = setup({ invalidationRetry: { maxEntryLifetime: 0 } });
    forever.chaos.failAll();
    await forever.manager.forTenant('acme').invalidateTags(['t']).catch(() => undefined);
    await forever.advance(24 * 3_600_000, 60_000);
    expect(forever.pending.count).toBe(1);
  });
});

describe('durable invalidation: recovery and reporting', () => {
  it('a read the store answers brings a retry waiting on a long backoff forward', async () => {
    const { manager, chaos, advance, pending } = setup({ invalidationRetry: { random: () => 0.99 } });
    const cache = manager.forTenant('acme');
    chaos.failAll();
    await cache.invalidateTags(['t']).catch(() => undefined);
    await advance(60_000, 1000); // the next ceiling is now 25.6 s or more
    chaos.heal();
    await cache.get('anything');
    await advance(300, 10);
    expect(pending.count).toBe(0);
  });

  it('logs once per burst: 100 tenants failing and then applied make one line of each kind, and the next burst counts the rest as what they were', async () => {
    const { manager, chaos, advance, lines } = setup({ errorBurst: '10s' });
    chaos.failing.add('invalidateTags');
    for (let i = 0; i < 100; i++) await manager.forTenant(`t${i}`).invalidateTags(['t']).catch(() => undefined);
    expect(lines().filter((l) => l.includes('pending (')).length).toBe(1);
    chaos.heal();
    await advance(1000, 10);
    expect(lines().filter((l) => l.includes('Pending invalidation applied')).length).toBe(1);
    await advance(11_000, 1000);
    chaos.failNext.set('invalidateTags', 1);
    await manager.forTenant('late').invalidateTags(['t']).catch(() => undefined);
    await advance(1000, 10);
    const applied = lines().filter((l) => l.includes('Pending invalidation applied'));
    expect(applied).toHaveLength(2);
    expect(applied[1]).toContain('(99 similar lines (other invalidations applied) were not logged in the previous burst)');
  });

  it('stats() and health() count pending invalidations; close() says what was left', async () => {
    const { manager, chaos, logger } = setup();
    chaos.failing.add('invalidateTags');
    await manager.forTenant('acme').invalidateTags(['a', 'b']).catch(() => undefined);
    expect((await manager.stats()).pendingInvalidations).toBe(2);
    expect((await manager.stats()).tenants.find((t) => t.tenant === 'acme')?.pendingInvalidations).toBe(2);
    expect((await manager.health()).pendingInvalidations).toBe(2);
    await manager.close();
    expect(logger.warn.mock.calls.at(-1)?.[0]).toContain('closed with 2 invalidation(s) still pending');
  });
});

describe('durable invalidation: deleteMany and expire', () => {
  it('a deleteMany the store failed keeps every key pending: none is served, and the retry deletes them all', async () => {
    const { manager, chaos, advance } = setup();
    const cache = manager.forTenant('acme');
    await cache.setMany(['a', 'b', 'c'].map((key) => ({ key, value: key })));
    chaos.failNext.set('delete', 1);
    await expect(cache.deleteMany(['a', 'b'])).rejects.toBeInstanceOf(CacheError);
    expect(await cache.getMany(['a', 'b', 'c'])).toEqual([undefined, undefined, 'c']);
    await advance(5_000);
    const k = (key: string) => internalsOf(manager).access('acme').key(key);
    expect([await chaos.inner.get(k('a')), await chaos.inner.get(k('b'))]).toEqual([undefined, undefined]);
    expect((await chaos.inner.get(k('c')))?.value).toBe('c');
  });

  it('an expire the store failed is kept as a pending delete: the entry is not served, and the retry removes it', async () => {
    const { manager, chaos, advance } = setup();
    const cache = manager.forTenant('acme');
    await cache.set('feed', 'v', { ttl: '1h', grace: '1h' });
    chaos.failNext.set('get', 1);
    await expect(cache.expire('feed')).rejects.toBeInstanceOf(CacheError);
    expect(await cache.get('feed')).toBeUndefined();
    await advance(5_000);
    expect(await chaos.inner.get(internalsOf(manager).access('acme').key('feed'))).toBeUndefined();
  });
});
