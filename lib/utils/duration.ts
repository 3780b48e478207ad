import { InvalidTtlError } from '../errors/cache.errors.js';

/** A TTL or other duration: milliseconds as a number, or a string such as `'500ms'`, `'30s'`, `'5m'`, `'1h'`, `'1d'`, `'1h30m'`. */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const WHOLE_RE = /^(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+$/;
const PART_RE = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/g;
/** Longest duration accepted: about 100 years. Longer is almost surely a unit mistake. */
const MAX_MS = 100 * 365 * UNIT_MS.d!;

/**
 * Parses a duration into whole milliseconds. `0` means "no expiry" where a TTL is meant.
 * Throws `InvalidTtlError` (naming `option`) for negatives, NaN, unknown units and garbage.
 */
export function parseDuration(input: Duration, option = 'ttl'): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0 || input > MAX_MS) throw new InvalidTtlError(input, option);
    return Math.floor(input);
  }
  if (typeof input !== 'string') throw new InvalidTtlError(input, option);
  const text = input.trim().toLowerCase();
  if (text === '') throw new InvalidTtlError(input, option);
  if (/^\d+$/.test(text)) return parseDuration(Number(text), option);
  if (!WHOLE_RE.test(text)) throw new InvalidTtlError(input, option);
  let total = 0;
  for (const match of text.matchAll(PART_RE)) total += Number(match[1]) * UNIT_MS[match[2]!]!;
  if (total > MAX_MS) throw new InvalidTtlError(input, option);
  return Math.floor(total);
}

/** Like `parseDuration`, but `undefined` yields `fallback`. */
export function parseOptionalDuration(input: Duration | undefined, fallback: number, option = 'ttl'): number {
  return input === undefined ? fallback : parseDuration(input, option);
}
