import { CacheConfigError } from '../errors/cache.errors.js';
import type { EagerRefreshOption } from './cache-options.interface.js';

/**
 * When a hit starts a background refresh of its entry: `threshold` (a fraction of the entry's
 * TTL: refresh once that much of it has passed) or `beta` (XFetch, Vattani et al., VLDB 2015:
 * refresh when `now - delta * beta * ln(random()) >= expiresAt`, `delta` the last computation's
 * duration). One refresh per key at a time, across processes on stores with locks.
 */
export type EagerRefreshPolicy = { readonly threshold: number; readonly beta?: undefined } | { readonly beta: number; readonly threshold?: undefined };

/** Checks `eagerRefresh` (`option`: its path in errors): a threshold 0 < t < 1, or `{ beta }` with beta > 0. */
export function eagerRefreshPolicy(option: EagerRefreshOption | undefined, path: string): EagerRefreshPolicy | undefined {
  if (option === undefined) return undefined;
  if (typeof option === 'number') {
    if (option > 0 && option < 1) return { threshold: option };
    throw new CacheConfigError(path, `expected a fraction of the TTL, 0 < threshold < 1, got ${option}`, 'use e.g. 0.8 to refresh in the last 20% of the TTL, or { beta: 1 } for XFetch');
  }
  const beta = typeof option === 'object' && option !== null ? (option as { beta?: unknown }).beta : undefined;
  if (typeof beta === 'number' && beta > 0 && Number.isFinite(beta)) return { beta };
  throw new CacheConfigError(path, 'expected a fraction of the TTL or { beta: a positive number }', 'use e.g. 0.8 (refresh in the last 20% of the TTL) or { beta: 1 } (XFetch)');
}
