import type { StoreBasis } from '../cache-store.interface.js';
import { checkStoreTtl } from '../store-ttl.js';

/** A Redis store's basis: the scope's clock, and the Redis time (ms) it was read at. */
export interface RedisBasis {
  readonly clock: number;
  readonly at: number;
}

/** The value of a basis a Redis store made, or undefined for none or another store's. */
export function redisBasis(basis: StoreBasis | undefined): RedisBasis | undefined {
  if (basis === undefined || basis.store !== 'redis' || basis.value === null || typeof basis.value !== 'object') return undefined;
  const { clock, at } = basis.value as Partial<RedisBasis>;
  return Number.isSafeInteger(clock) && clock! >= 0 && Number.isSafeInteger(at) ? { clock: clock!, at: at! } : undefined;
}

/** Redis takes whole milliseconds: a fractional TTL is rounded up, never down to "no expiry". */
export function checkTtl(ttlMs: number): number {
  return Math.ceil(checkStoreTtl(ttlMs));
}
