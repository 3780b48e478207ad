import { canonicalDigest, canonicalValue } from '../keys/canonical-value.js';
import { PLACEHOLDER_RE } from '../options/method-cache-options.js';
import type { MethodKeyFn, MethodTagsSource } from '../options/method-cache-options.interface.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

/** Why a call could not be keyed (it then runs uncached, and this is reported once per burst). */
export class UnkeyableCall extends Error {}

/**
 * The user key of a call (the storage key is built from it by the tenant's cache):
 * - a template: its placeholders filled from the arguments, used as written;
 * - a function: what it returns (a non-empty string);
 * - none: `method:<Class>.<method>:<SHA-256 of the canonical arguments>`.
 * Throws `UnkeyableCall` when the arguments cannot be keyed (a function argument, a cycle, a
 * placeholder whose value is missing).
 */
export function methodKey(key: string | MethodKeyFn<any[]> | undefined, id: string, args: readonly unknown[]): string {
  if (key === undefined) {
    const digest = canonicalDigest(args);
    if (digest === undefined) throw new UnkeyableCall('its arguments have no canonical form (a function, a Map, a cycle)');
    return `method:${id}:${digest}`;
  }
  if (typeof key === 'string') return renderTemplate(key, args);
  const made = callUser(() => key(...args), 'key');
  if (typeof made !== 'string' || made === '') throw new UnkeyableCall(`its key function returned ${typeof made === 'string' ? 'an empty string' : typeof made}`);
  return made;
}

/** The tags of a call: a list (placeholders filled), a function's result, or none. */
export function methodTags(tags: MethodTagsSource<any[]> | undefined, args: readonly unknown[]): readonly string[] | undefined {
  if (tags === undefined) return undefined;
  const list = typeof tags === 'function' ? callUser(() => tags(...args), 'tags') : tags.map((tag) => renderTemplate(tag, args));
  if (!Array.isArray(list)) throw new UnkeyableCall(`its tags function returned ${typeof list}, not an array`);
  return list;
}

/** Fills `{0}` / `{1.day}` from the arguments: a string as it is, a finite number as written, anything else in canonical form. */
export function renderTemplate(template: string, args: readonly unknown[]): string {
  return template.replace(PLACEHOLDER_RE, (_match, index: string, path: string) => {
    let value: unknown = args[Number(index)];
    for (const part of path === '' ? [] : path.slice(1).split('.')) {
      if (value === null || value === undefined) break;
      value = (value as Record<string, unknown>)[part];
    }
    if (value === undefined || value === null) throw new UnkeyableCall(`its key template names {${index}${path}}, which is ${String(value)} in this call`);
    if (typeof value === 'string') return value;
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    const text = canonicalValue(value);
    if (text === undefined) throw new UnkeyableCall(`its key template names {${index}${path}}, which has no canonical form`);
    return text;
  });
}

/** A user's key or tags function: what it throws makes the call unkeyable (it runs uncached), never fails it. */
function callUser<T>(fn: () => T, what: string): T {
  try {
    return fn();
  } catch (err) {
    throw new UnkeyableCall(`its ${what} function threw (${err instanceof Error ? err.name : typeof err})`);
  }
}
