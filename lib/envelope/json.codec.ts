import { DecodeError, EncodeError } from '../errors/cache.errors.js';
import type { Codec } from './codec.interface.js';
import type { DecodeLimits } from './decode-limits.js';

const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * One linear pass over JSON bytes that enforces depth, array length and object size before
 * JSON.parse sees them. Structural characters are ASCII, so scanning UTF-8 bytes is exact.
 * Elements are counted as commas + 1, which is exact for well-formed JSON; malformed JSON is
 * rejected by JSON.parse afterwards.
 */
export function scanJson(bytes: Uint8Array, limits: DecodeLimits, depthLimit: number): void {
  const commas = new Int32Array(depthLimit + 2);
  const kinds = new Uint8Array(depthLimit + 2);
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) inString = true;
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > depthLimit) throw new DecodeError(`nesting deeper than ${depthLimit - 1} levels`);
      commas[depth] = 0;
      kinds[depth] = c;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      if (depth === 0) throw new DecodeError('unbalanced JSON');
      depth--;
    } else if (c === COMMA && depth > 0) {
      const n = ++commas[depth]!;
      if (kinds[depth] === OPEN_ARRAY ? n >= limits.maxArrayLength : n >= limits.maxMapPairs) {
        throw new DecodeError(kinds[depth] === OPEN_ARRAY ? `array longer than ${limits.maxArrayLength} elements` : `object with more than ${limits.maxMapPairs} keys`);
      }
    }
  }
  if (depth !== 0 || inString) throw new DecodeError('truncated JSON');
}

/**
 * JSON codec (the default): entries stay readable in redis-cli. Carries what JSON carries:
 * `null`, numbers, strings, booleans, arrays and plain objects; a `Date` becomes its ISO
 * string. Use the CBOR codec for Date, Map, Set, BigInt and binary values.
 */
export class JsonCodec implements Codec {
  readonly id = 'j';
  readonly name = 'json';

  encode(payload: unknown): Uint8Array {
    let text: string | undefined;
    try {
      text = JSON.stringify(payload);
    } catch (err) {
      throw new EncodeError(`the JSON codec cannot carry it (${(err as Error).message}); use the CBOR codec for BigInt, or remove cycles`, { cause: err });
    }
    // FIX (codec tests): JSON.stringify silently drops `undefined`, functions and symbols. At the
    // top level that returned undefined (Buffer.from then threw a TypeError); as an entry's value
    // it dropped the `v` field, writing an entry that could never be read back.
    const v = typeof payload === 'object' && payload !== null && 'v' in payload ? (payload as { v: unknown }).v : null;
    if (text === undefined || v === undefined || typeof v === 'function' || typeof v === 'symbol') {
      throw new EncodeError('the JSON codec cannot carry undefined, a function or a symbol as a value; store null instead, or use the CBOR codec for undefined');
    }
    return Buffer.from(text, 'utf8');
  }

  scan(bytes: Uint8Array, limits: DecodeLimits, depthLimit: number): void {
    scanJson(bytes, limits, depthLimit);
  }

  decode(bytes: Uint8Array, limits: DecodeLimits, depthLimit: number): unknown {
    scanJson(bytes, limits, depthLimit);
    try {
      // JSON.parse defines "__proto__" as an own property; it never changes a prototype.
      return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
    } catch (err) {
      throw new DecodeError('malformed JSON', { cause: err });
    }
  }
}
