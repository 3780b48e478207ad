import { Encoder } from 'cbor-x';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CborCodec } from '../../lib/envelope/codecs/cbor.codec.js';
import type { Codec } from '../../lib/envelope/codecs/codec.interface.js';
import { DEFAULT_DECODE_LIMITS } from '../../lib/envelope/decode-limits.js';
import { newStamp, WIRE_VERSION, type Envelope } from '../../lib/envelope/envelope.js';
import { JsonCodec } from '../../lib/envelope/codecs/json.codec.js';
import { decodeEntry, encodeEntry, HEADER_LENGTH } from '../../lib/envelope/wire.js';
import { DecodeError } from '../../lib/errors/cache.errors.js';

/**
 * Whatever bytes a store hands back (garbage, truncated, bit-rotted, another tenant's, written by
 * a foreign writer), `decodeEntry` either returns an envelope of the expected scope or throws
 * `DecodeError` — never RangeError, TypeError, SyntaxError or anything else — because callers
 * turn exactly DecodeError into a miss.
 */

const LIMITS = DEFAULT_DECODE_LIMITS;
const SCOPE = 't.a';
const json = new JsonCodec();
const cbor = new CborCodec();
const CODECS: ReadonlyMap<string, Codec> = new Map<string, Codec>([
  [json.id, json],
  [cbor.id, cbor],
]);
/** Writes like the codec but without encodeEntry's checks: what a foreign or buggy writer may store. */
const rawCbor = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: true });

const stats = { decoded: 0, rejected: 0, slowestMs: 0 };
afterAll(() => {
  console.log(`envelope fuzz: ${stats.decoded} decoded, ${stats.rejected} rejected with DecodeError, slowest decode ${stats.slowestMs.toFixed(2)} ms`);
});

/** The oracle: DecodeError or an envelope of the expected scope; anything else fails. */
function checkOutcome(decode: () => Envelope, expectedScope = SCOPE): void {
  let env: Envelope;
  const started = performance.now();
  try {
    env = decode();
  } catch (err) {
    if (!(err instanceof DecodeError)) {
      throw new Error(`decodeEntry threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`, { cause: err });
    }
    stats.rejected++;
    return;
  } finally {
    stats.slowestMs = Math.max(stats.slowestMs, performance.now() - started);
  }
  stats.decoded++;
  if (env === null || typeof env !== 'object') throw new Error(`decodeEntry returned ${String(env)}`);
  if (env.scope !== expectedScope) throw new Error(`decodeEntry returned scope ${JSON.stringify(env.scope)}, expected ${expectedScope}`);
  if (!('value' in env)) throw new Error('decodeEntry returned an envelope without value');
  if (typeof env.stamp !== 'string' || env.stamp.length !== 16) throw new Error('decodeEntry returned a bad stamp');
  if (!Number.isInteger(env.expiresAt) || env.expiresAt < 0) throw new Error('decodeEntry returned a bad expiresAt');
  if (typeof env.createdAt !== 'number') throw new Error('decodeEntry returned a bad createdAt');
}
const check = (bytes: Uint8Array): void => checkOutcome(() => decodeEntry(bytes, CODECS, SCOPE, LIMITS));

const headerFor = (id: string): Buffer => Buffer.from(`NTC${WIRE_VERSION}${id}${newStamp()}${'000001700000000'}${'0'.repeat(16)}${'0'.repeat(7)}|`, 'latin1');
const withHeader = (id: string, payload: Uint8Array | string): Buffer =>
  Buffer.concat([headerFor(id), typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload]);

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const bytesArb = (maxLength: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength });

/** JSON-ish token soup: structure, envelope field names, escapes, numbers, broken UTF-8. */
const JSON_TOKENS = [
  '[', ']', '{', '}', ',', ':', '"', '\\', '\\"', '\\u', '\\ud800', 'null', 'true', 'false', '0', '-0', '1e999', '-', '1.5', '12345678901234567890',
  '"s"', '"c"', '"v"', '"x"', '"g"', '"h"', '"hd"', '"e"', `"${SCOPE}"`, '"t.b"', '"__proto__"', '"constructor"', '"prototype"',
  ' ', '\n', '\t', '😀', '\u0000', '\uFEFF', 'é',
];
const jsonSoupArb: fc.Arbitrary<string> = fc.array(fc.constantFrom(...JSON_TOKENS), { maxLength: 60 }).map((t) => t.join(''));
/** Bytes that are not valid UTF-8 at all. */
const badUtf8 = [0xc0, 0xc1, 0xf5, 0xff, 0xfe, 0x80, 0xed, 0xa0];

/** CBOR-ish byte soup: container heads (definite, indefinite), tags the decoder knows (Date, BigInt,
 * Set, Map, records, shared refs, generic objects, typed arrays), simple values, long arguments. */
