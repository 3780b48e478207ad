import { DecodeError, EncodeError, PayloadTooLargeError } from '../errors/cache.errors.js';
import type { Codec } from './codecs/codec.interface.js';
import type { DecodeLimits } from './decode-limits.js';
import { checkCacheable } from './cacheable.js';
import { CborCodec } from './codecs/cbor.codec.js';
import { JsonCodec } from './codecs/json.codec.js';
import { STAMP_LENGTH, WIRE_VERSION, type Envelope, type HttpMeta } from './envelope.js';

/**
 * Byte layout of an entry in a remote store:
 *
 *   `NTC` <version digit> <codec id> <stamp: 16 chars> <expiresAt: 15 decimal digits>
 *   <basis: 16 decimal digits> <tag section length: 7 decimal digits> <tag section> `|` <payload>
 *
 * The header is ASCII and fixed-width up to the tag section, so Lua scripts read the stamp
 * (compare-and-set), the expiry and the basis without decoding, and a reader rejects foreign or
 * old data before parsing. The basis is the scope's invalidation clock the entry is based on; the
 * tag section lists the full Redis names of the entry's tag-version keys, each as `<byte length:
 * 6 decimal digits><name>`, so a script checks every tag's version in the same call that reads the
 * entry (see redis/redis-entry.lua.ts). The payload is the codec's encoding of `{ s: scope, c:
 * createdAt, x?: staleUntil, g?: tags, h?: { s: status, e: etag, hd: headers, vr?: varied request
 * headers, ag?: initial age in s }, v: value }` (`vr` is optional: entries without it read as
 * before); with the JSON codec it stays readable in redis-cli.
 *
 * Version 3 added the basis and the tag section (O(1) invalidation); a version 2 entry, whose
 * invalidation state a script cannot see, is a miss, as a version 1 entry (where a JSON Date had
 * become a string) already was.
 */
/** Header bytes before the tag section. */
export const FIXED_HEADER_LENGTH = 3 + 1 + 1 + STAMP_LENGTH + 15 + 16 + 7;
/** Header length of an entry without tags (no tag section): the smallest an entry's header can be. */
export const HEADER_LENGTH = FIXED_HEADER_LENGTH + 1;
/** Decimal digits of one tag-version key name's byte length in the tag section. */
export const TAG_NAME_LENGTH_DIGITS = 6;
const MAX_TAG_NAME_BYTES = 10 ** TAG_NAME_LENGTH_DIGITS - 1;
const MAX_TAG_SECTION_BYTES = 10 ** 7 - 1;
/** Largest basis the header holds (16 digits); bases are safe integers, far below it. */
const MAX_BASIS = Number.MAX_SAFE_INTEGER;
const MAGIC = `NTC${WIRE_VERSION}`;
const CHAR_N = 0x4e;
const CHAR_T = 0x54;
const CHAR_C = 0x43;
const CHAR_BAR = 0x7c;
const CHAR_0 = 0x30;
const VERSION_CHAR = String(WIRE_VERSION).charCodeAt(0);
/** 0-based offsets of the 15 expiry digits, the 16 basis digits and the 7 tag section length digits. */
const EXPIRES_FROM = 5 + STAMP_LENGTH;
export const BASIS_OFFSET = EXPIRES_FROM + 15;
const TAGS_LENGTH_FROM = BASIS_OFFSET + 16;
/** 1-based positions for Lua `string.sub`. */
export const LUA_STAMP_FROM = 6;
export const LUA_STAMP_TO = 5 + STAMP_LENGTH;
export const LUA_EXPIRES_FROM = EXPIRES_FROM + 1;
export const LUA_BASIS_FROM = BASIS_OFFSET + 1;
export const LUA_TAGS_LENGTH_FROM = TAGS_LENGTH_FROM + 1;

/**
 * What the header says about an entry besides the envelope: the invalidation basis it was
 * written on and the full (client-prefixed) names of its tag-version keys. Entries written to
 * Redis carry both; the default (basis 0, no names) is for bytes no script checks.
 */
export interface WireMeta {
  readonly basis: number;
  readonly tagKeys: readonly string[];
}

const NO_META: WireMeta = { basis: 0, tagKeys: [] };

interface Payload {
  s: string;
  c: number;
  x?: number;
  d?: number;
  g?: readonly string[];
  h?: { s: number; e: string; hd: ReadonlyArray<readonly [string, string]>; vr?: ReadonlyArray<readonly [string, string | null]>; ag?: number };
  v?: unknown;
}

