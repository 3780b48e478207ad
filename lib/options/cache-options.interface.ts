import type { CacheStore } from '../stores/cache-store.interface.js';
import type { TelemetryOptions } from '../observability/cache-telemetry.js';
import type { Clock } from '../utils/clock.js';
import type { CacheLogger } from '../utils/error-reporter.js';
import type { Duration } from '../utils/duration.js';
import type { StoreConfig } from '../stores/store-config.interface.js';

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
  /**
   * Most dedicated stores open at once; the least recently used is closed first. A positive integer.
   * @default TENANT_STORES_DEFAULTS.maxOpen: 100 (stores)
   */
  maxOpen?: number;
  /**
   * Close a dedicated store unused for this long. Milliseconds or a duration string; 0 = never.
   * @default TENANT_STORES_DEFAULTS.idleTimeout: '10m'
   */
  idleTimeout?: Duration;
  /**
   * After a failed creation, fail fast for this long before trying again. Milliseconds or a duration string.
   * @default TENANT_STORES_DEFAULTS.retryBackoff: '5s'
   */
  retryBackoff?: Duration;
  /**
   * A creation (the factory's promise) not settled after this long fails like a rejected one:
   * callers get `CacheConnectionError` and fail fast for `retryBackoff`. A store it resolves
   * later is closed. Milliseconds or a duration string; 0 = no bound.
   * @default TENANT_STORES_DEFAULTS.createTimeout: '10s'
   */
  createTimeout?: Duration;
}

/** The `circuitBreaker` option. */
export interface CircuitBreakerConfig {
  /**
   * Consecutive outage failures (the store unreachable, or no reply within its timeout) that
   * open the circuit. A full store (Redis OOM) and other error replies never count: the store
   * works. A positive integer.
   * @default CIRCUIT_BREAKER_DEFAULTS.failureThreshold: 5
   */
  failureThreshold?: number;
  /**
   * While open: from opening to the first probe, and from the start of one probe to the next (a
   * failed probe does not push the next one further away). Probes are the store's health check
   * (a PING on Redis), one at a time, started by a call that fails fast; a Redis store is also
   * probed at once when its connection is ready again. Short, because a probe is cheap and
   * hits should come back within a second of the store. Milliseconds or a duration string.
   * @default CIRCUIT_BREAKER_DEFAULTS.cooldown: '500ms'
   */
  cooldown?: Duration;
}

/**
 * Durable invalidation: an invalidation the store failed (`invalidateTags()`, `delete()`,
 * `clear()`, an `@InvalidateTags()` route) is kept and retried in the background until it is
 * applied or every entry it covers has expired. While it is pending, no read of this instance
 * serves an entry it covers.
 */
export interface InvalidationRetryOptions {
  /**
   * Delay ceiling of the first retry; it doubles at each further one, up to `maxBackoff`, and
   * each delay is a random fraction of it (full jitter). Milliseconds (>= 1) or a duration string.
   * @default INVALIDATION_RETRY_DEFAULTS.backoff: '200ms'
   */
  backoff?: Duration;
  /**
   * Longest delay ceiling between two retries. A retry also runs early when the tenant's store
   * answers a read or another pending invalidation is applied. Milliseconds (>= 1) or a duration string.
   * @default INVALIDATION_RETRY_DEFAULTS.maxBackoff: '30s'
   */
  maxBackoff?: Duration;
  /**
   * Most pending invalidations kept (one per tenant and tag, key or clear: a burst on one tag
   * is one). Past it, the tenant that grew past it (or, if it holds one, the tenant with the
   * most) is merged into one pending clear of that tenant; with more tenants pending than this, a new one is not kept and this instance serves no
   * entry of any tenant written before it until all of those have expired. A whole number >= 1.
   * @default INVALIDATION_RETRY_DEFAULTS.maxPending: 10000
   */
  maxPending?: number;
  /**
   * The longest TTL + grace any instance writes entries of this namespace with: a pending
   * invalidation is dropped once this long has passed since it was issued, since every entry it
   * covers has then expired. Milliseconds or a duration string; 0 = entries may never expire
   * (retry until applied). Set it when other instances (or earlier runs) write longer-lived
   * entries than this one.
   * @default undefined: the longest TTL + grace this manager has written since it started, and at least `defaultTtl`
   */
  maxEntryLifetime?: Duration;
  /**
   * The jitter's random source, `() => a number in [0, 1)`; for tests.
   * @default Math.random
   */
  random?: () => number;
}

