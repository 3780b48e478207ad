import { headerText } from './platform-response.js';

/** An entity tag as sent: strong `"…"` or weak `W/"…"` (RFC 9110 §8.8.3). */
const ETAG_RE = /^(?:W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/;

/** Whether a handler's `ETag` is a well-formed entity tag (one we can keep and compare). */
export function isEntityTag(value: string): boolean {
  return ETAG_RE.test(value);
}

/** The opaque tag without its weakness indicator: weak comparison (RFC 9110 §8.8.3.2). */
function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/**
 * Whether a GET or HEAD may be answered 304 (RFC 9110 §13.1.2, §13.1.3, §13.2.2): with
 * `If-None-Match`, when one of its tags matches `etag` by weak comparison (or it is `*`);
 * only without it, with `If-Modified-Since`, when `lastModified` is not later than that date.
 * A few lines of our own rather than the `fresh` package: it also reads `Cache-Control:
 * no-cache` of the request, which is not ours to honour here (the route decides that).
 */
export function isNotModified(method: string | undefined, headers: Readonly<Record<string, string | string[] | undefined>>, etag: string, lastModified: string | undefined): boolean {
  if (method !== undefined && method !== 'GET' && method !== 'HEAD') return false;
  const inm = headerText(headers['if-none-match']);
  if (inm !== undefined) {
    if (inm.trim() === '*') return true;
    const mine = opaque(etag);
    return inm.split(',').some((raw) => opaque(raw.trim()) === mine);
  }
  const ims = headerText(headers['if-modified-since']);
  if (ims === undefined || lastModified === undefined) return false;
  const since = Date.parse(ims);
  const modified = Date.parse(lastModified);
  return !Number.isNaN(since) && !Number.isNaN(modified) && modified <= since;
}
