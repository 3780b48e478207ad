import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCacheable, copyCacheable } from '../../lib/envelope/cacheable.js';
import { CborCodec } from '../../lib/envelope/codecs/cbor.codec.js';
import type { Codec } from '../../lib/envelope/codecs/codec.interface.js';
import { JsonCodec } from '../../lib/envelope/codecs/json.codec.js';
import { DEFAULT_DECODE_LIMITS } from '../../lib/envelope/decode-limits.js';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { decodeEntry, encodeEntry } from '../../lib/envelope/wire.js';
import { EncodeError } from '../../lib/errors/cache.errors.js';
import { KeyScope, storageKey } from '../../lib/keys/storage-key.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { valueDifference } from '../helpers/same-value.js';

/**
 * Generated values through both codecs and the memory store. Values of the supported types
 * always come back identical; anything fast-check can build (class-like boxed values, null
 * prototypes, sparse arrays included) is either refused by all three with the same EncodeError
 * or comes back identical from all three: never silently something else.
 */

const LIMITS = DEFAULT_DECODE_LIMITS;
const SCOPE = 't.p';
const json = new JsonCodec();
const cbor = new CborCodec();
const CODECS = new Map<string, Codec>([
  [json.id, json],
  [cbor.id, cbor],
]);
const memory = new MemoryStore({ maxEntries: 16, sweepInterval: 0 });
const memoryKey = storageKey(KeyScope.of('prop', 'p'), 'entry', 'k');
afterAll(() => memory.close());

const counts = { roundTrips: 0, refused: 0 };
afterAll(() => {
  console.log(`value fidelity properties: ${counts.roundTrips} values came back identical on json, cbor and memory; ${counts.refused} refused identically by all three`);
});

const envelopeOf = (value: unknown, scope = SCOPE): Envelope => ({ value, createdAt: 1, expiresAt: 0, stamp: newStamp(), scope });

/** Whatever the memory store, the JSON codec and the CBOR codec do with `value`: its copy back, or the refusal message. */
async function outcomes(value: unknown): Promise<Array<{ where: string; back?: unknown; refused?: string }>> {
  const out: Array<{ where: string; back?: unknown; refused?: string }> = [];
  for (const codec of [json, cbor]) {
    try {
      const bytes = encodeEntry(envelopeOf(value), codec, LIMITS);
      out.push({ where: codec.name, back: decodeEntry(bytes, CODECS, SCOPE, LIMITS).value });
    } catch (err) {
      if (!(err instanceof EncodeError)) throw err;
      out.push({ where: codec.name, refused: err.message });
    }
  }
  try {
    await memory.set(memoryKey, envelopeOf(value, memoryKey.scope.id), 0);
    out.push({ where: 'memory', back: (await memory.get(memoryKey))!.value });
  } catch (err) {
    if (!(err instanceof EncodeError)) throw err;
    out.push({ where: 'memory', refused: err.message });
  }
  return out;
}

/** valueDifference, not toStrictEqual: generated objects may hold a `constructor` key, which misleads toStrictEqual. */
function assertIdentical(back: unknown, value: unknown, where: string): void {
  const difference = valueDifference(back, value, 'value');
  if (difference !== undefined) throw new Error(`${where}: not the same value: ${difference}`);
}

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const stringArb = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), loneSurrogate) }),
  fc.string().map((s) => `$${s}`),
  fc.constantFrom('$', '$$', '$M', '$S', '$u', '$D', '$n1', '$N-0', '$Tu8:AA==', '$B'),
);
const keyArb = fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '$M', '$u', 't', 'v', 's', ''));
const leafArb = fc.oneof(
  fc.constantFrom<unknown>(null, undefined, true, false, 0, -0),
  fc.double(),
  fc.integer(),
  fc.maxSafeInteger(),
  stringArb,
  fc.bigInt(),
  fc.bigInt({ min: -(2n ** 3000n), max: 2n ** 3000n }),
  fc.date({ noInvalidDate: false }),
  fc.uint8Array().map((b) => Buffer.from(b)),
  fc.uint8Array(),
  fc.uint8ClampedArray(),
  fc.int8Array(),
  fc.int16Array(),
  fc.uint16Array(),
  fc.int32Array(),
  fc.uint32Array(),
  fc.float32Array(),
  fc.float64Array(),
  fc.bigInt64Array(),
  fc.bigUint64Array(),
);
/** Every supported type, nested (at most 6 levels, well inside the limit of 16). */
const cacheableArb: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ maxDepth: 6, depthIdentifier: 'cacheable' }, leafArb, tie('array'), tie('object'), tie('map'), tie('set')),
  array: fc.array(tie('value'), { maxLength: 5, depthIdentifier: 'cacheable' }),
  object: fc.array(fc.tuple(keyArb, tie('value')), { maxLength: 5, depthIdentifier: 'cacheable' }).map((entries) => {
    const record: Record<string, unknown> = {};
    // defineProperty: an own "__proto__" key, as JSON.parse would make it.
    for (const [k, v] of entries) Object.defineProperty(record, k, { value: v, enumerable: true, writable: true, configurable: true });
    return record;
  }),
  map: fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 4, depthIdentifier: 'cacheable' }).map((entries) => new Map(entries)),
  set: fc.array(tie('value'), { maxLength: 4, depthIdentifier: 'cacheable' }).map((items) => new Set(items)),
})).value;