const CBOR_CHUNKS: number[][] = [
  [0x80], [0x81], [0x82], [0x98, 0x20], [0x9f], [0xa0], [0xa1], [0xa2], [0xbf], [0xff],
  [0x00], [0x17], [0x18, 0xff], [0x19, 0xff, 0xff], [0x1a, 0xff, 0xff, 0xff, 0xff], [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0x20], [0x3b, 0, 0, 0, 0, 0, 0, 0, 1],
  [0x40], [0x41, 0x00], [0x5f], [0x5a, 0xff, 0xff, 0xff, 0xff], [0x60], [0x61, 0x76], [0x61, 0x73], [0x61, 0x63], [0x63, 0x74, 0x2e, 0x61], [0x69, ...Buffer.from('__proto__')], [0x7f], [0x7b, 0, 0, 0, 0, 0, 0, 0, 9],
  [0xc0], [0xc1], [0xc2], [0xc3], [0xc4], [0xc6], [0xd8, 0x1b], [0xd8, 0x1c], [0xd8, 0x1d], [0xd8, 0x33], [0xd8, 0x40], [0xd8, 0x48], [0xd8, 0x52], [0xd8, 0x56],
  [0xd9, 0x01, 0x02], [0xd9, 0x01, 0x03], [0xd9, 0xdf, 0xff], [0xd9, 0xe0, 0x00], [0xda, 0xff, 0xff, 0xff, 0xff], [0xdb, 0, 0, 0, 0, 0, 0, 0, 1],
  [0xf4], [0xf5], [0xf6], [0xf7], [0xf8, 0x20], [0xf9, 0x7c, 0x00], [0xfa, 0x7f, 0xc0, 0, 0], [0xfb, 0, 0, 0, 0, 0, 0, 0, 0], [0x1c], [0xfc], [0xfd], [0xfe],
];
const cborSoupArb: fc.Arbitrary<Buffer> = fc
  .array(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...CBOR_CHUNKS) }, { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 4 }) }), { maxLength: 40 })
  .map((chunks) => Buffer.from(chunks.flat()));

/** The CBOR head of `{s: SCOPE, c: 1, v: ` — append a value to get a (maybe) valid payload. */
const CBOR_ENVELOPE_PREFIX = Buffer.from([0xa3, 0x61, 0x73, 0x63, ...Buffer.from(SCOPE), 0x61, 0x63, 0x01, 0x61, 0x76]);
const JSON_ENVELOPE_PREFIX = `{"s":"${SCOPE}","c":1,"v":`;

/** Values encodeEntry accepts, for valid entries to truncate and corrupt. */
const valueArb = fc.oneof(
  fc.anything({ maxDepth: 4, withDate: true, withMap: true, withSet: true, withBigInt: true, withTypedArray: true, withSparseArray: true, withBoxedValues: false, withNullPrototype: false }),
  fc.constantFrom<unknown>(null, 0, '', false, [], {}, 'x'.repeat(300), { __proto__x: 1, constructor: 2 }),
);
const envelopeArb: fc.Arbitrary<Envelope> = fc.record(
  {
    value: valueArb,
    createdAt: fc.integer({ min: 0, max: 2 ** 45 }),
    expiresAt: fc.integer({ min: 0, max: 999_999_999_999_999 }),
    staleUntil: fc.integer({ min: 0, max: 2 ** 45 }),
    tags: fc.array(fc.string(), { maxLength: 3 }),
    http: fc.record({ status: fc.integer({ min: 100, max: 599 }), etag: fc.string(), headers: fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 3 }) }),
    stamp: fc.constant('').map(() => newStamp()),
    scope: fc.constant(SCOPE),
  },
  { requiredKeys: ['value', 'createdAt', 'expiresAt', 'stamp', 'scope'] },
);

