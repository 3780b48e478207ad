import { describe, expect, it } from 'vitest';
import { CacheManager, internalsOf } from '../../lib/cache/cache-manager.js';
import type { Envelope } from '../../lib/envelope/envelope.js';
import { CacheClosedError, InvalidKeyError } from '../../lib/errors/cache.errors.js';
import type { StorageKey } from '../../lib/keys/storage-key.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { ManualClock } from '../helpers/manual-clock.js';

/**
 * `get`/`getEntry`/`has` read a store that answers without I/O synchronously (one promise per
 * hit). A store's synchronous tier may not be all of it (a tiered store's L1), so anything but
 * a fresh synchronous hit or a failed read is read again the asynchronous way, which decides.
 */
class PartialSyncStore extends MemoryStore {
  /** Its `getSync` is a tier, not the whole store. */
  override readonly getSyncIsComplete: boolean = false;
  /** Full keys the synchronous tier holds (the rest is only in the "L2": `get`); `undefined`: all of them (a complete store that counts its reads). */
  inSyncTier: Set<string> | undefined = new Set<string>();
  failSync = false;
  asyncReads = 0;
  syncReads = 0;

  override getSync(key: StorageKey): Envelope | undefined {
    this.syncReads++;
    if (this.failSync) throw new Error('sync tier down');
    return this.inSyncTier === undefined || this.inSyncTier.has(key.full) ? super.getSync(key) : undefined;
  }

  override get(key: StorageKey): Promise<Envelope | undefined> {
    this.asyncReads++;
    return super.get(key);
  }
}

/** The same store, saying its synchronous read is the whole answer (a memory store's own). */
class CompleteSyncStore extends PartialSyncStore {
  override readonly getSyncIsComplete: boolean = true;
  override inSyncTier = undefined;
}

function setup(complete = false) {
  const clock = new ManualClock();
  const store = complete ? new CompleteSyncStore({ sweepInterval: 0, clock }) : new PartialSyncStore({ sweepInterval: 0, clock });
  const manager = CacheManager.createSync({ store, clock, logger: false });
  return { clock, store, manager, acme: manager.forTenant('acme') };
}

describe('TenantCache: synchronous reads of a store that has them', () => {
  it('a hit in the synchronous tier settles without the asynchronous read; one only "L2" has is still found', async () => {
    const { store, manager, acme } = setup();
    await acme.set('near', { n: 1 });
    await acme.set('far', { n: 2 });
    store.inSyncTier!.add(internalsOf(manager).access('acme').key('near').full);
    store.asyncReads = 0;
    expect(await acme.get('near')).toEqual({ n: 1 });
    expect(store.asyncReads).toBe(0);
    expect(await acme.get('far')).toEqual({ n: 2 });
    expect(await acme.has('far')).toBe(true);
    expect((await acme.getEntry('far'))?.value).toEqual({ n: 2 });
    expect(store.asyncReads).toBe(3);
    const stats = await manager.stats();
    expect([stats.hits, stats.misses]).toEqual([4, 0]);
    await manager.close();
  });

  it('a stale entry of a synchronous tier is read again asynchronously and counted as one miss; defaultValue applies', async () => {
    const { clock, store, manager, acme } = setup();
    // In grace: still held by the store, past its TTL.
    await acme.set('k', 'v', { ttl: 1_000, grace: 10_000 });
    for (const k of fullKeys(store)) store.inSyncTier!.add(k);
    clock.advance(1_001);
    store.syncReads = store.asyncReads = 0;
    expect(await acme.get('k', { defaultValue: 'd' })).toBe('d');
    expect([store.syncReads, store.asyncReads]).toEqual([1, 1]);
    const stats = await manager.stats();
    expect([stats.hits, stats.misses]).toEqual([0, 1]);
    await manager.close();
  });

  it('on a store whose synchronous read is complete, a miss or a stale entry is one read, not two', async () => {
    const { clock, store, manager, acme } = setup(true);
    await acme.set('k', 'v', { ttl: 1_000, grace: 10_000 });
    store.syncReads = store.asyncReads = 0;
    expect(await acme.get('absent')).toBeUndefined();
    expect(await acme.has('absent')).toBe(false);
    clock.advance(1_001);
    expect(await acme.get('k')).toBeUndefined();
    expect([store.syncReads, store.asyncReads]).toEqual([3, 0]);
    const stats = await manager.stats();
    expect([stats.hits, stats.misses]).toEqual([0, 3]);
    await manager.close();
  });

  it('a synchronous read that fails is one miss, reported once, and not read again', async () => {
    const { store, manager, acme } = setup();
    await acme.set('k', 'v');
    store.failSync = true;
    store.asyncReads = 0;
    expect(await acme.get('k')).toBeUndefined();
    expect(store.asyncReads).toBe(0);
    const stats = await manager.stats();
    expect([stats.misses, stats.errors]).toEqual([1, 1]);
    await manager.close();
  });

  it('a bad key or a closed manager rejects (never a synchronous throw from get, getEntry or has)', async () => {
    const { manager, acme } = setup();
    let thrown: unknown;
    let calls: Promise<unknown>[] = [];
    try {
      calls = [acme.get(''), acme.getEntry(''), acme.has('')];
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeUndefined();
    for (const call of calls) await expect(call).rejects.toBeInstanceOf(InvalidKeyError);
    await manager.close();
    const closed = [acme.get('k'), acme.getEntry('k'), acme.has('k')];
    for (const call of closed) await expect(call).rejects.toBeInstanceOf(CacheClosedError);
  });
});

/** The full storage keys the store holds. */
function fullKeys(store: MemoryStore): string[] {
  return [...(store as unknown as { lru: { keys(): Iterable<string> } }).lru.keys()];
}
