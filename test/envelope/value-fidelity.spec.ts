import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { EncodeError } from '../../lib/errors/cache.errors.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { expectSameValue } from '../helpers/same-value.js';

/**
 * The value table of issue item 4, through a real CacheManager on the memory store, Redis with
 * the JSON codec and Redis with the CBOR codec: every row either comes back from a hit identical
 * (deep-equal, same prototypes at every depth, same sign of zero) on all three, or is refused at
 * write with the same EncodeError on all three. One line is printed per store and row.
 */

/** Each row builds a fresh value, so no test shares (or sees another test mutate) an object. */
const ROUND_TRIPS: Array<[string, () => unknown]> = [
  ['null', () => null],
  ['0', () => 0],
  ['-0', () => -0],
  ["''", () => ''],
  ['false', () => false],
  ['true', () => true],
  ['NaN', () => Number.NaN],
  ['Infinity and -Infinity', () => [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]],
  ['MAX_SAFE_INTEGER, 2^53, 1e300, 0.1, 5e-324', () => [Number.MAX_SAFE_INTEGER, 2 ** 53, 1e300, 0.1, 5e-324]],
  ['unicode and a lone surrogate', () => ({ 'ключ 🔑': 'значение — 😀👍🏽 \u0000 \u2028', lone: ['a\ud800', '\udc00b'], ['k\ud83d']: 1 })],
  ['nested objects and arrays', () => ({ a: [1, { b: [null, 'x', { c: false }] }], d: { e: { f: [] } }, g: {} })],
  ['undefined inside an array and an object', () => ({ list: [1, undefined, 3], prop: undefined })],
  ['Date', () => new Date('2024-02-29T12:34:56.789Z')],
  ['an invalid Date', () => new Date(Number.NaN)],
  ['the first and the last Date', () => [new Date(-8.64e15), new Date(8.64e15), new Date(-1)]],
  ['Map with object keys', () => new Map<unknown, unknown>([[{ id: 1 }, 'object key'], [[1, 2], 'array key'], [1, 'one'], ['1', 'string one'], [null, new Date(0)]])],
  ['Set', () => new Set<unknown>([1, '1', null, undefined, { a: 1 }, new Set([2])])],
  ['BigInt: small, negative, 2^64 + 1, 3,000 bits', () => [5n, -5n, 2n ** 64n + 1n, -(3n ** 2000n)]],
  ['Buffer', () => Buffer.from('héllo\u0000', 'utf8')],
  ['Uint8Array', () => new Uint8Array([0, 1, 255])],
  ['a Uint8Array view into a larger buffer', () => new Uint8Array(new ArrayBuffer(16), 4, 3).fill(7)],
  [
    'every other typed array',
    () => [
      new Uint8ClampedArray([0, 255]),
      new Int8Array([-128, 127]),
      new Int16Array([-1, 32767]),
      new Uint16Array([65535]),
      new Int32Array([-(2 ** 31)]),
      new Uint32Array([2 ** 32 - 1]),
      new Float32Array([1.5, -0, Number.NaN]),
      new Float64Array([Math.PI, -0, Number.NEGATIVE_INFINITY]),
      new BigInt64Array([-(2n ** 63n)]),
      new BigUint64Array([2n ** 64n - 1n]),
    ],
  ],
  // `constructor` holds a string: toStrictEqual compares `a.constructor === b.constructor`, which two copies of an object never pass.
  ['__proto__, constructor and prototype keys', () => JSON.parse('{"__proto__":{"isAdmin":true},"constructor":"not a function","prototype":{"x":1},"nested":{"__proto__":[1]}}') as unknown],
  ['__proto__ next to a Date', () => Object.assign(JSON.parse('{"__proto__":{"isAdmin":true}}') as object, { at: new Date(0) })],
  ['strings that look like tags', () => ['$D2024-01-01T00:00:00.000Z', '$u', '$$', '$', '$n1', ['$M', 1, 2], ['$S'], { $M: 1 }, { t: 1, s: 'x', v: 1 }]],
  ['strings that look like tags next to a Map', () => ({ m: new Map([['$S', '$u']]), s: ['$M', '$$x'] })],
  ['a shared reference (stored as two equal copies)', () => ((shared) => ({ a: shared, b: shared }))({ n: 1 })],
  ['16 levels of nesting', () => nest(16)],
  ['10,000 elements', () => Array.from({ length: 10_000 }, (_, i) => i)],
];