/** A built-in codec whose encode is its own: the value was checked already, so it skips the check. */
function isBuiltIn(codec: Codec): codec is JsonCodec | CborCodec {
  return (codec instanceof JsonCodec && codec.encode === JsonCodec.prototype.encode) || (codec instanceof CborCodec && codec.encode === CborCodec.prototype.encode);
}

/**
 * The entry's bytes, with `meta` in its header. Throws `EncodeError` for a value `checkCacheable`
 * refuses (whatever the codec: the same values work on every store) or that is too deep or large
 * for `limits`.
 */
export function encodeEntry(env: Envelope, codec: Codec, limits: DecodeLimits, meta: WireMeta = NO_META): Buffer {
  const flags = checkCacheable(env.value, limits);
  const payload: Payload = { s: env.scope, c: env.createdAt };
  if (env.staleUntil !== undefined) payload.x = env.staleUntil;
  if (env.computeMs !== undefined) payload.d = env.computeMs;
  if (env.tags !== undefined && env.tags.length > 0) payload.g = env.tags;
  if (env.http !== undefined) {
    payload.h = { s: env.http.status, e: env.http.etag, hd: env.http.headers };
    if (env.http.vary !== undefined && env.http.vary.length > 0) payload.h.vr = env.http.vary;
    if (env.http.initialAge !== undefined && env.http.initialAge > 0) payload.h.ag = env.http.initialAge;
  }
  // Last, so a JSON entry reads scope and metadata first in redis-cli.
  payload.v = env.value;
  const body = isBuiltIn(codec) ? codec.encodeChecked(payload, flags) : codec.encode(payload);
  if (HEADER_LENGTH + body.byteLength > limits.maxPayloadBytes) throw new PayloadTooLargeError(HEADER_LENGTH + body.byteLength, limits.maxPayloadBytes);
  // Refuse to write what we would refuse to read (too deep, too long): it could never hit.
  try {
    codec.scan(body, limits, limits.maxDepth + 1);
  } catch (err) {
    const reason = err instanceof DecodeError ? err.reason : String(err);
    throw new EncodeError(`${reason}; it could never be read back. Store a flatter or smaller value, or raise the decode limits`, { cause: err });
  }
  const { basis, tagKeys } = meta;
  if (!Number.isSafeInteger(basis) || basis < 0 || basis > MAX_BASIS) throw new EncodeError(`the entry basis ${basis} is not an integer from 0 to ${MAX_BASIS}`);
  const section = tagSection(tagKeys);
  const header = `${MAGIC}${codec.id}${env.stamp}${String(env.expiresAt).padStart(15, '0')}${String(basis).padStart(16, '0')}${String(section.length).padStart(7, '0')}`;
  // The header is fixed-width: a stamp of another length or an expiry outside 0..999999999999999
  // (negative, fractional, NaN, 16+ digits) would shift it, writing an entry no reader accepts.
  if (header.length !== FIXED_HEADER_LENGTH || !/^\d{15}$/.test(header.slice(EXPIRES_FROM, BASIS_OFFSET))) {
    throw new EncodeError(`the entry header is malformed (stamp must be ${STAMP_LENGTH} characters, expiresAt an integer from 0 to 999999999999999 ms)`);
  }
  const headerLength = FIXED_HEADER_LENGTH + section.length + 1;
  if (headerLength + body.byteLength > limits.maxPayloadBytes) throw new PayloadTooLargeError(headerLength + body.byteLength, limits.maxPayloadBytes);
  const out = Buffer.allocUnsafe(headerLength + body.byteLength);
  out.write(header, 0, 'latin1');
  if (section.length > 0) section.copy(out, FIXED_HEADER_LENGTH);
  out[headerLength - 1] = CHAR_BAR;
  out.set(body, headerLength);
  return out;
}

