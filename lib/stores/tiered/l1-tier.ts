import type { Envelope } from '../../envelope/envelope.js';
import type { StorageKey } from '../../keys/storage-key.js';
import type { StoreStats } from '../cache-store.interface.js';
import type { MemoryStore } from '../memory.store.js';

/**
 * The L1 of a tiered store and how long what it holds may be trusted. While the bus is up, L1
 * entries live their TTL: every change made elsewhere arrives and is applied. While it is down
 * (or not yet up), what L1 held is served until `maxStalenessMs` after the bus last confirmed it
 * heard everything, then dropped; entries written meanwhile live at most `maxStalenessMs` from
 * the moment L2 answered for them. When the bus is up again L1 is dropped once more: what
 * changed while it was down is unknown.
 *
 * Dropping replaces the memory store with a fresh one (a memory store has no "delete all"; a
 * new one is O(1) for the store's readers, and the old one is closed, which frees its entries).
 * Readers therefore take `current` at each call and never keep it across an await.
 */
export class L1Tier {
  private store: MemoryStore;
  /** Counts the drops: a computation based on an earlier L1 does not write into this one. */
  generation = 0;
  drops = 0;
  /** While the bus is down: the longest life of an L1 write, in ms; undefined while up. */
  private capMs: number | undefined;
  /** While the bus is down and L1 still holds entries from before: when they stop being served (`performance.now()`). */
  private dropAt: number | undefined;
  private dropTimer: NodeJS.Timeout | undefined;
  /** Evictions of the stores dropped so far (stats stay cumulative). */
  private retiredEvictions = 0;
  private closed = false;

  constructor(
    private readonly make: () => MemoryStore,
    readonly maxStalenessMs: number,
  ) {
    this.store = make();
    // Until the bus is first subscribed, nothing confirms what L1 would hold.
    this.capMs = maxStalenessMs;
  }

  /** The memory store to use for this call (dropped first if its entries are past their bound). */
  get current(): MemoryStore {
    if (this.dropAt !== undefined && performance.now() >= this.dropAt) this.drop();
    return this.store;
  }

  /** The synchronous hit path: one field check beyond the memory store's own while the bus is up. */
  getSync(key: StorageKey): Envelope | undefined {
    if (this.dropAt !== undefined && performance.now() >= this.dropAt) this.drop();
    return this.store.getSync(key);
  }

  /** Whether the bus is down (L1 writes are capped). */
  get capped(): boolean {
    return this.capMs !== undefined;
  }

  /**
   * The TTL of an L1 write of what L2 answered for a call made at `since` (`performance.now()`):
   * `ttlMs` (0 = no expiry) while the bus is up; while it is down, no more than what is left of
   * the bound; `undefined` when nothing is (do not write).
   */
  ttl(ttlMs: number, since: number): number | undefined {
    const cap = this.capMs;
    if (cap === undefined) return ttlMs;
    const left = cap - (performance.now() - since);
    if (left <= 0) return undefined;
    return ttlMs === 0 ? left : Math.min(ttlMs, left);
  }

  /** The bus can no longer vouch for what arrived after `confirmedAt` (`performance.now()`). */
  busDown(confirmedAt: number): void {
    if (this.closed) return;
    this.capMs = this.maxStalenessMs;
    const at = confirmedAt + this.maxStalenessMs;
    const wait = at - performance.now();
    if (wait <= 0) {
      this.drop();
      return;
    }
    this.dropAt = at;
    clearTimeout(this.dropTimer);
    // Frees the entries on time; reads check `dropAt` themselves, so a late timer serves nothing late.
    this.dropTimer = setTimeout(() => this.current, Math.ceil(wait));
    this.dropTimer.unref();
  }

  /** The bus hears everything again: drop what was held while it did not, and lift the cap. */
  busUp(): void {
    if (this.closed) return;
    this.capMs = undefined;
    this.drop();
  }

  /** Replaces L1 with an empty one. */
  drop(): void {
    clearTimeout(this.dropTimer);
    this.dropAt = undefined;
    if (this.closed) return;
    const old = this.store;
    this.store = this.make();
    this.generation++;
    this.drops++;
    this.retiredEvictions += old.stats().evictions;
    void old.close();
  }

  stats(): StoreStats {
    const stats = this.store.stats();
    return { ...stats, evictions: stats.evictions + this.retiredEvictions };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.dropTimer);
    await this.store.close();
  }
}
