import { CacheClosedError, CacheConnectionError } from '../errors/cache.errors.js';
import type { CacheStore } from '../interfaces/cache-store.interface.js';
import type { Clock } from '../utils/clock.js';
import type { ErrorReporter } from '../utils/error-reporter.js';

/** A store borrowed for one operation; `release()` exactly once when the operation settles. */
export interface StoreLease {
  readonly store: CacheStore;
  release(): void;
}

export interface TenantStorePoolOptions {
  /** Resolves `undefined` for a tenant that uses the shared store. */
  factory: (tenantId: string) => CacheStore | undefined | Promise<CacheStore | undefined>;
  /** The store of tenants without a dedicated one; never closed by the pool. */
  shared: CacheStore;
  maxOpen: number;
  idleMs: number;
  retryBackoffMs: number;
  clock: Clock;
  reporter: ErrorReporter;
}

interface SlotState {
  readonly tenantId: string;
  store: CacheStore | undefined;
  failedAt: number | undefined;
  error: unknown;
  inFlight: number;
  lastUsed: number;
  retired: boolean;
}

interface Slot extends SlotState {
  readonly ready: Promise<CacheStore>;
}

/**
 * Dedicated stores for tenants that need their own (a database per tenant, data residency).
 *
 * - Created once under concurrency: the first caller's creation promise is shared.
 * - At most `maxOpen` open, least recently used retired first. A retired store is closed only
 *   when its last in-flight operation releases it, so retiring never fails an operation.
 * - Closed after `idleMs` without use (by `sweep()`, which an unref'd timer calls).
 * - A failed creation is remembered for `retryBackoffMs` (callers fail fast meanwhile), then
 *   retried by the next caller; it is never cached for good.
 */
export class TenantStorePool {
  private readonly slots = new Map<string, Slot>();
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Stores created so far (for stats and tests). */
  created = 0;

  constructor(private readonly options: TenantStorePoolOptions) {
    if (options.idleMs > 0) {
      this.timer = setInterval(() => void this.sweep(), Math.min(options.idleMs, 60_000));
      this.timer.unref();
    }
  }

  async acquire(tenantId: string): Promise<StoreLease> {
    if (this.closed) throw new CacheClosedError('tenant store pool');
    const now = this.options.clock.now();
    let slot = this.slots.get(tenantId);
    if (slot !== undefined && slot.failedAt !== undefined) {
      if (now - slot.failedAt < this.options.retryBackoffMs) {
        throw new CacheConnectionError('create tenant store', 'tenant store factory (in retry backoff)', { cause: slot.error });
      }
      this.slots.delete(tenantId);
      slot = undefined;
    }
    if (slot === undefined) {
      slot = this.createSlot(tenantId, now);
    } else {
      // Re-insert to mark it most recently used.
      this.slots.delete(tenantId);
      this.slots.set(tenantId, slot);
    }
    slot.inFlight++;
    slot.lastUsed = now;
    let store: CacheStore;
    try {
      store = await slot.ready;
    } catch (err) {
      slot.inFlight--;
      throw err;
    }
    let released = false;
    const owner = slot;
    return {
      store,
      release: () => {
        if (released) return;
        released = true;
        owner.inFlight--;
        owner.lastUsed = this.options.clock.now();
        if (owner.retired && owner.inFlight === 0) void this.closeStore(owner);
      },
    };
  }

  private createSlot(tenantId: string, now: number): Slot {
    const state: SlotState = { tenantId, store: undefined, failedAt: undefined, error: undefined, inFlight: 0, lastUsed: now, retired: false };
    const slot: Slot = Object.assign(state, { ready: this.open(state) });
    this.created++;
    this.slots.set(tenantId, slot);
    this.enforceMax();
    return slot;
  }

  private async open(slot: SlotState): Promise<CacheStore> {
    try {
      const dedicated = await this.options.factory(slot.tenantId);
      if (dedicated === undefined) return this.options.shared;
      const store = dedicated;
      slot.store = store;
      if (this.closed || (slot.retired && slot.inFlight === 0)) void this.closeStore(slot);
      return store;
    } catch (err) {
      slot.failedAt = this.options.clock.now();
      slot.error = err;
      this.options.reporter.report('tenant-store-create', `Creating a dedicated tenant store failed; retrying after ${this.options.retryBackoffMs} ms: ${(err as Error)?.message ?? String(err)}`);
      throw new CacheConnectionError('create tenant store', 'tenant store factory', { cause: err });
    }
  }

  private enforceMax(): void {
    while (this.slots.size > this.options.maxOpen) {
      const oldest = this.slots.values().next().value as Slot;
      this.retire(oldest);
    }
  }

  private retire(slot: Slot): void {
    this.slots.delete(slot.tenantId);
    slot.retired = true;
    if (slot.inFlight === 0) void this.closeStore(slot);
  }

  private async closeStore(slot: SlotState): Promise<void> {
    const store = slot.store;
    if (store === undefined) return;
    slot.store = undefined;
    try {
      await store.close();
    } catch (err) {
      this.options.reporter.report('tenant-store-close', `Closing a dedicated tenant store failed: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  /** Closes stores idle for longer than `idleMs`. */
  async sweep(): Promise<void> {
    const now = this.options.clock.now();
    for (const slot of [...this.slots.values()]) {
      if (slot.inFlight === 0 && slot.store !== undefined && now - slot.lastUsed >= this.options.idleMs) this.retire(slot);
    }
  }

  /** Open (or opening) stores. */
  get size(): number {
    return this.slots.size;
  }

  has(tenantId: string): boolean {
    return this.slots.has(tenantId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    const slots = [...this.slots.values()];
    this.slots.clear();
    await Promise.all(slots.map(async (slot) => {
      slot.retired = true;
      await slot.ready.catch(() => undefined);
      await this.closeStore(slot);
    }));
  }
}
