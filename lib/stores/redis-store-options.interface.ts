import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import type { Codec } from '../envelope/codecs/codec.interface.js';
import type { DecodeLimits } from '../envelope/decode-limits.js';
import type { ByteSize } from '../utils/byte-size.js';
import type { CacheLogger, ErrorReporter } from '../utils/error-reporter.js';
import type { StoreObserver } from './cache-store.interface.js';

/** The `limits` option: `DecodeLimits`, with the payload bound also as a size string (`'1mb'`). */
export type DecodeLimitOptions = Partial<Omit<DecodeLimits, 'maxPayloadBytes'>> & { readonly maxPayloadBytes?: ByteSize };

/** Connect to one Redis server by URL (`redis://[user:pass@]host:port[/db]`, `rediss://` for TLS). */
export interface RedisUrlConnection {
  readonly url: string;
}

/**
 * Connect with ioredis options. Our cache defaults (see `RedisStoreOptions`) are applied first,
 * so anything set here wins over them.
 *
 * Sentinel: `{ sentinels: [{ host, port }, …], name: 'mymaster' }` (plus `sentinelPassword`,
 * `role` and the other ioredis Sentinel options). The client asks the sentinels for the primary at
 * every reconnect attempt (at most ~0.4 s apart, so a new primary is used within that of the
 * sentinels naming it), asks them again as quickly when none answers (`sentinelRetryStrategy`)
 * and bounds each question by `commandTimeout` (`sentinelCommandTimeout`). ioredis's
 * `failoverDetector` is left off: in ioredis 6.0.0 a +switch-master arriving between two
 * reconnect attempts ends the client for good.
 */
export interface RedisOptionsConnection {
  readonly options: RedisOptions;
}

/**
 * Connect to a Redis Cluster. `options.redisOptions` apply to each node connection. Defaults
 * here: the slot map refreshed every second (ioredis `slotsRefreshInterval`: 1000 ms) and each
 * refresh asking a node for at most `min(connectTimeout, commandTimeout)` (`slotsRefreshTimeout`;
 * `options.slotsRefreshTimeout` overrides it), so a promoted replica is used within about a
 * second; the store also refreshes it when a call finds
 * its node unreachable or silent. Run the servers with `cluster-require-full-coverage no`, or
 * Redis refuses every key (CLUSTERDOWN) while one primary is failed and not yet replaced.
 */
export interface RedisClusterConnection {
  readonly cluster: { readonly nodes: readonly ClusterNode[]; readonly options?: ClusterOptions };
}

/**
 * Use an existing ioredis client. The store does not own it: `close()` leaves it connected
 * (quit it yourself), and none of our connection defaults (timeouts, offline queue, retries)
 * are applied to it — configure them on the client. The store adds an `error` listener while
 * it is open and removes it on `close()`.
 */
export interface RedisClientConnection {
  readonly client: Redis | Cluster;
}

export type RedisConnection = RedisUrlConnection | RedisOptionsConnection | RedisClusterConnection | RedisClientConnection;

interface RedisStoreCommonOptions {
  /**
   * How entries are encoded. Both built-in codecs carry every cacheable value exactly (Date,
   * Map, Set, BigInt, Buffer, typed arrays, undefined, -0, NaN included): `'json'` stays
   * readable in redis-cli (plain data is plain JSON), `'cbor'` is more compact for binary data.
   * Reads accept both built-in codecs whatever this says, so switching codecs does not lose
   * entries. A custom `Codec` needs an `id` other than `'j'` and `'c'`.
   * @default REDIS_STORE_DEFAULTS.codec: 'json'
   */
  readonly codec?: 'json' | 'cbor' | Codec;
  /**
   * Bounds on decoding stored bytes (depth, array length, map pairs) and on the encoded entry
   * size, in bytes, on write and read; each limit given replaces its default. Unknown names are
   * refused.
   * `maxPayloadBytes` takes bytes or a size string such as `'1mb'` (`ByteSize`).
   * @default DEFAULT_DECODE_LIMITS (16 levels, 10,000 elements, 10,000 pairs, 1 MiB)
   */
  readonly limits?: DecodeLimitOptions;
  /**
   * Longest time from issuing a call (or a health check) to its settling, in milliseconds,
   * whatever it waited for: the first connection, other commands ahead of it, the reply. Then
   * it rejects with `CacheTimeoutError` (or `CacheConnectionError` if there was no connection
   * yet) and the caller serves a miss. Applied to every call of the store; ioredis's own
   * `commandTimeout` (which starts when a command is written) is also set on clients the store
   * creates. A positive integer.
   * @default REDIS_STORE_DEFAULTS.commandTimeout: 500 (ms)
   */
  readonly commandTimeout?: number;
  /**
   * How much earlier than the command timeout Redis stops applying a write, in milliseconds.
   * Every write, delete, tag invalidation, clear batch and lock the store sends carries a
   * deadline — this host's clock when it is issued + the client's `commandTimeout` − this
   * margin — that Redis checks against its own clock (`TIME`) before it applies anything, so a
   * write reported failed because it timed out is never applied later (a paused or overloaded
   * Redis running it once it resumes). The margin must cover how far the clocks of the app hosts
   * and Redis may differ, plus the way back of a reply; keep them NTP-synced within it. A Redis
   * clock further behind than this is caught: writes fail (`CacheOperationError`, cause
   * `NTC_CLOCK`) instead of landing late. A positive integer below the client's
   * `commandTimeout`; also applied to a `client` of your own that has a `commandTimeout`.
   * @default REDIS_STORE_DEFAULTS.writeDeadlineMargin: 100 (ms)
   */
  readonly writeDeadlineMargin?: number;
  /**
   * Longest wait for a TCP connection, in milliseconds. Connecting happens in the background:
   * calls never wait this long (at most `commandTimeout`). Only applied to clients the store
   * creates. A positive integer.
   * @default REDIS_STORE_DEFAULTS.connectTimeout: 2000 (ms)
   */
  readonly connectTimeout?: number;
  /**
   * Longest wait for a graceful `QUIT` in `close()` before the connection is dropped, in
   * milliseconds. A positive integer.
   * @default REDIS_STORE_DEFAULTS.closeTimeout: 1000 (ms)
   */
  readonly closeTimeout?: number;
  /**
   * Where the store logs what no caller is told: the connection failing (the client's `error`
   * events), once per burst, and a failed delete of an undecodable entry. Failed calls are not
   * logged here: they reject, and the caller (the cache, which logs them once per burst)
   * decides. `false` silences the store. Inside a `CacheManager` the store uses the manager's
   * logger unless this (or `reporter`) is given, also when you pass the store instance
   * yourself (`store: new RedisStore(...)`, a dedicated tenant store).
   * @default a console logger prefixed `[nestjs-tenant-cache]`
   */
  readonly logger?: CacheLogger | false;
  /**
   * Share an `ErrorReporter` (one burst window for every failure of a cache); overrides
   * `logger`. A `CacheManager` passes its own to the stores it builds.
   * @default one per store, on `logger`
   */
  readonly reporter?: ErrorReporter;
  /**
   * Told about entries that failed to decode (they are deleted and read as misses).
   * @default undefined
   */
  readonly observer?: StoreObserver;
}

/** Options of `RedisStore`: one way to connect, plus the common options. */
export type RedisStoreOptions = RedisConnection & RedisStoreCommonOptions;