/** The tag section: each name as `<byte length: 6 digits><UTF-8 name>`. */
function tagSection(tagKeys: readonly string[]): Buffer {
  if (tagKeys.length === 0) return EMPTY;
  const parts: Buffer[] = [];
  let total = 0;
  for (const name of tagKeys) {
    const bytes = Buffer.from(name, 'utf8');
    if (bytes.length === 0 || bytes.length > MAX_TAG_NAME_BYTES) throw new EncodeError(`a tag key of ${bytes.length} bytes cannot be listed in the entry header (1 to ${MAX_TAG_NAME_BYTES} bytes)`);
    parts.push(Buffer.from(String(bytes.length).padStart(TAG_NAME_LENGTH_DIGITS, '0'), 'latin1'), bytes);
    total += TAG_NAME_LENGTH_DIGITS + bytes.length;
  }
  if (total > MAX_TAG_SECTION_BYTES) throw new EncodeError(`the entry's tags take ${total} bytes in its header, over ${MAX_TAG_SECTION_BYTES}: use fewer or shorter tags`);
  return Buffer.concat(parts, total);
}

const EMPTY = Buffer.alloc(0);

/**
 * Decodes bytes read under `expectedScope`. Throws `DecodeError` for anything that is not a
 * well-formed entry of this wire version written by that scope; callers treat that as a miss.
 */
export function decodeEntry(bytes: Uint8Array, codecs: ReadonlyMap<string, Codec>, expectedScope: string, limits: DecodeLimits): Envelope {
  if (bytes.byteLength > limits.maxPayloadBytes) throw new DecodeError(`entry of ${bytes.byteLength} bytes is over maxPayloadBytes (${limits.maxPayloadBytes})`);
  if (bytes.byteLength < HEADER_LENGTH) throw new DecodeError('entry shorter than its header');
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The header is read byte by byte (no header string, no regex); checks and messages in the
  // order of the layout: magic, version, codec, expiry, basis, tag section, terminator.
  if (buf[0] !== CHAR_N || buf[1] !== CHAR_T || buf[2] !== CHAR_C) throw new DecodeError('not an entry of this library');
  if (buf[3] !== VERSION_CHAR) throw new DecodeError(`wire version ${String.fromCharCode(buf[3]!)} is not ${WIRE_VERSION}`);
  const codecId = String.fromCharCode(buf[4]!);
  const codec = codecs.get(codecId);
  if (codec === undefined) throw new DecodeError(`unknown codec id ${JSON.stringify(codecId)}`);
  // 15 ASCII digits; at most 999,999,999,999,999 < 2^53, so the sum is exact.
  const expiresAt = digits(buf, EXPIRES_FROM, BASIS_OFFSET, 'corrupt expiry');
  // The basis is for the scripts (which check it before they return the bytes); here it must be well-formed.
  digits(buf, BASIS_OFFSET, TAGS_LENGTH_FROM, 'corrupt basis');
  const headerEnd = FIXED_HEADER_LENGTH + digits(buf, TAGS_LENGTH_FROM, FIXED_HEADER_LENGTH, 'corrupt tag section');
  if (buf.length <= headerEnd) throw new DecodeError('entry shorter than its header');
  if (buf[headerEnd] !== CHAR_BAR) throw new DecodeError('corrupt header');
  // What the scripts parse must parse here too, or bytes they took for garbage could be served.
  for (let p = FIXED_HEADER_LENGTH; p < headerEnd; ) {
    const length = digits(buf, p, p + TAG_NAME_LENGTH_DIGITS, 'corrupt tag section');
    p += TAG_NAME_LENGTH_DIGITS + length;
    if (length === 0 || p > headerEnd) throw new DecodeError('corrupt tag section');
  }
  const stamp = buf.toString('latin1', 5, EXPIRES_FROM);
  const payloadFrom = headerEnd + 1;
  const depthLimit = limits.maxDepth + 1;
  const payload = (
    codec instanceof JsonCodec && codec.decode === JsonCodec.prototype.decode
      ? codec.decodeRange(buf, payloadFrom, buf.length, limits, depthLimit)
      : codec.decode(buf.subarray(payloadFrom), limits, depthLimit)
  ) as Partial<Payload> | null;
  if (payload === null || typeof payload !== 'object' || !('v' in payload) || typeof payload.s !== 'string' || typeof payload.c !== 'number') {
    throw new DecodeError('payload is not an envelope');
  }
  if (payload.s !== expectedScope) throw new DecodeError("entry belongs to another scope (tenant); it was copied or written under a foreign key");
  const env: { -readonly [K in keyof Envelope]: Envelope[K] } = {
    value: payload.v,
    createdAt: payload.c,
    expiresAt,
    stamp,
    scope: payload.s,
  };
  if (typeof payload.x === 'number') env.staleUntil = payload.x;
  if (typeof payload.d === 'number') env.computeMs = payload.d;
  if (Array.isArray(payload.g)) env.tags = payload.g.filter((t): t is string => typeof t === 'string');
  if (payload.h !== undefined) env.http = decodeHttp(payload.h);
  return env;
}

