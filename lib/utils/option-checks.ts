import { CacheConfigError } from '../errors/cache.errors.js';
import { parseDuration } from './duration.js';

/**
 * The checks every options resolver shares (manager, module, stores, decorators), so each
 * names the full option path and the fix the same way. `option` is always the path as the
 * user wrote it (`store.maxEntries`, `@Cached() on Ctrl.get: ttl`).
 */

/** What a value is, for "expected X, got Y" (never the value itself when it may be large). */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

/** A short rendering of a scalar option value; objects are named by their kind only. */
export function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return kindOf(value);
}

/** Whether `value` is an options object (not null, an array or a function). */
export function isOptionsObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function expectOptionsObject(value: unknown, option: string, fix: string): asserts value is Record<string, unknown> {
  if (!isOptionsObject(value)) throw new CacheConfigError(option, `expected an object, got ${kindOf(value)}`, fix);
}

/**
 * Optimal string alignment distance (Levenshtein plus adjacent swaps), case-insensitive:
 * `maxEntrys` → `maxEntries` is 2, `commandTimout` → `commandTimeout` 1, `tll` → `ttl` 1.
 */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const rows: number[][] = Array.from({ length: s.length + 1 }, (_, i) => [i, ...new Array<number>(t.length).fill(0)]);
  for (let j = 1; j <= t.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[s.length]![t.length]!;
}

/** The known name closest to `name`, if it is close enough to be a typo of it. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  // Short names tolerate one slip; longer ones a few (a third of the length, at most 3).
  const limit = Math.min(3, Math.max(1, Math.floor(name.length / 3)));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    const d = editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Throws `CacheConfigError` for the first key of `object` not in `allowed`. `prefix` is the path
 * of the object (`'store.'`, or `''` at the top). `hints` give a pointed fix for names known to
 * come from elsewhere (another library's option); otherwise the fix is the closest known name
 * ("did you mean"), or the list of known names.
 */
export function rejectUnknownKeys(object: object, allowed: readonly string[], prefix: string, hints: Readonly<Record<string, string>> = {}): void {
  for (const key of Object.keys(object)) {
    if (allowed.includes(key)) continue;
    const option = `${prefix}${key}`;
    const hint = Object.hasOwn(hints, key) ? hints[key] : undefined;
    if (hint !== undefined) throw new CacheConfigError(option, 'not an option of this library', hint);
    const near = closestName(key, allowed);
    // A dotted prefix is part of the path; a label (`@Cached() on X.y: `) is not repeated.
    const path = prefix === '' || prefix.endsWith('.') ? `${prefix}${near}` : near;
    throw new CacheConfigError(option, 'unknown option', near !== undefined ? `did you mean "${path}"?` : `remove it; the options here are ${allowed.join(', ')}`);
  }
}

export function positiveInteger(value: unknown, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new CacheConfigError(option, `expected a positive integer, got ${shown(value)}`, `set a whole number >= 1, or omit it for the default (${fallback})`);
  }
  return value;
}

/** A whole number in `[min, max]`. */
export function integerInRange(value: unknown, fallback: number, min: number, max: number, option: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new CacheConfigError(option, `expected a whole number from ${min} to ${max}, got ${shown(value)}`, `omit it for the default (${fallback})`);
  }
  return value;
}

/** Milliseconds of a duration option (a number of ms or a string such as `'30s'`). */
export function durationMs(value: unknown, fallback: string | number, option: string): number {
  try {
    return parseDuration((value ?? fallback) as string | number, option);
  } catch (err) {
    throw new CacheConfigError(option, `${shown(value)} is not a duration`, "use milliseconds (a number >= 0) or a string such as '500ms', '30s', '5m', '1h'", { cause: err });
  }
}

/** One of a few literal values. */
export function oneOf<T extends string | boolean>(value: unknown, allowed: readonly T[], fallback: T, option: string, fix: string): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) {
    const names = allowed.map((a) => (typeof a === 'string' ? `'${a}'` : String(a)));
    throw new CacheConfigError(option, `expected ${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}, got ${shown(value)}`, fix);
  }
  return value as T;
}

/** An optional function. */
export function optionalFunction<F>(value: unknown, option: string, fix: string): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw new CacheConfigError(option, `expected a function, got ${kindOf(value)}`, fix);
  return value as F | undefined;
}
