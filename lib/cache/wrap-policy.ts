import type { WrapOptions } from '../options/cache-options.interface.js';
import { eagerRefreshPolicy } from '../options/eager-refresh-option.js';
import { parseDuration } from '../utils/duration.js';
import type { ComputePolicy } from './compute-policy.js';

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
