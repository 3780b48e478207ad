import { checkCacheable, copyCacheable } from '../../envelope/cacheable.js';
import type { Envelope } from '../../envelope/envelope.js';

/**
 * The envelope to hold for a write: the caller's own if its value is a primitive (immutable),
 * else a copy with a deep copy of the value, after the checks every store applies.
 */
export function toHold(env: Envelope): Envelope {
  const value = env.value;
  if (typeof value !== 'object' || value === null) {
    if (typeof value === 'function' || typeof value === 'symbol') checkCacheable(value);
    return env;
  }
  checkCacheable(value);
  return { ...env, value: copyCacheable(value) };
}

/** What a read hands out: the held envelope if its value is a primitive, else one with a fresh copy of the value. */
export function handOut(env: Envelope): Envelope {
  const value = env.value;
  return typeof value !== 'object' || value === null ? env : { ...env, value: copyCacheable(value) };
}
