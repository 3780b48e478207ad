import type { Duration } from '../utils/duration.js';
import type { MemoryStoreOptions } from './memory-store-options.interface.js';
import type { RedisStoreOptions } from './redis-store-options.interface.js';

/**
 * Options of the tiered store (`store: { type: 'tiered', l1, l2, … }`): an in-process memory
 * store (L1) in front of Redis (L2), kept coherent across instances by an invalidation bus on
 * Redis pub/sub. Every option is checked at start-up; an error names its path
 * (`store.l1.maxEntries`, `store.bus.maxStaleness`).
 */
export interface TieredStoreOptions {
  /**
   * The in-process tier: the options of the memory store (`{ type: 'memory' }`), with the same
   * defaults, per-tenant share included (`maxTenantShare`, 0.25 of its entries and bytes by
   * default). Size it for the hot set of one instance: every instance holds its own.
   * @default {} (4096 entries, 64 MiB, `maxTenantShare` 0.25: `MEMORY_STORE_DEFAULTS`)
   */
  readonly l1?: MemoryStoreOptions;
  /**
   * The shared tier: the options of the Redis store, exactly as for `{ type: 'redis' }` (one way
   * to connect — `url`, `options` (Sentinel too), `cluster` or `client` — plus its timeouts and
   * codec). It sits behind the cache's circuit breaker; L1 does not. The invalidation bus uses
   * the same server and connection settings on connections of its own.
   */
  readonly l2: RedisStoreOptions;
  /**
   * When a computation's write (from `wrap()`, `@Cached()`, a cached method: a write that carries
   * the basis of its computation) resolves:
   * - `'await'`: once Redis has taken it (and the other instances were told), as on a Redis store;
   * - `'background'`: once L1 holds it; Redis is written meanwhile. A write Redis then refuses or
   *   fails is taken out of L1 again (never served as if stored), counted in `stats().errors`
   *   and logged once per burst. The response no longer waits for Redis; other instances read
   *   the entry once it is there.
   * Other writes (`set`, `getOrSet`, `compareAndSet`, `delete`, invalidations) always wait for Redis.
   * @default TIERED_STORE_DEFAULTS.l2Writes: 'await'
   */
  readonly l2Writes?: 'await' | 'background';
  /** The invalidation bus (Redis pub/sub on `<keyPrefix>ntc:bus`). */
  readonly bus?: TieredBusOptions;
}

export interface TieredBusOptions {
  /**
   * The longest an L1 entry is served after the bus stopped confirming that this instance hears
   * every change, in milliseconds or as a duration string (at least 100 ms). The bus is confirmed
   * by its subscription and by a PING on the subscriber connection every quarter of this (a
   * silent network drop shows nowhere else); a PING unanswered within half of it, or the
   * connection closing, makes the bus down. Then what L1 holds is served until this long after
   * the last confirmation and dropped, and entries read from Redis meanwhile live at most this
   * long; once the bus is subscribed again L1 is dropped once more (changes missed meanwhile are
   * unknown) and entries live their full TTL again.
   *
   * It is also how long L1 hits outlive Redis: with Redis stopped the bus is down too, so L1
   * serves what it holds for at most this long, then the app runs without the cache, as on the
   * Redis store (raise it to fail open longer, at the price of serving that stale in a partition).
   *
   * Why 1 s: the library recovers within a second from every other fault, and a second of
   * staleness after a failure is below the TTLs caches are given; the heartbeat it implies (4
   * PINGs a second on an idle connection) costs nothing, and its 500 ms reply deadline (the
   * Redis `commandTimeout` default) is hundreds of times a PING's round trip, so a loaded host
   * does not flap.
   * @default TIERED_STORE_DEFAULTS.bus.maxStaleness: 1000 (ms)
   */
  readonly maxStaleness?: Duration;
}
