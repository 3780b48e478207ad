import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { newStamp } from '../../../lib/envelope/envelope.js';
import { KeyScope, storageKey } from '../../../lib/keys/storage-key.js';
import { MemoryStore } from '../../../lib/stores/memory.store.js';
import { L1Tier } from '../../../lib/stores/tiered/l1-tier.js';

const key = storageKey(KeyScope.of('ns', 'acme'), 'entry', 'k');
const env = { value: 'v', createdAt: 1, expiresAt: 0, stamp: newStamp(), scope: key.scope.id };

/** The L1 lease on faked `performance.now()` and timers: what the bus's state does to what L1 serves, to the millisecond. */
describe('L1Tier: how long L1 is trusted', () => {
  let tier: L1Tier;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['performance', 'setTimeout', 'clearTimeout'] });
    tier = new L1Tier(() => new MemoryStore({ sweepInterval: 0 }), 1_000);
  });
  afterEach(async () => {
    await tier.close();
    vi.useRealTimers();
  });

  it('caps every write until the bus is first up, then lets entries live their TTL', () => {
    const now = performance.now();
    expect(tier.capped).toBe(true);
    expect(tier.ttl(60_000, now)).toBe(1_000);
    expect(tier.ttl(0, now)).toBe(1_000);
    expect(tier.ttl(60_000, now - 1_000)).toBeUndefined();
    tier.busUp();
    expect(tier.capped).toBe(false);
    expect(tier.ttl(60_000, now - 5_000)).toBe(60_000);
  });

  it('bus down: what L1 holds is served until maxStaleness after the last confirmation, then dropped; later writes are capped from their L2 call', async () => {
    tier.busUp();
    await tier.current.set(key, env, 0);
    const confirmedAt = performance.now() - 300;
    tier.busDown(confirmedAt);
    vi.advanceTimersByTime(699);
    expect(tier.getSync(key)?.stamp).toBe(env.stamp);
    expect(tier.drops).toBe(1);
    vi.advanceTimersByTime(1);
    expect(tier.getSync(key)).toBeUndefined();
    expect(tier.drops).toBe(2);
    const since = performance.now() - 250;
    expect(tier.ttl(60_000, since)).toBe(750);
  });

  it('a bus down longer ago than the bound drops at once; up again drops what was read meanwhile (reconcile)', async () => {
    tier.busUp();
    await tier.current.set(key, env, 0);
    tier.busDown(performance.now() - 1_000);
    expect(tier.getSync(key)).toBeUndefined();
    await tier.current.set(key, env, tier.ttl(0, performance.now())!);
    expect(tier.getSync(key)?.stamp).toBe(env.stamp);
    const generation = tier.generation;
    tier.busUp();
    expect(tier.getSync(key)).toBeUndefined();
    expect(tier.generation).toBe(generation + 1);
  });
});
