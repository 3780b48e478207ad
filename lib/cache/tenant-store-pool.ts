import { CacheClosedError, CacheConnectionError } from '../errors/cache.errors.js';
import type { CacheStore } from '../stores/cache-store.interface.js';
import { CircuitBreakerStore } from '../stores/circuit-breaker.store.js';
import type { Clock } from '../utils/clock.js';
import type { ErrorReporter } from '../utils/error-reporter.js';

/** A store borrowed for one operation; `release()` exactly once when the operation settles. */
export interface StoreLease {
  readonly store: CacheStore;
  release(): void;
}

/** Tenants remembered as using the shared store; beyond this the least recently used is forgotten (asked again). */
export const MAX_SHARED_TENANTS = 10_000;

export interface TenantStorePoolOptions {
  /** Resolves `undefined` (or the shared store) for a tenant that uses the shared store. */
  factory: (tenantId: string) => CacheStore | undefined | Promise<CacheStore | undefined>;
  /** The store of tenants without a dedicated one; never closed by the pool. */
  shared: CacheStore;
  maxOpen: number;
  idleMs: number;
  retryBackoffMs: number;
  /** A creation not settled after this long fails (retry backoff); 0 = no bound. */
  createTimeoutMs: number;
  clock: Clock;
  reporter: ErrorReporter;
  /**
   * What operations use in place of a store the factory created (the manager wraps remote
   * stores in a circuit breaker). Called once per store instance; reference counting and
   * `close()` act on the factory's own instance. Default: the instance itself.
   */
  wrap?: (store: CacheStore) => CacheStore;
  /** Most tenants remembered as using the shared store. Default `MAX_SHARED_TENANTS`. */
  maxSharedTenants?: number;
}

interface SlotState {
  readonly tenantId: string;
  /** The factory's instance, while this slot holds a reference to it. */
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

/** One store instance held by one or more slots (a factory may return one store for several tenants). */
interface Held {
  refs: number;
  /** What leases hand out: the instance, or its wrapper. */
  readonly lease: CacheStore;
}

/**
 * Dedicated stores for tenants that need their own (a database per tenant, data residency).
 *
 * - Created once under concurrency: the first caller's creation promise is shared.
 * - At most `maxOpen` open, least recently used retired first. A retired store is closed only
 *   when its last in-flight operation releases it, so retiring never fails an operation.
 * - Closed after `idleMs` without use (by `sweep()`, which an unref'd timer calls).
 * - A failed creation, or one not settled within `createTimeoutMs`, is remembered for
 *   `retryBackoffMs` (callers fail fast meanwhile), then retried by the next caller; it is
 *   never cached for good. A store a timed-out creation resolves later is closed.
 * - Stores are reference-counted by instance: one the factory returns for several tenants is
 *   closed only when no open slot holds it. The shared store is never closed.
 * - Tenants the factory puts on the shared store take no slot: they are remembered (the
 *   `maxSharedTenants` most recent) and answered with the shared store directly.
 */
export class TenantStorePool {
  private readonly slots = new Map<string, Slot>();
  private readonly held = new Map<CacheStore, Held>();
  /** Instances the pool has closed; a factory handing one out again is an error, not a silent dead tenant. */
  private readonly closedStores = new WeakSet<CacheStore>();
  /** Tenants on the shared store, least recently used first. */
  private readonly sharedTenants = new Set<string>();
  private readonly maxSharedTenants: number;
  private readonly sharedLease: StoreLease;
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Stores created so far (for stats and tests). */
  created = 0;

  constructor(private readonly options: TenantStorePoolOptions) {
    this.maxSharedTenants = options.maxSharedTenants ?? MAX_SHARED_TENANTS;
    this.sharedLease = { store: options.shared, release: () => undefined };
    if (options.idleMs > 0) {
      this.timer = setInterval(() => void this.sweep(), Math.min(options.idleMs, 60_000));
      this.timer.unref();
    }
  }

