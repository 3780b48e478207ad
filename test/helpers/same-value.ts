import { expect } from 'vitest';

/**
 * `expect(actual).toStrictEqual(expected)`, plus `valueDifference`, which also looks at what
 * toStrictEqual does not: the prototype of every object at every depth (a Buffer is not a
 * Uint8Array), the sign of zero inside typed arrays, and the order of Map and Set entries.
 */
export function expectSameValue(actual: unknown, expected: unknown): void {
  expect(actual).toStrictEqual(expected);
  const problem = valueDifference(actual, expected, 'value');
  if (problem !== undefined) throw new Error(`not the same value: ${problem}`);
}

/**
 * Where `a` and `b` first differ, or undefined if they are the same value: same prototypes at
 * every depth, primitives equal by `Object.is`, Dates by time (two invalid Dates are equal),
 * typed arrays element by element, Maps and Sets entry by entry in order, objects and arrays
 * by their own enumerable keys. Unlike toStrictEqual it is not misled by an own `constructor`
 * key holding an object (toStrictEqual compares `a.constructor === b.constructor`).
 */
export function valueDifference(a: unknown, b: unknown, path: string): string | undefined {
  if (typeof a !== typeof b) return `${path}: ${typeof a} vs ${typeof b}`;
  if (typeof a !== 'object' || a === null || b === null) return Object.is(a, b) ? undefined : `${path}: ${describe(a)} vs ${describe(b)}`;
  const pa: unknown = Object.getPrototypeOf(a);
  const pb: unknown = Object.getPrototypeOf(b);
  if (pa !== pb) return `${path}: prototype ${protoName(pa)} vs ${protoName(pb)}`;
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime()) ? undefined : `${path}: ${a.getTime()} vs ${(b as Date).getTime()}`;
  if (a instanceof Map || a instanceof Set) {
    const ea = [...(a as Map<unknown, unknown>).entries()];
    const eb = [...(b as Map<unknown, unknown>).entries()];
    if (ea.length !== eb.length) return `${path}: ${ea.length} vs ${eb.length} entries`;
    for (let i = 0; i < ea.length; i++) {
      const d = valueDifference(ea[i]![0], eb[i]![0], `${path}<key ${i}>`) ?? valueDifference(ea[i]![1], eb[i]![1], `${path}<value ${i}>`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (ArrayBuffer.isView(a)) {
    const ea = a as unknown as ArrayLike<unknown>;
    const eb = b as unknown as ArrayLike<unknown>;
    if (ea.length !== eb.length) return `${path}: length ${ea.length} vs ${eb.length}`;
    for (let i = 0; i < ea.length; i++) if (!Object.is(ea[i], eb[i])) return `${path}[${i}]: ${describe(ea[i])} vs ${describe(eb[i])}`;
    return undefined;
  }
  const ka = Reflect.ownKeys(a).filter((k) => Object.prototype.propertyIsEnumerable.call(a, k));
  const kb = Reflect.ownKeys(b as object).filter((k) => Object.prototype.propertyIsEnumerable.call(b, k));
  if (ka.length !== kb.length || ka.some((k) => !kb.includes(k))) return `${path}: keys ${ka.map(String).join(',')} vs ${kb.map(String).join(',')}`;
  if (Array.isArray(a) && a.length !== (b as unknown[]).length) return `${path}: length ${a.length} vs ${(b as unknown[]).length}`;
  for (const key of ka) {
    const d = valueDifference(Reflect.get(a, key), Reflect.get(b as object, key), `${path}[${typeof key === 'string' ? JSON.stringify(key) : String(key)}]`);
    if (d !== undefined) return d;
  }
  return undefined;
}

function describe(v: unknown): string {
  return typeof v === 'number' && Object.is(v, -0) ? '-0' : typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function protoName(proto: unknown): string {
  if (proto === null) return 'null';
  const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as { name?: string } | undefined;
  return ctor?.name ?? 'anonymous';
}
