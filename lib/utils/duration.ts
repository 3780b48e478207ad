import { InvalidTtlError } from '../errors/cache.errors.js';

/** The units of a duration string: milliseconds, seconds, minutes, hours, days, weeks. */
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd' | 'w';

/** One `<number><unit>` part of a duration string: `'500ms'`, `'30s'`, `'1.5h'`. */
type DurationPart = `${number}${DurationUnit}`;

/**
 * A duration string of one to three parts: `'500ms'`, `'5m'`, `'1h30m'`, `'1d2h30m'`. A template
 * literal type, so `'5 minutes'` or `'5mins'` fails to compile instead of failing at boot. The
 * parser also takes spaces and capitals (`'5 M'`) and a string of digits (milliseconds), for
 * values read from configuration at run time: cast such a `string` with `as DurationString` and
 * options validation still checks it at start-up.
 */
export type DurationString = DurationPart | `${DurationPart}${DurationPart}` | `${DurationPart}${DurationPart}${DurationPart}`;

/** A TTL or other duration: milliseconds as a number, or a `DurationString` such as `'500ms'`, `'30s'`, `'5m'`, `'1h'`, `'1d'`, `'1h30m'`. */
export type Duration = number | DurationString;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const WHOLE_RE = /^(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+$/;
const PART_RE = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/g;
/** Longest duration accepted: about 100 years. Longer is almost surely a unit mistake. */
const MAX_MS = 100 * 365 * UNIT_MS.d!;

/**
 * Parses a duration into whole milliseconds. `0` means "no expiry" where a TTL is meant.
 * Throws `InvalidTtlError` (naming `option`) for negatives, NaN, unknown units and garbage.
 */
export function parseDuration(input: Duration | string, option = 'ttl'): number {
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
export function parseOptionalDuration(input: Duration | string | undefined, fallback: number, option = 'ttl'): number {
  return input === undefined ? fallback : parseDuration(input, option);
}
