/**
 * What a cached value may be, on every store and codec: the types that come back from a hit
 * deep-equal to, and of the same types as, what was stored. Everything else is refused at write
 * time with an `EncodeError` naming the type, where it is and the fix, so moving from the memory
 * store to Redis (JSON or CBOR) never changes what works.
 *
 * Accepted: `null`, `undefined`, booleans, every number (`-0`, `NaN`, `±Infinity` included),
 * strings (lone surrogates included), BigInt, plain objects (prototype `Object.prototype`; an own
 * `__proto__` key is data), arrays without holes or extra properties, `Date` (invalid included),
 * `Map` and `Set` (any accepted keys and values), `Buffer` and the typed arrays of `binary.ts`.
 * Shared references are stored as copies (identity is not kept); cycles are refused.
 */
import { EncodeError } from '../errors/cache.errors.js';
import { typedArrayTypeOf } from './binary.js';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from './decode-limits.js';

export type StructureLimits = Pick<DecodeLimits, 'maxDepth' | 'maxArrayLength' | 'maxMapPairs'>;

/** Object kinds; `REFUSED` for any other object. */
export const PLAIN = 1;
export const ARRAY = 2;
export const DATE = 3;
export const MAP = 4;
export const SET = 5;
export const BUFFER = 6;
export const TYPED = 7;
export const REFUSED = 0;

/** The kind of a non-null object, by its exact prototype (a subclass is refused). */
export function objectKind(value: object): number {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype) return PLAIN;
  if (proto === Array.prototype) return Array.isArray(value) ? ARRAY : REFUSED;
  if (proto === Date.prototype) return DATE;
  if (proto === Map.prototype) return MAP;
  if (proto === Set.prototype) return SET;
  if (proto === Buffer.prototype) return BUFFER;
  return typedArrayTypeOf(proto as object | null) === undefined ? REFUSED : TYPED;
}

/** Bit set by `checkCacheable`: the value holds something plain JSON cannot carry exactly. */
export const NOT_PLAIN_JSON = 1;

/** Thrown inside the walk; the path is assembled on the way out, so the walk itself builds none. */
class Refusal {
  readonly path: string[] = [];
  constructor(
    readonly problem: string,
    readonly fix: string,
  ) {}
}

interface Walk {
  readonly limits: StructureLimits;
  /** The containers on the path from the root (at most `maxDepth`), to find cycles. */
  readonly ancestors: object[];
  flags: number;
}

const PLAIN_DATA_FIX = 'cache plain data instead: objects, arrays, strings, numbers, booleans, null, Date, Map, Set, BigInt, Buffer or typed arrays';

/**
 * Throws `EncodeError` unless `value` is cacheable within `limits`; returns `NOT_PLAIN_JSON`
 * if it holds a type plain JSON cannot carry, else 0. The memory store and both codecs call it
 * with the same rules; the check itself costs nothing for a primitive.
 */
export function checkCacheable(value: unknown, limits: StructureLimits = DEFAULT_DECODE_LIMITS): number {
  const walk: Walk = { limits, ancestors: [], flags: 0 };
  try {
    check(value, walk);
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    const path = `value${err.path.reverse().join('')}`;
    throw new EncodeError(`${path}: ${err.problem}; ${err.fix}`, { path });
  }
  return walk.flags;
}

/**
 * Throws `EncodeError` (with the path and the fix) unless every store and codec can cache
 * `value` and hand it back identical. For callers that want the refusal before a write, e.g.
 * before returning a computed value that could never be cached.
 */
export function assertCacheable(value: unknown, limits: StructureLimits = DEFAULT_DECODE_LIMITS): void {
  checkCacheable(value, limits);
}

