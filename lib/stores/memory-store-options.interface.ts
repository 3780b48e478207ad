import type { Duration } from '../utils/duration.js';
import type { ByteSize } from '../utils/byte-size.js';
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
   * to bound a store by bytes alone, give `maxBytes` and leave this out. Giving it does not lift
   * the byte bound: `maxBytes` (or its default) applies too.
   * @default MEMORY_STORE_DEFAULTS.maxEntries: 4096 (entries) when `maxBytes` is not given
   * either; with `maxBytes` alone, no entry bound (the byte budget bounds the store, and nothing
   * is preallocated)
   */
  readonly maxEntries?: number;

  /**
   * Most bytes held, all tenants together, as estimated by the store; least recently used
   * entries are evicted to stay under it, and a single entry larger than the whole budget is not
   * stored (any older entry under its key is removed). It always applies: there is no way to
   * turn it off, only to raise it, because an entry bound alone lets 1,000 responses of 200 KB
   * take 200 MB of heap.
   *
   * The estimate aims at what an entry keeps alive on the V8 heap, rounded up: strings count 2
   * bytes per character (V8 keeps ASCII and Latin-1 text in 1, anything else in 2), Buffers and
   * typed arrays their `byteLength`, numbers 8, objects walked up to a fixed number of nodes, plus
   * a measured fixed cost per entry (~800 bytes: the envelope, its HTTP metadata, the key and the
   * store's bookkeeping). Measured after a full GC, the heap an entry holds is 0.6-0.95 of its
   * estimate for small entries (numbers, 200-byte HTTP responses), about half for large ASCII
   * bodies. A string sliced from a much larger one keeps that one alive, which no estimate sees:
   * store the body itself, as `@Cached()` does.
   *
   * Why 64 MiB: small next to the heap limit Node gives a 64-bit process by default (about a
   * quarter of the memory available, up to 4 GB on Node 20+; 64 MiB of estimate is at most
   * ~1.6% of it, and for ASCII bodies ~0.8%), yet room for ~160 responses of 200 KB or ~20,000
   * of 1 KB (then the default `maxEntries` binds first). In a container with 512 MB or less (a
   * heap limit near 128 MB), give a smaller budget.
   * Bytes, or a size string such as `'64mb'` (`ByteSize`: binary units, 1 kb = 1024 bytes).
   * @default MEMORY_STORE_DEFAULTS.maxBytes: 67108864 (bytes, 64 MiB)
   */
  readonly maxBytes?: ByteSize;

  /**
   * The part of a full store beyond which a tenant pays for its own writes: a fraction,
   * `0 < share <= 1`, of `maxEntries` and of `maxBytes` alike. A scope is a (namespace, tenant)
   * pair; the global scope (entries with no tenant) counts as one tenant.
   *
   * While the store has free room, a write evicts nothing, and any tenant may use that room. When
   * a write needs room, the store evicts, in this order: the writer's own entries, while the
   * write would take the writer above its share; then entries of tenants above their share (the
   * first to go above it first); only when no tenant is above its share, the least recently used
   * entries of the whole store. Hence:
   * - a tenant at its share evicts its own entries, never another tenant's;
   * - a tenant within its share grows by taking room from tenants above theirs first;
   * - one tenant writing any number of keys never pushes the other tenants, together, below
   *   `1 - share` of the store (of the entries and of the bytes, the bytes to within the size of
   *   one evicted entry); k such tenants, below `1 - k * share`;
   * - a tenant alone in a store (a dedicated `tenantStores` store, a single-tenant app) can fill
   *   all of it, and gives room back as other tenants need it.
   * A write into a full store that would leave its tenant above its share with nothing of its
   * own left to evict (one entry larger than the share) is not stored.
   *
   * `1` turns the share off (plain LRU over the whole store). The entry a tenant gives up is
   * its least recently written one, so that a hit costs nothing for the share; a tenant alone in
   * the store gives up its least recently used one (plain LRU), and with `maxEntriesPerTenant`
   * every tenant does.
   *
   * Why 0.25: one busy tenant leaves three quarters of a full store to everyone else, and any
   * tenant can still grow to a quarter of it at the expense of tenants above their share (with
   * more than four busy tenants the shares overlap, and among tenants within theirs plain LRU
   * decides).
   * @default MEMORY_STORE_DEFAULTS.maxTenantShare: 0.25 (a fraction of the store)
   */
  readonly maxTenantShare?: number;

  /**
   * Most entries one scope (a tenant, or the global scope) may hold, full store or not. When a
   * scope is at its quota, writing one more new key evicts *that scope's* least recently used
   * entry, never another tenant's. It replaces the entry part of `maxTenantShare` (the byte part
   * still applies). Positive integer, or omit for no hard quota. Enabling it adds a cost to
   * every hit (the tenant's recency order is updated: a Map reorder, ~250-350 ns on a
   * 10,000-entry store), which `maxTenantShare` alone does not have.
   * @default undefined (no hard quota; `maxTenantShare` applies)
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
   * Told when an entry is evicted for room (LRU, `maxBytes`, the tenant share or quota); never for
   * expiry, delete or overwrite. Must not throw (a throwing observer is ignored).
   * @default undefined
   */
  readonly observer?: StoreObserver;
}

/**
 * The bounds a `MemoryStore` applies, its options' defaults applied (`MemoryStore.bounds`): what
 * `{ type: 'memory' }` with no options resolves to, for instance.
 */
export interface MemoryStoreBounds {
  /** Most entries, all tenants together; undefined when `maxBytes` alone bounds the store. */
  readonly maxEntries: number | undefined;
  /** Most estimated bytes, all tenants together. */
  readonly maxBytes: number;
  /** `maxEntriesPerTenant` (a hard quota), if given. */
  readonly maxEntriesPerTenant: number | undefined;
  /** Entries one tenant keeps when the store is full (`maxTenantShare` of `maxEntries`); undefined = no entry share. */
  readonly tenantShareEntries: number | undefined;
  /** Estimated bytes one tenant keeps when the store is full (`maxTenantShare` of `maxBytes`); undefined = no byte share. */
  readonly tenantShareBytes: number | undefined;
}
