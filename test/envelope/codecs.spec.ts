import { Decoder, Encoder } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { CborCodec } from '../../lib/envelope/codecs/cbor.codec.js';
import type { Codec } from '../../lib/envelope/codecs/codec.interface.js';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from '../../lib/envelope/decode-limits.js';
import { newStamp, WIRE_VERSION, type Envelope } from '../../lib/envelope/envelope.js';
import { JsonCodec } from '../../lib/envelope/codecs/json.codec.js';
import { decodeEntry, encodeEntry, HEADER_LENGTH, readEntryHeader } from '../../lib/envelope/wire.js';
import { CacheError, DecodeError, EncodeError, PayloadTooLargeError } from '../../lib/errors/cache.errors.js';

const LIMITS = DEFAULT_DECODE_LIMITS;
const json = new JsonCodec();
const cbor = new CborCodec();
const CODECS: ReadonlyMap<string, Codec> = new Map<string, Codec>([
  [json.id, json],
  [cbor.id, cbor],
]);
const BOTH = [json, cbor] as const;
const SCOPE = 't.a';
/** A raw cbor-x encoder with the codec's options: writes what a foreign or older writer might. */
const rawCbor = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: true });

function envelope(value: unknown, over: Partial<Envelope> = {}): Envelope {
  return { value, createdAt: 1_700_000_000_000, expiresAt: 1_700_000_060_000, stamp: newStamp(), scope: SCOPE, ...over };
}
function encode(codec: Codec, value: unknown, limits: DecodeLimits = LIMITS): Buffer {
  return encodeEntry(envelope(value), codec, limits);
}
function decode(bytes: Uint8Array, limits: DecodeLimits = LIMITS, scope = SCOPE): Envelope {
  return decodeEntry(bytes, CODECS, scope, limits);
}
function roundTrip(codec: Codec, value: unknown): unknown {
  return decode(encode(codec, value)).value;
}
/** A valid header for codec `id` followed by `payload` (bytes made by hand, not by encodeEntry). */
function entryWith(id: string, payload: Uint8Array | string): Buffer {
  const header = Buffer.from(`NTC${WIRE_VERSION}${id}${'S'.repeat(16)}${'0'.repeat(15)}${'0'.repeat(16)}${'0'.repeat(7)}|`, 'latin1');
  expect(header.length).toBe(HEADER_LENGTH);
  return Buffer.concat([header, typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload]);
}
/** JSON entry whose value is the JSON text `valueText`. */
const jsonEntry = (valueText: string): Buffer => entryWith('j', `{"s":"${SCOPE}","c":1,"v":${valueText}}`);
/** CBOR entry `{s: SCOPE, c: 1, v: <valueBytes>}`, the map header and keys written by hand. */
const cborEntry = (valueBytes: Uint8Array | number[]): Buffer =>
  entryWith('c', Buffer.concat([Buffer.from([0xa3, 0x61, 0x73, 0x63, ...Buffer.from(SCOPE), 0x61, 0x63, 0x01, 0x61, 0x76]), Buffer.from(valueBytes)]));

