import { checkCacheable } from '../cacheable.js';
import type { Codec } from './codec.interface.js';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from '../decode-limits.js';
import { CborReader } from './cbor.reader.js';
import { scanCbor } from './cbor.scan.js';
import { CborWriter } from './cbor.writer.js';

/**
 * CBOR codec: compact and binary. Carries every cacheable type (`cacheable.ts`) with one
 * encoding each (`cbor.writer.ts`), so a hit returns exactly the types that were stored; every
 * entry is self-describing (no shared structure table between processes). Reading accepts what
 * the writer writes, plus indefinite-length arrays and maps, and refuses any other tag.
 */
export class CborCodec implements Codec {
  readonly id = 'c';
  readonly name = 'cbor';

  /** Throws `EncodeError` for a payload holding a value `checkCacheable` refuses. */
  encode(payload: unknown): Uint8Array {
    checkCacheable(payload, { ...DEFAULT_DECODE_LIMITS, maxDepth: DEFAULT_DECODE_LIMITS.maxDepth + 1 });
    return this.encodeChecked(payload);
  }

  /** `encode` of a payload whose value `checkCacheable` accepted. @internal */
  encodeChecked(payload: unknown, _flags?: number): Uint8Array {
    const writer = new CborWriter();
    writer.write(payload);
    return writer.bytes();
  }

  scan(bytes: Uint8Array, limits: DecodeLimits, depthLimit: number): void {
    scanCbor(bytes, limits, depthLimit);
  }

  decode(bytes: Uint8Array, limits: DecodeLimits, depthLimit: number): unknown {
    scanCbor(bytes, limits, depthLimit);
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return new CborReader(buf, 0, buf.length).readAll();
  }
}
