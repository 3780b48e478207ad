import type { Envelope } from '../envelope/envelope.js';
import type { KeyScope, StorageKey } from '../keys/storage-key.js';
import type { DecodeError } from '../errors/cache.errors.js';
import type { ErrorReporter } from '../utils/error-reporter.js';

/** Result of an atomic `getOrSet`: the entry now stored, and whether this call wrote it. */
export interface StoreGetOrSetResult {
  readonly envelope: Envelope;
  readonly set: boolean;
}

export interface StoreHealth {
  readonly ok: boolean;
  /** Round-trip of the health probe in milliseconds, where measured. */
  readonly latencyMs?: number;
  /** Why it is not ok (no values, no keys). */
  readonly detail?: string;
  /**
   * With `ok: true`: the store answers but cannot do all it should, and why (Redis full: writes
   * refused, reads served). The cache then reports itself `degraded`.
   */
  readonly degraded?: string;
}

export interface StoreStats {
  /** Entries held, where the store can count them cheaply (memory); undefined otherwise. */
  readonly entries: number | undefined;
  /** Bytes held (estimated for memory), where known. */
  readonly bytes: number | undefined;
  /** Entries dropped for room (LRU or quota), not for expiry. */
  readonly evictions: number;
  /** Stored entries that failed to decode and were deleted. */
  readonly decodeErrors: number;
  /** Operations that failed (connection, timeout, script). */
  readonly errors: number;
}

/**
 * What a computation was based on: the scope's invalidation version when it started, taken from
 * the store's `basis()` before the factory runs and handed back to the write of its result.
 * Opaque: only the store that made it reads it (a tiered store's holds one per tier).
 */
export interface StoreBasis {
  readonly store: string;
  readonly value: unknown;
}

/** Observers a store calls so the cache can count per tenant. They must not throw. */
export interface StoreObserver {
  /** An entry was dropped for room (not expiry). */
  evicted?(key: StorageKey): void;
  /** An entry failed to decode; it has been deleted and was served as a miss. */
  decodeFailed?(key: StorageKey, error: DecodeError): void;
}

/**
 * What every store implements. Keys are `StorageKey`s built by `storageKey()` only.
 *
 * Semantics shared by all stores (the conformance suite checks them):
 * - `ttlMs` is how long the store keeps the entry, in milliseconds; 0 = until evicted/deleted.
 * - An entry is *present* for `getOrSet`/`compareAndSet` while it exists and its logical
 *   `expiresAt` has not passed (0 = never). `get` returns any entry still kept, even one past
 *   `expiresAt` (the caller decides whether stale is acceptable).
 * - Entries whose bytes fail to decode are deleted, counted and read as `undefined`.
 * - After `close()` every data operation rejects with `CacheClosedError` (`health()` resolves
 *   `ok: false`, `stats()` stays readable); `close()` is idempotent.
 */
