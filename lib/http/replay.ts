import { X_CACHE_HEADER } from '../cache.constants.js';
import type { Envelope, HttpMeta } from '../envelope/envelope.js';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';
import { withRemainingFreshness } from './freshness.js';
import { isNotModified } from './conditional.js';
import { setHeader, setStatus, type HttpResponseLike } from './platform-response.js';
import { isReplayable, type HeaderPolicy, type StoredBody } from './response-policy.js';

/** A stored HTTP response. */
export type StoredResponse = Envelope<StoredBody> & { readonly http: HttpMeta };

/** Whether an entry is a stored HTTP response (only those are replayed). */
export function isStoredResponse(entry: Envelope | undefined): entry is StoredResponse {
  return entry !== undefined && entry.http !== undefined && (typeof entry.value === 'string' || entry.value === null);
}

/**
 * Sends a stored response: `X-Cache` and `Age` (unless `diagnostics` is off), `ETag`, the recorded headers the
 * `policy` still allows (an entry may have been written under another), the status and the exact body; a 304 without a body when `If-None-Match` matches (or, without it,
 * `If-Modified-Since` is not before the stored `Last-Modified`). Returns the body to send.
 */
export function replay(req: CacheRequest, res: HttpResponseLike, entry: StoredResponse, state: 'HIT' | 'STALE', now: number, diagnostics: boolean, policy: HeaderPolicy): unknown {
  const { http } = entry;
  if (diagnostics) {
    setHeader(res, X_CACHE_HEADER, state);
    setHeader(res, 'age', String(Math.max(0, Math.floor((now - entry.createdAt) / 1000)) + (http.initialAge ?? 0)));
  }
  setHeader(res, 'etag', http.etag);
  const notModified = isNotModified(req.method, req.headers, http.etag, lastModifiedOf(http));
  // No replayed header claims more freshness than the entry has left.
  const remainingS = entry.expiresAt === 0 ? undefined : Math.max(0, Math.floor((entry.expiresAt - now) / 1000));
  for (const [name, value] of http.headers) {
    if ((notModified && name === 'content-type') || !isReplayable(name, policy)) continue;
    if (remainingS === undefined) setHeader(res, name, value);
    else if (name === 'cache-control') setHeader(res, name, withRemainingFreshness(value, remainingS));
    else if (name === 'expires') setHeader(res, name, new Date(Math.min(Date.parse(value) || 0, entry.expiresAt)).toUTCString());
    else setHeader(res, name, value);
  }
  if (notModified) {
    setStatus(res, 304);
    return undefined;
  }
  if (res.statusCode !== http.status) setStatus(res, http.status);
  return entry.value ?? undefined;
}

/** The stored `Last-Modified` of a response, if it has one. */
export function lastModifiedOf(http: HttpMeta): string | undefined {
  for (const [name, value] of http.headers) if (name === 'last-modified') return value;
  return undefined;
}
