import { describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { heapUsedAfterGc } from '../helpers/heap-used.js';
import { invalidationFixture } from '../helpers/invalidation-fixture.js';

/**
 * In V8 a string of 13 or more characters cut from a longer one (`slice`, `split`, a template
 * joining such a piece) keeps the whole longer one alive. What the cache keeps of a caller's key
 * or tag beyond the call (a stored entry's key and tags, the memo of built storage keys) must be
 * its own copy: a user id cut from a decoded token, or a key built from a header, would
 * otherwise keep that header alive as long as the entry (and `maxBytes` would not see it).
 */
const N = 2_000;
const BIG = 16_384;
/** A 40-character piece of its own 16 KB string, as `header.split('.')[0]` gives. */
const cut = (i: number): string => `${String(i).padStart(40, '0')}.${'x'.repeat(BIG)}`.split('.')[0]!;
const MB = 2 ** 20;

const failingStore = invalidationFixture();

describe('what the cache keeps of a key or a tag', () => {
  it('keeps its own copy of each stored key, not the long string it was cut from', async () => {
    const manager = CacheManager.createSync({ store: { type: 'memory', sweepInterval: 0 } });
    const cache = manager.forTenant('acme');
    const before = heapUsedAfterGc();
    // Kept as cut, the entries' keys (and the memo of built keys) would hold 2,000 x 16 KB = 32 MB.
    for (let i = 0; i < N; i++) await cache.set(cut(i), i);
    const growth = heapUsedAfterGc() - before;
    console.log(`[kept-keys] ${N} entries under keys cut from 16 KB strings: heap growth ${(growth / MB).toFixed(1)} MB`);
    expect(growth).toBeLessThan(8 * MB);
    // Each is found again under an equal key made afresh.
    for (let i = 0; i < N; i += 97) expect(await cache.get(String(i).padStart(40, '0'))).toBe(i);
    await manager.close();
  });

  it('keeps its own copy of a stored key too long for the memo of built keys (300 characters)', async () => {
    const manager = CacheManager.createSync({ store: { type: 'memory', sweepInterval: 0 } });
    const cache = manager.forTenant('acme');
    const long = (i: number): string => `${String(i).padStart(300, '0')}.${'x'.repeat(BIG)}`.split('.')[0]!;
    // 50,000 keys built first, so what builds them runs optimised, as in a long-running app.
    for (let i = 0; i < 50_000; i++) await cache.get(`warm-up:${i}`);
    const before = heapUsedAfterGc();
    for (let i = 0; i < N; i++) await cache.set(long(i), i);
    const growth = heapUsedAfterGc() - before;
    console.log(`[kept-keys] ${N} entries under 300-character keys cut from 16 KB strings: heap growth ${(growth / MB).toFixed(1)} MB`);
    expect(growth).toBeLessThan(8 * MB);
    expect(await cache.get(String(7).padStart(300, '0'))).toBe(7);
    await manager.close();
  });

  it('keeps no long string alive for keys it only read (the memo of built storage keys)', async () => {
    const manager = CacheManager.createSync({ store: { type: 'memory', sweepInterval: 0 } });
    const cache = manager.forTenant('acme');
    const before = heapUsedAfterGc();
    for (let i = 0; i < N; i++) expect(await cache.get(cut(i))).toBeUndefined();
    const growth = heapUsedAfterGc() - before;
    console.log(`[kept-keys] ${N} missed reads of keys cut from 16 KB strings: heap growth ${(growth / MB).toFixed(1)} MB`);
    expect(growth).toBeLessThan(8 * MB);
    await manager.close();
  });

  it('keeps its own copy of a key that moves back from the memo\'s old generation', async () => {
    const manager = CacheManager.createSync({ store: { type: 'memory', sweepInterval: 0 } });
    const cache = manager.forTenant('acme');
    // 16,384 keys fill the memo's young generation, which then becomes the old one.
    for (let i = 0; i < 16_384; i++) await cache.get(String(i).padStart(40, '0'));
    const before = heapUsedAfterGc();
    // Read again by a string cut from its own 16 KB one, each moves back to the young generation:
    // under its own copy, not under the caller's string.
    for (let i = 0; i < N; i++) expect(await cache.get(cut(i))).toBeUndefined();
    const growth = heapUsedAfterGc() - before;
    console.log(`[kept-keys] ${N} memo entries moved back by keys cut from 16 KB strings: heap growth ${(growth / MB).toFixed(1)} MB`);
    expect(growth).toBeLessThan(8 * MB);
    await manager.close();
  });

  it('keeps its own copy of each tag of a stored entry', async () => {
    const manager = CacheManager.createSync({ store: { type: 'memory', sweepInterval: 0 } });
    const cache = manager.forTenant('acme');
    const before = heapUsedAfterGc();
    for (let i = 0; i < N; i++) await cache.set(`k${i}`, i, { tags: [`owner:${cut(i)}`] });
    const growth = heapUsedAfterGc() - before;
    console.log(`[kept-keys] ${N} entries tagged with tags cut from 16 KB strings: heap growth ${(growth / MB).toFixed(1)} MB`);
    expect(growth).toBeLessThan(8 * MB);
    // The tags still work: invalidating one drops its entry only.
    await cache.invalidateTags([`owner:${String(5).padStart(40, '0')}`]);
    expect(await cache.get('k5')).toBeUndefined();
    expect(await cache.get('k6')).toBe(6);
    await manager.close();
  });

  it('keeps its own copy of each tag of an invalidation the store failed (pending until it is back)', async () => {
    const { manager, chaos, pending } = failingStore({ invalidationRetry: { maxPending: 10_000 } });
    const cache = manager.forTenant('acme');
    chaos.failAll();
    const before = heapUsedAfterGc();
    for (let i = 0; i < N; i++) await cache.invalidateTags([`owner:${cut(i)}`]).catch(() => undefined);
    const growth = heapUsedAfterGc() - before;
    console.log(`[kept-keys] ${N} failed invalidations of tags cut from 16 KB strings: ${pending.count} pending, heap growth ${(growth / MB).toFixed(1)} MB`);
    expect(pending.count).toBe(N);
    expect(growth).toBeLessThan(8 * MB);
  });
});
