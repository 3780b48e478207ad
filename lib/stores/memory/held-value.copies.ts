import { checkCacheable, copyCacheable } from '../../envelope/cacheable.js';
import type { Envelope } from '../../envelope/envelope.js';
import type { HeldEntry } from './held-entry.js';

/**
 * The value to hold for a write, after the checks every store applies: the caller's own if it is
 * a primitive (immutable), else a deep copy.
 */
export function heldValue(env: Envelope): unknown {
  const value = env.value;
  if (typeof value !== 'object' || value === null) {
    if (typeof value === 'function' || typeof value === 'symbol') checkCacheable(value);
    return value;
  }
  checkCacheable(value);
  return copyCacheable(value);
}

/**
 * What a read hands out: the held entry itself if its value is a primitive (its store-only fields
 * are private), else a plain envelope with a fresh copy of the value.
 */
export function handOut(env: HeldEntry): Envelope {
  const value = env.value;
  if (typeof value !== 'object' || value === null) return env;
  // Every field a held entry has (a spread would copy the same, more slowly).
  return { value: copyCacheable(value), createdAt: env.createdAt, expiresAt: env.expiresAt, staleUntil: env.staleUntil, tags: env.tags, http: env.http, stamp: env.stamp, scope: env.scope, computeMs: env.computeMs };
}
