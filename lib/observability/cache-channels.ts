import { channel } from 'node:diagnostics_channel';

/**
 * `node:diagnostics_channel` names the cache publishes on. Subscribing costs nothing when
 * nobody listens (publishers check `hasSubscribers` first).
 *
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel';
 * subscribe(CACHE_CHANNELS.error, (event) => console.log(event)); // { tenant, op, keyHash, code }
 * ```
 * Events carry the tenant id (or `null` for the global scope), never keys or values; `keyHash`
 * is the same short hash the logs use.
 */
export const CACHE_CHANNELS = Object.freeze({
  hit: 'nestjs-tenant-cache:hit',
  miss: 'nestjs-tenant-cache:miss',
  staleServed: 'nestjs-tenant-cache:stale',
  bypass: 'nestjs-tenant-cache:bypass',
  put: 'nestjs-tenant-cache:put',
  eviction: 'nestjs-tenant-cache:eviction',
  error: 'nestjs-tenant-cache:error',
  stampedeWait: 'nestjs-tenant-cache:stampede-wait',
  circuit: 'nestjs-tenant-cache:circuit',
});

export type CacheEventKind = keyof typeof CACHE_CHANNELS;

/** What every event carries. */
export interface CacheEvent {
  readonly tenant: string | null;
  /** The operation (`get`, `set`, `wrap`, `http`, …). */
  readonly op?: string;
  /** Error code, for `error` events. */
  readonly code?: string;
  /** Short hash of the storage key, when there is one. */
  readonly keyHash?: string;
  /** Why a request bypassed the cache, for `bypass` events. */
  readonly reason?: string;
  /** The new circuit state, for `circuit` events. */
  readonly state?: string;
}

export const cacheChannels = {
  hit: channel(CACHE_CHANNELS.hit),
  miss: channel(CACHE_CHANNELS.miss),
  staleServed: channel(CACHE_CHANNELS.staleServed),
  bypass: channel(CACHE_CHANNELS.bypass),
  put: channel(CACHE_CHANNELS.put),
  eviction: channel(CACHE_CHANNELS.eviction),
  error: channel(CACHE_CHANNELS.error),
  stampedeWait: channel(CACHE_CHANNELS.stampedeWait),
  circuit: channel(CACHE_CHANNELS.circuit),
} as const;
