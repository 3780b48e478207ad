import { describe, expect, it } from 'vitest';
import { CacheConfigError, InvalidTtlError } from '../../lib/errors/cache.errors.js';
import { assertCallOptions } from '../../lib/options/call-options.js';

describe('assertCallOptions', () => {
  it('returns an options object (or undefined) as it is', () => {
    const options = { ttl: 100 };
    expect(assertCallOptions(options, 'set')).toBe(options);
    expect(assertCallOptions(undefined, 'wrap')).toBeUndefined();
  });

  it('a number where the options belong (set(k, v, 100), as cache-manager takes it) is an InvalidTtlError showing { ttl: 100 }', () => {
    let err: unknown;
    try {
      assertCallOptions(100 as never, 'set');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidTtlError);
    expect((err as InvalidTtlError).received).toBe(100);
    expect((err as Error).message).toBe(
      "Invalid options of set(): 100. A TTL goes in the options object: set(key, value, { ttl: 100 }). A number is milliseconds (as in cache-manager v5+; v4 took seconds), or use a duration string such as '5m'.",
    );
  });

  it.each([
    ['wrap', 'wrap(key, factory, { ttl: 100 })'],
    ['getOrSet', 'getOrSet(key, value, { ttl: 100 })'],
    ['compareAndSet', 'compareAndSet(key, expected, next, { ttl: 100 })'],
  ] as const)('names the call shape of %s()', (method, shape) => {
    expect(() => assertCallOptions(100 as never, method)).toThrow(shape);
  });

  it("a duration string in that place too: wrap(k, f, '5m')", () => {
    expect(() => assertCallOptions('5m' as never, 'wrap')).toThrow(InvalidTtlError);
    expect(() => assertCallOptions('5m' as never, 'wrap')).toThrow(`wrap(key, factory, { ttl: "5m" })`);
  });

  it.each([null, true, [100], () => 100])('anything else that is no object (%s) is a CacheConfigError naming the call', (value) => {
    expect(() => assertCallOptions(value as never, 'set')).toThrow(CacheConfigError);
    expect(() => assertCallOptions(value as never, 'set')).toThrow(/Invalid option "options of set\(\)": expected an options object/);
  });
});
