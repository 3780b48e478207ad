import type { CacheRequest, MessageTenantStrategy, TenantResolverFn } from './tenant-resolver.interface.js';

/**
 * The tenant is the value of a request header, e.g. `fromHeader('x-tenant-id')`. Works on
 * Express and Fastify (both expose lowercased `req.headers`), over HTTP/1 and HTTP/2. A repeated
 * header is no tenant (never the joined `"acme, globex"`), and so is a blank one.
 *
 * Only use a header the client cannot forge for another tenant (one your gateway sets after
 * authenticating, or one a guard checks against the user): the cache trusts it.
 */
export function fromHeader(name: string): TenantResolverFn {
  if (typeof name !== 'string' || name.trim() === '') throw new TypeError('fromHeader(name): expected a header name such as "x-tenant-id"');
  const header = name.trim().toLowerCase();
  // Whether a repeat can leave the value without a trace of it (see `mayBeRepeated`).
  const hidesRepeats = HIDDEN_REPEATS.has(header);
  const resolver: TenantResolverFn = (req) => {
    const value = req.headers[header];
    if (value === undefined) return undefined;
    // Node joins a repeated header into "acme, globex": which tenant is meant is unknowable.
    if (Array.isArray(value) ? value.length !== 1 : mayBeRepeated(req, value, hidesRepeats) && repeated(req, header)) return undefined;
    const trimmed = (Array.isArray(value) ? value[0]! : value).trim();
    return trimmed === '' ? undefined : trimmed;
  };
  Object.defineProperty(resolver, TENANT_HEADER, { value: header });
  return named(resolver, `fromHeader(${header})`);
}

/** Marks the resolvers of `fromHeader()` with the header they read. */
const TENANT_HEADER = Symbol('nestjs-tenant-cache:tenant-header');

/**
 * The request header a strategy turns into the tenant id as it is (`fromHeader(name)`), or
 * `undefined`: a route keyed by the tenant is keyed by that header, so its handler may read it.
 * Not the host of `fromSubdomain()`: many hosts map to one tenant.
 */
export function tenantHeaderOf(strategy: unknown): string | undefined {
  const header = typeof strategy === 'function' ? (strategy as { [TENANT_HEADER]?: unknown })[TENANT_HEADER] : undefined;
  return typeof header === 'string' ? header : undefined;
}

/**
 * Headers of which Node keeps the first of several (`matchKnownFields` in Node's
 * `_http_incoming`), and `cookie`, whose repeats it joins with `; `: for these only
 * `headersDistinct` tells a repeat. Node joins the repeats of any other header with `, `.
 */
const HIDDEN_REPEATS: ReadonlySet<string> = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'cookie', 'etag', 'expires', 'from', 'host', 'if-modified-since',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent',
]);

/**
 * Whether a header's value may come from several header lines. Most values have no comma, and
 * then (unless the header is one whose repeats Node hides) it came from one: `headersDistinct`,
 * which builds an array for every header of the request on first use, is not needed. HTTP/2
 * (Node's compat API) keeps only the first of more headers than HTTP/1 does: always asked.
 */
function mayBeRepeated(req: CacheRequest, value: string, hidesRepeats: boolean): boolean {
  return hidesRepeats || value.includes(',') || (req.httpVersionMajor ?? (req.raw as { httpVersionMajor?: unknown } | undefined)?.httpVersionMajor) === 2;
}

/**
 * Whether the request carried `header` more than once: Node's `headersDistinct` (Express `req`,
 * Fastify `request.raw`), else its `rawHeaders` (an HTTP/2 request has no `headersDistinct`).
 */
function repeated(req: CacheRequest, header: string): boolean {
  const raw = req.raw as { headersDistinct?: unknown; rawHeaders?: unknown } | undefined;
  const distinct = (req.headersDistinct ?? raw?.headersDistinct) as Record<string, string[] | undefined> | undefined;
  if (distinct !== undefined && distinct !== null) {
    const values = distinct[header];
    return values !== undefined && values.length > 1;
  }
  const lines = (req.rawHeaders ?? raw?.rawHeaders) as unknown;
  if (!Array.isArray(lines)) return false;
  let seen = 0;
  for (let i = 0; i < lines.length; i += 2) if (typeof lines[i] === 'string' && (lines[i] as string).toLowerCase() === header && ++seen > 1) return true;
  return false;
}

/** Options of `fromSubdomain()`. */
export interface SubdomainOptions {
  /**
   * The domain tenants are subdomains of, e.g. `'example.com'` (or several). With it, only
   * `<tenant>.example.com` resolves (exactly one label more); other hosts have no tenant.
   * Without it, the leftmost label of any host with at least three labels is the tenant.
   * Default: none.
   */
  baseDomain?: string | readonly string[];
  /** Leftmost labels that are not tenants (case-insensitive). Default `['www']`. */
  ignore?: readonly string[];
  /**
   * Read `X-Forwarded-Host` (first value) before `Host`. Only enable behind a proxy that sets
   * it, otherwise a client can pick its tenant. Default false.
   */
  trustForwardedHost?: boolean;
}

