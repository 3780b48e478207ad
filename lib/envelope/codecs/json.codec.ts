import { DecodeError, EncodeError } from '../../errors/cache.errors.js';
import type { Codec } from './codec.interface.js';
import type { DecodeLimits } from '../decode-limits.js';

const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Per-level counters of `scanJson`: elements seen (as commas) and the opening character of each
 * open container. A codec keeps one, reused by every scan: scans are synchronous and run no
 * user code, so two never overlap.
 */
export class JsonScanState {
  commas = new Int32Array(0);
  kinds = new Uint8Array(0);

  /** Makes room for `depthLimit` levels (plus the two slots the scan may touch beyond it). */
  reserve(depthLimit: number): void {
    if (this.commas.length < depthLimit + 2) {
      this.commas = new Int32Array(depthLimit + 2);
      this.kinds = new Uint8Array(depthLimit + 2);
    }
  }
}

/**
 * One linear pass over JSON bytes that enforces depth, array length and object size before
 * JSON.parse sees them. Structural characters are ASCII, so scanning UTF-8 bytes is exact.
 * Elements are counted as commas + 1, which is exact for well-formed JSON; malformed JSON is
 * rejected by JSON.parse afterwards. Scans `bytes[start..end)` (default: all of it); `state`
 * (default: a fresh one) holds the per-level counters.
 */
export function scanJson(bytes: Uint8Array, limits: DecodeLimits, depthLimit: number, start = 0, end = bytes.length, state?: JsonScanState): void {
  const scratch = state ?? new JsonScanState();
  scratch.reserve(depthLimit);
  const commas = scratch.commas;
  const kinds = scratch.kinds;
  const maxArrayLength = limits.maxArrayLength;
  const maxMapPairs = limits.maxMapPairs;
  let depth = 0;
  for (let i = start; i < end; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      // Skip the string in a tight loop: inside it only the closing quote and escapes matter.
      for (i++; i < end; i++) {
        const d = bytes[i]!;
        if (d === QUOTE) break;
        if (d === BACKSLASH) i++;
      }
      if (i >= end) throw new DecodeError('truncated JSON');
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > depthLimit) throw new DecodeError(`nesting deeper than ${depthLimit - 1} levels`);
      commas[depth] = 0;
      kinds[depth] = c;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      if (depth === 0) throw new DecodeError('unbalanced JSON');
      depth--;
    } else if (c === COMMA && depth > 0) {
      const n = ++commas[depth]!;
      if (kinds[depth] === OPEN_ARRAY ? n >= maxArrayLength : n >= maxMapPairs) {
        throw new DecodeError(kinds[depth] === OPEN_ARRAY ? `array longer than ${maxArrayLength} elements` : `object with more than ${maxMapPairs} keys`);
      }
    }
  }
  if (depth !== 0) throw new DecodeError('truncated JSON');
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

  /** Reused by every scan of this codec (see `JsonScanState`). */
  private readonly state = new JsonScanState();

  scan(bytes: Uint8Array, limits: DecodeLimits, depthLimit: number): void {
    scanJson(bytes, limits, depthLimit, 0, bytes.length, this.state);
  }

  decode(bytes: Uint8Array, limits: DecodeLimits, depthLimit: number): unknown {
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return this.decodeRange(buf, 0, buf.length, limits, depthLimit);
  }

  /**
   * `decode` of `buf[start..end)` without making a view of it first: the scan runs on the
   * bytes in place and the text is decoded straight from that range. The wire format uses it
   * for the payload after the header.
   */
  decodeRange(buf: Buffer, start: number, end: number, limits: DecodeLimits, depthLimit: number): unknown {
    scanJson(buf, limits, depthLimit, start, end, this.state);
    try {
      // JSON.parse defines "__proto__" as an own property; it never changes a prototype.
      return JSON.parse(buf.toString('utf8', start, end));
    } catch (err) {
      throw new DecodeError('malformed JSON', { cause: err });
    }
  }
}
