import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import { CacheConfigError } from '../../errors/cache.errors.js';
import type {
  RedisClientConnection,
  RedisClusterConnection,
  RedisConnection,
  RedisOptionsConnection,
  RedisUrlConnection,
} from '../redis-store-options.interface.js';

/** The client a `RedisStore` talks to, and what the store needs to know about it. */
export interface RedisClientSetup {
  readonly client: Redis | Cluster;
  /** Whether the store created the client (and so quits it on close). */
  readonly owned: boolean;
  /** Host and port (or socket path, or the first cluster nodes) for messages; never a password. */
  readonly address: string;
  /** The client's ioredis `keyPrefix` ('' if none), checked usable. */
  readonly keyPrefix: string;
}

/** How often a Cluster client refreshes its slot map anyway, in milliseconds (ioredis `slotsRefreshInterval`). */
const SLOTS_REFRESH_INTERVAL_MS = 1_000;

/** The longest wait between two reconnect attempts, before jitter, in milliseconds. */
const MAX_RECONNECT_DELAY_MS = 300;
/** The jitter added to each reconnect delay: under this many milliseconds. */
const RECONNECT_JITTER_MS = 100;
/** The longest wait between two reconnect attempts, jitter included (what recovery bounds are made of). */
export const MAX_RECONNECT_SPACING_MS = MAX_RECONNECT_DELAY_MS + RECONNECT_JITTER_MS;

/**
 * Capped exponential backoff with jitter: quick first retries, never more than ~0.4 s apart.
 * The cap is low because the cache promises hits within a second of Redis being back, and a
 * client still waiting out a 2 s backoff cannot give them; a refused connect costs nothing.
 */
function cappedBackoff(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 10), MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * RECONNECT_JITTER_MS);
}

/**
 * Commands ioredis writes at once instead of auto-pipelining them: our gets are batched already
 * (RedisGetBatcher), and a health PING must not wait behind a stuck pipeline (ioredis sends one
 * auto-pipeline at a time) to tell whether the server answers.
 */
const NOT_AUTO_PIPELINED = ['mget', 'ping'];

/**
 * Creates the client for a `url`, `options` or `cluster` connection, with cache defaults (see
 * `nodeDefaults`), or takes the given `client` as it is. Throws `CacheConfigError` for a client
 * that is not ioredis's or a key prefix the store cannot use.
 */
export function setUpRedisClient(connection: RedisConnection, timeouts: { readonly commandTimeout: number; readonly connectTimeout: number }): RedisClientSetup {
  // Loosely typed: the union was checked (exactly one way to connect) by the resolver.
  const opts = connection as Partial<RedisUrlConnection & RedisOptionsConnection & RedisClusterConnection & RedisClientConnection>;
  const { commandTimeout, connectTimeout } = timeouts;
  const nodeDefaults: RedisOptions = {
    commandTimeout, // a cache answers fast or not at all: a slow Redis must not slow every request
    connectTimeout, // bound the TCP connect so a black-holed host fails fast
    enableOfflineQueue: false, // no unbounded queue while disconnected: commands fail fast and the cache serves misses
    maxRetriesPerRequest: 1, // a cache read is not worth many reconnect attempts; fail and move on
    autoResendUnfulfilledCommands: false, // a timed-out write must never run again (late) after a reconnect
    enableAutoPipelining: true, // batches concurrent commands into one round trip
    autoPipeliningIgnoredCommands: NOT_AUTO_PIPELINED, // sent at once (see NOT_AUTO_PIPELINED)
    retryStrategy: cappedBackoff, // keep reconnecting forever, at most ~0.4 s apart
  };

  let client: Redis | Cluster;
  let owned = true;
  if (opts.url !== undefined) {
    client = new Redis(opts.url, nodeDefaults);
  } else if (opts.options !== undefined) {
    // With Sentinel: ask the sentinels again as quickly as we reconnect (a new primary is found
    // at the next attempt, at most ~0.4 s after the sentinels name it), each question bounded.
    // Not ioredis's `failoverDetector`: a +switch-master arriving while the client is between
    // attempts ends the client for good (ioredis 6.0.0; seen in the Sentinel fault test).
    const sentinel: RedisOptions = Array.isArray(opts.options.sentinels) && opts.options.sentinels.length > 0 ? { sentinelRetryStrategy: cappedBackoff, sentinelCommandTimeout: commandTimeout } : {};
    client = new Redis({ ...nodeDefaults, ...sentinel, ...opts.options });
  } else if (opts.cluster !== undefined) {
    const { nodes, options: clusterOptions } = opts.cluster;
    const { enableOfflineQueue: _q, enableAutoPipelining: _p, retryStrategy: _r, ...perNode } = nodeDefaults;
    const merged: ClusterOptions = {
      enableOfflineQueue: false, // see nodeDefaults: fail fast while the cluster is not ready
      enableAutoPipelining: true, // batches concurrent commands per node
      autoPipeliningIgnoredCommands: NOT_AUTO_PIPELINED, // see nodeDefaults
      clusterRetryStrategy: cappedBackoff, // capped backoff when no startup node answers
      // A refresh asks one node after another (each on a new connection: connect, TLS, AUTH
      // included), and a hung one costs this long before the next is asked: no longer than a
      // call may take. Not shorter: a healthy node on a slow link must not be skipped, and a
      // refresh in which every node is skipped fails (at start-up, the client never gets ready).
      slotsRefreshTimeout: Math.min(connectTimeout, commandTimeout),
      // ioredis refreshes on MOVED, not when a node stops answering; the store refreshes on such
      // failures itself (ClusterRoutes), and this catches a promotion nobody failed on.
      slotsRefreshInterval: SLOTS_REFRESH_INTERVAL_MS,
      ...clusterOptions,
      redisOptions: { ...perNode, ...clusterOptions?.redisOptions },
    };
    client = new Cluster([...nodes], merged);
  } else {
    client = opts.client as Redis | Cluster;
    if (!(client instanceof Redis) && !(client instanceof Cluster)) {
      throw new CacheConfigError('client', 'it is not an ioredis Redis or Cluster instance', 'pass a client created with new Redis(...) or new Cluster(...) from ioredis');
    }
    owned = false;
  }
  const address = describeAddress(client, opts.url);
  let keyPrefix: string;
  try {
    keyPrefix = readKeyPrefix(client);
  } catch (err) {
    // Refused after connecting: do not leave our client reconnecting in the background.
    if (owned) client.disconnect();
    throw err;
  }
  return { client, owned, address, keyPrefix };
}

