import { createHash, hash as oneShotHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';
import { GenerationalMap } from '../utils/generational-map.js';
import { ownString } from '../utils/own-string.js';
import { DigestMemo } from './digest-memo.js';

/** What the key of a cached HTTP response is computed from. */
export interface RequestHashInput {
  /** The module's `keyVersion`. */
  readonly keyVersion: string;
  /** Controller class name. */
  readonly controller: string;
  /** Handler method name. */
  readonly handler: string;
  /** Upper-case HTTP method; pass `GET` for `HEAD` so both share one entry. */
  readonly method: string;
  /** The route template (`/products/:id`), as the platform reports it. */
  readonly routePath: string;
  /** The request target as received: `req.originalUrl ?? req.url`. Only its path (before `?`) is read, undecoded. */
  readonly url: string;
  /**
   * The query as the handler receives it: `canonicalJson(req.query)` of the platform's parsed
   * query; `undefined` (or `'{}'`) for none.
   */
  readonly query: string | undefined;
  /** Lowercased header names the route varies on, sorted, without duplicates. */
  readonly vary: readonly string[];
  readonly headers: IncomingHttpHeaders;
  /** The route's custom key part, if any. */
  readonly custom: string | undefined;
  /** `'tenant'`, `'user'` or `'global'`. */
  readonly scope: string;
  /** The tenant id (`undefined` for the global scope). */
  readonly tenant: string | undefined;
  /** The user id for `scope: 'user'`. */
  readonly user: string | undefined;
  /** Canonical JSON of the body, for methods other than GET/HEAD that a route opts into. */
  readonly body?: string | undefined;
}

/**
 * The key of a cached HTTP response: SHA-256, base64url (43 characters), over a canonical
 * encoding of every input. Each field is written as `<length>:<value>` (or `-` when absent),
 * so no two different inputs encode alike whatever the fields contain (lone surrogates
 * included). Hence nothing from the URL reaches a
 * storage key unhashed, and:
 * - the path is the raw request path (`/a/b`, `/a/b/`, `/a/b.css`, `/a/b;x`, `/a%2Fb`, `/A/b`
 *   all differ), which determines its decoded form and the route parameters;
 * - the query is the one the handler receives (parsed by the platform, with its own rules and
 *   limits: Express's 1,000 parameters, a `#` Fastify keeps, `a[]` of Express's extended parser),
 *   as canonical JSON: names sorted, so `?a=1&b=2` and `?b=2&a=1` share an entry; a repeated
 *   parameter's values in order;
 * - each vary header counts by its exact value, absent and empty being different.
 */
export function requestHash(input: RequestHashInput): string {
  const url = input.url;
  const remembered = input.body === undefined ? lines.get(url) : undefined;
  if (remembered !== undefined && sameInputs(remembered, input)) return remembered.digest;
  let s = 'ntc-http-1|';
  s += field(input.keyVersion) + field(input.controller) + field(input.handler) + field(input.method) + field(input.routePath);
  const q = url.indexOf('?');
  s += field(q === -1 ? url : url.slice(0, q));
  // No query encodes as before the parsed query was keyed ('0;'); a query as 'j' and its JSON.
  const query = input.query;
  s += query === undefined || query === '{}' ? '0;' : `j${field(query)}`;
  const vary = input.vary;
  let memoizable = input.body === undefined;
  // Each value is read once, and the line keeps what was encoded; a repeated header (an array) is never remembered.
  let rememberable = url.length <= MAX_REMEMBERED_ENCODING;
  const values = new Array<string | undefined>(vary.length);
  s += `${vary.length};`;
  for (let i = 0; i < vary.length; i++) {
    const name = vary[i]!;
    if (!MEMO_SAFE_HEADERS.has(name)) memoizable = false;
    s += field(name);
    const value = input.headers[name];
    if (value === undefined) {
      s += '-';
      values[i] = undefined;
    } else if (typeof value === 'string') {
      s += field(value);
      values[i] = value;
    } else {
      s += `*${value.length};${value.map(field).join('')}`;
      rememberable = false;
    }
  }
  s += opt(input.custom) + field(input.scope) + opt(input.tenant) + opt(input.user) + opt(input.body);
  if (!memoizable) return sha256(s);
  const digest = digests.get(s);
  if (rememberable && s.length <= MAX_REMEMBERED_ENCODING) {
    const line = lineOf(input, values, digest);
    lines.set(line.url, line);
  }
  return digest;
}

/**
 * What one request line was last hashed from, and its digest. A request to a hot URL then costs
 * one Map lookup by the URL the platform received and a dozen comparisons of what it was hashed
 * with, instead of building its canonical encoding (some twenty string joins, flattened and
 * hashed again to find it in `digests`), which was the largest part of a hit's own work.
 */
interface RequestLine {
  /** The URL it is kept under (its own copy). */
  readonly url: string;
  readonly keyVersion: string;
  readonly controller: string;
  readonly handler: string;
  readonly method: string;
  readonly routePath: string;
  readonly query: string | undefined;
  readonly vary: readonly string[];
  /** The vary headers' values as encoded, in `vary`'s order (a line is kept only when each is a string or absent). */
  readonly values: readonly (string | undefined)[];
  readonly custom: string | undefined;
  readonly scope: string;
  readonly tenant: string | undefined;
  readonly user: string | undefined;
  readonly digest: string;
}

/** An encoding longer than this is neither remembered here nor in `digests`. */
const MAX_REMEMBERED_ENCODING = 512;

/**
 * The last inputs and digest of each request line, by URL: exact, since a line is used only when
 * every input but the URL (equal, being its key) is equal too, so the encoding would be the same.
 * It keeps what `digests` keeps (only encodings it may keep, of up to 512 characters, and only for
 * URLs of up to 512 characters: a long query the platform parses to nothing is not kept), at most
 * 2 x 2,048 lines; a URL requested under another tenant, user or header value replaces its line,
 * so a URL shared by many tenants costs what it did before (the encoding and `digests`).
 * @internal Exported for tests.
 */
export const lines = new GenerationalMap<string, RequestLine>(2048, (line) => line.url);

function lineOf(input: RequestHashInput, values: (string | undefined)[], digest: string): RequestLine {
  for (let i = 0; i < values.length; i++) values[i] = ownOrUndefined(values[i]);
  return {
    url: ownString(input.url),
    keyVersion: input.keyVersion,
    controller: input.controller,
    handler: input.handler,
    method: input.method,
    routePath: input.routePath,
    query: input.query,
    // A copy: a caller's array changed later must not change what this line says it was made from.
    vary: input.vary.slice(),
    values,
    custom: ownOrUndefined(input.custom),
    scope: input.scope,
    tenant: ownOrUndefined(input.tenant),
    user: ownOrUndefined(input.user),
    digest,
  };
}

/** What a line keeps of a string from the request: its own copy (see `ownString`), made when the line is. */
function ownOrUndefined(value: string | undefined): string | undefined {
  return value === undefined ? undefined : ownString(value);
}

/** Whether `input` (its URL being the line's) encodes as the line did. */
function sameInputs(line: RequestLine, input: RequestHashInput): boolean {
  if (
    line.tenant !== input.tenant ||
    line.user !== input.user ||
    line.routePath !== input.routePath ||
    line.method !== input.method ||
    line.query !== input.query ||
    line.custom !== input.custom ||
    line.scope !== input.scope ||
    line.handler !== input.handler ||
    line.controller !== input.controller ||
    line.keyVersion !== input.keyVersion
  ) {
    return false;
  }
  const vary = input.vary;
  if (!sameNames(vary, line.vary)) return false;
  const values = line.values;
  const headers = input.headers;
  // A line holds only single values: an array (a repeated header) never equals one, so it is hashed anew.
  for (let i = 0; i < vary.length; i++) if (headers[vary[i]!] !== values[i]) return false;
  return true;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sha256(s: string): string {
  // UTF-8 is injective on well-formed strings (the one-shot hash is the fast path); a string
  // with a lone surrogate is hashed as UTF-16 instead, which keeps it distinct. The two byte
  // forms cannot coincide: the UTF-16 form starts "n\0", the UTF-8 one "nt".
  if ((s as unknown as { isWellFormed(): boolean }).isWellFormed()) return oneShotHash('sha256', s, 'base64url');
  return createHash('sha256').update(s, 'utf16le').digest('base64url');
}

/**
 * A hot route is hashed once, not per hit (SHA-256 was the largest cost of a memory hit). Keyed
 * by the whole canonical encoding, so it is exact; at most 2 x 2,048 encodings of up to 512
 * characters (up to about 4 MB) are kept, longer ones are hashed every time. It keeps the
 * request line (path and query), the route, tenant and user ids, the custom key part and the
 * values of the vary headers in `MEMO_SAFE_HEADERS`; an encoding with a request body or any
 * other vary header (`authorization`, `x-api-key`, ...) is hashed every time and never kept.
 * Shared by every app in the process: it holds a pure function's results.
 * @internal Exported for tests.
 */
export const digests = new DigestMemo(sha256, 2048, MAX_REMEMBERED_ENCODING);

/** Vary headers whose values carry no secret: only encodings limited to these are remembered. */
const MEMO_SAFE_HEADERS = new Set(['accept', 'accept-language', 'accept-encoding', 'accept-charset', 'content-type', 'content-language', 'origin', 'host', 'x-forwarded-host', 'x-forwarded-proto']);

function field(value: string): string {
  return `${value.length}:${value}`;
}

function opt(value: string | undefined): string {
  return value === undefined ? '-' : field(value);
}

/**
 * JSON with object keys sorted, for keying request bodies: `{a:1,b:2}` and `{b:2,a:1}` encode
 * alike. Returns `undefined` for a body that is not JSON-like (a stream, a cycle).
 */
export function canonicalJson(value: unknown): string | undefined {
  const flat = flatCanonicalJson(value);
  if (flat !== undefined) return flat;
  try {
    return JSON.stringify(value, (_key, v: unknown) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
      // A null prototype, so a "__proto__" key is kept as data.
      const sorted: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      for (const k of Object.keys(v as object).sort()) sorted[k] = (v as Record<string, unknown>)[k];
      return sorted;
    });
  } catch {
    return undefined;
  }
}

/**
 * `canonicalJson` of a parsed query (an object of strings, or of lists of strings), written
 * directly, or `undefined` for anything else: a `toJSON`, another value, or a name that starts
 * with a digit (which JSON.stringify could order before the others). The replacer of
 * `canonicalJson` costs a query of one parameter ~0.5 µs, on every hit of a URL with a query.
 */
function flatCanonicalJson(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof (value as { toJSON?: unknown }).toJSON === 'function') return undefined;
  const names = Object.keys(value);
  const values = new Array<string>(names.length);
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const first = name.charCodeAt(0);
    if (first >= 0x30 && first <= 0x39) return undefined;
    const v: unknown = (value as Record<string, unknown>)[name];
    if (typeof v === 'string') values[i] = JSON.stringify(v);
    else if (Array.isArray(v) && typeof (v as { toJSON?: unknown }).toJSON !== 'function' && v.every((item) => typeof item === 'string')) values[i] = JSON.stringify(v);
    else return undefined;
  }
  // Sorted as `canonicalJson` sorts (UTF-16 code units), each value kept with its name.
  const order = names.map((_, i) => i).sort((a, b) => (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : 0));
  let out = '{';
  for (let j = 0; j < order.length; j++) out += `${j === 0 ? '' : ','}${JSON.stringify(names[order[j]!]!)}:${values[order[j]!]!}`;
  return `${out}}`;
}

/**
 * Why the key cannot represent a request, so it must bypass the cache, or `undefined`:
 * - its method was rewritten after the platform received it (a method-override middleware sets
 *   Express's `req.originalMethod`; Fastify keeps the received one in `request.raw.method`): the
 *   handler of the rewritten method runs with what the original request carried;
 * - a GET or HEAD with a body (`Content-Length` other than 0, or `Transfer-Encoding`): the key
 *   of GET and HEAD never holds the body, yet a handler may read it.
 */
export function unkeyedInput(req: CacheRequest): string | undefined {
  const method = req.method;
  const received: unknown = req.originalMethod ?? (req.raw as { method?: unknown } | undefined)?.method;
  if (received !== undefined && received !== method) return 'method rewritten';
  if (method === 'GET' || method === 'HEAD') {
    const headers = req.headers;
    if (headers['transfer-encoding'] !== undefined) return 'request body';
    const length = headers['content-length'];
    if (length !== undefined && Number(length) !== 0) return 'request body';
  }
  return undefined;
}

/** A strong ETag of a body: a quoted SHA-256 (base64url). */
export function strongEtag(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url')}"`;
}
