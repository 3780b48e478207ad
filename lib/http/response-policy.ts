import { createHash } from 'node:crypto';
import { StreamableFile } from '@nestjs/common';
import { isObservable } from 'rxjs';
import { parseCacheControl, responseFreshness, type Freshness } from './freshness.js';
import { headerText, isFastifyReply, type HttpResponseLike } from './platform-response.js';

/** The stored body of a cached response: the bytes sent, as a string; `null` for no body. */
export type StoredBody = string | null;

/** A body as the platform sends it, and the Content-Type it sends it with. */
export interface SerializedBody {
  readonly body: StoredBody;
  readonly contentType: string | undefined;
}

/** Stored even when set before the handler ran (by `@Header()`): what the entry's freshness was read from. */
const DESCRIBES_RESPONSE = new Set(['cache-control', 'expires', 'vary', 'last-modified']);
/** Never stored or replayed from a handler: cookies, our own headers, per-message framing. */
const NEVER_STORED = new Set(['set-cookie', 'x-cache', 'etag', 'age', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date']);
const JSON_TYPE = 'application/json; charset=utf-8';
/** What each platform sends a string as when the handler sets no Content-Type. */
const EXPRESS_TEXT_TYPE = 'text/html; charset=utf-8';
const FASTIFY_TEXT_TYPE = 'text/plain; charset=utf-8';

/** What the response's `Cache-Control`, `Expires` and `Date` allow a shared cache (RFC 9111 §5.2.2, §5.3). */
export function freshnessOf(res: HttpResponseLike, now: number): Freshness {
  return responseFreshness(headerText(res.getHeader('cache-control')), headerText(res.getHeader('expires')), headerText(res.getHeader('date')), now, headerText(res.getHeader('age')));
}

/**
 * Whether a response may be stored: a 2xx status other than 206, no `Set-Cookie`, no `Cache-Control:
 * no-store` or `private`, no `Vary: *`, and a body that is not a stream. Its freshness
 * (`freshnessOf`, on the module's clock) is checked after this hook, whatever it says.
 */
export function isStorableResponse(res: HttpResponseLike, value: unknown): boolean {
  const status = res.statusCode;
  // 206: a part of a representation; replaying it without its Content-Range would be wrong.
  if (status < 200 || status > 299 || status === 206) return false;
  if (value instanceof StreamableFile) return false;
  if (res.getHeader('set-cookie') !== undefined) return false;
  const cacheControl = headerText(res.getHeader('cache-control'));
  const directives = cacheControl === undefined ? undefined : parseCacheControl(cacheControl);
  if (cacheControl !== undefined && (directives === undefined || directives.has('no-store') || directives.has('private'))) return false;
  const vary = headerText(res.getHeader('vary'));
  if (vary !== undefined && vary.split(',').some((v) => v.trim() === '*')) return false;
  return true;
}

/**
 * The bytes the platform would send for `value`, as a string, and the Content-Type it would
 * send them with; `undefined` for a value that is not cached (a stream, binary data). Objects
 * and arrays are JSON; `null`/`undefined` are no body.
 */
export function serializeBody(value: unknown, res: HttpResponseLike): SerializedBody | undefined {
  if (value === undefined || value === null) return { body: null, contentType: undefined };
  const fastify = isFastifyReply(res);
  switch (typeof value) {
    case 'string':
      return { body: value, contentType: fastify ? FASTIFY_TEXT_TYPE : EXPRESS_TEXT_TYPE };
    case 'number':
    case 'boolean':
      // Express sends String(value) as HTML; Fastify serialises it as JSON.
      return fastify ? { body: JSON.stringify(value), contentType: JSON_TYPE } : { body: String(value), contentType: EXPRESS_TEXT_TYPE };
    case 'object': {
      if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || isObservable(value) || typeof (value as { pipe?: unknown }).pipe === 'function') return undefined;
      if (typeof (value as { getReader?: unknown }).getReader === 'function' || (typeof Response !== 'undefined' && value instanceof Response)) return undefined;
      if (typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function') return undefined;
      const json = JSON.stringify(value);
      return json === undefined ? undefined : { body: json, contentType: JSON_TYPE };
    }
    default:
      return undefined;
  }
}

/** Which response headers are stored: the module's `cacheableHeaders` and `perRequestHeaders`. */
export interface HeaderPolicy {
  readonly cacheableHeaders: (name: string) => boolean;
  readonly perRequestHeaders: (name: string) => boolean;
}

/** A header the handler set that is not stored: not on the allowlist, or about one request although allowlisted. */
export interface DroppedHeader {
  readonly name: string;
  readonly reason: 'not cacheable' | 'per-request';
}

/** What `recordedHeaders` keeps, and what it dropped that is worth a word (`undefined`: nothing). */
export interface RecordedHeaders {
  readonly headers: [string, string][];
  readonly dropped: DroppedHeader[] | undefined;
}

/**
 * The headers to store with a response: the allowlisted ones the handler set or changed (a
 * header already there before the handler ran belongs to the request, not the response) that
 * are not per-request, plus the Content-Type. A handler-set header left out is listed in
 * `dropped`, unless it is per-request and not allowlisted either (what the user declared) or
 * one never stored by design (`NEVER_STORED`).
 */
export function recordedHeaders(res: HttpResponseLike, before: Record<string, unknown>, policy: HeaderPolicy): RecordedHeaders {
  const after = res.getHeaders();
  const headers: [string, string][] = [];
  let dropped: DroppedHeader[] | undefined;
  for (const name of Object.keys(after)) {
    const lower = name.toLowerCase();
    if (NEVER_STORED.has(lower)) continue;
    const value = headerText(after[name]);
    if (value === undefined) continue;
    if (lower !== 'content-type') {
      const handlerSet = headerText(before[name]) !== value;
      if (!handlerSet && !DESCRIBES_RESPONSE.has(lower)) continue;
      const allowed = policy.cacheableHeaders(lower);
      const perRequest = policy.perRequestHeaders(lower);
      if (!allowed || perRequest) {
        // Per-request and not allowlisted is what the user declared: nothing to say.
        if (handlerSet && allowed === perRequest) (dropped ??= []).push({ name: lower, reason: perRequest ? 'per-request' : 'not cacheable' });
        continue;
      }
    }
    headers.push([lower, value]);
  }
  return { headers, dropped };
}

/** Whether a stored header may be replayed under the current policy (an entry may predate it: another release, another config). */
export function isReplayable(name: string, policy: HeaderPolicy): boolean {
  if (name === 'content-type') return true;
  // Asked for every stored header of every hit: remembered per policy (one per app) and name.
  let known = replayable.get(policy);
  if (known === undefined) replayable.set(policy, (known = new Map()));
  let answer = known.get(name);
  if (answer === undefined) {
    answer = policy.cacheableHeaders(name) && !policy.perRequestHeaders(name);
    // Bounded: names come from stored entries, which another release may have written.
    if (known.size < 1_000) known.set(name, answer);
  }
  return answer;
}

const replayable = new WeakMap<HeaderPolicy, Map<string, boolean>>();

/** The bypass reason of a response `isOriginBoundWithoutVary` keeps out of the cache. */
export const ORIGIN_WITHOUT_VARY = 'Access-Control-Allow-Origin names one origin without Vary: Origin';

/**
 * Whether the headers allow one origin by name (`Access-Control-Allow-Origin` other than `*`)
 * while neither the response's `Vary` nor the route's key (`@Cached({ vary })`) holds `Origin`:
 * replayed to a request from another origin, it would name the wrong one.
 */
export function isOriginBoundWithoutVary(headers: readonly (readonly [string, string])[], responseVary: readonly (readonly [string, string | null])[] | undefined, keyVary: readonly string[]): boolean {
  const allowOrigin = headers.find(([name]) => name === 'access-control-allow-origin');
  if (allowOrigin === undefined || allowOrigin[1].trim() === '*') return false;
  return !keyVary.includes('origin') && !(responseVary ?? []).some(([name]) => name === 'origin');
}

/**
 * The request headers the response varies on (its `Vary`, RFC 9111 §4.1), with the values this
 * request sent (`null`: absent), sorted by name; `undefined` when it varies on none. The value
 * of a header in `secret` (the credential headers) is kept as a SHA-256 digest, so a response
 * that varies on `Authorization` or `Cookie` never writes the caller's token into the store.
 */
export function variedHeaders(res: HttpResponseLike, requestHeaders: Readonly<Record<string, string | string[] | undefined>>, secret: readonly string[] = []): [string, string | null][] | undefined {
  const names = varyNames(res);
  if (names.length === 0) return undefined;
  return names.map((name) => {
    const value = headerText(requestHeaders[name]) ?? null;
    return [name, value !== null && secret.includes(name) ? digestOf(value) : value];
  });
}

/** Marks a stored digest: a header value cannot contain NUL, so no value sent reads as one. */
const DIGEST_MARK = '\u0000sha256:';

function digestOf(value: string): string {
  return DIGEST_MARK + createHash('sha256').update(value).digest('base64url');
}

/** The request headers a response's `Vary` names: lowercased, sorted, without duplicates. */
export function varyNames(res: HttpResponseLike): string[] {
  const vary = headerText(res.getHeader('vary'));
  if (vary === undefined) return [];
  return [...new Set(vary.split(',').map((n) => n.trim().toLowerCase()).filter((n) => n !== ''))].sort();
}

/** Whether a request sends the header values a stored response varies on (an entry without `Vary` matches every request). */
export function matchesVary(vary: ReadonlyArray<readonly [string, string | null]> | undefined, requestHeaders: Readonly<Record<string, string | string[] | undefined>>): boolean {
  if (vary === undefined) return true;
  for (const [name, value] of vary) {
    const sent = headerText(requestHeaders[name]) ?? null;
    if (value !== null && sent !== null && value.startsWith(DIGEST_MARK) ? digestOf(sent) !== value : sent !== value) return false;
  }
  return true;
}
