import type { CacheStore } from '../stores/cache-store.interface.js';
import type { TelemetryOptions } from '../observability/cache-telemetry.js';
import type { Clock } from '../utils/clock.js';
import type { CacheLogger } from '../utils/error-reporter.js';
import type { Duration } from '../utils/duration.js';
import type { MemoryStoreOptions } from '../stores/memory-store-options.interface.js';
import type { RedisStoreOptions } from '../stores/redis-store-options.interface.js';

/** The embedded in-process store. */
export interface MemoryStoreConfig extends MemoryStoreOptions {
  type: 'memory';
}

/** A Redis (standalone, Sentinel or Cluster) store through ioredis. Requires the `ioredis` package. */
export type RedisStoreConfig = RedisStoreOptions & { type: 'redis' };

export type StoreConfig = MemoryStoreConfig | RedisStoreConfig;

/**
 * Dedicated stores for some or all tenants (a store per tenant, or per region).
 *
 * The pool closes a store the factory created once no open tenant holds that instance (one
 * store returned for several tenants stays open while any of them uses it), and never closes
 * the shared store. Once closed, the pool does not accept that instance again: a factory that
 * caches stores (per region) must return a new one after it was closed.
 *
 * Remote stores (`kind !== 'memory'`) get the same circuit breaker as the shared store (one per
 * store instance), unless `circuitBreaker: false`.
 *
 * Evictions and decode failures of dedicated stores are not counted per tenant (in `stats()`
 * and metrics): the cache has no way to hand its observer to a store you create. Give your
 * store its own `observer` (`MemoryStore` / `RedisStore` options) to count them.
 */
export interface TenantStoresOptions {
  /**
   * Creates the store of one tenant, or returns `undefined` to use the shared store for it.
   * Called once per tenant even under concurrent first use; a rejection is retried after
   * `retryBackoff`. Tenants on the shared store take no `maxOpen` slot; the 10,000 most
   * recent are remembered (others are asked again on their next use).
   */
  factory: (tenantId: string) => CacheStore | undefined | Promise<CacheStore | undefined>;
  /** Most dedicated stores open at once; the least recently used is closed first. Default 100. */
  maxOpen?: number;
  /** Close a dedicated store unused for this long. Milliseconds or a duration string. Default `'10m'`; 0 = never. */
  idleTimeout?: Duration;
  /** After a failed creation, fail fast for this long before trying again. Milliseconds or a duration string. Default `'5s'`. */
  retryBackoff?: Duration;
  /**
   * A creation (the factory's promise) not settled after this long fails like a rejected one:
   * callers get `CacheConnectionError` and fail fast for `retryBackoff`. A store it resolves
   * later is closed. Milliseconds or a duration string. Default `'10s'`; 0 = no bound.
   */
  createTimeout?: Duration;
}

/** Options of `CacheManager` (and of `CacheModule.forRoot`, which adds the Nest-specific ones). */
export interface CacheManagerOptions {
  /**
   * Where entries live: a store config (`{ type: 'memory', maxEntries }`,
   * `{ type: 'redis', url }`) or a `CacheStore` instance. A store instance passed in is
   * closed by `close()` too. Default `{ type: 'memory' }`.
   */
  store?: StoreConfig | CacheStore;
  /**
   * Prefix of every storage key, so several apps can share one Redis. 1-64 characters of
   * `[A-Za-z0-9._-]`. Default `'ntc'`.
   */
  namespace?: string;
  /** TTL of entries written without one. Milliseconds or a duration string; 0 = no expiry. Default `'5m'`. */
  defaultTtl?: Duration;
  /** Optional dedicated stores per tenant. Default: none (all tenants share `store`). */
  tenantStores?: TenantStoresOptions;
  /**
   * Most tenants with their own counters in `stats()`; further tenants are counted together
   * under `(other)`, so a flood of tenant ids cannot grow memory. Default 1000.
   */
  maxTrackedTenants?: number;
  /** Where failures are logged (once per burst). `false` silences them. Default: a console-backed logger. */
  logger?: CacheLogger | false;
  /** Failures of one kind closer together than this form one burst, logged once. Milliseconds or a duration string. Default `'10s'`. */
  errorBurst?: Duration;
  /** Time source (tests inject a manual clock). Default `Date.now`. */
  clock?: Clock;
  /**
   * OpenTelemetry metrics and spans (through `@opentelemetry/api`: a no-op unless the app
   * registers an SDK) and their tenant attribute. Default `{ tenantAttribute: 'bounded',
   * maxTenantLabels: 50 }`.
   */
  telemetry?: TelemetryOptions;
  /**
   * Circuit breaker around a remote (non-memory) store: after `failureThreshold` consecutive
   * failures (default 5), calls fail fast for `cooldown` (ms or duration string, default
   * `'5s'`), then one probe decides. `false` disables it. Default enabled.
   */
  circuitBreaker?: { failureThreshold?: number; cooldown?: Duration } | false;
  /** Background retries of a failed tag invalidation. Default `{ retries: 5, backoff: '200ms' }`. */
  invalidationRetry?: InvalidationRetryOptions;
}

/** Background retries of a failed `invalidateTags()` (a service's or an `@InvalidateTags()` route's). */
export interface InvalidationRetryOptions {
  /**
   * Retries after the first failure; the delay ceiling doubles each time (capped at 30 s) and
   * each delay is a random fraction of it (full jitter). 0 = no retries. Default 5.
   */
  retries?: number;
  /** Delay ceiling before the first retry. Milliseconds or a duration string. Default `'200ms'`. */
  backoff?: Duration;
}

/** Options of one write. */
export interface SetOptions {
  /** Milliseconds or a duration string; 0 = no expiry. Default: the manager's `defaultTtl`. */
  ttl?: Duration;
  /** Tags for `invalidateTags()`; per tenant. */
  tags?: readonly string[];
  /**
   * Keep the entry this long past its TTL so `wrap` can serve it stale (see `WrapOptions`).
   * Milliseconds or a duration string. Default 0 (no grace).
   */
  grace?: Duration;
}

/** Options of `wrap()`. */
export interface WrapOptions extends SetOptions {
  /**
   * Within `grace`, return the stale value at once and refresh it in the background
   * (one refresh per key per process). Default false: a stale entry is recomputed inline.
   */
  staleWhileRevalidate?: boolean;
  /**
   * Within `grace`, if the factory throws, return the stale value instead of the error.
   * Default true when `grace` is set.
   */
  staleIfError?: boolean;
  /**
   * Stampede protection across processes, on stores that have locks (Redis): on a miss, the
   * process that takes a short lock runs `factory`; the others wait for its entry (polling)
   * for up to `lockTtl`, then run their own. Default true. (Within one process, concurrent
   * calls always share one run.)
   */
  lock?: boolean;
  /**
   * How long the lock is held at most, and how long other processes wait for the entry.
   * Milliseconds or a duration string. Default `'5s'`; longer computations may run twice.
   */
  lockTtl?: Duration;
  /**
   * Soft timeout: with an entry in grace, once the factory has run this long the caller gets
   * the stale value, and the factory goes on to store its value when it arrives. Milliseconds
   * or a duration string. Default: none (wait for the factory).
   */
  softTimeout?: Duration;
  /**
   * Hard timeout: once the factory has run this long the caller gets the entry in grace, or a
   * `FactoryTimeoutError`; the factory goes on to store its value when it arrives.
   * Milliseconds or a duration string. Default: none.
   */
  hardTimeout?: Duration;
}