class Money {
  constructor(readonly cents = 100) {}
  toJSON(): string {
    return `${this.cents / 100} EUR`;
  }
}
class Point {
  x = 1;
}
class MyMap extends Map {}

const REFUSED: Array<[string, () => unknown, RegExp]> = [
  ['undefined as the value', () => undefined, /undefined cannot be cached/],
  ['a function', () => ({ items: [1, 2, 3, () => 1] }), /value\.items\[3\]: a function cannot be cached/],
  ['a symbol', () => ({ s: Symbol('s') }), /value\.s: a symbol cannot be cached/],
  ['a class instance', () => ({ at: new Point() }), /value\.at: an instance of Point cannot be cached/],
  ['a class instance with toJSON', () => [new Money()], /value\[0\]: an instance of Money cannot be cached \(its toJSON\(\) form would come back/],
  ['a Map subclass', () => new MyMap(), /an instance of MyMap cannot be cached/],
  ['a Promise', () => ({ p: Promise.resolve(1) }), /value\.p: a Promise cannot be cached; await it/],
  ['a WeakMap', () => new WeakMap(), /a WeakMap cannot be cached/],
  ['an Error', () => new Error('boom'), /an Error cannot be cached/],
  ['a RegExp', () => /x/g, /an instance of RegExp cannot be cached/],
  ['an ArrayBuffer', () => new ArrayBuffer(4), /an ArrayBuffer cannot be cached; wrap the bytes/],
  ['a DataView', () => new DataView(new ArrayBuffer(4)), /a DataView cannot be cached/],
  ['a boxed string', () => new String('x'), /an instance of String cannot be cached/],
  ['a null-prototype object', () => Object.create(null) as object, /null prototype cannot be cached/],
  // oxlint-disable-next-line no-sparse-arrays -- the hole is the case under test
  ['a sparse array', () => [1, , 3], /value\[1\]: an array with holes cannot be cached/],
  ['an array with an extra property', () => Object.assign([1, 2], { total: 3 }), /an array with properties besides its elements/],
  ['a symbol key', () => ({ [Symbol('k')]: 1 }), /symbol keys/],
  ['a cycle', () => cyclic(), /value\.child\.parent: a circular reference cannot be cached/],
  ['a function inside a Map value', () => new Map([['k', () => 1]]), /value<Map value #0>: a function/],
  ['a key that is not an identifier (position only, never the key text)', () => ({ 'alice@example.com': () => 1 }), /value\[key #0\]: a function/],
  ['17 levels of nesting', () => nest(17), /nesting deeper than 16 levels/],
  ['10,001 elements', () => new Array(10_001).fill(0), /array longer than 10000 elements/],
];

function nest(depth: number): unknown {
  let v: unknown = [];
  for (let i = 1; i < depth; i++) v = i % 2 === 0 ? [v] : { v };
  return v;
}
function cyclic(): object {
  const parent: Record<string, unknown> = {};
  parent.child = { parent };
  return parent;
}

/** Changes a value in place, however it can be changed; false for primitives. */
function mutate(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    value.push('mutated');
    if (value.length > 1 && value[0] !== null && typeof value[0] === 'object') mutate(value[0]);
  } else if (value instanceof Map) value.set('mutated', 1);
  else if (value instanceof Set) value.add('mutated');
  else if (value instanceof Date) value.setTime(123);
  else if (ArrayBuffer.isView(value)) new Uint8Array(value.buffer, value.byteOffset, value.byteLength).fill(0x2a);
  else {
    for (const v of Object.values(value)) mutate(v);
    (value as Record<string, unknown>).mutated = true;
  }
  return true;
}

type StoreName = 'memory' | 'redis-json' | 'redis-cbor';

describeWithRedis('value fidelity on every store and codec', () => {
  let server: RedisServer;
  const managers = new Map<StoreName, CacheManager>();
  const lines: string[] = [];

  beforeAll(async () => {
    server = await startRedis();
    managers.set('memory', await CacheManager.create({ store: { type: 'memory' }, namespace: 'fidelity', logger: false }));
    managers.set('redis-json', await CacheManager.create({ store: { type: 'redis', url: server.url, codec: 'json' }, namespace: 'fidelity-json', logger: false }));
    managers.set('redis-cbor', await CacheManager.create({ store: { type: 'redis', url: server.url, codec: 'cbor' }, namespace: 'fidelity-cbor', logger: false }));
  });
  afterAll(async () => {
    await Promise.all([...managers.values()].map((m) => m.close()));
    await server?.stop();
    console.log(`value fidelity (${lines.length} rows):\n${lines.join('\n')}`);
  });

  let n = 0;
  describe.each(ROUND_TRIPS)('%s', (name, make) => {
    it('a hit is identical to what was stored, and to the miss of wrap()', async () => {
      for (const [store, manager] of managers) {
        const cache = manager.forTenant('acme');
        const key = `row-${n++}`;
        await cache.set(key, make());
        expectSameValue(await cache.get(key), make());

        const miss = await cache.wrap(`${key}:wrap`, make);
        const hit = await cache.wrap(`${key}:wrap`, () => 'the factory ran again');
        expectSameValue(miss, make());
        expectSameValue(hit, miss);
        lines.push(`${store.padEnd(10)} ${name}: round-trip`);
      }
    });

    it('mutating what get, a wrap miss or a wrap hit returned never changes the next get', async () => {
      for (const [, manager] of managers) {
        const cache = manager.forTenant('acme');
        const key = `mut-${n++}`;
        const written = make();
        await cache.set(key, written);
        mutate(written);
        mutate(await cache.get(key));
        expectSameValue(await cache.get(key), make());

        mutate(await cache.wrap(`${key}:wrap`, make));
        expectSameValue(await cache.get(`${key}:wrap`), make());
        mutate(await cache.wrap(`${key}:wrap`, make));
        expectSameValue(await cache.wrap(`${key}:wrap`, make), make());
      }
    });
  });

  describe.each(REFUSED)('%s', (name, make, message) => {
    it('is refused at write with the same EncodeError on every store, and nothing is stored', async () => {
      const messages: string[] = [];
      for (const [store, manager] of managers) {
        const cache = manager.forTenant('acme');
        const key = `refused-${n++}`;
        const err = await cache.set(key, make()).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(EncodeError);
        expect((err as EncodeError).message).toMatch(message);
        expect((err as EncodeError).code).toBe('ERR_ENCODE');
        messages.push((err as EncodeError).message);
        expect(await cache.get(key)).toBeUndefined();

        // wrap() refuses it the same way (the caller learns it at once), and stores nothing; a
        // factory resolving undefined is the one exception: returned, never cached.
        if (make() === undefined) expect(await cache.wrap(`${key}:wrap`, make)).toBeUndefined();
        else await expect(cache.wrap(`${key}:wrap`, make)).rejects.toBeInstanceOf(EncodeError);
        expect(await cache.get(`${key}:wrap`)).toBeUndefined();
        lines.push(`${store.padEnd(10)} ${name}: refused (${(err as EncodeError).message.replace('Value could not be encoded: ', '').slice(0, 90)})`);
      }
      expect(new Set(messages).size).toBe(1);
    });
  });
});
