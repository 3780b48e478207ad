import type { DecodeLimits } from '../decode-limits.js';

/**
 * Turns a payload object into bytes and back. Implementations bound decoding by `limits`, and
 * must give back every value `checkCacheable` accepts exactly (`encodeEntry` checks the value
 * before any codec sees it, so a codec only meets cacheable values).
 */
export interface Codec {
  /** One ASCII character written in each entry's header, so a reader knows which codec wrote it. */
  readonly id: string;
  /** `'json'` or `'cbor'`. */
  readonly name: string;
  /** Throws `EncodeError` for a value it cannot carry. */
  encode(payload: unknown): Uint8Array;
  /**
   * Throws `DecodeError` for bytes that are malformed or exceed `limits`. `depthLimit` is the
   * nesting allowed for the whole payload (the value's limit plus the envelope's own level).
   */
  decode(bytes: Uint8Array, limits: DecodeLimits, depthLimit: number): unknown;
  /** The limit checks of `decode` without decoding; throws `DecodeError`. */
  scan(bytes: Uint8Array, limits: DecodeLimits, depthLimit: number): void;
}