/** Runs `fn`, returns what it threw (fails if nothing was thrown). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}
function expectDecodeError(fn: () => unknown, reason?: RegExp): DecodeError {
  const err = thrown(fn);
  expect(err).toBeInstanceOf(DecodeError);
  if (reason) expect((err as DecodeError).reason).toMatch(reason);
  return err as DecodeError;
}
function expectEncodeError(fn: () => unknown, message?: RegExp): void {
  const err = thrown(fn);
  expect(err).toBeInstanceOf(EncodeError);
  expect(err).toBeInstanceOf(CacheError);
  if (message) expect(err.message).toMatch(message);
}

// Nesting builders: `depth` containers, the innermost one empty.
type Wrap = (inner: unknown) => unknown;
const nest = (depth: number, empty: () => unknown, wrap: Wrap): unknown => {
  let v = empty();
  for (let i = 1; i < depth; i++) v = wrap(v);
  return v;
};
const NESTERS: Record<string, { empty: () => unknown; wrap: Wrap; json: boolean; cborBytes: (depth: number) => Buffer }> = {
  arrays: { empty: () => [], wrap: (v) => [v], json: true, cborBytes: (d) => Buffer.concat([Buffer.alloc(d - 1, 0x81), Buffer.from([0x80])]) },
  objects: {
    empty: () => ({}),
    wrap: (v) => ({ a: v }),
    json: true,
    cborBytes: (d) => Buffer.concat([...Array.from({ length: d - 1 }, () => Buffer.from([0xa1, 0x61, 0x61])), Buffer.from([0xa0])]),
  },
  Maps: {
    empty: () => new Map(),
    wrap: (v) => new Map([[1, v]]),
    json: false,
    // tag 259 (d9 0103) around a map, key 1
    cborBytes: (d) => Buffer.concat([...Array.from({ length: d - 1 }, () => Buffer.from([0xd9, 0x01, 0x03, 0xa1, 0x01])), Buffer.from([0xd9, 0x01, 0x03, 0xa0])]),
  },
  Sets: {
    empty: () => new Set(),
    wrap: (v) => new Set([v]),
    json: false,
    // tag 258 (d9 0102) around an array
    cborBytes: (d) => Buffer.concat([...Array.from({ length: d - 1 }, () => Buffer.from([0xd9, 0x01, 0x02, 0x81])), Buffer.from([0xd9, 0x01, 0x02, 0x80])]),
  },
};
const jsonNest = (name: 'arrays' | 'objects', depth: number): string =>
  name === 'arrays' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);

// ---------------------------------------------------------------------------------------------

describe.each(BOTH)('round trips through encodeEntry/decodeEntry: $name', (codec) => {
  it.each<[string, unknown]>([
    ['null', null],
    ['0', 0],
    ["''", ''],
    ['false', false],
    ['true', true],
    ['a number', 3.141592653589793],
    ['MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER],
    ['nested objects and arrays', { a: [1, { b: [null, 'x', { c: false }] }], d: { e: { f: [] } }, g: {} }],
    ['unicode', { 'ключ 🔑': 'значение — 値 — 😀👍🏽 — \u0000 — \r\n — \u2028', emoji: ['🏳️‍🌈', 'é', 'e\u0301'] }],
    ['object keys that look dangerous', { constructor: 1, prototype: { toString: 2 }, hasOwnProperty: 3 }],
  ])('%s comes back equal', (_name, value) => {
    expect(roundTrip(codec, value)).toStrictEqual(value);
  });

  it('a stored null is a value, not a miss', () => {
    const env = decode(encode(codec, null));
    expect('value' in env).toBe(true);
    expect(env.value).toBeNull();
  });

  it('a 900 KB string', () => {
    const big = 'ab😀c'.repeat(900 * 1024 / 7);
    expect(roundTrip(codec, big)).toBe(big);
  });

  it('-0 comes back as -0, NaN as NaN', () => {
    expect(Object.is(roundTrip(codec, -0), -0)).toBe(true);
    expect(Object.is(roundTrip(codec, 0), 0)).toBe(true);
    expect(roundTrip(codec, Number.NaN)).toBeNaN();
  });

  it('keeps the envelope fields: scope, createdAt, expiresAt, stamp, staleUntil, tags, http', () => {
    const env = envelope({ x: 1 }, { staleUntil: 1_700_000_120_000, tags: ['product:1', 'a:b'], http: { status: 201, etag: '"abc"', headers: [['content-type', 'application/json']] } });
    const back = decode(encodeEntry(env, codec, LIMITS));
    expect(back).toStrictEqual({ ...env, tags: ['product:1', 'a:b'], http: { status: 201, etag: '"abc"', headers: [['content-type', 'application/json']] } });
  });

  it("keeps the request headers a response varies on (absent ones as null)", () => {
    const http = { status: 200, etag: '"abc"', headers: [['vary', 'Origin, X-Foo']] as [string, string][], vary: [['origin', 'https://a.example'], ['x-foo', null]] as [string, string | null][] };
    expect(decode(encodeEntry(envelope('body', { http }), codec, LIMITS)).http).toStrictEqual(http);
  });

  it('keeps the age a relayed response arrived with (whole seconds)', () => {
    const http = { status: 200, etag: '"abc"', headers: [] as [string, string][], initialAge: 50 };
    expect(decode(encodeEntry(envelope('body', { http }), codec, LIMITS)).http).toStrictEqual(http);
  });

  it('expiresAt 0 (never) and the largest 15-digit expiry', () => {
    expect(decode(encodeEntry(envelope(1, { expiresAt: 0 }), codec, LIMITS)).expiresAt).toBe(0);
    expect(decode(encodeEntry(envelope(1, { expiresAt: 999_999_999_999_999 }), codec, LIMITS)).expiresAt).toBe(999_999_999_999_999);
  });

  // Bug fixed in wire.ts: these used to write a shifted header (an unreadable entry, and with a
  // short stamp, uninitialised allocUnsafe bytes in the stored entry).
  it.each<[string, Partial<Envelope>]>([
    ['a stamp of 5 characters', { stamp: 'short' }],
    ['a stamp of 17 characters', { stamp: 'x'.repeat(17) }],
    ['a negative expiry', { expiresAt: -1 }],
    ['a fractional expiry', { expiresAt: 1.5 }],
    ['a NaN expiry', { expiresAt: Number.NaN }],
    ['a 16-digit expiry', { expiresAt: 1e15 }],
  ])('refuses to write a malformed header: %s', (_name, over) => {
    expectEncodeError(() => encodeEntry(envelope(1, over), codec, LIMITS), /header is malformed/);
  });
});

describe.each(BOTH)('$name carries every cacheable type exactly', (codec) => {
  it.each<[string, unknown]>([
    ['Date', new Date('2024-02-29T12:34:56.789Z')],
    ['an invalid Date', new Date(Number.NaN)],
    ['the last and the first Date', [new Date(8.64e15), new Date(-8.64e15)]],
    ['Map with string keys', new Map<string, unknown>([['a', 1], ['b', { c: [2] }]])],
    ['Map with non-string keys', new Map<unknown, unknown>([[1, 'one'], [true, 'yes'], [null, 'nil'], [{ k: 1 }, 'object key'], [[1, 2], 'array key']])],
    ['Set', new Set([1, 'x', null, { a: 1 }])],
    ['small BigInt', 5n],
    ['negative BigInt', -5n],
    ['BigInt 2^64 + 1', 2n ** 64n + 1n],
    ['BigInt -(2^100)', -(2n ** 100n)],
    ['a BigInt of 3,000 bits', -(3n ** 2000n)],
    ['Buffer', Buffer.from('héllo\u0000', 'utf8')],
    ['Uint8Array', new Uint8Array([0, 1, 255])],
    ['Float64Array', new Float64Array([1.5, -0.25, Number.NaN, Number.POSITIVE_INFINITY, -0])],
    ['Int32Array', new Int32Array([-1, 2 ** 31 - 1])],
    ['BigInt64Array', new BigInt64Array([-1n, 2n ** 63n - 1n])],
    ['undefined inside an array', [1, undefined, 3]],
    ['undefined inside an object', { a: undefined, b: 1 }],
    ['undefined as the value', undefined],
    ['NaN, Infinity, -0', [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0]],
    ['a lone surrogate', ['a\ud800', '\udc00b', { 'k\ud83d': 1 }]],
    ['strings that look like tags', ['$D2024-01-01T00:00:00.000Z', '$$', '$', '$u', ['$M', 1, 2], ['$S'], { $M: 1 }]],
    ['a plain object with a "t" key, like the tagged form', { t: 1, v: new Date(0) }],
    ['everything nested', { when: new Date(0), m: new Map([[1n, new Set([Buffer.from('x')])]]), list: [undefined, 2n ** 70n] }],
  ])('%s comes back equal, same type', (_name, value) => {
    const back = roundTrip(codec, value);
    expect(back).toStrictEqual(value);
    if (value !== null && typeof value === 'object') expect(Object.getPrototypeOf(back)).toBe(Object.getPrototypeOf(value));
    expect(typeof back).toBe(typeof value);
  });

  it('a stored undefined is distinguishable from a missing value (the envelope has v)', () => {
    const env = decode(encode(codec, undefined));
    expect(env).toHaveProperty('value', undefined);
  });

  it('a key named __proto__ comes back as an own data key, and no prototype changes', () => {
    const value = JSON.parse('{"__proto__":{"x":1},"y":2}') as object;
    for (const v of [value, { when: new Date(0), inner: value }]) {
      const back = roundTrip(codec, v) as Record<string, unknown>;
      expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
      expect(back).toStrictEqual(v);
    }
    const back = roundTrip(codec, value) as Record<string, unknown>;
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toStrictEqual({ x: 1 });
    expect((back as { x?: unknown }).x).toBeUndefined();
  });

  it('a function, a symbol, a class instance or a cycle fails with EncodeError at encode time, naming where', () => {
    expectEncodeError(() => encode(codec, () => 1), /value: a function cannot be cached/);
    expectEncodeError(() => encode(codec, { f: Symbol('s') }), /value\.f: a symbol cannot be cached/);
    expectEncodeError(() => encode(codec, { items: [1, 2, 3, new (class Money {
        readonly cents = 100;
      })()] }), /value\.items\[3\]: an instance of Money cannot be cached/);
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expectEncodeError(() => encode(codec, cyc), /value\.self: a circular reference cannot be cached; remove the cycle/);
  });

  it('the codec\'s own encode applies the same checks', () => {
    expectEncodeError(() => codec.encode({ s: SCOPE, c: 1, v: [new Map([[1, () => 1]])] }), /function cannot be cached/);
  });
});

describe('json: plain data stays plain JSON, readable in redis-cli', () => {
  it('an object of strings, numbers, booleans and null is stored as its JSON.stringify', () => {
    const value = { a: [1, 'x', null, true, { $M: 'no tag here', s: '$5' }] };
    expect(encode(json, value).subarray(HEADER_LENGTH).toString()).toBe(`{"s":"${SCOPE}","c":1700000000000,"v":${JSON.stringify(value)}}`);
  });

  it('a value with a Date is marked tagged, and its strings starting with $ are escaped', () => {
    const text = encode(json, { at: new Date(0), price: '$5' }).subarray(HEADER_LENGTH).toString();
    expect(text).toBe(`{"t":1,"s":"${SCOPE}","c":1700000000000,"v":{"at":"$D1970-01-01T00:00:00.000Z","price":"$$5"}}`);
  });

  it('a plain payload that contains tag-like strings is never revived', () => {
    expect(decode(jsonEntry('["$D2024-01-01T00:00:00.000Z","$u",["$M",1,2]]')).value).toStrictEqual(['$D2024-01-01T00:00:00.000Z', '$u', ['$M', 1, 2]]);
  });

  it.each([
    ['an unknown tag', '"$Q"'],
    ['a malformed Date', '"$Dyesterday"'],
    ['a malformed BigInt', '"$n12x"'],
    ['a decimal BigInt over 300 digits', `"$n${'9'.repeat(301)}"`],
    ['an odd Map', '["$M",1]'],
    ['a typed array of the wrong length', '"$Tf64:AAAA"'],
    ['an unknown typed array', '"$Tf16:AAAA"'],
  ])('a tagged payload with %s is a DecodeError', (_name, text) => {
    expectDecodeError(() => decode(entryWith('j', `{"t":1,"s":"${SCOPE}","c":1,"v":${text}}`)));
  });
});

// ---------------------------------------------------------------------------------------------

describe('limits: nesting depth (16 accepted, 17 rejected)', () => {
  for (const [name, n] of Object.entries(NESTERS)) {
    for (const codec of BOTH) {
      it(`${codec.name} ${name}: encode accepts depth 16 and rejects 17 with EncodeError`, () => {
        const ok = nest(16, n.empty, n.wrap);
        expect(roundTrip(codec, ok)).toStrictEqual(ok);
        expectEncodeError(() => encode(codec, nest(17, n.empty, n.wrap)), /nesting deeper than 16 levels.*could never be read back/);
      });
    }
    it(`cbor ${name}: decode of hand-made bytes accepts depth 16 and rejects 17 with DecodeError`, () => {
      expect(decode(cborEntry(n.cborBytes(16))).value).toStrictEqual(nest(16, n.empty, n.wrap));
      expectDecodeError(() => decode(cborEntry(n.cborBytes(17))), /nesting deeper than 16 levels/);
    });
    if (n.json) {
      it(`json ${name}: decode of hand-made bytes accepts depth 16 and rejects 17 with DecodeError`, () => {
        const kind = name as 'arrays' | 'objects';
        expect(decode(jsonEntry(jsonNest(kind, 16))).value).toStrictEqual(nest(16, n.empty, n.wrap));
        expectDecodeError(() => decode(jsonEntry(jsonNest(kind, 17))), /nesting deeper than 16 levels/);
      });
    }
  }

  it('brackets inside JSON strings do not count as nesting', () => {
    const text = JSON.stringify(['[[[[[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{{{\\"', '\\']);
    expect(decode(jsonEntry(text)).value).toStrictEqual(JSON.parse(text));
  });
});

describe('limits: array length and map size (10,000 accepted, 10,001 rejected)', () => {
  const zeros = (n: number): number[] => new Array<number>(n).fill(0);
  const objectOf = (n: number): Record<string, number> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));

  for (const codec of BOTH) {
    it(`${codec.name}: arrays on encode`, () => {
      expect((roundTrip(codec, zeros(10_000)) as unknown[]).length).toBe(10_000);
      expectEncodeError(() => encode(codec, zeros(10_001)), /array longer than 10000 elements/);
    });
    it(`${codec.name}: objects on encode`, () => {
      expect(Object.keys(roundTrip(codec, objectOf(10_000)) as object)).toHaveLength(10_000);
      expectEncodeError(() => encode(codec, objectOf(10_001)), /more than 10000 (keys|pairs)/);
    });
  }
  it.each(BOTH)('$name: Sets and Maps on encode', (codec) => {
    expect((roundTrip(codec, new Set(zeros(10_000).map((_, i) => i))) as Set<number>).size).toBe(10_000);
    expectEncodeError(() => encode(codec, new Set(zeros(10_001).map((_, i) => i))), /set with more than 10000 elements/);
    expect((roundTrip(codec, new Map(zeros(10_000).map((_, i) => [i, i]))) as Map<number, number>).size).toBe(10_000);
    expectEncodeError(() => encode(codec, new Map(zeros(10_001).map((_, i) => [i, i]))), /map with more than 10000 pairs/);
  });

  it('json: hand-made tagged bytes on decode are held to the same limits per kind', () => {
    const tagged = (v: unknown): Buffer => entryWith('j', `{"t":1,"s":"${SCOPE}","c":1,"v":${JSON.stringify(v)}}`);
    const flat = (n: number): number[] => zeros(n).flatMap((_, i) => [i, i]);
    expect((decode(tagged(['$M', ...flat(10_000)])).value as Map<number, number>).size).toBe(10_000);
    // 10,001 pairs are 20,003 items: over what the scan lets through for any array of the tagged form.
    expectDecodeError(() => decode(tagged(['$M', ...flat(10_001)])), /array longer than 20001 elements/);
    // With longer arrays allowed, the scan lets the Map through and its pairs are counted exactly.
    expectDecodeError(() => decode(tagged(['$M', ...flat(10_001)]), { ...LIMITS, maxArrayLength: 30_000 }), /map with more than 10000 pairs/);
    expect((decode(tagged(['$S', ...zeros(10_000).map((_, i) => i)])).value as Set<number>).size).toBe(10_000);
    expectDecodeError(() => decode(tagged(['$S', ...zeros(10_001)])), /set with more than 10000 elements/);
    expectDecodeError(() => decode(tagged(zeros(10_001))), /array longer than 10000/);
    expectDecodeError(() => decode(tagged(zeros(20_002))), /array longer than 20001/);
    expectDecodeError(() => decode(tagged(nest(17, () => ['$S'], (v) => ['$M', 1, v]))), /nesting deeper than 16 levels/);
  });

  it('json: hand-made bytes on decode', () => {
    expect((decode(jsonEntry(JSON.stringify(zeros(10_000)))).value as unknown[]).length).toBe(10_000);
    expectDecodeError(() => decode(jsonEntry(JSON.stringify(zeros(10_001)))), /array longer than 10000/);
    expect(Object.keys(decode(jsonEntry(JSON.stringify(objectOf(10_000)))).value as object)).toHaveLength(10_000);
    expectDecodeError(() => decode(jsonEntry(JSON.stringify(objectOf(10_001)))), /object with more than 10000 keys/);
  });

  it('cbor: hand-made bytes on decode (definite and indefinite lengths)', () => {
    expect((decode(cborEntry([0x99, 0x27, 0x10, ...zeros(10_000)])).value as unknown[]).length).toBe(10_000);
    expectDecodeError(() => decode(cborEntry([0x99, 0x27, 0x11, ...zeros(10_001)])), /array longer than 10000/);
    // A lying header: claims 10,001 elements but carries none.
    expectDecodeError(() => decode(cborEntry([0x99, 0x27, 0x11])), /array longer than 10000/);
    expect(Object.keys(decode(cborEntry(rawCbor.encode(objectOf(10_000)))).value as object)).toHaveLength(10_000);
    expectDecodeError(() => decode(cborEntry(rawCbor.encode(objectOf(10_001)))), /map with more than 10000 pairs/);
    expectDecodeError(() => decode(cborEntry(rawCbor.encode(new Map(zeros(10_001).map((_, i) => [i, i]))))), /map with more than 10000 pairs/);
    // A huge claimed map size in an 8-byte argument.
    expectDecodeError(() => decode(cborEntry([0xbb, 0, 0, 0, 1, 0, 0, 0, 0])), /map with more than 10000 pairs/);
  });

  // Bug fixed in cbor.codec.ts: indefinite-length containers carry no count, and the scan did not
  // count their items, so 0x9f/0xbf bypassed both limits.
  it('cbor: indefinite-length arrays (0x9f ... 0xff) are held to 10,000 elements', () => {
    expect((decode(cborEntry([0x9f, ...zeros(10_000), 0xff])).value as unknown[]).length).toBe(10_000);
    expectDecodeError(() => decode(cborEntry([0x9f, ...zeros(10_001), 0xff])), /array longer than 10000/);
    expectDecodeError(() => decode(cborEntry([0x9f, ...zeros(1_000_000), 0xff]), { ...LIMITS, maxPayloadBytes: 4 << 20 }), /array longer than 10000/);
  });
  it('cbor: indefinite-length maps (0xbf ... 0xff) are held to 10,000 pairs', () => {
    // Pairs (uint key i, 0): keys 0..23 are one byte, up to 255 two bytes, then three bytes (0x19 hi lo).
    const pairs = (n: number): number[] => Array.from({ length: n }, (_, i) => (i < 24 ? [i, 0] : i < 256 ? [0x18, i, 0] : [0x19, i >> 8, i & 0xff, 0])).flat();
    expect(Object.keys(decode(cborEntry([0xbf, ...pairs(10_000), 0xff])).value as object)).toHaveLength(10_000);
    expectDecodeError(() => decode(cborEntry([0xbf, ...pairs(10_001), 0xff])), /map with more than 10000 pairs/);
    // The same inside a tag-259 Map.
    expect((decode(cborEntry([0xd9, 0x01, 0x03, 0xbf, ...pairs(10_000), 0xff])).value as Map<number, number>).size).toBe(10_000);
    expectDecodeError(() => decode(cborEntry([0xd9, 0x01, 0x03, 0xbf, ...pairs(10_001), 0xff])), /map with more than 10000 pairs/);
  });
  it('cbor: indefinite-length text strings (which cbor-x does not read) are a DecodeError', () => {
    expectDecodeError(() => decode(cborEntry([0x7f, 0x61, 0x61, 0x61, 0x62, 0xff])));
  });
});

describe('limits: payload size', () => {
  const small: DecodeLimits = { ...LIMITS, maxPayloadBytes: 300 };

  for (const codec of BOTH) {
    it(`${codec.name}: exactly maxPayloadBytes is accepted, one byte more is PayloadTooLargeError`, () => {
      const overhead = encode(codec, '').length;
      // 1-byte characters; CBOR's string header is 2 bytes from 24 characters on, so measure.
      let n = small.maxPayloadBytes - overhead;
      while (encode(codec, 'x'.repeat(n)).length > small.maxPayloadBytes) n--;
      const exact = encode(codec, 'x'.repeat(n), small);
      expect(exact.length).toBe(small.maxPayloadBytes);
      expect(decode(exact, small).value).toBe('x'.repeat(n));
      const err = thrown(() => encode(codec, 'x'.repeat(n + 1), small));
      expect(err).toBeInstanceOf(PayloadTooLargeError);
      expect((err as PayloadTooLargeError).limit).toBe(300);
      expect(err.message).toMatch(/raise the "maxPayloadBytes" option/);
    });
    it(`${codec.name}: a 1 MiB + 1 value is PayloadTooLargeError with the default limits`, () => {
      expect(thrown(() => encode(codec, 'x'.repeat(LIMITS.maxPayloadBytes)))).toBeInstanceOf(PayloadTooLargeError);
    });
    it(`${codec.name}: stored bytes over maxPayloadBytes are a DecodeError`, () => {
      const bytes = encode(codec, 'x'.repeat(400));
      expectDecodeError(() => decode(bytes, small), /over maxPayloadBytes \(300\)/);
    });
  }
});

describe('limits: a 1,000,000-deep payload is a DecodeError, not a stack overflow', () => {
  const deep = 1_000_000;
  const raised: DecodeLimits = { ...LIMITS, maxPayloadBytes: 8 * 1024 * 1024 };

  it('json [[[[...', () => {
    const bytes = jsonEntry('['.repeat(deep) + ']'.repeat(deep));
    const started = performance.now();
    expectDecodeError(() => decode(bytes, raised), /nesting deeper than 16/);
    console.log(`1,000,000-deep JSON rejected in ${(performance.now() - started).toFixed(2)} ms`);
  });

  it('cbor 0x81 repeated', () => {
    const value = Buffer.concat([Buffer.alloc(deep, 0x81), Buffer.from([0x00])]);
    const bytes = cborEntry(value);
    const started = performance.now();
    expectDecodeError(() => decode(bytes, raised), /nesting deeper than 16/);
    console.log(`1,000,000-deep CBOR rejected in ${(performance.now() - started).toFixed(2)} ms`);
    // What the scan protects against: cbor-x alone recurses and overflows the stack.
    expect(() => new Decoder({ useRecords: false, mapsAsObjects: true }).decode(value)).toThrow(RangeError);
  }, 10_000);

  it('cbor indefinite-length arrays (0x9f) repeated', () => {
    expectDecodeError(() => decode(cborEntry(Buffer.alloc(deep, 0x9f)), raised), /nesting deeper than 16/);
  });

  it('cbor tags (0xc6) repeated', () => {
    expectDecodeError(() => decode(cborEntry(Buffer.concat([Buffer.alloc(deep, 0xc6), Buffer.from([0x00])])), raised), /too many nested CBOR tags/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('prototype safety', () => {
  const pristine = (): void => {
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted');
  };
  const noInherited = (obj: unknown): void => {
    expect(Object.getPrototypeOf(obj)).toBe(Object.prototype);
    const o = obj as Record<string, unknown>;
    expect(o.polluted).toBeUndefined();
    expect(o.isAdmin).toBeUndefined();
  };

  it('json: __proto__, constructor and prototype keys stay own data', () => {
    const env = decode(
      jsonEntry('{"__proto__":{"polluted":true,"isAdmin":true},"constructor":{"prototype":{"polluted":true}},"prototype":{"polluted":1},"nested":{"__proto__":{"isAdmin":true}}}'),
    );
    pristine();
    const v = env.value as Record<string, unknown>;
    noInherited(v);
    noInherited(v.nested);
    // JSON.parse keeps "__proto__" as an own data property (documented); it is not the prototype.
    expect(Object.getOwnPropertyNames(v)).toContain('__proto__');
    expect(Object.getOwnPropertyDescriptor(v, '__proto__')?.value).toStrictEqual({ polluted: true, isAdmin: true });
    expect((v.constructor as unknown as Record<string, unknown>).prototype).toStrictEqual({ polluted: true });
  });

  it('json: an envelope hidden behind __proto__ is not an envelope', () => {
    expectDecodeError(() => decode(entryWith('j', `{"__proto__":{"s":"${SCOPE}","c":1,"v":1}}`)), /payload is not an envelope/);
    pristine();
  });

  it('cbor: __proto__, constructor and prototype keys never reach a prototype', () => {
    const text = (s: string): number[] => [0x60 + s.length, ...Buffer.from(s)];
    // {"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "nested": {"__proto__": {"isAdmin": true}}}
    const value = [
      0xa3,
      ...text('__proto__'), 0xa1, ...text('polluted'), 0xf5,
      ...text('constructor'), 0xa1, ...text('prototype'), 0xa1, ...text('polluted'), 0xf5,
      ...text('nested'), 0xa1, ...text('__proto__'), 0xa1, ...text('isAdmin'), 0xf5,
    ];
    const env = decode(cborEntry(value));
    pristine();
    const v = env.value as Record<string, unknown>;
    noInherited(v);
    noInherited(v.nested);
    expect(Object.getOwnPropertyNames(v)).toContain('__proto__');
    expect(Object.getOwnPropertyDescriptor(v, '__proto__')?.value).toStrictEqual({ polluted: true });
    // The same bytes as a tag-259 Map: a Map holds "__proto__" as an ordinary key.
    const asMap = decode(cborEntry([0xd9, 0x01, 0x03, ...value])).value as Map<string, unknown>;
    expect(asMap).toBeInstanceOf(Map);
    expect(asMap.get('__proto__')).toStrictEqual({ polluted: true });
    pristine();
  });

  it('cbor: an envelope hidden behind __proto__ is not an envelope', () => {
    const payload = rawCbor.encode(JSON.parse(`{"__proto__":{"s":"${SCOPE}","c":1,"v":1}}`));
    expectDecodeError(() => decode(entryWith('c', payload)), /payload is not an envelope/);
    pristine();
  });

  it('cbor: generic-object tag 27 cannot reach Object.prototype through "constructor"/"__proto__"', () => {
    const text = (s: string): number[] => [0x60 + s.length, ...Buffer.from(s)];
    for (const name of ['constructor', '__proto__', 'hasOwnProperty', '__defineGetter__']) {
      // tag 27 [name, {"polluted": true}]
      const bytes = cborEntry([0xd8, 0x1b, 0x82, ...text(name), 0xa1, ...text('polluted'), 0xf5]);
      let value: unknown;
      try {
        value = decode(bytes).value;
      } catch (err) {
        expect(err, name).toBeInstanceOf(DecodeError);
        value = undefined;
      }
      // Refused, or decoded as plain data: never an object with another prototype.
      if (value !== undefined) {
        expect(Object.getPrototypeOf(value), name).toBe(Object.prototype);
        expect(value, name).toStrictEqual({ polluted: true });
      }
      pristine();
    }
  });
});

describe('scope check', () => {
  for (const codec of BOTH) {
    it(`${codec.name}: an entry written for t.a read under t.b is a DecodeError`, () => {
      const bytes = encodeEntry(envelope('secret', { scope: 't.a' }), codec, LIMITS);
      expect(decode(bytes, LIMITS, 't.a').value).toBe('secret');
      expectDecodeError(() => decode(bytes, LIMITS, 't.b'), /another scope/);
      expectDecodeError(() => decode(bytes, LIMITS, 'g'), /another scope/);
    });
  }
});

describe('header: basis and tag section', () => {
  const meta = { basis: 1_700_000_000_123_456, tagKeys: ['ns:{t.a}:tag:product:1', 'ns:{t.a}:tag:ü 漢'] };
  for (const codec of BOTH) {
    it(`${codec.name}: carries the basis and the tag-version key names, length-prefixed, and decodes as before`, () => {
      const bytes = encodeEntry(envelope({ a: 1 }), codec, LIMITS, meta);
      const names = meta.tagKeys.map((name) => Buffer.from(name, 'utf8'));
      const section = Buffer.concat(names.flatMap((name) => [Buffer.from(String(name.length).padStart(6, '0')), name]));
      expect(bytes.subarray(36, 52).toString('latin1')).toBe('1700000000123456');
      expect(bytes.subarray(52, 59).toString('latin1')).toBe(String(section.length).padStart(7, '0'));
      expect(bytes.subarray(59, 59 + section.length).equals(section)).toBe(true);
      expect(bytes[59 + section.length]).toBe(0x7c);
      expect(decode(bytes).value).toStrictEqual({ a: 1 });
      const header = readEntryHeader(bytes)!;
      expect(header.basis).toBe(meta.basis);
      expect(header.tagNames.length).toBe(4);
      expect(bytes.subarray(header.tagNames[2], header.tagNames[3]).toString('utf8')).toBe('ns:{t.a}:tag:ü 漢');
    });
    it(`${codec.name}: a malformed tag section is a DecodeError, and readEntryHeader refuses it too`, () => {
      const good = encodeEntry(envelope({ a: 1 }), codec, LIMITS, meta);
      for (const [at, ch] of [[59, 'x'], [59, '9'], [59 + 5, '0'], [59 + 6 + 21 + 3, '9']] as const) {
        const bad = Buffer.from(good);
        bad.write(ch, at, 'latin1');
        expectDecodeError(() => decode(bad));
        expect(readEntryHeader(bad), `${at} ${ch}`).toBeUndefined();
      }
    });
    it(`${codec.name}: a basis that is no safe integer is refused at write`, () => {
      expect(() => encodeEntry(envelope(1), codec, LIMITS, { basis: -1, tagKeys: [] })).toThrow(EncodeError);
      expect(() => encodeEntry(envelope(1), codec, LIMITS, { basis: 2 ** 53, tagKeys: [] })).toThrow(EncodeError);
    });
  }
});

describe('header', () => {
  for (const codec of BOTH) {
    const valid = (): Buffer => encode(codec, { a: 1 });
    const mutate = (at: number, ch: string): Buffer => {
      const b = valid();
      b.write(ch, at, 'latin1');
      return b;
    };
    it(`${codec.name}: the valid entry decodes`, () => {
      expect(decode(valid()).value).toStrictEqual({ a: 1 });
    });
    it(`${codec.name}: wrong magic`, () => {
      expectDecodeError(() => decode(mutate(0, 'X')), /not an entry of this library/);
      expectDecodeError(() => decode(mutate(2, 'c')), /not an entry of this library/);
    });
    it(`${codec.name}: wrong version digit`, () => {
      expectDecodeError(() => decode(mutate(3, '2')), /wire version 2 is not 3/);
      expectDecodeError(() => decode(mutate(3, '1')), /wire version 1 is not 3/);
      expectDecodeError(() => decode(mutate(3, '0')), /wire version/);
    });
    it(`${codec.name}: unknown codec id`, () => {
      expectDecodeError(() => decode(mutate(4, 'x')), /unknown codec id "x"/);
    });
    it(`${codec.name}: the other codec's id on this payload`, () => {
      expectDecodeError(() => decode(mutate(4, codec.id === 'j' ? 'c' : 'j')));
    });
    it(`${codec.name}: corrupt expiry`, () => {
      expectDecodeError(() => decode(mutate(5 + 16, 'x')), /corrupt expiry/);
      expectDecodeError(() => decode(mutate(5 + 16 + 14, '-')), /corrupt expiry/);
      expectDecodeError(() => decode(mutate(5 + 16, ' ')), /corrupt expiry/);
    });
    it(`${codec.name}: corrupt basis, corrupt tag section length`, () => {
      expectDecodeError(() => decode(mutate(5 + 16 + 15, 'x')), /corrupt basis/);
      expectDecodeError(() => decode(mutate(5 + 16 + 15 + 15, ' ')), /corrupt basis/);
      expectDecodeError(() => decode(mutate(HEADER_LENGTH - 2, '-')), /corrupt tag section/);
      // A length pointing past the entry, or at a byte that is no '|'.
      expectDecodeError(() => decode(mutate(HEADER_LENGTH - 8, '9')), /shorter than its header/);
      expectDecodeError(() => decode(mutate(HEADER_LENGTH - 2, '1')), /corrupt header/);
    });
    it(`${codec.name}: missing '|'`, () => {
      expectDecodeError(() => decode(mutate(HEADER_LENGTH - 1, '0')), /corrupt header/);
    });
    it(`${codec.name}: shorter than the header, empty`, () => {
      expectDecodeError(() => decode(valid().subarray(0, HEADER_LENGTH - 1)), /shorter than its header/);
      expectDecodeError(() => decode(new Uint8Array(0)), /shorter than its header/);
    });
    it(`${codec.name}: header only, no payload`, () => {
      expectDecodeError(() => decode(valid().subarray(0, HEADER_LENGTH)));
    });
    it(`${codec.name}: trailing garbage after the payload`, () => {
      expectDecodeError(() => decode(Buffer.concat([valid(), Buffer.from([0x00])])));
    });
    it(`${codec.name}: a plain Uint8Array view at an offset decodes like a Buffer`, () => {
      const b = valid();
      const backing = new Uint8Array(b.length + 7);
      backing.set(b, 7);
      expect(decode(new Uint8Array(backing.buffer, 7, b.length)).value).toStrictEqual({ a: 1 });
    });
  }
});

describe('malformed envelope fields', () => {
  // Bug fixed in wire.ts: `h: null` used to escape as a TypeError.
  it.each(['null', '5', '"x"', '[]', '{}', '{"s":200,"e":"x","hd":5}', 'true', '{"s":200,"e":"x","hd":[],"ag":-1}', '{"s":200,"e":"x","hd":[],"ag":"50"}', '{"s":200,"e":"x","hd":[],"ag":1.5}'])('json: http metadata %s is a DecodeError', (h) => {
    expectDecodeError(() => decode(entryWith('j', `{"s":"${SCOPE}","c":1,"v":1,"h":${h}}`)), /corrupt HTTP metadata/);
  });
  it.each([null, 5, 'x', [], {}, true])('cbor: http metadata %s is a DecodeError', (h) => {
    expectDecodeError(() => decode(entryWith('c', rawCbor.encode({ s: SCOPE, c: 1, v: 1, h }))), /corrupt HTTP metadata/);
  });
  it.each([
    ['no v', `{"s":"${SCOPE}","c":1}`],
    ['s not a string', '{"s":1,"c":1,"v":1}'],
    ['c not a number', `{"s":"${SCOPE}","c":"1","v":1}`],
    ['an array', `["${SCOPE}",1,1]`],
    ['null', 'null'],
    ['a string', '"x"'],
  ])('json: a payload with %s is a DecodeError', (_name, payload) => {
    expectDecodeError(() => decode(entryWith('j', payload)), /payload is not an envelope/);
  });
  it('non-string tags are dropped, string tags kept', () => {
    expect(decode(entryWith('j', `{"s":"${SCOPE}","c":1,"v":1,"g":["a",1,null,"b"]}`)).tags).toStrictEqual(['a', 'b']);
  });
});

describe('decode fast paths (payload decoded in place, scan state reused)', () => {
  it('json: an entry inside a larger reply buffer decodes only its own bytes', () => {
    const b = encode(json, { a: [1, 2, { b: 'x"y\\\\' }] });
    const reply = Buffer.concat([Buffer.from('{[[["junk'), b, Buffer.from(']]]}"x')]);
    expect(decode(reply.subarray(9, 9 + b.length)).value).toStrictEqual({ a: [1, 2, { b: 'x"y\\\\' }] });
  });

  it('json: the reused scan state serves shallow then deeper limits, and a failed scan does not leak into the next', () => {
    const codec = new JsonCodec();
    const deep = (n: number): Buffer => Buffer.from(`${'['.repeat(n)}1${']'.repeat(n)}`);
    const shallow = { ...LIMITS, maxDepth: 2 };
    expect(() => codec.decode(deep(4), shallow, shallow.maxDepth + 1)).toThrow(DecodeError);
    const nested = (n: number): unknown => (n === 0 ? 1 : [nested(n - 1)]);
    expect(codec.decode(deep(40), { ...LIMITS, maxDepth: 64 }, 65)).toStrictEqual(nested(40));
    expect(() => codec.decode(Buffer.from('[1,2,3]'), { ...LIMITS, maxArrayLength: 2 }, 17)).toThrow(/array longer than 2/);
    expect(codec.decode(Buffer.from('[[1,2],[3,4]]'), { ...LIMITS, maxArrayLength: 2 }, 17)).toStrictEqual([[1, 2], [3, 4]]);
    expect(() => codec.decode(Buffer.from('{"a":1,"b":2,"c":3}'), { ...LIMITS, maxMapPairs: 2 }, 17)).toThrow(/more than 2 keys/);
  });

  it('json: an unterminated string or escape at the end is truncated JSON', () => {
    for (const text of ['["abc', '["abc\\', '"', '{"a":"\\"}']) {
      expect(() => json.decode(Buffer.from(text), LIMITS, 17)).toThrow(/truncated JSON/);
    }
  });

  it('expiry digits outside ASCII 0-9 are a corrupt expiry (bytes / and :, and Latin-1 digits)', () => {
    for (const ch of ['/', ':', '\u00b2', '\u00bd']) {
      const b = encode(json, 1);
      b.write(ch, 5 + 16 + 3, 'latin1');
      expectDecodeError(() => decode(b), /corrupt expiry/);
    }
  });

  it('a JsonCodec subclass that overrides decode is used as written', () => {
    class Traced extends JsonCodec {
      calls = 0;
      override decode(bytes: Uint8Array, limits: DecodeLimits, depthLimit: number): unknown {
        this.calls++;
        return super.decode(bytes, limits, depthLimit);
      }
    }
    const traced = new Traced();
    const b = encode(json, { a: 1 });
    expect(decodeEntry(b, new Map<string, Codec>([['j', traced]]), SCOPE, LIMITS).value).toStrictEqual({ a: 1 });
    expect(traced.calls).toBe(1);
  });
});
