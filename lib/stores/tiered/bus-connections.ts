import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import type { ResolvedRedisStoreOptions } from '../redis-store-options.js';
import { readKeyPrefix, setUpRedisClient } from '../redis/redis-client.factory.js';
import { busChannel } from './bus-message.js';

export { busChannel } from './bus-message.js';

/** Makes the subscriber's connections. */
export interface SubscriberConnector {
  /** Where it connects, for messages (never a password). */
  readonly address: string;
  /**
   * Whether a failed connection is replaced by one to the next known server (a Cluster: any node
   * hears every PUBLISH, and the failed one may be gone for good) rather than reconnecting itself.
   */
  readonly rotates: boolean;
  /** A new connection, not connected yet (`lazyConnect`), so listeners go on first. */
  connect(): Redis;
}

/** The connections of one instance's bus, on L2's server and settings. */
export interface BusConnections {
  /** Where PUBLISH goes: a client of the bus's own, or the `client` given for L2 (not owned). */
  readonly publisher: Redis | Cluster;
  readonly ownsPublisher: boolean;
  readonly channel: string;
  readonly subscriber: SubscriberConnector;
  /** Host and port of L2 for messages. */
  readonly address: string;
}

/** Same shape as the Redis store's reconnect backoff: quick first retries, never more than ~0.4 s apart. */
function backoff(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 10), 300) + Math.floor(Math.random() * 100);
}

/**
 * What a subscriber connection must be whatever the user's options say: connected once our
 * listeners are on, resubscribed by the bus itself on every `ready` (so it knows when it hears
 * the channel again), and nothing queued while it is down (the bus sends only when ready).
 */
const SUBSCRIBER_FORCED: RedisOptions = { lazyConnect: true, autoResubscribe: false, enableOfflineQueue: false };

/**
 * The publisher and the subscriber connector of the bus, from L2's connection: the same URL,
 * ioredis options (Sentinel included), Cluster nodes and node options, or a duplicate of the given
 * client's settings. Connections of its own, because a subscribed connection can do nothing else,
 * and the Redis store's client is its own business.
 */
export function setUpBusConnections(l2: ResolvedRedisStoreOptions, replyTimeoutMs: number): BusConnections {
  const { client: publisher, owned, address } = setUpRedisClient(l2.connection, l2);
  let channel: string;
  try {
    channel = busChannel(readKeyPrefix(publisher));
  } catch (err) {
    if (owned) publisher.disconnect();
    throw err;
  }
  // Defaults a subscriber needs (the L2 ones would end it: maxRetriesPerRequest 1 is for commands).
  const defaults: RedisOptions = { connectTimeout: l2.connectTimeout, retryStrategy: backoff, disconnectTimeout: replyTimeoutMs, connectionName: 'ntc-bus' };
  const connection = l2.connection as { url?: string; options?: RedisOptions; cluster?: { nodes: readonly ClusterNode[]; options?: { redisOptions?: RedisOptions } }; client?: Redis | Cluster };
  let subscriber: SubscriberConnector;
  if (connection.url !== undefined) {
    const url = connection.url;
    subscriber = { address, rotates: false, connect: () => new Redis(url, { ...defaults, ...SUBSCRIBER_FORCED }) };
  } else if (connection.options !== undefined) {
    const options = connection.options;
    const sentinel: RedisOptions = Array.isArray(options.sentinels) && options.sentinels.length > 0 ? { sentinelRetryStrategy: backoff, sentinelCommandTimeout: l2.commandTimeout } : {};
    subscriber = { address, rotates: false, connect: () => new Redis({ ...defaults, ...sentinel, ...options, ...SUBSCRIBER_FORCED }) };
  } else if (connection.cluster !== undefined) {
    subscriber = clusterConnector(publisher as Cluster, connection.cluster.nodes, { ...defaults, ...connection.cluster.options?.redisOptions }, address);
  } else if (publisher instanceof Cluster) {
    subscriber = clusterConnector(publisher, [], { ...defaults, ...publisher.options.redisOptions }, address);
  } else {
    const client = publisher;
    subscriber = { address, rotates: false, connect: () => client.duplicate({ ...defaults, ...SUBSCRIBER_FORCED }) };
  }
  return { publisher, ownsPublisher: owned, channel, subscriber, address };
}

/**
 * Subscribes on a plain connection to one Cluster node, then the next when it fails: a PUBLISH to
 * any node reaches the subscribers of every node. Not ioredis's Cluster `subscribe()`: its
 * subscriber connection tells nobody when it drops or resubscribes, and cannot be PINGed, so
 * the bus could not tell how stale L1 may be. Nodes are those the Cluster client knows now,
 * else the startup nodes.
 */
function clusterConnector(cluster: Cluster, startup: readonly ClusterNode[], nodeOptions: RedisOptions, address: string): SubscriberConnector {
  let next = Math.floor(Math.random() * 1024);
  const known = (): Array<{ host: string; port: number }> => {
    const live = cluster.nodes('all').map((node) => ({ host: node.options.host ?? '127.0.0.1', port: node.options.port ?? 6379 }));
    return live.length > 0 ? live : startup.map(nodeAddress);
  };
  return {
    address,
    rotates: true,
    connect: () => {
      const nodes = known();
      const node = nodes[next++ % Math.max(1, nodes.length)] ?? { host: '127.0.0.1', port: 6379 };
      // No reconnecting in place: a failed connection ends, and the next one goes to the next node.
      return new Redis({ ...nodeOptions, ...SUBSCRIBER_FORCED, host: node.host, port: node.port, retryStrategy: () => null });
    },
  };
}

/** A startup node as host and port (ioredis accepts a port, `host:port` or a URL). */
function nodeAddress(node: ClusterNode): { host: string; port: number } {
  if (typeof node === 'number') return { host: '127.0.0.1', port: node };
  if (typeof node === 'string') {
    const parsed = /^(?:rediss?:\/\/)?(?:[^@/]*@)?([^:/]+)(?::(\d+))?/.exec(node);
    return { host: parsed?.[1] ?? '127.0.0.1', port: Number(parsed?.[2] ?? 6379) };
  }
  return { host: node.host ?? '127.0.0.1', port: node.port ?? 6379 };
}
