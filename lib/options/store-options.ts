import { CacheConfigError } from '../errors/cache.errors.js';
import type { CacheStore } from '../stores/cache-store.interface.js';
import { resolveMemoryStoreOptions } from '../stores/memory-store-options.js';
import { resolveRedisStoreOptions } from '../stores/redis-store-options.js';
import { isCacheStore } from '../stores/store.factory.js';
import { resolveTieredStoreOptions } from '../stores/tiered-store-options.js';
import type { TieredStoreOptions } from '../stores/tiered-store-options.interface.js';
import type { RedisStoreOptions } from '../stores/redis-store-options.interface.js';
import { closestName, kindOf } from '../utils/option-checks.js';
import type { StoreConfig } from '../stores/store-config.interface.js';

const STORE_TYPES = ['memory', 'redis', 'tiered'] as const;

const REDIS_HOWTO = "configure Redis here with store: { type: 'redis', url: 'redis://localhost:6379' } (needs the ioredis package)";

/**
 * Checks a `store` option: a `CacheStore` instance passes as it is (its own constructor checked
 * it); a config is checked for its type (per type: unknown keys, types, bounds), every error a
 * `CacheConfigError` naming the path as written (`store.maxEntries`). Returns a copy of the config
 * (the caller's object is never mutated), or the instance.
 */
export function resolveStoreOption(value: unknown, path = 'store'): CacheStore | StoreConfig {
  if (isCacheStore(value)) return value;
  if (typeof value === 'function') {
    throw new CacheConfigError(path, 'a function (such as a cache-manager store factory like redisStore) is not a store here', `${REDIS_HOWTO}; { type: 'memory' } for the in-process store; or pass a CacheStore instance`);
  }
  if (typeof value === 'string') {
    const type = closestName(value, STORE_TYPES);
    throw new CacheConfigError(path, `expected a store config object, got ${kindOf(value)}`, type !== undefined ? `write store: { type: '${type}' }` : "write store: { type: 'memory' } or store: { type: 'redis', url }");
  }
  if (Array.isArray(value)) {
    throw new CacheConfigError(path, 'expected one store config, got an array', `use one store: ${REDIS_HOWTO}, or { type: 'memory' }`);
  }
  if (value === null || typeof value !== 'object') {
    throw new CacheConfigError(path, `expected a store config or a CacheStore, got ${kindOf(value)}`, "pass { type: 'memory' }, { type: 'redis', url }, or a CacheStore instance");
  }
  const { type, ...options } = value as { type?: unknown } & Record<string, unknown>;
  if (type === undefined) {
    // A Keyv or cache-manager store object has get/set but is no CacheStore.
    const looksLikeStore = typeof (value as { get?: unknown }).get === 'function';
    throw new CacheConfigError(
      `${path}.type`,
      looksLikeStore ? 'this object has get() but is not a CacheStore (a Keyv or cache-manager store?)' : 'missing',
      looksLikeStore ? `${REDIS_HOWTO}, or implement CacheStore` : "add type: 'memory', type: 'redis' or type: 'tiered'",
    );
  }
  if (type === 'memory') {
    resolveMemoryStoreOptions(options, `${path}.`);
    return { type, ...options };
  }
  if (type === 'redis') {
    resolveRedisStoreOptions(options as unknown as RedisStoreOptions, `${path}.`);
    return { type, ...options } as unknown as StoreConfig;
  }
  if (type === 'tiered') {
    resolveTieredStoreOptions(options as unknown as TieredStoreOptions, `${path}.`);
    return { type, ...options } as unknown as StoreConfig;
  }
  const near = typeof type === 'string' ? closestName(type, STORE_TYPES) : undefined;
  throw new CacheConfigError(`${path}.type`, `unknown store type ${typeof type === 'string' ? JSON.stringify(type) : kindOf(type)}`, near !== undefined ? `did you mean '${near}'?` : "use 'memory', 'redis' or 'tiered', or pass a CacheStore instance");
}
