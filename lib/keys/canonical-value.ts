import { createHash, hash } from 'node:crypto';

/** Nesting deeper than this is not keyed (the call runs uncached): arguments are inputs, not documents. */
const MAX_DEPTH = 32;

/**
 * A canonical, injective text of a value, for keying the arguments of a cached method, the
 * arguments of a GraphQL field and the payload of a message: object keys sorted (so `{a,b}` and
 * `{b,a}` encode alike), and every type told apart (`undefined` ≠ `null`, `1` ≠ `'1'`, a `Date`
 * ≠ its ISO string, `-0` ≠ `0`, a class instance carries its class name). `undefined` for a value
 * with no stable identity (a function, a symbol, a cycle, a Map or Set, nesting over 32 levels):
 * the caller then does not cache.
 */
export function canonicalValue(value: unknown): string | undefined {
  try {
    return encode(value, 0, new Set());
  } catch (err) {
    if (err === UNKEYABLE) return undefined;
    throw err;
  }
}

/** SHA-256, base64url (43 characters), of `canonicalValue(value)`; `undefined` when it has none. */
export function canonicalDigest(value: unknown): string | undefined {
  const text = canonicalValue(value);
  if (text === undefined) return undefined;
  // UTF-8 for well-formed text; a lone surrogate is hashed as UTF-16 instead (UTF-8 would turn it
  // into U+FFFD). The first byte tells the two forms apart ('u' against 'x').
  if (text.isWellFormed()) return hash('sha256', `u${text}`, 'base64url');
  return createHash('sha256').update(`x${text}`, 'utf16le').digest('base64url');
}

const UNKEYABLE = Symbol('unkeyable');

function encode(value: unknown, depth: number, seen: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Object.is(value, -0) ? 'n-0' : `n${value}`;
    case 'bigint':
      return `b${value}`;
    case 'boolean':
      return value ? 't' : 'f';
    case 'undefined':
      return 'u';
    case 'function':
    case 'symbol':
      throw UNKEYABLE;
  }
  if (value === null) return 'z';
  return encodeObject(value as object, depth, seen);
}

function encodeObject(value: object, depth: number, seen: Set<object>): string {
  if (depth >= MAX_DEPTH || seen.has(value)) throw UNKEYABLE;
  if (value instanceof Date) return `d${value.getTime()}`;
  if (value instanceof Map || value instanceof Set || value instanceof WeakMap || value instanceof WeakSet || value instanceof Promise) throw UNKEYABLE;
  seen.add(value);
  let out: string;
  if (Array.isArray(value)) {
    out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + encode(value[i], depth + 1, seen);
    out += ']';
  } else {
    const proto = Object.getPrototypeOf(value) as object | null;
    // A DTO instance (ValidationPipe's transform) keys by its class and fields: two classes never share an entry.
    const name = proto === null || proto === Object.prototype ? '' : JSON.stringify((proto.constructor as { name?: string } | undefined)?.name ?? '?');
    out = `${name}{`;
    const keys = Object.keys(value).sort();
    for (let i = 0; i < keys.length; i++) out += (i === 0 ? '' : ',') + JSON.stringify(keys[i]) + ':' + encode((value as Record<string, unknown>)[keys[i]!], depth + 1, seen);
    out += '}';
  }
  seen.delete(value);
  return out;
}
