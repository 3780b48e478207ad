import { CacheConfigError } from '../errors/cache.errors.js';
import type { StoreConfig } from '../options/cache-options.interface.js';
import type { CacheStore, StoreObserver } from './cache-store.interface.js';
import type { Clock } from '../utils/clock.js';
import type { CacheLogger } from '../utils/error-reporter.js';
import { MemoryStore } from './memory.store.js';

/** True for a `CacheStore` instance (rather than a config object). */
export function isCacheStore(value: unknown): value is CacheStore {
  return typeof value === 'object' && value !== null && typeof (value as CacheStore).get === 'function' && typeof (value as CacheStore).getOrSet === 'function';
}

/**
 * Creates a store from its config. The Redis store is imported lazily, so an app on the
 * memory store never loads ioredis (an optional peer dependency).
 */
export async function createStore(config: StoreConfig, context: { clock: Clock; observer: StoreObserver; logger: CacheLogger | undefined }): Promise<CacheStore> {
  if (config === null || typeof config !== 'object') {
    throw new CacheConfigError('store', `expected a store config or a CacheStore, got ${config === null ? 'null' : typeof config}`, "pass { type: 'memory' }, { type: 'redis', url }, or a CacheStore instance");
  }
  const { type, ...options } = config;
  switch (type) {
    case 'memory':
      // The manager's clock wins: entries' expiresAt are computed with it, so the store's
      // retention must follow the same time. A user's observer is called alongside ours.
      return new MemoryStore({ ...options, clock: context.clock, observer: combineObservers(context.observer, (options as { observer?: StoreObserver }).observer) });
    case 'redis': {
      let mod: typeof import('./redis.store.js');
      try {
        mod = await import('./redis.store.js');
      } catch (err) {
        throw new CacheConfigError('store.type', "'redis' needs the ioredis package, which could not be loaded", 'npm install ioredis', { cause: err });
      }
      const userObserver = (options as { observer?: StoreObserver }).observer;
      return new mod.RedisStore({ logger: context.logger, ...options, observer: combineObservers(context.observer, userObserver) } as ConstructorParameters<typeof mod.RedisStore>[0]);
    }
    default:
      throw new CacheConfigError('store.type', `unknown store type ${JSON.stringify(type)}`, "use 'memory' or 'redis', or pass a CacheStore instance");
  }
}

/** Calls both observers; a throwing user observer never breaks the store's bookkeeping. */
export function combineObservers(ours: StoreObserver, theirs: StoreObserver | undefined): StoreObserver {
  if (theirs === undefined) return ours;
  return {
    evicted: (key) => {
      ours.evicted?.(key);
      try {
        theirs.evicted?.(key);
      } catch {
        // An observer must not throw; ignore it if it does.
      }
    },
    decodeFailed: (key, error) => {
      ours.decodeFailed?.(key, error);
      try {
        theirs.decodeFailed?.(key, error);
      } catch {
        // As above.
      }
    },
  };
}
