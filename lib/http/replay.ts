import { X_CACHE_HEADER } from '../cache.constants.js';
import type { Envelope, HttpMeta } from '../envelope/envelope.js';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';
import { isNotModified } from './conditional.js';
import { setHeader, setStatus, type HttpResponseLike } from './platform-response.js';
import { type HeaderPolicy, type StoredBody } from './response-policy.js';
import { replayPlanOf } from './replay-plan.js';

/** A stored HTTP response. */
export type StoredResponse = Envelope<StoredBody> & { readonly http: HttpMeta };

/** Whether an entry is a stored HTTP response (only those are replayed). */
export function isStoredResponse(entry: Envelope | undefined): entry is StoredResponse {
  return entry !== undefined && entry.http !== undefined && (typeof entry.value === 'string' || entry.value === null);
}

/**
 * Sends a stored response: `X-Cache` and `Age` (unless `diagnostics` is off; the replayed
 * `max-age`/`s-maxage`/`Expires` then say what is left of the entry plus that Age, so a cache
 * downstream that subtracts it keeps the entry exactly as long as we would), `ETag`, the recorded headers the
 * `policy` still allows (an entry may have been written under another), the status and the exact body; a 304 without a body when `If-None-Match` matches (or, without it,
 * `If-Modified-Since` is not before the stored `Last-Modified`). Returns the body to send.
 */
export function replay(req: CacheRequest, res: HttpResponseLike, entry: StoredResponse, state: 'HIT' | 'STALE', now: number, diagnostics: boolean, policy: HeaderPolicy): unknown {
  const { http } = entry;
  const ageS = Math.max(0, Math.floor((now - entry.createdAt) / 1000)) + (http.initialAge ?? 0);
  const plan = replayPlanOf(entry, policy);
  if (diagnostics) {
    setHeader(res, X_CACHE_HEADER, state);
    setHeader(res, 'age', plan.age(ageS));
  }
  setHeader(res, 'etag', http.etag);
  const notModified = isNotModified(req.method, req.headers, http.etag, plan.lastModified);
  // No replayed header claims more freshness than the entry has left. A downstream cache takes
  // the Age we send off the lifetime we replay (RFC 9111 §4.2.3), so that age is added back.
  const remainingS = entry.expiresAt === 0 ? undefined : Math.max(0, Math.floor((entry.expiresAt - now) / 1000));
  const lifetimeS = remainingS === undefined ? undefined : remainingS + (diagnostics ? ageS : 0);
  const names = plan.names;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (notModified && name === 'content-type') continue;
    setHeader(res, name, plan.value(i, lifetimeS, now));
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
