import type { Duration } from '../utils/duration.js';
import type { Clock } from '../utils/clock.js';
import type { StoreObserver } from './cache-store.interface.js';

/**
 * Options of the embedded, in-process `MemoryStore`. Every bound is checked when the store is
 * created, and an unknown option is refused (with the closest known name).
 */
export interface MemoryStoreOptions {
  /**
   * Most entries held, all tenants together; the least recently used entry is evicted to make
   * room. Must be a positive integer: an unbounded in-process cache is a memory leak waiting for
   * traffic, so there is no "0 = unlimited". The store preallocates bookkeeping for this many
   * entries (about 24 bytes each on the heap plus 12 outside it, e.g. ~34 MB for 1,000,000), so
   * to bound a store by bytes alone, give `maxBytes` and leave this out.
   * @default MEMORY_STORE_DEFAULTS.maxEntries: 4096 (entries) when `maxBytes` is not given
   * either; with `maxBytes` alone, no entry bound (the byte budget bounds the store, and nothing
   * is preallocated)
   */
  readonly maxEntries?: number;

  /**
   * Most bytes held, all tenants together, as estimated by the store (strings 2 bytes per
   * character, Buffers and typed arrays their `byteLength`, numbers 8, objects walked up to a
   * fixed number of nodes). It is an estimate of the payload, not a measure of the V8 heap.
   * Least recently used entries are evicted to stay under it; a single entry larger than the
   * whole budget is not stored (and any older entry under its key is removed).
   * Positive integer, or omit for no byte bound (`maxEntries`, or its default, still applies).
   * Given without `maxEntries`, it is the store's only bound. At least one bound always applies.
   * Without it, writes do not estimate sizes; `stats().bytes` then estimates on demand.
   * @default undefined (no byte bound)
   */
  readonly maxBytes?: number;

  /**
   * Most entries one scope (a tenant, or the global scope) may hold. When a scope is at its
   * quota, writing one more new key evicts *that scope's* least recently used entry, never
   * another tenant's, so one busy tenant cannot push everyone else out of the cache.
   * Positive integer, or omit for no per-tenant quota. Enabling it adds a small cost to every
   * hit (the per-tenant recency order is updated).
   * @default undefined (no quota)
   */
  readonly maxEntriesPerTenant?: number;

  /**
   * How often a background sweep deletes expired entries, in milliseconds or as a duration string
   * (`'30s'`). Reads already ignore and delete expired entries lazily; the sweep frees the memory
   * of entries nobody reads again. The timer is `unref()`'d, so it never keeps the process alive.
   * `0` disables the sweep.
   * @default MEMORY_STORE_DEFAULTS.sweepInterval: 60000 (ms, one minute)
   */
  readonly sweepInterval?: Duration;

  /**
   * Time source for TTLs and for the logical expiry (`expiresAt`) checks of `getOrSet` and
   * `compareAndSet`. Inject a manual clock in tests to move time instead of sleeping.
   * @default the system clock (`Date.now()`); retention then uses lru-cache's monotonic clock
   */
  readonly clock?: Clock;

  /**
   * Told when an entry is evicted for room (LRU, `maxBytes` or the per-tenant quota); never for
   * expiry, delete or overwrite. Must not throw (a throwing observer is ignored).
   * @default undefined
   */
  readonly observer?: StoreObserver;
}
