import { randomBytes } from 'node:crypto';

/** Response metadata kept with an HTTP response cached by `@Cached()`. */
export interface HttpMeta {
  /** Status code the handler produced (e.g. 200, or 201 from `@HttpCode(201)`). */
  readonly status: number;
  /** Response headers to replay, lowercased names, already filtered by the allowlist. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** Strong validator of the body, sent as `ETag` and matched against `If-None-Match`. */
  readonly etag: string;
  /**
   * The request headers named by the response's `Vary` (lowercased) and their values in the
   * request that produced it (`null`: absent); a request with other values does not get it.
   */
  readonly vary?: ReadonlyArray<readonly [string, string | null]>;
  /** Whole seconds the response was already old when stored (a relayed response's own `Age`/`Date`), added to `Age` on hits. */
  readonly initialAge?: number;
}

/**
 * One cached entry. A hit hands back `value` deep-equal to, and of the same types as, what was
 * stored (`cacheable.ts` says which values may be); a miss is `undefined` from `get`, never a
 * stored `null`.
 */
export interface Envelope<T = unknown> {
  readonly value: T;
  /** When it was written, ms since the epoch. */
  readonly createdAt: number;
  /** When it stops being fresh, ms since the epoch; 0 = never. */
  readonly expiresAt: number;
  /** Until when it may still be served stale (grace), ms since the epoch. */
  readonly staleUntil?: number;
  readonly tags?: readonly string[];
  readonly http?: HttpMeta;
  /** Unique id of this write; compare-and-set compares it, so a value written twice is two writes. */
  readonly stamp: string;
  /** The scope (tenant) that wrote it; a read under another scope is rejected as corrupt. */
  readonly scope: string;
  /** How long the computation that produced it ran, in ms, where a factory did (XFetch eager refresh weighs it). */
  readonly computeMs?: number;
}

/** Wire format version; a reader skips (treats as a miss) any other. 2: every cacheable type exact; 3: the invalidation basis and tag-version keys in the header. */
export const WIRE_VERSION = 3;

// A random per-process prefix plus a counter: unique across processes with overwhelming
// probability, and far cheaper than 12 random bytes per write.
const STAMP_PREFIX = randomBytes(6).toString('base64url');
let stampCounter = 0;

/** A fresh 16-character stamp (8 random-per-process characters + 8 of a base-36 counter). */
export function newStamp(): string {
  stampCounter = (stampCounter + 1) % 2_821_109_907_456; // 36^8
  return STAMP_PREFIX + stampCounter.toString(36).padStart(8, '0');
}

export const STAMP_LENGTH = 16;

/** Milliseconds a store must keep the entry: until `staleUntil` if set, else `expiresAt`; 0 = no expiry. */
export function retentionMs(env: Pick<Envelope, 'expiresAt' | 'staleUntil'>, now: number): number {
  const until = env.staleUntil ?? env.expiresAt;
  if (until === 0) return 0;
  return Math.max(1, until - now);
}
