import { CacheConfigError } from '../errors/cache.errors.js';
import type { EagerRefreshOption, WrapOptions } from '../options/cache-options.interface.js';
import { parseDuration } from '../utils/duration.js';
import type { ComputePolicy, EagerRefreshPolicy } from './compute-policy.js';

/** How long the cross-process lock is held at most, and how long other processes wait for its entry. */
export const DEFAULT_LOCK_TTL_MS = 5_000;

/** The compute policy of `wrap()` (and of the faces built on it) from its options. */
export function wrapPolicy(options: WrapOptions | undefined): ComputePolicy {
  const staleIfError = options?.staleIfError !== false;
  return {
    ttl: options?.ttl,
    grace: options?.grace,
    tags: options?.tags,
    ttlJitter: options?.ttlJitter,
    staleWhileRevalidate: options?.staleWhileRevalidate === true ? 'all' : 'none',
    staleIfError: () => staleIfError,
    softTimeoutMs: options?.softTimeout === undefined ? undefined : parseDuration(options.softTimeout, 'softTimeout'),
    hardTimeoutMs: options?.hardTimeout === undefined ? undefined : parseDuration(options.hardTimeout, 'hardTimeout'),
    lock: options?.lock !== false,
    lockTtlMs: options?.lockTtl === undefined ? DEFAULT_LOCK_TTL_MS : Math.max(1, parseDuration(options.lockTtl, 'lockTtl')),
    shareUnstored: true,
    isAbandoned: () => false,
    awaitWrite: true,
    forceFresh: options?.forceFresh === true,
    eagerRefresh: eagerRefreshPolicy(options?.eagerRefresh, 'eagerRefresh'),
  };
}

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