export interface CacheStore {
  /** `'memory'`, `'redis'`, … for logs and health. */
  readonly kind: string;
  get(key: StorageKey): Promise<Envelope | undefined>;
  /**
   * Optional: the same read without a promise, for stores that answer without I/O (memory).
   * The HTTP hit path uses it to serve a hit synchronously. Throws `CacheClosedError` after close.
   */
  getSync?(key: StorageKey): Envelope | undefined;
  /**
   * Optional: whether `getSync` answers for the whole store, so that what it does not find, `get`
   * would not find either (a memory store). Absent or false: `getSync` reads a synchronous tier
   * only (a tiered store's L1), and a miss there is read again with `get`.
   */
  readonly getSyncIsComplete?: boolean;
  /**
   * Stores the entry. With `basis` (the write of a computation, see `basis()`): not applied when
   * the entry's scope was cleared or one of its tags invalidated since the basis was taken (it
   * resolves all the same: the computed value is still the caller's, it is just not stored),
   * and the entry records the basis, so it reads as absent after any later clear or invalidation
   * of its tags. Without one, the entry is based on the scope's version at the write. A basis the
   * store did not make (another store's) is not applied either: when in doubt, do not store.
   * Resolves `false` when the write was not applied (so a tier in front keeps it out too); a
   * store that cannot tell resolves nothing.
   */
  set(key: StorageKey, envelope: Envelope, ttlMs: number, basis?: StoreBasis): Promise<boolean | void>;
  /**
   * Optional: the basis of a computation of an entry of `scope` starting now (the scope's
   * invalidation version), for `set(…, basis)`. A store without it stores every write.
   */
  basis?(scope: KeyScope): StoreBasis | Promise<StoreBasis>;
  /** Resolves whether an entry a read would have returned was deleted (an invalidated one is removed too, and does not count). */
  delete(key: StorageKey): Promise<boolean>;
  /**
   * Optional: `get` of many keys, in order, in as few round trips as the store can (Redis: one
   * MGET per hash slot, so one for the keys of one tenant). Without it the cache calls `get` per key.
   */
  getMany?(keys: readonly StorageKey[]): Promise<Array<Envelope | undefined>>;
  /**
   * Optional: `delete` of many keys in as few round trips as the store can (Redis: one script per
   * hash slot); resolves how many held an entry a read would have returned. Without it the cache
   * calls `delete` per key.
   */
  deleteMany?(keys: readonly StorageKey[]): Promise<number>;
  /**
   * Optional: atomically reads and deletes `key`: the entry a `get` would have returned (expired
   * ones included, as `get`), to exactly one of concurrent callers; the others get `undefined`.
   * The cache's `pull()` needs it (every built-in store has it).
   */
  pull?(key: StorageKey): Promise<Envelope | undefined>;
  /** Atomically: if present, return it (`set: false`); otherwise store `envelope` (`set: true`). */
  getOrSet(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<StoreGetOrSetResult>;
  /**
   * Atomically replace the entry if its stamp is `expectedStamp` (or, with `null`, if no entry
   * is present). Resolves whether it wrote.
   */
  compareAndSet(key: StorageKey, expectedStamp: string | null, envelope: Envelope, ttlMs: number): Promise<boolean>;
  /**
   * Optional: a short lock shared by every process using the store (stampede protection
   * across processes in `wrap`). Takes `key` (a `kind: 'lock'` key) for `token` if nobody holds
   * it, for `ttlMs` at most; resolves whether `token` now holds it.
   */
  acquireLock?(key: StorageKey, token: string, ttlMs: number): Promise<boolean>;
  /** Optional: releases `key` if `token` still holds it (never another holder's lock). */
  releaseLock?(key: StorageKey, token: string): Promise<void>;
  /**
   * Makes every entry of one scope read as absent, at once, whatever their number (stores with
   * scope epochs: one operation; the entries are left to expire or be reclaimed).
   */
  clearScope(scope: KeyScope): Promise<void>;
  /**
   * Makes every entry of `scope` written with any of `tags` (tags are per scope) read as absent.
   * `tagKeys` are the tags' keys (`kind: 'tag'`) of that scope.
   */
  invalidateTags(tagKeys: readonly StorageKey[]): Promise<void>;
  /**
   * Deletes every stored key of one scope (entries, tag versions, locks), for offboarding a
   * tenant; resolves how many keys it deleted. May take long (a scan), in bounded steps; the
   * scope reads as cleared from its start, and what refuses the computations that began before
   * it (the scope's epoch and clock) is left as a tombstone that expires after the computation
   * bound (`MAX_COMPUTATION_MS`).
   */
  purgeScope(scope: KeyScope): Promise<number>;
  /** Entries held for one scope, where countable (memory); `undefined` where it would cost a scan. */
  scopeSize(scope: KeyScope): number | undefined;
  health(): Promise<StoreHealth>;
  stats(): StoreStats;
  close(): Promise<void>;
  /**
   * Optional: calls `listener` each time the store's connection is usable again (Redis: the
   * client's `ready` event), so the circuit breaker can probe at once instead of waiting for the
   * next call. Returns the function that stops the calls.
   */
  onReconnect?(listener: () => void): () => void;
  /**
   * Optional, for a store spread over several servers (a Redis Cluster): where calls for
   * `scope`'s keys go now (the primary owning its hash slot, `host:port`), so the circuit
   * breaker keeps one circuit per server and a failed one never fails the calls of the others.
   * `undefined` (or no method): the store-wide circuit.
   */
  routeOf?(scope: KeyScope): string | undefined;
  /**
   * Optional, with `routeOf`: whether calls routed to `route` can be served again (the breaker's
   * probe of that route's circuit), within twice the store's timeout (Redis Cluster: a PING of
   * the node and a refresh of the routes at once, the refresh given two timeouts). A route
   * nothing maps to any more (failed over) is done with: `true`.
   */
  probeRoute?(route: string): Promise<boolean>;
  /** Optional, with `routeOf`: the routes calls can take now (`undefined`: no routes); the breaker forgets circuits of any other. */
  liveRoutes?(): ReadonlySet<string> | undefined;
  /**
   * Optional: a cache taking this store instance (`store`, or a dedicated tenant store) hands
   * it the cache's reporter, so the cache's `logger` (`false` included) applies to it too. A
   * store given a logger of its own keeps it.
   */
  adoptReporter?(reporter: ErrorReporter): void;
}
