import { CacheConfigError } from '../errors/cache.errors.js';
import { kindOf } from './option-checks.js';

/** A unit of `ByteSize`: binary multiples (1 kb = 1024 bytes), as memory budgets are meant. */
export type ByteUnit = 'b' | 'kb' | 'mb' | 'gb' | 'B' | 'KB' | 'MB' | 'GB';

/**
 * A size in bytes: a number of bytes, or a string of a number and a unit, `'512b'`, `'64kb'`,
 * `'1mb'`, `'1.5gb'` (binary: 1 kb = 1024 b). The unit is all lower case or all upper case
 * (`'64MB'`); no space, no other unit (`'64m'`, `'64MiB'` are refused: say which you mean).
 */
export type ByteSize = number | `${number}${ByteUnit}`;

const UNIT_BYTES: Readonly<Record<string, number>> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
const BYTE_SIZE_RE = /^(\d+(?:\.\d+)?)(b|kb|mb|gb|B|KB|MB|GB)$/;
/** Largest size accepted: 1 TiB, far beyond any budget a process holds, so a larger one is a unit mistake. */
const MAX_BYTES = 1024 ** 4;

/**
 * Whole bytes of a `ByteSize` (a fraction is rounded down), at least 1. Throws `CacheConfigError`
 * naming `option` for anything else: 0, negatives, NaN, unknown units, garbage.
 */
export function parseByteSize(input: unknown, option: string): number {
  let bytes: number;
  if (typeof input === 'number') bytes = input;
  else if (typeof input === 'string') {
    const match = BYTE_SIZE_RE.exec(input.trim());
    bytes = match === null ? Number.NaN : Number(match[1]) * UNIT_BYTES[match[2]!.toLowerCase()]!;
  } else bytes = Number.NaN;
  const whole = Math.floor(bytes);
  if (!Number.isFinite(bytes) || whole < 1 || bytes > MAX_BYTES) {
    const got = typeof input === 'string' ? JSON.stringify(input) : typeof input === 'number' ? String(input) : kindOf(input);
    throw new CacheConfigError(option, `expected a positive size in bytes, got ${got}`, "pass a number of bytes or a string such as '512kb', '64mb', '1gb' (binary units: 1 kb = 1024 bytes)");
  }
  return whole;
}