/** The client's (or a cluster node's) ioredis `keyPrefix`, '' if none; throws for one the store cannot use. */
export function readKeyPrefix(client: Redis | Cluster): string {
  const prefix: unknown = (client.options as { keyPrefix?: unknown }).keyPrefix;
  if (prefix === undefined || prefix === null || prefix === '') return '';
  if (typeof prefix !== 'string') throw new CacheConfigError('keyPrefix', 'a Buffer key prefix is not supported', 'use a string keyPrefix');
  // The first {...} of a key is its Cluster hash tag; a brace in the prefix would take over the
  // tenant's tag and split one tenant's keys over slots (scripts would fail with CROSSSLOT).
  if (/[{}]/.test(prefix)) throw new CacheConfigError('keyPrefix', `${JSON.stringify(prefix)} contains a brace`, 'use a prefix without { or }, e.g. "myapp:"');
  return prefix;
}

function describeAddress(client: Redis | Cluster, url: string | undefined): string {
  // Host and port only: URLs and options may carry passwords.
  if (client instanceof Cluster) {
    const nodes = (client as unknown as { startupNodes?: Array<{ host?: string; port?: number } | string | number> }).startupNodes ?? [];
    const shown = nodes.slice(0, 3).map((n) => (typeof n === 'object' ? `${n.host ?? 'localhost'}:${n.port ?? 6379}` : String(n)));
    return `cluster ${shown.join(',')}${nodes.length > 3 ? ',…' : ''}`;
  }
  if (url !== undefined) {
    try {
      const parsed = new URL(url);
      return `${parsed.hostname}:${parsed.port || '6379'}`;
    } catch {
      // fall through to the client's parsed options
    }
  }
  const options = client.options as { host?: string; port?: number; path?: string; sentinels?: Array<{ host?: string; port?: number }> | null; name?: string };
  // ioredis's default is `sentinels: null`.
  if (Array.isArray(options.sentinels) && options.sentinels.length > 0) {
    const shown = options.sentinels.slice(0, 3).map((n) => `${n.host ?? 'localhost'}:${n.port ?? 26379}`);
    return `sentinel '${options.name ?? 'mymaster'}' via ${shown.join(',')}${options.sentinels.length > 3 ? ',…' : ''}`;
  }
  return options.path ? options.path : `${options.host ?? 'localhost'}:${options.port ?? 6379}`;
}