describe('the oracle can fail', () => {
  it.each<[string, unknown, unknown]>([
    ['a Date and its ISO string', new Date(0), '1970-01-01T00:00:00.000Z'],
    ['a Map and {}', new Map([[1, 1]]), {}],
    ['a Buffer and a Uint8Array', Buffer.from([1]), new Uint8Array([1])],
    ['-0 and 0', -0, 0],
    ['-0 and 0 in a Float64Array', new Float64Array([-0]), new Float64Array([0])],
    ['Map entries in another order', new Map([[1, 'a'], [2, 'b']]), new Map([[2, 'b'], [1, 'a']])],
    ['a missing undefined property', { a: undefined }, {}],
    ['a null prototype', Object.create(null) as object, {}],
    ['an own __proto__ key and none', JSON.parse('{"__proto__":1}') as object, {}],
    ['a BigInt and a number', 1n, 1],
  ])('%s differ', (_name, a, b) => {
    expect(valueDifference(a, b, 'value')).toBeDefined();
    expect(valueDifference(b, a, 'value')).toBeDefined();
  });
});

describe('generated values', () => {
  it('every value of the supported types comes back identical from json, cbor and memory', async () => {
    await fc.assert(
      fc.asyncProperty(cacheableArb, async (value) => {
        expect(() => checkCacheable(value)).not.toThrow();
        for (const result of await outcomes(value)) {
          if (result.refused !== undefined) throw new Error(`${result.where} refused a supported value: ${result.refused}`);
          assertIdentical(result.back, value, result.where);
        }
        counts.roundTrips++;
      }),
      { numRuns: 3_000, seed: 20_240_229 },
    );
  });

  it('anything fast-check builds is refused by all three alike, or comes back identical from all three', async () => {
    const anything = fc.anything({
      maxDepth: 4,
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
      withUnicodeString: true,
    });
    await fc.assert(
      fc.asyncProperty(anything, async (value) => {
        const results = await outcomes(value);
        const refusals = new Set(results.map((r) => r.refused));
        if (refusals.size !== 1) throw new Error(`the stores disagree: ${JSON.stringify(results.map((r) => [r.where, r.refused ?? 'accepted']))}`);
        if (results[0]!.refused !== undefined) {
          counts.refused++;
          return;
        }
        for (const result of results) assertIdentical(result.back, value, result.where);
        counts.roundTrips++;
      }),
      { numRuns: 3_000, seed: 4_242 },
    );
  });

  it('a copy shares nothing mutable with its source', () => {
    fc.assert(
      fc.property(cacheableArb, (value) => {
        const copy = copyCacheable(value);
        assertIdentical(copy, value, 'copy');
        const seen = new Set<unknown>();
        const collect = (v: unknown): void => {
          if (v === null || typeof v !== 'object') return;
          seen.add(v);
          if (v instanceof Map) for (const [k, x] of v) {
            collect(k);
            collect(x);
          }
          else if (v instanceof Set || Array.isArray(v)) for (const x of v) collect(x);
          else if (!ArrayBuffer.isView(v) && !(v instanceof Date)) for (const x of Object.values(v)) collect(x);
        };
        collect(value);
        const views = [...seen].filter((v): v is ArrayBufferView => ArrayBuffer.isView(v));
        // Small Buffers share Node's pool slab, so "shares bytes" means overlapping ranges of one buffer.
        const overlaps = (v: ArrayBufferView): boolean =>
          views.some((w) => w.buffer === v.buffer && v.byteLength > 0 && w.byteLength > 0 && v.byteOffset < w.byteOffset + w.byteLength && w.byteOffset < v.byteOffset + v.byteLength);
        const check = (v: unknown): void => {
          if (v === null || typeof v !== 'object') return;
          if (seen.has(v)) throw new Error('the copy shares an object with its source');
          if (ArrayBuffer.isView(v) && overlaps(v)) throw new Error('the copy shares bytes with its source');
          if (v instanceof Map) for (const [k, x] of v) {
            check(k);
            check(x);
          }
          else if (v instanceof Set || Array.isArray(v)) for (const x of v) check(x);
          else if (!ArrayBuffer.isView(v) && !(v instanceof Date)) for (const x of Object.values(v)) check(x);
        };
        check(copy);
      }),
      { numRuns: 2_000, seed: 7 },
    );
  });
});