/** Options of `CacheManager` (and of `CacheModule.forRoot`, which adds the Nest-specific ones). */
export interface CacheManagerOptions {
  /**
   * Where entries live: a store config (`{ type: 'memory', maxEntries }`,
   * `{ type: 'redis', url }`, or for several instances `{ type: 'tiered', l1: { … }, l2: { url } }`:
   * a memory L1 in front of Redis, coherent through an invalidation bus) or a `CacheStore` instance. A store instance passed in is
   * closed by `close()` too. A config is checked at start-up like every other option (an
   * unknown key fails with the closest known name); an instance is taken as it is.
   * @default { type: 'memory' }
   */
  store?: StoreConfig | CacheStore;
  /**
   * Prefix of every storage key, so several apps can share one Redis. 1-64 characters of
   * `[A-Za-z0-9._-]`.
   * @default MANAGER_DEFAULTS.namespace: 'ntc'
   */
  namespace?: string;
  /**
   * TTL of entries written without one. Milliseconds (a number) or a duration string; 0 = no expiry.
   * @default MANAGER_DEFAULTS.defaultTtl: '5m'
   */
  defaultTtl?: Duration;
  /**
   * Grace of every entry written without its own `grace`: how long past its TTL it is kept so
   * `wrap` can serve it stale (stale-if-error; with `staleWhileRevalidate`, at once while it
   * refreshes). `@Cached()` routes have their own `grace` (default 0). Milliseconds or a
   * duration string; 0 = no grace.
   * @default MANAGER_DEFAULTS.defaultGrace: 0
   */
  defaultGrace?: Duration;
  /**
   * Spreads the TTL of every entry written without its own `ttlJitter` by a random fraction of
   * at most this much either way, so entries written together do not expire together (0.1 =
   * ±10%: a 1 h TTL becomes 54-66 min). A fraction, 0 <= jitter < 1; 0 = exact TTLs. Responses
   * cached by `@Cached()` are not jittered (they must not outlive their own `max-age`).
   * @default MANAGER_DEFAULTS.ttlJitter: 0
   */
  ttlJitter?: number;
  /**
   * Optional dedicated stores per tenant.
   * @default undefined (all tenants share `store`)
   */
  tenantStores?: TenantStoresOptions;
  /**
   * Most tenants with their own counters in `stats()`; further tenants are counted together
   * under `(other)`, so a flood of tenant ids cannot grow memory. A positive integer.
   * @default MANAGER_DEFAULTS.maxTrackedTenants: 1000 (tenants)
   */
  maxTrackedTenants?: number;
  /**
   * How many active tenants keep what a lookup needs of them (their store access and facade,
   * ~0.6 KB each with a short id, ~0.85 KB once they have read a key: the last storage key each
   * built is kept) between requests: a working set up to this size costs the same per lookup as
   * one tenant; at most twice this many are held, whatever tenant ids arrive (a flood of hostile
   * ids with short keys holds up to ~220 MB at the default, ~3.5 MB at 2,048; a user key of up to
   * 256 characters, the longest kept, adds up to ~0.6 KB per tenant). Lower it where tenant
   * ids come unchecked from requests and a lookup may pay a rebuild instead. A positive integer.
   * @default MANAGER_DEFAULTS.activeTenants: 131072 (tenants, per generation)
   */
  activeTenants?: number;
  /**
   * Where failures are logged (once per burst), by the cache and by the stores it builds.
   * `false` silences all of them.
   * @default inside Nest, Nest's `Logger` with the context `nestjs-tenant-cache` (the app's
   * logger setup applies); outside Nest, the console with a `[nestjs-tenant-cache]` prefix
   */
  logger?: CacheLogger | false;
  /**
   * Failures of one kind closer together than this form one burst, logged once. Milliseconds or a duration string.
   * @default MANAGER_DEFAULTS.errorBurst: '10s'
   */
  errorBurst?: Duration;
  /**
   * Time source (tests inject a manual clock).
   * @default the system clock (`Date.now()`)
   */
  clock?: Clock;
  /**
   * OpenTelemetry metrics and spans (through `@opentelemetry/api`: a no-op unless the app
   * registers an SDK) and their tenant attribute.
   * @default TELEMETRY_DEFAULTS
   */
  telemetry?: TelemetryOptions;
  /**
   * Circuit breaker around a remote (non-memory) store: after `failureThreshold` consecutive
   * outage failures, calls fail fast while the breaker probes the store (every `cooldown`, and
   * at once when a Redis connection is ready again); the first probe that finds it answering
   * closes it. `false` disables it.
   * @default CIRCUIT_BREAKER_DEFAULTS: { failureThreshold: 5, cooldown: '500ms' }
   */
  circuitBreaker?: CircuitBreakerConfig | false;
  /**
   * Durable invalidation: background retries of a failed invalidation until it is applied or
   * every entry it covers has expired.
   * @default INVALIDATION_RETRY_DEFAULTS
   */
  invalidationRetry?: InvalidationRetryOptions;
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
  /**
   * Spreads this entry's TTL by a random fraction of at most this much either way (0.1 = ±10%),
   * so entries written together do not expire together. A fraction, 0 <= jitter < 1.
   * Default: the manager's `ttlJitter` (0).
   */
  ttlJitter?: number;
}

/** Options of `get()`. */
export interface GetOptions<T = unknown> {
  /** What `get` resolves on a miss instead of `undefined` (nothing is stored). Default: `undefined`. */
  defaultValue?: T;
}

/**
 * `eagerRefresh` of `wrap()`: a number is the fraction of the entry's TTL after which a hit
 * starts a background refresh (0 < threshold < 1; 0.8 = in the last 20% of its life, as
 * FusionCache's `EagerRefreshThreshold`); `{ beta }` refreshes probabilistically (XFetch, VLDB
 * 2015: when `now - delta * beta * ln(random()) >= expiresAt`, `delta` the last computation's
 * duration; beta > 0, 1 is the paper's optimum, larger refreshes earlier).
 */
export type EagerRefreshOption = number | { readonly beta: number };

/** Options of `wrap()`. */
export interface WrapOptions extends SetOptions {
  /**
   * Compute even when a fresh entry is there, and store the result (a refresh on demand): the
   * fresh entry stays the fallback if the factory fails (`staleIfError`) and is `ctx.gracedEntry`.
   * A computation of the key already under way in this process is joined. Default false.
   */
  forceFresh?: boolean;
  /**
   * Refresh ahead: a hit on an entry near its expiry starts one background refresh (callers get
   * the entry at once and never wait for it), one per key across processes on stores with locks
   * (the same lock as a miss's). See `EagerRefreshOption`. Default: none.
   */
  eagerRefresh?: EagerRefreshOption;
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
