/**
 * Bounds every decode of stored bytes. The decoders themselves have none (cbor-x recurses
 * and overflows the stack on deep input; JSON.parse spends time on it), so our own linear,
 * iterative scan checks these before any decoder runs.
 */
export interface DecodeLimits {
  /** Deepest nesting of arrays/objects/maps in a cached value. Default 16. */
  maxDepth: number;
  /** Most elements in one array (or Set). Default 10,000. */
  maxArrayLength: number;
  /** Most key/value pairs in one object (or Map). Default 10,000. */
  maxMapPairs: number;
  /** Largest encoded entry, in bytes, accepted on write and on read. Default 1 MiB. */
  maxPayloadBytes: number;
}

export const DEFAULT_DECODE_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxDepth: 16,
  maxArrayLength: 10_000,
  maxMapPairs: 10_000,
  maxPayloadBytes: 1024 * 1024,
});
