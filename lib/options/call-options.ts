import { CacheConfigError, InvalidTtlError } from '../errors/cache.errors.js';
import { kindOf } from '../utils/option-checks.js';
import { jitterFraction } from './manager-options.js';

/** The `TenantCache` methods whose last argument is an options object, and how each is called. */
const CALL_SHAPES = {
  set: 'set(key, value, OPTIONS)',
  getOrSet: 'getOrSet(key, value, OPTIONS)',
  compareAndSet: 'compareAndSet(key, expected, next, OPTIONS)',
  wrap: 'wrap(key, factory, OPTIONS)',
} as const;

export type CallOptionsMethod = keyof typeof CALL_SHAPES;

/**
 * Checks the options argument of a `TenantCache` call: an object or `undefined`, returned as
 * is. A TTL passed in its place (`set(k, v, 100)`, `wrap(k, f, '5m')`, as cache-manager takes
 * it) throws `InvalidTtlError` showing the call with `{ ttl: … }`, instead of being ignored
 * (which would silently store with the default TTL). Anything else that is not an object
 * throws `CacheConfigError`. Cheap enough for every call: one `typeof` on the usual path.
 */
export function assertCallOptions<O extends object>(options: O | undefined, method: CallOptionsMethod): O | undefined {
  if (options === undefined) return options;
  if (typeof options === 'object' && options !== null && !Array.isArray(options)) {
    // Checked here, naming the call, rather than when the entry is built (a wrap() would only report it).
    const jitter = (options as { ttlJitter?: unknown }).ttlJitter;
    if (jitter !== undefined) jitterFraction(jitter, `${method}.ttlJitter`);
    return options;
  }
  const value: unknown = options;
  const shape = CALL_SHAPES[method];
  if (typeof value === 'number' || typeof value === 'string') {
    const ttl = typeof value === 'number' ? String(value) : JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    throw new InvalidTtlError(
      value,
      `options of ${method}()`,
      `A TTL goes in the options object: ${shape.replace('OPTIONS', `{ ttl: ${ttl} }`)}. A number is milliseconds (as in cache-manager v5+; v4 took seconds), or use a duration string such as '5m'.`,
    );
  }
  throw new CacheConfigError(`options of ${method}()`, `expected an options object, got ${kindOf(value)}`, `pass ${shape.replace('OPTIONS', "{ ttl: '5m' }")}, or omit the options`);
}
