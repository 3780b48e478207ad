import type { Envelope } from '../../envelope/envelope.js';
import { storageKey, type KeyScope, type StorageKey } from '../../keys/storage-key.js';
import type { Clock } from '../../utils/clock.js';
import type { CacheStore, StoreBasis, StoreStats } from '../cache-store.interface.js';
import type { MemoryStore } from '../memory.store.js';
import type { BusChange } from './bus-message.js';
import { L1Fills, type L1Fill } from './l1-fills.js';
import { L1Tier } from './l1-tier.js';

/**
 * Everything that goes into and out of a tiered store's L1: fills from L2 answers (never one a
 * change overtook in flight), mirrored writes, removals (local, or from the bus), and what the
 * bus's state does to L1. L1 calls settle at once (a memory store); they fail only once it is
 * closed or dropped, which leaves nothing to do, so they never throw here.
 */
export class L1Mirror {
  /** The L1 itself; its `getSync` is the hit path (the tiered store calls it directly: one call less per hit). */
  readonly tier: L1Tier;
  private readonly fills = new L1Fills();
  private closed = false;

  constructor(
    makeL1: () => MemoryStore,
    readonly maxStalenessMs: number,
    private readonly clock: Clock,
  ) {
    this.tier = new L1Tier(makeL1, maxStalenessMs);
  }

  /** The L1 of this call (never kept across an await: it may be dropped). */
  get current(): MemoryStore {
    return this.tier.current;
  }

  /** Counts L1 drops: a computation's basis taken before one does not write into the next L1. */
  get generation(): number {
    return this.tier.generation;
  }

  get drops(): number {
    return this.tier.drops;
  }

  /** An L2 call whose answer is to go into L1: changes that arrive while it is in flight poison it. */
  start(key: StorageKey): L1Fill {
    return this.fills.start(key);
  }

  /** The call answered without anything for L1 (it failed, or wrote nothing). */
  end(fill: L1Fill): void {
    this.fills.end(fill);
  }

  /** An L2 read answered `env`: into L1 for its remaining lifetime (`staleUntil`, else `expiresAt`), unless overtaken. */
  filled(fill: L1Fill, env: Envelope): void {
    this.fills.end(fill);
    if (!fill.usable(env)) return;
    const until = env.staleUntil ?? env.expiresAt;
    const remaining = until === 0 ? 0 : until - this.clock.now();
    if (until !== 0 && remaining <= 0) return;
    this.put(fill.key, env, remaining, fill.startedAt, undefined, undefined);
  }

  /** L2 took a write: L1 gets it too, unless a change overtook it in flight (then L1 holds nothing for the key). */
  wrote(fill: L1Fill, env: Envelope, ttlMs: number, basis?: StoreBasis, generation?: number): void {
    this.fills.end(fill);
    // Reads of the key still in flight may answer what this write replaced.
    this.fills.key(fill.key);
    if (fill.usable(env)) this.put(fill.key, env, ttlMs, fill.startedAt, basis, generation);
    else this.remove(fill.key);
  }

  /**
   * A write into L1 ahead of L2 (`l2Writes: 'background'`). Rejects as L1 does (an `EncodeError`),
   * before anything was written anywhere.
   */
  async writeAhead(key: StorageKey, env: Envelope, ttlMs: number, basis: StoreBasis | undefined, generation: number): Promise<void> {
    this.fills.key(key);
    const ttl = this.tier.ttl(ttlMs, performance.now());
    const l1: CacheStore = this.tier.current;
    if (ttl === undefined || generation !== this.tier.generation) await l1.delete(key);
    else await l1.set(key, env, ttl, basis);
  }

  /** Takes out the entry of `key` if it is still the one stamped `stamp` (a background write that failed). */
  takeBack(key: StorageKey, stamp: string): void {
    this.fills.key(key);
    if (this.closed) return;
    const l1 = this.tier.current;
    if (l1.getSync(key)?.stamp === stamp) void l1.delete(key).catch(ignore);
  }

  remove(key: StorageKey): void {
    this.fills.key(key);
    if (!this.closed) void this.tier.current.delete(key).catch(ignore);
  }

  clear(scope: KeyScope): void {
    this.fills.scope(scope);
    if (!this.closed) void this.tier.current.clearScope(scope).catch(ignore);
  }

  invalidate(scope: KeyScope, tags: readonly string[]): void {
    this.fills.tags(scope, tags);
    if (!this.closed) void this.tier.current.invalidateTags(tags.map((tag) => storageKey(scope, 'tag', tag))).catch(ignore);
  }

  /** Another instance's change, heard on the bus. */
  apply(change: BusChange): void {
    if (change.op === 'key') this.remove(change.key);
    else if (change.op === 'tags') this.invalidate(change.scope, change.tags);
    else this.clear(change.scope);
  }

  /** The bus may have missed messages after `confirmedAt`: fills in flight are poisoned, L1 lives by the bound. */
  busDown(confirmedAt: number): void {
    this.fills.all();
    this.tier.busDown(confirmedAt);
  }

  /** Subscribed again: what L1 got while it was down is dropped (reconciled), and entries live their TTL again. */
  busUp(): void {
    this.fills.all();
    this.tier.busUp();
  }

  stats(): StoreStats {
    return this.tier.stats();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.tier.close();
  }

  private put(key: StorageKey, env: Envelope, ttlMs: number, since: number, basis: StoreBasis | undefined, generation: number | undefined): void {
    if (this.closed) return;
    const l1: CacheStore = this.tier.current;
    const ttl = this.tier.ttl(ttlMs, since);
    if (ttl === undefined || (generation !== undefined && generation !== this.tier.generation)) {
      void l1.delete(key).catch(ignore);
      return;
    }
    // L2 took it, so the write stands even if L1 cannot hold it; L1 then holds nothing for the key.
    l1.set(key, env, ttl, basis).catch(() => l1.delete(key).catch(ignore));
  }
}

function ignore(): void {
  // See the class comment: an L1 call fails only once L1 is closed or dropped.
}
