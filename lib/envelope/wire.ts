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
 *   `NTC` <version digit> <codec id> <stamp: 16 chars> <expiresAt: 15 decimal digits> `|` <payload>
 *
 * The fixed-width ASCII header lets Lua scripts read the stamp (compare-and-set) and the
 * expiry without decoding, and lets a reader reject foreign or old data before parsing. The
 * payload is the codec's encoding of `{ s: scope, c: createdAt, x?: staleUntil, g?: tags,
 * h?: { s: status, e: etag, hd: headers, vr?: varied request headers, ag?: initial age in s }, v: value }` (`vr`
 * is optional: entries without it read as before, no version bump); with the JSON codec it stays readable in redis-cli.
 *
 * Version 2 carries every cacheable type exactly (`cacheable.ts`); a version 1 entry (where a
 * JSON Date had become a string) is a miss, never a value of another type.
 */
export const HEADER_LENGTH = 3 + 1 + 1 + STAMP_LENGTH + 15 + 1;
const MAGIC = `NTC${WIRE_VERSION}`;
const CHAR_N = 0x4e;
const CHAR_T = 0x54;
const CHAR_C = 0x43;
const CHAR_BAR = 0x7c;
const CHAR_0 = 0x30;
const VERSION_CHAR = String(WIRE_VERSION).charCodeAt(0);
/** 0-based offset of the 15 expiry digits. */
const EXPIRES_FROM = 5 + STAMP_LENGTH;
/** 1-based positions for Lua `string.sub`. */
export const LUA_STAMP_FROM = 6;
export const LUA_STAMP_TO = 5 + STAMP_LENGTH;

interface Payload {
  s: string;
  c: number;
  x?: number;
  g?: readonly string[];
  h?: { s: number; e: string; hd: ReadonlyArray<readonly [string, string]>; vr?: ReadonlyArray<readonly [string, string | null]>; ag?: number };
  v?: unknown;
}

/** A built-in codec whose encode is its own: the value was checked already, so it skips the check. */
function isBuiltIn(codec: Codec): codec is JsonCodec | CborCodec {
  return (codec instanceof JsonCodec && codec.encode === JsonCodec.prototype.encode) || (codec instanceof CborCodec && codec.encode === CborCodec.prototype.encode);
}

/**
 * The entry's bytes. Throws `EncodeError` for a value `checkCacheable` refuses (whatever the
 * codec: the same values work on every store) or that is too deep or large for `limits`.
 */
export function encodeEntry(env: Envelope, codec: Codec, limits: DecodeLimits): Buffer {
  const flags = checkCacheable(env.value, limits);
  const payload: Payload = { s: env.scope, c: env.createdAt };
  if (env.staleUntil !== undefined) payload.x = env.staleUntil;
  if (env.tags !== undefined && env.tags.length > 0) payload.g = env.tags;
  if (env.http !== undefined) {
    payload.h = { s: env.http.status, e: env.http.etag, hd: env.http.headers };
    if (env.http.vary !== undefined && env.http.vary.length > 0) payload.h.vr = env.http.vary;
    if (env.http.initialAge !== undefined && env.http.initialAge > 0) payload.h.ag = env.http.initialAge;
  }
  // Last, so a JSON entry reads scope and metadata first in redis-cli.
  payload.v = env.value;
  const body = isBuiltIn(codec) ? codec.encodeChecked(payload, flags) : codec.encode(payload);
  const size = HEADER_LENGTH + body.byteLength;
  if (size > limits.maxPayloadBytes) throw new PayloadTooLargeError(size, limits.maxPayloadBytes);
  // Refuse to write what we would refuse to read (too deep, too long): it could never hit.
  try {
    codec.scan(body, limits, limits.maxDepth + 1);
  } catch (err) {
    const reason = err instanceof DecodeError ? err.reason : String(err);
    throw new EncodeError(`${reason}; it could never be read back. Store a flatter or smaller value, or raise the decode limits`, { cause: err });
  }
  const header = `${MAGIC}${codec.id}${env.stamp}${String(env.expiresAt).padStart(15, '0')}|`;
  // The header is fixed-width: a stamp of another length or an expiry outside 0..999999999999999
  // (negative, fractional, NaN, 16+ digits) would shift it, writing an entry no reader accepts.
  if (header.length !== HEADER_LENGTH || !/^\d{15}$/.test(header.slice(5 + STAMP_LENGTH, HEADER_LENGTH - 1))) {
    throw new EncodeError(`the entry header is malformed (stamp must be ${STAMP_LENGTH} characters, expiresAt an integer from 0 to 999999999999999 ms)`);
  }
  const out = Buffer.allocUnsafe(size);
  out.write(header, 0, 'latin1');
  out.set(body, HEADER_LENGTH);
  return out;
}

/**
 * Decodes bytes read under `expectedScope`. Throws `DecodeError` for anything that is not a
 * well-formed entry of this wire version written by that scope; callers treat that as a miss.
 */
export function decodeEntry(bytes: Uint8Array, codecs: ReadonlyMap<string, Codec>, expectedScope: string, limits: DecodeLimits): Envelope {
  if (bytes.byteLength > limits.maxPayloadBytes) throw new DecodeError(`entry of ${bytes.byteLength} bytes is over maxPayloadBytes (${limits.maxPayloadBytes})`);
  if (bytes.byteLength < HEADER_LENGTH) throw new DecodeError('entry shorter than its header');
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The header is read byte by byte (no header string, no regex); checks and messages in the
  // order of the layout: magic, version, codec, terminator, expiry.
  if (buf[0] !== CHAR_N || buf[1] !== CHAR_T || buf[2] !== CHAR_C) throw new DecodeError('not an entry of this library');
  if (buf[3] !== VERSION_CHAR) throw new DecodeError(`wire version ${String.fromCharCode(buf[3]!)} is not ${WIRE_VERSION}`);
  const codecId = String.fromCharCode(buf[4]!);
  const codec = codecs.get(codecId);
  if (codec === undefined) throw new DecodeError(`unknown codec id ${JSON.stringify(codecId)}`);
  if (buf[HEADER_LENGTH - 1] !== CHAR_BAR) throw new DecodeError('corrupt header');
  // 15 ASCII digits; at most 999,999,999,999,999 < 2^53, so the sum is exact.
  let expiresAt = 0;
  for (let i = EXPIRES_FROM; i < HEADER_LENGTH - 1; i++) {
    const d = buf[i]! - CHAR_0;
    if (d < 0 || d > 9) throw new DecodeError('corrupt expiry');
    expiresAt = expiresAt * 10 + d;
  }
  const stamp = buf.toString('latin1', 5, EXPIRES_FROM);
  const depthLimit = limits.maxDepth + 1;
  const payload = (
    codec instanceof JsonCodec && codec.decode === JsonCodec.prototype.decode
      ? codec.decodeRange(buf, HEADER_LENGTH, buf.length, limits, depthLimit)
      : codec.decode(buf.subarray(HEADER_LENGTH), limits, depthLimit)
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
  if (Array.isArray(payload.g)) env.tags = payload.g.filter((t): t is string => typeof t === 'string');
  if (payload.h !== undefined) env.http = decodeHttp(payload.h);
  return env;
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
