import { describe, expect, it } from 'vitest';
import { canonicalDigest, canonicalValue } from '../../lib/keys/canonical-value.js';

class Dto {
  constructor(readonly id: string) {}
}

describe('canonicalValue (keys of method arguments, GraphQL arguments, message payloads)', () => {
  it('encodes objects with their keys sorted', () => {
    expect(canonicalValue({ b: 1, a: { d: [2, 1], c: null } })).toBe(canonicalValue({ a: { c: null, d: [2, 1] }, b: 1 }));
  });

  it('tells apart values JSON would confuse', () => {
    const distinct = [undefined, null, 0, -0, '0', 1, '1', true, 'true', 1n, [], {}, [undefined], [null], new Date(0), new Date(0).toISOString(), { id: 'x' }, new Dto('x'), NaN, 'NaN'];
    const texts = distinct.map((v) => canonicalValue(v));
    expect(new Set(texts).size).toBe(distinct.length);
    expect(canonicalValue([1, 'a'])).not.toBe(canonicalValue(['1', 'a']));
    expect(canonicalValue([])).not.toBe(canonicalValue([undefined]));
  });

  it('has no canonical form for functions, symbols, Maps, Sets, cycles and deep nesting', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    for (const value of [() => 1, Symbol('s'), new Map(), new Set(), cyclic, deep, [{ f: () => 1 }]]) expect(canonicalValue(value)).toBeUndefined();
    // A value seen twice is not a cycle.
    const shared = { a: 1 };
    expect(canonicalValue([shared, shared])).toBeDefined();
  });

  it('digests as 43 base64url characters, lone surrogates included and kept apart', () => {
    expect(canonicalDigest(['a', 1])).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(canonicalDigest('\uD800')).not.toBe(canonicalDigest('\uDC00'));
    expect(canonicalDigest('\uD800')).not.toBe(canonicalDigest('\uFFFD'));
    expect(canonicalDigest(() => 1)).toBeUndefined();
  });
});