/** The decimal number in `buf[from..to)`, ASCII digits only, else a `DecodeError` saying `what`. */
function digits(buf: Buffer, from: number, to: number, what: string): number {
  const n = digitsOrNaN(buf, from, to);
  if (Number.isNaN(n)) throw new DecodeError(what);
  return n;
}

/** The decimal number in `buf[from..to)` (ASCII digits only, inside `buf`), else NaN. */
export function digitsOrNaN(buf: Uint8Array, from: number, to: number): number {
  if (to > buf.length) return Number.NaN;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = buf[i]! - CHAR_0;
    if (!(d >= 0 && d <= 9)) return Number.NaN;
    n = n * 10 + d;
  }
  return n;
}

/** What a store checks of an entry before it serves it (see `readEntryHeader`). */
export interface EntryHeader {
  /** The invalidation basis the entry was written on. */
  readonly basis: number;
  /** Where each tag-version key name lies in the bytes: `[start, end)` offsets, two per name, in order. */
  readonly tagNames: readonly number[];
}

const UNTAGGED: readonly number[] = [];

/**
 * The header of bytes that carry one of this wire version (magic, version, expiry, basis, tag
 * section, terminator all well-formed; codec and payload not looked at), else undefined. It
 * accepts no more than `decodeEntry` does, so bytes it refuses are never served unchecked.
 */
export function readEntryHeader(buf: Uint8Array): EntryHeader | undefined {
  if (buf.length < HEADER_LENGTH || buf[0] !== CHAR_N || buf[1] !== CHAR_T || buf[2] !== CHAR_C || buf[3] !== VERSION_CHAR) return undefined;
  if (Number.isNaN(digitsOrNaN(buf, EXPIRES_FROM, BASIS_OFFSET))) return undefined;
  const basis = digitsOrNaN(buf, BASIS_OFFSET, TAGS_LENGTH_FROM);
  const headerEnd = FIXED_HEADER_LENGTH + digitsOrNaN(buf, TAGS_LENGTH_FROM, FIXED_HEADER_LENGTH);
  if (!(headerEnd < buf.length) || buf[headerEnd] !== CHAR_BAR || !Number.isSafeInteger(basis)) return undefined;
  if (headerEnd === FIXED_HEADER_LENGTH) return { basis, tagNames: UNTAGGED };
  const tagNames: number[] = [];
  for (let p = FIXED_HEADER_LENGTH; p < headerEnd; ) {
    const length = digitsOrNaN(buf, p, p + TAG_NAME_LENGTH_DIGITS);
    const start = p + TAG_NAME_LENGTH_DIGITS;
    p = start + length;
    if (!(length > 0) || p > headerEnd) return undefined;
    tagNames.push(start, p);
  }
  return { basis, tagNames };
}

function decodeHttp(h: unknown): HttpMeta {
  if (h === null || typeof h !== 'object') throw new DecodeError('corrupt HTTP metadata');
  const meta = h as { s?: unknown; e?: unknown; hd?: unknown; vr?: unknown; ag?: unknown };
  if (typeof meta.s !== 'number' || typeof meta.e !== 'string' || !Array.isArray(meta.hd)) throw new DecodeError('corrupt HTTP metadata');
  const headers = meta.hd.filter((p): p is [string, string] => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string');
  // An initial age we cannot read would understate every hit's Age: corrupt, like a bad Vary.
  if (meta.ag !== undefined && !(typeof meta.ag === 'number' && Number.isSafeInteger(meta.ag) && meta.ag > 0)) throw new DecodeError('corrupt HTTP metadata');
  const initialAge = meta.ag === undefined ? {} : { initialAge: meta.ag as number };
  if (meta.vr === undefined) return { status: meta.s, etag: meta.e, headers, ...initialAge };
  // A varied header we cannot read would match any request: the entry is corrupt, not shareable.
  if (!Array.isArray(meta.vr) || !meta.vr.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && (typeof p[1] === 'string' || p[1] === null))) throw new DecodeError('corrupt HTTP metadata');
  return { status: meta.s, etag: meta.e, headers, vary: meta.vr as [string, string | null][], ...initialAge };
}
