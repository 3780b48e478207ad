import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { KeyScope, storageKey } from '../../lib/keys/storage-key.js';
import { MEMORY_STORE_DEFAULTS } from '../../lib/stores/memory-store-options.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';

/**
 * Issue 12, "Quotas": one tenant writing 1,000,000 keys into a memory store (the tiered store's
 * L1 is one) shared with 9 quiet tenants leaves each quiet tenant every entry its quota
 * guarantees: with the default share (a tenant past `maxTenantShare` of a full store evicts its
 * own entries), quiet tenants holding less than the rest of the store keep all they hold.
 */
const NS = `noisy-${randomBytes(4).toString('hex')}`;
const stores: MemoryStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function env(scope: string, value: string): Envelope<string> {
  return { value, createdAt: Date.now(), expiresAt: 0, stamp: newStamp(), scope };
}

describe('L1 fairness: a noisy tenant among quiet ones', () => {
  it('tenant A writes 1,000,000 keys into a 10,000-entry store shared with 9 quiet tenants: each quiet tenant keeps all of its 800 entries', async () => {
    const store = new MemoryStore({ maxEntries: 10_000, sweepInterval: 0 });
    stores.push(store);
    const QUIET = 9;
    const PER_QUIET = 800; // 7,200 in all: within the 75% a tenant at its 25% share leaves to the others
    const quiet = Array.from({ length: QUIET }, (_, i) => KeyScope.of(NS, `quiet-${i}`));
    for (const scope of quiet) {
      for (let i = 0; i < PER_QUIET; i++) {
        const k = storageKey(scope, 'entry', `item:${i}`);
        await store.set(k, env(scope.id, `${scope.tenant}/${i}`), 0);
      }
    }
    const noisy = KeyScope.of(NS, 'noisy');
    const started = performance.now();
    for (let i = 0; i < 1_000_000; i++) {
      const k = storageKey(noisy, 'entry', `search:${i}`);
      await store.set(k, env(noisy.id, `noisy/${i}`), 0);
    }
    const floodMs = performance.now() - started;
    const kept = await Promise.all(
      quiet.map(async (scope) => {
        let n = 0;
        for (let i = 0; i < PER_QUIET; i++) if ((await store.get(storageKey(scope, 'entry', `item:${i}`)))?.value === `${scope.tenant}/${i}`) n++;
        return n;
      }),
    );
    const noisyHeld = store.scopeSize(noisy)!;
    console.log(
      `[quotas] 1,000,000 writes of one tenant in ${(floodMs / 1000).toFixed(1)} s into a 10,000-entry store (share ${MEMORY_STORE_DEFAULTS.maxTenantShare}): ` +
        `each of ${QUIET} quiet tenants kept ${Math.min(...kept)}-${Math.max(...kept)} of ${PER_QUIET}; the noisy tenant holds ${noisyHeld}; store ${store.stats().entries} entries, ${store.stats().evictions} evictions`,
    );
    expect(kept).toEqual(Array.from({ length: QUIET }, () => PER_QUIET));
    expect(noisyHeld).toBe(10_000 - QUIET * PER_QUIET);
    expect(store.stats().entries).toBe(10_000);
  }, 60_000);
});