  async acquire(tenantId: string): Promise<StoreLease> {
    if (this.closed) throw new CacheClosedError('tenant store pool');
    if (this.sharedTenants.has(tenantId)) {
      // Mark it most recently used.
      this.sharedTenants.delete(tenantId);
      this.sharedTenants.add(tenantId);
      return this.sharedLease;
    }
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
        if (owner.retired && owner.inFlight === 0) void this.dropStore(owner);
      },
    };
  }

  private createSlot(tenantId: string, now: number): Slot {
    const state: SlotState = { tenantId, store: undefined, failedAt: undefined, error: undefined, inFlight: 0, lastUsed: now, retired: false };
    const slot: Slot = Object.assign(state, { ready: this.open(state) });
    this.created++;
    this.slots.set(tenantId, slot);
    return slot;
  }

  /** Runs the factory, bounded by `createTimeoutMs`. */
  private open(slot: SlotState): Promise<CacheStore> {
    return new Promise<CacheStore>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const { createTimeoutMs } = this.options;
      if (createTimeoutMs > 0) {
        timer = setTimeout(() => {
          if (settled) return;
          settled = true;
          reject(this.failSlot(slot, new Error(`the factory did not settle within ${createTimeoutMs} ms`)));
        }, createTimeoutMs);
        timer.unref?.();
      }
      let creating: Promise<CacheStore | undefined>;
      try {
        creating = Promise.resolve(this.options.factory(slot.tenantId));
      } catch (err) {
        creating = Promise.reject(err);
      }
      creating.then(
        (created) => {
          if (timer !== undefined) clearTimeout(timer);
          if (settled) {
            this.discardLate(created);
            return;
          }
          settled = true;
          try {
            resolve(this.adopt(slot, created));
          } catch (err) {
            reject(this.failSlot(slot, err));
          }
        },
        (err: unknown) => {
          if (timer !== undefined) clearTimeout(timer);
          if (settled) return; // already failed (timed out) and reported
          settled = true;
          reject(this.failSlot(slot, err));
        },
      );
    });
  }

  private isShared(store: CacheStore): boolean {
    const { shared } = this.options;
    return store === shared || (shared instanceof CircuitBreakerStore && shared.inner === store);
  }

  /** Takes a reference to the created store for `slot`; answers what its leases use. */
  private adopt(slot: SlotState, created: CacheStore | undefined): CacheStore {
    if (created === undefined || this.isShared(created)) {
      // No slot for it: answered from the shared set from now on.
      if (this.slots.get(slot.tenantId) === slot) this.slots.delete(slot.tenantId);
      if (!this.closed) this.rememberShared(slot.tenantId);
      return this.options.shared;
    }
    let held = this.held.get(created);
    if (held === undefined) {
      if (this.closedStores.has(created)) {
        throw new Error('the factory returned a store the pool has already closed (it closes a store once no open tenant holds it); return a new instance');
      }
      held = { refs: 0, lease: this.options.wrap?.(created) ?? created };
      this.held.set(created, held);
    }
    held.refs++;
    slot.store = created;
    if (this.closed || (slot.retired && slot.inFlight === 0)) void this.dropStore(slot);
    else this.enforceMax(slot);
    return held.lease;
  }

  private rememberShared(tenantId: string): void {
    this.sharedTenants.delete(tenantId);
    this.sharedTenants.add(tenantId);
    if (this.sharedTenants.size > this.maxSharedTenants) this.sharedTenants.delete(this.sharedTenants.values().next().value as string);
  }

  private failSlot(slot: SlotState, err: unknown): CacheConnectionError {
    slot.failedAt = this.options.clock.now();
    slot.error = err;
    this.options.reporter.report('tenant-store-create', `Creating a dedicated tenant store failed; retrying after ${this.options.retryBackoffMs} ms: ${(err as Error)?.message ?? String(err)}`);
    return new CacheConnectionError('create tenant store', 'tenant store factory', { cause: err });
  }

  /** A creation that resolved after it timed out: close its store unless something still holds it. */
  private discardLate(created: CacheStore | undefined): void {
    if (created === undefined || this.isShared(created) || this.held.has(created) || this.closedStores.has(created)) return;
    void this.closeInstance(created);
  }

  /**
   * Retires the least recently used open stores beyond `maxOpen` (never `keep`, the one just
   * opened). Runs when a creation yields a dedicated store, so a tenant whose creation is still
   * pending (it may turn out to use the shared store) never pushes an open store out. Also
   * drops failed slots whose backoff has passed (the next caller would replace them anyway).
   */
  private enforceMax(keep: SlotState): void {
    const now = this.options.clock.now();
    let open = 0;
    for (const slot of this.slots.values()) {
      if (slot.store !== undefined) open++;
      else if (slot.failedAt !== undefined && now - slot.failedAt >= this.options.retryBackoffMs && slot.inFlight === 0) this.slots.delete(slot.tenantId);
    }
    if (open <= this.options.maxOpen) return;
    for (const slot of [...this.slots.values()]) {
      if (open <= this.options.maxOpen) break;
      if (slot === keep || slot.store === undefined) continue;
      this.retire(slot);
      open--;
    }
  }

  private retire(slot: Slot): void {
    this.slots.delete(slot.tenantId);
    slot.retired = true;
    if (slot.inFlight === 0) void this.dropStore(slot);
  }

  /** Drops the slot's reference to its store; closes the store when it was the last. */
  private async dropStore(slot: SlotState): Promise<void> {
    const store = slot.store;
    if (store === undefined) return;
    slot.store = undefined;
    const held = this.held.get(store);
    if (held !== undefined && --held.refs > 0) return;
    this.held.delete(store);
    await this.closeInstance(store);
  }

  private async closeInstance(store: CacheStore): Promise<void> {
    if (this.isShared(store)) return;
    this.closedStores.add(store);
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

  /** Dedicated stores open or being opened (not failed ones in their backoff). */
  get size(): number {
    let n = 0;
    for (const slot of this.slots.values()) if (slot.failedAt === undefined) n++;
    return n;
  }

  /** Whether `tenantId` has a dedicated store open (or opening). */
  has(tenantId: string): boolean {
    return this.slots.has(tenantId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    const slots = [...this.slots.values()];
    this.slots.clear();
    this.sharedTenants.clear();
    await Promise.all(slots.map(async (slot) => {
      slot.retired = true;
      await slot.ready.catch(() => undefined);
      await this.dropStore(slot);
    }));
  }
}
