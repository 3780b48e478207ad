/**
 * The tagged form of a value for the JSON codec, used only when the value holds something plain
 * JSON cannot carry (see `NOT_PLAIN_JSON`); plain data is stored as plain JSON, untouched.
 *
 * In the tagged form every string that starts with `$` is a tag, and a `$` at the start of a
 * user's string is doubled (`"$5"` is stored as `"$$5"`), so nothing a user stores is ever
 * taken for a tag:
 *
 *   `"$D2024-02-29T12:34:56.789Z"` Date (`"$D"`: an invalid Date)   `"$n-123"` BigInt (`$n0x…` when long)
 *   `"$N-0"` `"$NNaN"` `"$NInfinity"` `"$N-Infinity"`               `"$u"` undefined
 *   `"$B<base64>"` Buffer                                           `"$Tf64:<base64>"` typed array (little-endian bytes)
 *   `["$M", k1, v1, k2, v2, …]` Map                                 `["$S", a, b, …]` Set
 *
 * Maps and Sets are one array each, so the tagged form nests exactly as deep as the value.
 */
import { DecodeError } from '../../errors/cache.errors.js';
import { littleEndianBytes, TYPED_ARRAY_BY_CODE, typedArrayTypeOf } from '../binary.js';
import { ARRAY, BUFFER, DATE, defineData, MAP, objectKind, PLAIN, SET, TYPED, type StructureLimits } from '../cacheable.js';

const DOLLAR = 0x24;
/** Longest decimal BigInt written; longer ones are written in hex (decimal parsing is quadratic). */
const MAX_DECIMAL_DIGITS = 300;
const DECIMAL = new RegExp(`^\\d{1,${MAX_DECIMAL_DIGITS}}$`);
const HEX = /^0x[0-9a-f]+$/;

/** The tagged form of a value `checkCacheable` accepted. */
export function toTagged(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
      return value.charCodeAt(0) === DOLLAR ? `$${value}` : value;
    case 'number':
      if (value !== value) return '$NNaN';
      if (value === Infinity) return '$NInfinity';
      if (value === -Infinity) return '$N-Infinity';
      return value === 0 && 1 / value < 0 ? '$N-0' : value;
    case 'bigint':
      return `$n${bigintText(value)}`;
    case 'undefined':
      return '$u';
  }
  if (typeof value !== 'object' || value === null) return value;
  switch (objectKind(value)) {
    case PLAIN: {
      const source = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(source)) {
        if (key === '__proto__') defineData(out, key, toTagged(source[key]));
        else out[key] = toTagged(source[key]);
      }
      return out;
    }
    case ARRAY:
      return (value as unknown[]).map(toTagged);
    case DATE: {
      const time = (value as Date).getTime();
      return time === time ? `$D${(value as Date).toISOString()}` : '$D';
    }
    case MAP: {
      const out: unknown[] = ['$M'];
      for (const [k, v] of value as Map<unknown, unknown>) out.push(toTagged(k), toTagged(v));
      return out;
    }
    case SET: {
      const out: unknown[] = ['$S'];
      for (const item of value as Set<unknown>) out.push(toTagged(item));
      return out;
    }
    case BUFFER:
      return `$B${(value as Buffer).toString('base64')}`;
    case TYPED: {
      const type = typedArrayTypeOf(Object.getPrototypeOf(value) as object)!;
      const bytes = littleEndianBytes(value as ArrayBufferView);
      return `$T${type.code}:${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
    }
  }
  // checkCacheable refuses everything else before a value gets here.
  throw new TypeError('toTagged: not a cacheable value');
}

function bigintText(value: bigint): string {
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  const hex = magnitude.toString(16);
  // 248 hex digits are at most 992 bits, under 10^299: the decimal form fits MAX_DECIMAL_DIGITS.
  const text = hex.length <= 248 ? magnitude.toString() : `0x${hex}`;
  return negative ? `-${text}` : text;
}

/**
 * The value back from its tagged form as JSON.parse returned it, in place (containers are
 * reused). The scan bounded depth and sizes loosely (a Map's array holds two items per pair);
 * the exact limits of each kind are checked here. Throws `DecodeError` for an unknown or
 * malformed tag.
 */
export function fromTagged(value: unknown, limits: StructureLimits): unknown {
  if (typeof value === 'string') return value.charCodeAt(0) === DOLLAR ? fromTag(value) : value;
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const head: unknown = value[0];
    if (head === '$M') {
      const pairs = (value.length - 1) / 2;
      if (!Number.isInteger(pairs)) throw new DecodeError('a tagged Map with an odd number of items');
      if (pairs > limits.maxMapPairs) throw new DecodeError(`map with more than ${limits.maxMapPairs} pairs`);
      const map = new Map<unknown, unknown>();
      for (let i = 1; i < value.length; i += 2) map.set(fromTagged(value[i], limits), fromTagged(value[i + 1], limits));
      return map;
    }
    if (head === '$S') {
      if (value.length - 1 > limits.maxArrayLength) throw new DecodeError(`set with more than ${limits.maxArrayLength} elements`);
      const set = new Set<unknown>();
      for (let i = 1; i < value.length; i++) set.add(fromTagged(value[i], limits));
      return set;
    }
    if (value.length > limits.maxArrayLength) throw new DecodeError(`array longer than ${limits.maxArrayLength} elements`);
    for (let i = 0; i < value.length; i++) value[i] = fromTagged(value[i], limits);
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const item = record[key];
    // Only strings and containers can change; numbers, booleans and null are final.
    if (typeof item !== 'object' && typeof item !== 'string') continue;
    const back = fromTagged(item, limits);
    if (back === item) continue;
    if (key === '__proto__') defineData(record, key, back);
    else record[key] = back;
  }
  return record;
}

function fromTag(text: string): unknown {
  const kind = text.charCodeAt(1);
  const body = text.slice(2);
  switch (kind) {
    case DOLLAR:
      return text.slice(1);
    case 0x44 /* D */: {
      if (body === '') return new Date(Number.NaN);
      const date = new Date(body);
      if (Number.isNaN(date.getTime())) throw new DecodeError('a malformed tagged Date');
      return date;
    }
    case 0x6e /* n */:
      return parseBigint(body);
    case 0x4e /* N */:
      if (body === 'NaN') return Number.NaN;
      if (body === 'Infinity') return Infinity;
      if (body === '-Infinity') return -Infinity;
      if (body === '-0') return -0;
      break;
    case 0x75 /* u */:
      if (body === '') return undefined;
      break;
    case 0x42 /* B */:
      return Buffer.from(body, 'base64');
    case 0x54 /* T */: {
      const colon = body.indexOf(':');
      const type = colon < 0 ? undefined : TYPED_ARRAY_BY_CODE.get(body.slice(0, colon));
      if (type === undefined) break;
      const bytes = Buffer.from(body.slice(colon + 1), 'base64');
      if (bytes.byteLength % type.bytesPerElement !== 0) throw new DecodeError(`a tagged ${type.name} whose length is not a multiple of ${type.bytesPerElement} bytes`);
      return type.fromBytes(bytes);
    }
  }
  throw new DecodeError('an unknown tag in a tagged JSON value');
}

function parseBigint(text: string): bigint {
  const negative = text.charCodeAt(0) === 0x2d; /* - */
  const digits = negative ? text.slice(1) : text;
  const hex = digits.startsWith('0x');
  if (!(hex ? HEX : DECIMAL).test(digits)) throw new DecodeError('a malformed tagged BigInt');
  const magnitude = BigInt(digits);
  return negative ? -magnitude : magnitude;
}
