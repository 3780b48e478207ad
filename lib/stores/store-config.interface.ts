import type { MemoryStoreOptions } from './memory-store-options.interface.js';
import type { RedisStoreOptions } from './redis-store-options.interface.js';
import type { TieredStoreOptions } from './tiered-store-options.interface.js';

/** The embedded in-process store. */
export interface MemoryStoreConfig extends MemoryStoreOptions {
  type: 'memory';
}

/** A Redis (standalone, Sentinel or Cluster) store through ioredis. Requires the `ioredis` package. */
export type RedisStoreConfig = RedisStoreOptions & { type: 'redis' };

/**
 * A memory store (L1) in front of Redis (L2), coherent across instances through an
 * invalidation bus on Redis pub/sub. Requires the `ioredis` package.
 */
export interface TieredStoreConfig extends TieredStoreOptions {
  type: 'tiered';
}

/** A store described by its options; the cache builds it (`store`, `CacheManager.create`). */
export type StoreConfig = MemoryStoreConfig | RedisStoreConfig | TieredStoreConfig;
