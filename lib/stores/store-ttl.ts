import { InvalidTtlError } from '../errors/cache.errors.js';

/** A store's `ttlMs`: 0 = no TTL, otherwise a positive finite number of milliseconds; returned as given. */
export function checkStoreTtl(ttlMs: number): number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < 0) throw new InvalidTtlError(ttlMs, 'ttlMs');
  return ttlMs;
}