/** A valid entry (or undefined when the codec cannot carry the value, e.g. BigInt in JSON). */
/** Encoded as a Redis store writes it: a tagged entry's header names its tags' version keys. */
function tryEncode(env: Envelope, codec: Codec): Buffer | undefined {
  try {
    return encodeEntry(env, codec, LIMITS, { basis: env.createdAt, tagKeys: (env.tags ?? []).map((tag) => `fuzz:{${env.scope}}:tag:${tag}`) });
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------

describe('the oracle can fail', () => {
  it('flags a TypeError, a RangeError, a SyntaxError and a foreign scope', () => {
    expect(() => checkOutcome(() => { throw new TypeError('x'); })).toThrow(/threw TypeError/);
    expect(() => checkOutcome(() => { throw new RangeError('Maximum call stack size exceeded'); })).toThrow(/threw RangeError/);
    expect(() => checkOutcome(() => JSON.parse('{') as Envelope)).toThrow(/threw SyntaxError/);
    expect(() => checkOutcome(() => ({ value: 1, createdAt: 1, expiresAt: 0, stamp: 'x'.repeat(16), scope: 't.b' }))).toThrow(/scope "t.b"/);
    expect(() => checkOutcome(() => { throw new DecodeError('fine'); })).not.toThrow();
  });
});

describe.each([json, cbor])('decodeEntry fuzz: $name', (codec) => {
  const params = { numRuns: 10_000, seed: codec.id === 'j' ? 4242 : 2424 } as const;

  it('10,000 random buffers (no header)', () => {
    fc.assert(fc.property(bytesArb(200), (b) => check(b)), params);
  });

  it('10,000 random payloads behind a valid header of this codec', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          bytesArb(200),
          codec === json ? jsonSoupArb.map((s) => Buffer.from(s, 'utf8')) : cborSoupArb,
          codec === json
            ? jsonSoupArb.map((s) => Buffer.from(JSON_ENVELOPE_PREFIX + s + '}', 'utf8'))
            : cborSoupArb.map((s) => Buffer.concat([CBOR_ENVELOPE_PREFIX, s])),
          codec === json ? jsonSoupArb.map((s) => Buffer.concat([Buffer.from(JSON_ENVELOPE_PREFIX + s), Buffer.from(badUtf8), Buffer.from('}')])) : cborSoupArb,
        ),
        (payload) => check(withHeader(codec.id, payload)),
      ),
      params,
    );
  });

  it('10,000 payloads of random shape (foreign writer): any field of any type', () => {
    const field = fc.anything({ maxDepth: 3, withMap: codec === cbor, withSet: codec === cbor, withDate: true, withBigInt: codec === cbor, withTypedArray: codec === cbor });
    const payloadArb = fc.record(
      {
        s: fc.oneof(fc.constant(SCOPE), fc.constant('t.b'), field),
        c: fc.oneof(fc.integer(), fc.double(), field),
        x: fc.oneof(fc.integer(), field),
        g: fc.oneof(fc.array(fc.oneof(fc.string(), field)), field),
        h: fc.oneof(
          fc.record({ s: fc.oneof(fc.integer(), field), e: fc.oneof(fc.string(), field), hd: fc.oneof(fc.array(fc.oneof(fc.tuple(fc.string(), fc.string()), field)), field) }, { requiredKeys: [] }),
          field,
        ),
        v: field,
        ['__proto__']: field, // computed: an own "__proto__" key, not the model's prototype
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(payloadArb, (payload) => {
        let body: Uint8Array;
        try {
          body = codec === json ? Buffer.from(JSON.stringify(payload) ?? 'null', 'utf8') : rawCbor.encode(payload);
        } catch {
          return; // not representable (e.g. a cycle); nothing to store
        }
        check(withHeader(codec.id, body));
      }),
      params,
    );
  });

  it('every truncation of valid entries', () => {
    let cuts = 0;
    fc.assert(
      fc.property(envelopeArb, (env) => {
        const entry = tryEncode(env, codec);
        if (entry === undefined) return;
        check(entry);
        // Every offset for entries up to 4 KB; beyond, the header and 512 offsets spread over the payload.
        const offsets =
          entry.length <= 4096
            ? Array.from({ length: entry.length }, (_, i) => i)
            : [...Array.from({ length: HEADER_LENGTH + 1 }, (_, i) => i), ...Array.from({ length: 512 }, (_, i) => Math.floor(((i + 1) * entry.length) / 513))];
        for (const at of offsets) {
          check(entry.subarray(0, at));
          cuts++;
        }
      }),
      { numRuns: 300, seed: 77 },
    );
    expect(cuts).toBeGreaterThan(10_000);
  });

  it('10,000 valid entries with random byte and bit flips', () => {
    fc.assert(
      fc.property(
        envelopeArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        (env, flips, payloadOnly) => {
          const entry = tryEncode(env, codec);
          if (entry === undefined) return;
          const bytes = Buffer.from(entry);
          for (const [at, value, bit] of flips) {
            // Half the time spare the header, so the payload parser is what meets the damage.
            const i = payloadOnly && bytes.length > HEADER_LENGTH ? HEADER_LENGTH + (at % (bytes.length - HEADER_LENGTH)) : at % bytes.length;
            bytes[i] = bit ? bytes[i]! ^ (1 << (value & 7)) : value;
          }
          check(bytes);
        },
      ),
      params,
    );
  });

  it('an entry of another scope, whole or corrupted, never comes back', () => {
    fc.assert(
      fc.property(envelopeArb, fc.nat(), (env, at) => {
        const entry = tryEncode({ ...env, scope: 't.b' }, codec);
        if (entry === undefined) return;
        expect(() => decodeEntry(entry, CODECS, SCOPE, LIMITS)).toThrow(DecodeError);
        const bytes = Buffer.from(entry);
        bytes[at % bytes.length] ^= 0xff;
        check(bytes);
      }),
      { numRuns: 2_000, seed: 99 },
    );
  });
});

describe('regressions the fuzz is meant to catch', () => {
  // These escaped as TypeError before the fix in wire.ts (decodeHttp).
  it.each([
    ['json', withHeader('j', `{"s":"${SCOPE}","c":1,"v":1,"h":null}`)],
    ['cbor', withHeader('c', rawCbor.encode({ s: SCOPE, c: 1, v: 1, h: null }))],
  ])('%s: h: null', (_name, bytes) => {
    check(bytes);
    expect(() => decodeEntry(bytes, CODECS, SCOPE, LIMITS)).toThrow(DecodeError);
  });
});