const IPV4_RE = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The tenant is the leftmost label of the host: `acme.example.com` → `'acme'`. Ports are
 * ignored; IP addresses, `localhost`, bare domains and ignored labels (`www`) have no tenant.
 * The result is lowercased (host names are case-insensitive).
 */
export function fromSubdomain(options: SubdomainOptions = {}): TenantResolverFn {
  const bases = options.baseDomain === undefined ? [] : (typeof options.baseDomain === 'string' ? [options.baseDomain] : [...options.baseDomain]).map((b) => b.toLowerCase().replace(/^\.+|\.+$/g, ''));
  if (bases.some((b) => b === '')) throw new TypeError('fromSubdomain({ baseDomain }): expected a domain such as "example.com"');
  const ignore = new Set((options.ignore ?? ['www']).map((label) => label.toLowerCase()));
  const forwarded = options.trustForwardedHost === true;
  const resolver: TenantResolverFn = (req) => {
    const host = hostOf(req, forwarded);
    if (host === undefined) return undefined;
    let label: string | undefined;
    if (bases.length > 0) {
      for (const base of bases) {
        if (host.length > base.length + 1 && host.endsWith(base) && host[host.length - base.length - 1] === '.') {
          const rest = host.slice(0, host.length - base.length - 1);
          if (!rest.includes('.')) label = rest;
          break;
        }
      }
    } else {
      const labels = host.split('.');
      if (labels.length >= 3) label = labels[0];
    }
    if (label === undefined || !LABEL_RE.test(label) || ignore.has(label)) return undefined;
    return label;
  };
  return named(resolver, 'fromSubdomain()');
}

/** The host name of a request, lowercased, without port or trailing dot; `undefined` for an IP. */
function hostOf(req: CacheRequest, forwarded: boolean): string | undefined {
  let raw: string | string[] | undefined = forwarded ? req.headers['x-forwarded-host'] : undefined;
  if (Array.isArray(raw)) raw = raw[0];
  if (typeof raw === 'string') raw = raw.split(',')[0];
  raw ??= req.headers.host ?? (req.headers[':authority'] as string | undefined);
  if (typeof raw !== 'string') return undefined;
  let host = raw.trim().toLowerCase();
  if (host.startsWith('[')) return undefined; // IPv6 literal
  const colon = host.indexOf(':');
  if (colon !== -1) host = host.slice(0, colon);
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '' || IPV4_RE.test(host)) return undefined;
  return host;
}

/**
 * The tenant is a field of `req.user` (set by the app's authentication guard or middleware)
 * at a dotted path: `fromUser('tenantId')`, `fromUser('org.id')`. Strings and finite numbers
 * are accepted (numbers as their decimal string).
 *
 * Interceptors run after guards, so `@Cached()` sees the user. The REQUEST-scoped `TENANT_ID`
 * provider is built by Nest before guards run: with this strategy it only sees a user set by
 * a middleware; in handlers use `CacheManager.currentTenantId()`.
 */
export function fromUser(path: string): TenantResolverFn {
  if (typeof path !== 'string' || path === '' || path.split('.').some((part) => part === '')) {
    throw new TypeError('fromUser(path): expected a property path such as "tenantId" or "org.id"');
  }
  const parts = path.split('.');
  const resolver: TenantResolverFn = (req) => tenantAt(req.user, parts);
  return named(resolver, `fromUser(${path})`);
}

/**
 * The tenant of a message is a field of its payload at a dotted path: `fromPayload('tenantId')`,
 * `fromPayload('meta.tenant')` (`CacheModuleOptions.messageTenant`). Strings and finite numbers
 * are accepted. Only for transports whose senders you trust to name their own tenant.
 */
export function fromPayload(path: string): MessageTenantStrategy {
  if (typeof path !== 'string' || path === '' || path.split('.').some((part) => part === '')) {
    throw new TypeError('fromPayload(path): expected a property path such as "tenantId" or "meta.tenant"');
  }
  const parts = path.split('.');
  const strategy: MessageTenantStrategy = (data) => tenantAt(data, parts);
  Object.defineProperty(strategy, 'name', { value: `fromPayload(${path})` });
  return strategy;
}

function named(fn: TenantResolverFn, name: string): TenantResolverFn {
  Object.defineProperty(fn, 'name', { value: name });
  return fn;
}

/** The tenant id at a property path of `root` (strings and finite numbers), or `undefined`. */
function tenantAt(root: unknown, parts: readonly string[]): string | undefined {
  let value = root;
  for (const part of parts) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}