function check(value: unknown, walk: Walk): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      // NaN, ±Infinity and -0 have no plain JSON form.
      if (value !== value || value === Infinity || value === -Infinity || (value === 0 && 1 / value < 0)) walk.flags |= NOT_PLAIN_JSON;
      return;
    case 'bigint':
    case 'undefined':
      walk.flags |= NOT_PLAIN_JSON;
      return;
    case 'function':
      throw new Refusal('a function cannot be cached', PLAIN_DATA_FIX);
    case 'symbol':
      throw new Refusal('a symbol cannot be cached', 'store a string instead');
  }
  if (value === null) return;
  checkObject(value as object, walk);
}

function checkObject(value: object, walk: Walk): void {
  const kind = objectKind(value);
  if (kind === REFUSED) throw refuseObject(value);
  if (kind === PLAIN) {
    if (Object.getOwnPropertySymbols(value).length > 0) {
      throw new Refusal('an object with symbol keys cannot be cached (symbol keys are not stored)', 'use string keys');
    }
  } else if (kind !== ARRAY && kind !== MAP && kind !== SET) {
    // Date, Buffer, typed arrays: leaves, carried whole.
    walk.flags |= NOT_PLAIN_JSON;
    return;
  }
  const { limits, ancestors } = walk;
  if (ancestors.length >= limits.maxDepth) throw limitRefusal(`nesting deeper than ${limits.maxDepth} levels`, 'store a flatter value');
  if (ancestors.includes(value)) throw new Refusal('a circular reference cannot be cached', 'remove the cycle (shared references are stored as copies, cycles cannot be)');
  ancestors.push(value);
  if (kind === PLAIN) checkPlain(value as Record<string, unknown>, walk);
  else if (kind === ARRAY) checkArray(value as unknown[], walk);
  else if (kind === MAP) checkMap(value as Map<unknown, unknown>, walk);
  else checkSet(value as Set<unknown>, walk);
  ancestors.pop();
}

function checkPlain(value: Record<string, unknown>, walk: Walk): void {
  const keys = Object.keys(value);
  if (keys.length > walk.limits.maxMapPairs) throw limitRefusal(`object with more than ${walk.limits.maxMapPairs} keys`, 'store a smaller value');
  let i = 0;
  try {
    for (; i < keys.length; i++) check(value[keys[i]!], walk);
  } catch (err) {
    throw at(err, propertyPath(keys[i]!, i));
  }
}

function checkArray(value: unknown[], walk: Walk): void {
  const length = value.length;
  if (length > walk.limits.maxArrayLength) throw limitRefusal(`array longer than ${walk.limits.maxArrayLength} elements`, 'store a smaller value');
  let i = 0;
  try {
    for (; i < length; i++) {
      const item = value[i];
      if (item === undefined && !(i in value)) {
        throw new Refusal('an array with holes cannot be cached (a hole would come back as undefined)', 'fill the holes, e.g. with null or undefined');
      }
      check(item, walk);
    }
  } catch (err) {
    throw at(err, `[${i}]`);
  }
  if (Object.keys(value).length !== length) {
    throw new Refusal('an array with properties besides its elements cannot be cached (they would not come back)', 'copy the elements into a plain array ([...value]) and store the extra fields in an object');
  }
}

function checkMap(value: Map<unknown, unknown>, walk: Walk): void {
  walk.flags |= NOT_PLAIN_JSON;
  if (value.size > walk.limits.maxMapPairs) throw limitRefusal(`map with more than ${walk.limits.maxMapPairs} pairs`, 'store a smaller value');
  let i = 0;
  let part = 'key';
  try {
    for (const [k, v] of value) {
      part = 'key';
      check(k, walk);
      part = 'value';
      check(v, walk);
      i++;
    }
  } catch (err) {
    throw at(err, `<Map ${part} #${i}>`);
  }
}

function checkSet(value: Set<unknown>, walk: Walk): void {
  walk.flags |= NOT_PLAIN_JSON;
  if (value.size > walk.limits.maxArrayLength) throw limitRefusal(`set with more than ${walk.limits.maxArrayLength} elements`, 'store a smaller value');
  let i = 0;
  try {
    for (const item of value) {
      check(item, walk);
      i++;
    }
  } catch (err) {
    throw at(err, `<Set item #${i}>`);
  }
}

