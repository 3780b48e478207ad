import { describe, expect, it } from 'vitest';
import { InvalidTtlError } from '../../lib/errors/cache.errors.js';
import { parseDuration } from '../../lib/utils/duration.js';

describe('parseDuration', () => {
  it.each([
    [0, 0],
    [1500, 1500],
    [12.9, 12],
    ['0', 0],
    ['250', 250],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1w', 604_800_000],
    ['1h30m', 5_400_000],
    ['1m 5s', 65_000],
    ['1.5s', 1500],
    [' 2M ', 120_000],
  ] as const)('%j -> %d ms', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY, '', '  ', '-5s', '5 minutes', '5x', 's', '1e3', '5m!', 101 * 365 * 86_400_000])('rejects %j with InvalidTtlError naming the option', (input) => {
    const err = (() => {
      try {
        parseDuration(input as never, 'defaultTtl');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(InvalidTtlError);
    expect((err as InvalidTtlError).code).toBe('ERR_INVALID_TTL');
    expect((err as Error).message).toContain('defaultTtl');
    expect((err as Error).message).toMatch(/'30s'/);
  });

  it('rejects non-string, non-number input', () => {
    expect(() => parseDuration({} as never)).toThrow(InvalidTtlError);
    expect(() => parseDuration(null as never)).toThrow(InvalidTtlError);
  });
});
