/**
 * The response's own say on whether, and for how long, a shared cache may keep it (RFC 9111
 * §5.2.2 and §5.3). When in doubt, not stored: a directive we cannot read exactly, an invalid
 * `Expires`, a response that would be stale on arrival.
 */
export type Freshness =
  | { readonly store: false; readonly reason: string }
  | {
      readonly store: true;
      /** The response's freshness lifetime in ms (`s-maxage`, else `max-age`, else `Expires` minus `Date`); `undefined` when it states none. */
      readonly lifetimeMs: number | undefined;
      /** Whether it may never be served stale (`must-revalidate`, `proxy-revalidate`, or `s-maxage`, which implies it). */
      readonly revalidate: boolean;
      /**
       * How old it already was when produced, in ms (RFC 9111 §4.2.3: its own `Age`, or how far
       * its `Date` lies in the past, whichever is more), when more than 0: a relayed response.
       * `lifetimeMs` is what is left of its freshness after it.
       */
      readonly initialAgeMs?: number;
    };

// A directive: a token, optionally `=` a token or a quoted string (which may hold commas).
const DIRECTIVE_RE = /[\s,]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,\s"]*))?\s*(?:,|$)/y;
const DELTA_SECONDS_RE = /^\d+$/;
/** The start of the three HTTP-date forms (RFC 9110 §5.6.7: IMF-fixdate, RFC 850, asctime); `Date.parse` alone takes `0` for 2000. */
const HTTP_DATE_RE = /^[A-Za-z]{3,9},? /;

/** The directives of a `Cache-Control` value, lowercased names (first value kept), or `undefined` if it cannot be read exactly. */
export function parseCacheControl(value: string): Map<string, string | undefined> | undefined {
  const out = new Map<string, string | undefined>();
  DIRECTIVE_RE.lastIndex = 0;
  while (DIRECTIVE_RE.lastIndex < value.length) {
    const at = DIRECTIVE_RE.lastIndex;
    const m = DIRECTIVE_RE.exec(value);
    if (m === null) {
      if (/^[\s,]*$/.test(value.slice(at))) break;
      return undefined;
    }
    const name = m[1]!.toLowerCase();
    let arg = m[2];
    if (arg !== undefined && arg.startsWith('"')) arg = arg.slice(1, -1).replace(/\\(.)/g, '$1');
    // A repeated freshness directive: the smaller lifetime (the stricter reading).
    const prior = out.get(name);
    if (!out.has(name) || (prior !== undefined && arg !== undefined && DELTA_SECONDS_RE.test(prior) && DELTA_SECONDS_RE.test(arg) && Number(arg) < Number(prior))) out.set(name, arg);
    if (DIRECTIVE_RE.lastIndex === at) return undefined;
  }
  return out;
}

/**
 * What the response headers allow: `no-store`, `private`, `no-cache` (with or without field
 * names), an unreadable `Cache-Control`, a freshness of 0 or less (`max-age=0`, `s-maxage=0`, a
 * past or invalid `Expires`), or `must-revalidate`/`proxy-revalidate` with no stated freshness
 * → not stored.
 */
export function responseFreshness(cacheControl: string | undefined, expires: string | undefined, date: string | undefined, now: number, age?: string): Freshness {
  const directives = cacheControl === undefined ? new Map<string, string | undefined>() : parseCacheControl(cacheControl);
  if (directives === undefined) return { store: false, reason: 'unreadable Cache-Control' };
  for (const name of ['no-store', 'private', 'no-cache']) {
    if (directives.has(name)) return { store: false, reason: `Cache-Control: ${name}` };
  }
  const sMaxAge = directives.get('s-maxage');
  const maxAge = directives.get('max-age');
  const revalidate = directives.has('must-revalidate') || directives.has('proxy-revalidate') || directives.has('s-maxage');
  let lifetimeMs: number | undefined;
  const seconds = directives.has('s-maxage') ? sMaxAge : directives.has('max-age') ? maxAge : undefined;
  if (directives.has('s-maxage') || directives.has('max-age')) {
    if (seconds === undefined || !DELTA_SECONDS_RE.test(seconds)) return { store: false, reason: 'invalid max-age' };
    lifetimeMs = Number(seconds) * 1000;
  } else if (expires !== undefined) {
    const at = HTTP_DATE_RE.test(expires) ? Date.parse(expires) : Number.NaN;
    if (Number.isNaN(at)) return { store: false, reason: 'invalid Expires' };
    const sent = date === undefined || !HTTP_DATE_RE.test(date) ? Number.NaN : Date.parse(date);
    lifetimeMs = at - (Number.isNaN(sent) ? now : sent);
  }
  // RFC 9111 §4.2.3: a response relayed from upstream arrives already aged.
  const sentAt = date === undefined || !HTTP_DATE_RE.test(date) ? Number.NaN : Date.parse(date);
  const apparentAgeMs = Number.isNaN(sentAt) ? 0 : Math.max(0, now - sentAt);
  const ageMs = age !== undefined && DELTA_SECONDS_RE.test(age.trim()) ? Number(age.trim()) * 1000 : 0;
  const initialAgeMs = Math.max(apparentAgeMs, ageMs);
  if (lifetimeMs !== undefined) lifetimeMs -= initialAgeMs;
  if (lifetimeMs !== undefined && lifetimeMs <= 0) return { store: false, reason: 'stale on arrival' };
  if (lifetimeMs === undefined && revalidate) return { store: false, reason: 'must-revalidate without freshness' };
  return initialAgeMs > 0 ? { store: true, lifetimeMs, revalidate, initialAgeMs } : { store: true, lifetimeMs, revalidate };
}

/**
 * A stored `Cache-Control` for a replay `remainingS` seconds before the entry expires: each
 * `max-age`/`s-maxage` says at most what is left, so no hit claims more freshness than the
 * entry has (a downstream cache that also subtracts `Age` sees less, never more).
 */
export function withRemainingFreshness(cacheControl: string, remainingS: number): string {
  return cacheControl.replace(/\b(max-age|s-maxage)\s*=\s*"?(\d+)"?/gi, (whole, name: string, n: string) => (Number(n) > remainingS ? `${name}=${remainingS}` : whole));
}

/**
 * What a request's own directives ask of the cache (RFC 9111 §5.2.1, §5.4): `'no-store'`
 * (neither read nor store), `'no-cache'` (`no-cache`, `max-age=0`, or `Pragma: no-cache`
 * without `Cache-Control`: only a response produced after the request arrived will do), or
 * `undefined`. Other request directives (`max-age=N`, `max-stale`, `min-fresh`,
 * `only-if-cached`) are ignored.
 */
export function requestDirective(cacheControl: string | undefined, pragma: string | undefined): 'no-store' | 'no-cache' | undefined {
  if (cacheControl === undefined) return pragma !== undefined && /(?:^|,)\s*no-cache\s*(?:,|$)/i.test(pragma) ? 'no-cache' : undefined;
  const directives = parseCacheControl(cacheControl);
  if (directives === undefined) return undefined;
  if (directives.has('no-store')) return 'no-store';
  if (directives.has('no-cache') || directives.get('max-age') === '0') return 'no-cache';
  return undefined;
}