function at(err: unknown, segment: string): unknown {
  if (err instanceof Refusal) err.path.push(segment);
  return err;
}

function limitRefusal(problem: string, fix: string): Refusal {
  return new Refusal(`${problem}; it could never be read back`, `${fix}, or raise the decode limits`);
}

/** `.name` for identifier-like keys; otherwise the key's position, so no free-form key text (it may be data) reaches a message. */
function propertyPath(key: string, index: number): string {
  return /^[A-Za-z_$][\w$]{0,39}$/.test(key) ? `.${key}` : `[key #${index}]`;
}

function refuseObject(value: object): Refusal {
  if (value instanceof Promise) return new Refusal('a Promise cannot be cached', 'await it and cache its result');
  if (value instanceof Error) return new Refusal('an Error cannot be cached', 'store plain fields such as its message');
  if (value instanceof WeakMap || value instanceof WeakSet || value instanceof WeakRef) return new Refusal(`a ${value.constructor.name} cannot be cached`, 'store a Map or a Set');
  if (value instanceof ArrayBuffer) return new Refusal('an ArrayBuffer cannot be cached', 'wrap the bytes in a Buffer or a Uint8Array');
  if (value instanceof DataView || (typeof SharedArrayBuffer === 'function' && value instanceof SharedArrayBuffer)) {
    return new Refusal(`a ${value.constructor.name} cannot be cached`, 'wrap the bytes in a Buffer or a Uint8Array');
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === null) return new Refusal('an object with a null prototype cannot be cached (it would come back as a plain object)', 'copy it into a plain object ({ ...value })');
  const name = className(proto as object);
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return new Refusal(`an instance of ${name} cannot be cached (its toJSON() form would come back instead of it)`, 'store value.toJSON() or its plain fields, and rebuild the instance after reading');
  }
  return new Refusal(`an instance of ${name} cannot be cached (a class instance would come back as a plain object, without its methods)`, PLAIN_DATA_FIX);
}

function className(proto: object): string {
  const ctor: unknown = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value;
  const name = typeof ctor === 'function' ? ctor.name : '';
  return /^[A-Za-z_$][\w$]{0,63}$/.test(name) ? name : 'a class';
}

// ---------------------------------------------------------------------------------------------

/**
 * A deep copy of a value `checkCacheable` accepted: same types, fresh containers, no shared
 * mutable part. Primitives are returned as they are (they cannot be mutated).
 */
export function copyCacheable<T>(value: T): T {
  return (typeof value === 'object' && value !== null ? copyObject(value) : value) as T;
}

function copy(value: unknown): unknown {
  return typeof value === 'object' && value !== null ? copyObject(value) : value;
}

function copyObject(value: object): unknown {
  switch (objectKind(value)) {
    case PLAIN: {
      const source = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(source)) {
        if (key === '__proto__') defineData(out, key, copy(source[key]));
        else out[key] = copy(source[key]);
      }
      return out;
    }
    case ARRAY: {
      const source = value as unknown[];
      const out = new Array<unknown>(source.length);
      for (let i = 0; i < source.length; i++) out[i] = copy(source[i]);
      return out;
    }
    case DATE:
      return new Date((value as Date).getTime());
    case MAP: {
      const out = new Map<unknown, unknown>();
      for (const [k, v] of value as Map<unknown, unknown>) out.set(copy(k), copy(v));
      return out;
    }
    case SET: {
      const out = new Set<unknown>();
      for (const item of value as Set<unknown>) out.add(copy(item));
      return out;
    }
    case BUFFER:
      return Buffer.from(value as Buffer);
    case TYPED:
      return (value as Uint8Array).slice();
    default:
      // Unreachable for a checked value; refuse rather than share a reference.
      throw new EncodeError('value: only a value checkCacheable accepted can be copied; this is a bug in the caller');
  }
}

/** `target[key] = value` as an own data property, even for `__proto__` (an assignment would set the prototype). */
export function defineData(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

