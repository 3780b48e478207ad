import { DecodeError, EncodeError } from '../../errors/cache.errors.js';
import { checkCacheable, NOT_PLAIN_JSON } from '../cacheable.js';
import type { Codec } from './codec.interface.js';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from '../decode-limits.js';
import { fromTagged, toTagged } from './json.tags.js';

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

/** How a payload in the tagged form begins (`encode` writes `t` first); plain payloads begin `{"s":`. */
const TAGGED_PREFIX = Buffer.from('{"t":1,', 'latin1');

/**
 * JSON codec (the default): entries stay readable in redis-cli. Plain data (objects, arrays,
 * strings, finite numbers, booleans, null) is stored as plain JSON. A value holding anything
 * else that `checkCacheable` accepts (Date, Map, Set, BigInt, Buffer, typed arrays, undefined,
 * -0, NaN, ±Infinity) is stored in the tagged form of `json.tags.ts`, marked by `"t":1` at the
 * start of the payload; either way a hit returns the very types that were stored.
 */
export class JsonCodec implements Codec {
  readonly id = 'j';
  readonly name = 'json';

  /** Encodes an entry payload (`{ s, c, …, v }`); throws `EncodeError` if `v` is not cacheable. */
  encode(payload: unknown): Uint8Array {
    if (payload === null || typeof payload !== 'object' || !('v' in payload)) {
      throw new EncodeError('the JSON codec encodes entry payloads, objects with a "v" field (encodeEntry builds them)');
    }
    return this.encodeChecked(payload as { v: unknown }, checkCacheable(payload.v, DEFAULT_DECODE_LIMITS));
  }

  /** `encode` of a payload whose value `checkCacheable` accepted with flags `flags`. @internal */
  encodeChecked(payload: { v?: unknown }, flags: number): Uint8Array {
    const json = (flags & NOT_PLAIN_JSON) === 0 ? payload : { t: 1, ...payload, v: toTagged(payload.v) };
    let text: string;
    try {
      text = JSON.stringify(json);
    } catch (err) {
      // checkCacheable leaves nothing JSON.stringify refuses; kept typed in case of a getter that throws.
      throw new EncodeError(`the JSON codec cannot carry it (${(err as Error).message})`, { cause: err });
    }
    return Buffer.from(text, 'utf8');
  }

  /** Reused by every scan of this codec (see `JsonScanState`). */
  private readonly state = new JsonScanState();

  scan(bytes: Uint8Array, limits: DecodeLimits, depthLimit: number): void {
    scanJson(bytes, scanLimits(bytes, 0, bytes.length, limits), depthLimit, 0, bytes.length, this.state);
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
    const bounds = scanLimits(buf, start, end, limits);
    scanJson(buf, bounds, depthLimit, start, end, this.state);
    let payload: unknown;
    try {
      // JSON.parse defines "__proto__" as an own property; it never changes a prototype.
      payload = JSON.parse(buf.toString('utf8', start, end));
    } catch (err) {
      throw new DecodeError('malformed JSON', { cause: err });
    }
    if (bounds !== limits && payload !== null && typeof payload === 'object' && 'v' in payload) {
      (payload as { v: unknown }).v = fromTagged(payload.v, limits);
    }
    return payload;
  }
}

/**
 * The scan limits for a payload: `limits` for plain JSON; for the tagged form, arrays may hold
 * the two items per pair of a Map (plus its tag), and `fromTagged` checks each kind exactly.
 */
function scanLimits(bytes: Uint8Array, start: number, end: number, limits: DecodeLimits): DecodeLimits {
  if (end - start < TAGGED_PREFIX.length) return limits;
  for (let i = 0; i < TAGGED_PREFIX.length; i++) if (bytes[start + i] !== TAGGED_PREFIX[i]) return limits;
  return { ...limits, maxArrayLength: Math.max(limits.maxArrayLength, 2 * limits.maxMapPairs) + 1 };
}
