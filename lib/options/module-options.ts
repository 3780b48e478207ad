import { Logger } from '@nestjs/common';
import { CacheConfigError } from '../errors/cache.errors.js';
import type { CacheManagerOptions } from './cache-options.interface.js';
import type { CacheModuleOptions, HeaderGuardMode, HealthPolicy, MissingTenantPolicy } from './cache-module-options.interface.js';
import type { UserIdResolver } from './cached-options.interface.js';
import { headerNames } from './cached-options.js';
import { resolveLogger, resolveManagerOptions } from './manager-options.js';
import type { CacheRequest, MessageTenantStrategy, TenantStrategy } from '../tenant/tenant-resolver.interface.js';
import { assertTenantStrategy } from '../tenant/tenant-resolution.js';
import { tenantHeaderOf } from '../tenant/tenant-strategies.js';
import { clsKeyOf } from '../tenant/cls-tenant.js';
import type { Clock } from '../utils/clock.js';
import type { CacheLogger } from '../utils/error-reporter.js';
import { oneOf, optionalFunction } from '../utils/option-checks.js';

/** Request headers every `@Cached()` route varies on, by default. */
export const DEFAULT_VARY: readonly string[] = Object.freeze(['accept', 'accept-language']);
/** Request headers that carry a credential: a request with one is cached only on routes with an explicit `scope`. */
export const DEFAULT_CREDENTIAL_HEADERS: readonly string[] = Object.freeze(['authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'x-auth-token']);
/**
 * Response headers a handler set that are stored and replayed, by default: what describes the
 * representation, its freshness, and the security and CORS policy of the page. No `x-*`: a
 * custom header is as likely to be about the request (a user, a rate limit) as the response.
 */
export const DEFAULT_CACHEABLE_HEADERS: readonly string[] = Object.freeze([
  'content-type',
  'content-language',
  'content-disposition',
  'content-location',
  'cache-control',
  'expires',
  'last-modified',
  'link',
  'location',
  'vary',
  'content-security-policy',
  'content-security-policy-report-only',
  'strict-transport-security',
  'referrer-policy',
  'permissions-policy',
  'cross-origin-resource-policy',
  'cross-origin-opener-policy',
  'cross-origin-embedder-policy',
  'x-content-type-options',
  'x-frame-options',
  'x-xss-protection',
  'retry-after',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-expose-headers',
]);
/**
 * Response headers about one request, never stored or replayed even when `cacheableHeaders`
 * matches them: request and trace ids, timings, rate-limit state, the framework's banner.
 */
export const DEFAULT_PER_REQUEST_HEADERS: readonly string[] = Object.freeze([
  'x-request-id',
  'x-correlation-id',
  'request-id',
  'x-trace-id',
  'traceparent',
  'tracestate',
  'server-timing',
  'x-ratelimit-*',
  'ratelimit',
  'ratelimit-policy',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'x-response-time',
  'x-powered-by',
]);

/** `req.user?.id ?? req.user?.sub`, as a string. */
export const defaultUserId: UserIdResolver = (req: CacheRequest) => {
  const user = req.user as { id?: unknown; sub?: unknown } | undefined | null;
  const id = user?.id ?? user?.sub;
  if (typeof id === 'string') return id === '' ? undefined : id;
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  return undefined;
};

/** Defaults of the module's own options (`CacheModuleOptions` beyond the manager's), stated once. */
export const MODULE_DEFAULTS = Object.freeze({
  onMissingTenant: 'bypass' as MissingTenantPolicy,
  keyVersion: '1',
  vary: DEFAULT_VARY,
  cacheableHeaders: DEFAULT_CACHEABLE_HEADERS,
  perRequestHeaders: DEFAULT_PER_REQUEST_HEADERS,
  credentialHeaders: DEFAULT_CREDENTIAL_HEADERS,
  userId: defaultUserId,
  tenantContext: 'auto' as boolean | 'auto',
  fastPath: true,
  diagnosticHeaders: true,
  headerGuard: 'warn' as HeaderGuardMode,
  honorRequestCacheControl: false,
  safeHeaders: Object.freeze([]) as readonly string[],
  healthPolicy: 'degraded-is-up' as HealthPolicy,
});

/** The context of the module's default logger: Nest prints it, and the app's logger setup applies. */
export const LOGGER_CONTEXT = 'nestjs-tenant-cache';

/** Options of the module, not of the manager. */
const MODULE_KEYS = ['tenant', 'messageTenant', 'onMissingTenant', 'keyVersion', 'vary', 'cacheableHeaders', 'perRequestHeaders', 'credentialHeaders', 'userId', 'tenantContext', 'fastPath', 'diagnosticHeaders', 'headerGuard', 'safeHeaders', 'honorRequestCacheControl', 'healthPolicy'] as const;

const CALL_EXTRA = "it is an option of the forRoot()/forRootAsync() call, not of the options object: CacheModule.forRootAsync({ isGlobal: true, useFactory: () => ({ tenant, store }) })";
const MODULE_HINTS: Readonly<Record<string, string>> = { isGlobal: CALL_EXTRA, interceptor: CALL_EXTRA };

/** `CacheModuleOptions` checked and normalised at start-up (a copy; the caller's object is untouched). */
export interface ResolvedCacheModuleOptions {
  /** What `CacheManager.create()` gets: the manager options only, with the module's logger. */
  readonly manager: CacheManagerOptions;
  /** `undefined` when silenced (`logger: false`). */
  readonly logger: CacheLogger | undefined;
  readonly clock: Clock;
  readonly tenant: TenantStrategy;
  /** The tenant of a message; `undefined`: messages have no tenant. */
  readonly messageTenant: MessageTenantStrategy | undefined;
  readonly onMissingTenant: MissingTenantPolicy;
  readonly keyVersion: string;
  /** Lowercased, sorted, deduplicated. */
  readonly vary: readonly string[];
  /** Whether a (lowercased) response header name may be stored; never true for `set-cookie`. */
  readonly cacheableHeaders: (name: string) => boolean;
  /** Whether a (lowercased) response header name is about one request: never stored, whatever `cacheableHeaders` says. */
  readonly perRequestHeaders: (name: string) => boolean;
  /** Lowercased, deduplicated. */
  readonly credentialHeaders: readonly string[];
  readonly userId: UserIdResolver;
  readonly tenantContext: boolean | 'auto';
  readonly fastPath: boolean;
  readonly diagnosticHeaders: boolean;
  readonly headerGuard: HeaderGuardMode;
  readonly honorRequestCacheControl: boolean;
  /** Lowercased, deduplicated. */
  readonly safeHeaders: readonly string[];
  /** The header a `fromHeader()` strategy reads the tenant from, if it is one. */
  readonly tenantHeader: string | undefined;
  readonly healthPolicy: HealthPolicy;
}

/**
 * Validates the module options so a mistake fails the boot with a `CacheConfigError` naming the
 * option as written (`store.maxEntries`) and the fix, not the first request.
 */
export function resolveModuleOptions(options: CacheModuleOptions): ResolvedCacheModuleOptions {
  const resolved = resolveManagerOptions(options, MODULE_KEYS, '', MODULE_HINTS);
  assertTenantStrategy(options.tenant);
  // Inside Nest the default is Nest's own Logger, so the app's logger (and its levels) applies.
  const logger = resolveLogger(options.logger, 'logger', new Logger(LOGGER_CONTEXT));

  const onMissingTenant = oneOf(options.onMissingTenant, ['bypass', 'reject'], MODULE_DEFAULTS.onMissingTenant, 'onMissingTenant', "use 'bypass' (serve without the cache, the default) or 'reject' (answer 400)");
  const keyVersion = options.keyVersion ?? MODULE_DEFAULTS.keyVersion;
  if (typeof keyVersion !== 'string' || keyVersion.length === 0 || keyVersion.length > 64) {
    throw new CacheConfigError('keyVersion', 'expected a string of 1-64 characters', "use e.g. '1', '2', or a release id; change it to stop serving older entries");
  }
  const vary = [...new Set(headerNames(options.vary ?? MODULE_DEFAULTS.vary, 'vary'))].sort();
  const cacheableHeaders = headerAllowlist(options.cacheableHeaders ?? MODULE_DEFAULTS.cacheableHeaders);
  const perRequestHeaders = headerMatcher(options.perRequestHeaders ?? MODULE_DEFAULTS.perRequestHeaders, 'perRequestHeaders', "pass e.g. [...DEFAULT_PER_REQUEST_HEADERS, 'x-request-user'] (a trailing * matches a prefix)");
  const credentialHeaders = Object.freeze([...new Set(headerNames(options.credentialHeaders ?? MODULE_DEFAULTS.credentialHeaders, 'credentialHeaders', "[...DEFAULT_CREDENTIAL_HEADERS, 'x-session-token'], or [] to cache such requests everywhere"))]);
  const messageTenant =
    optionalFunction<MessageTenantStrategy>(options.messageTenant, 'messageTenant', "pass fromPayload('tenantId'), fromCls('tenantId') or (data, context) => id") ??
    (clsKeyOf(options.tenant) === undefined ? undefined : (options.tenant as unknown as MessageTenantStrategy));
  const userId = optionalFunction<UserIdResolver>(options.userId, 'userId', 'pass (req) => req.user?.id, or omit it for the default') ?? MODULE_DEFAULTS.userId;
  const tenantContext = oneOf<boolean | 'auto'>(options.tenantContext, ['auto', true, false], MODULE_DEFAULTS.tenantContext, 'tenantContext', "omit it ('auto': on when something injects CacheManager), or pass true or false");
  const fastPath = oneOf(options.fastPath, [true, false], MODULE_DEFAULTS.fastPath, 'fastPath', 'omit it (true) or pass false');
  const headerGuard = oneOf<HeaderGuardMode>(options.headerGuard, ['warn', 'strict', 'off'], MODULE_DEFAULTS.headerGuard, 'headerGuard', "omit it ('warn': such responses are not stored and the route is logged once), or pass 'strict' (the request fails) or 'off'");
  const safeHeaders = Object.freeze([...new Set(headerNames(options.safeHeaders ?? MODULE_DEFAULTS.safeHeaders, 'safeHeaders', "['x-request-id'], headers a handler reads that never change its response"))]);
  const honorRequestCacheControl = oneOf(options.honorRequestCacheControl, [true, false], MODULE_DEFAULTS.honorRequestCacheControl, 'honorRequestCacheControl', 'omit it (false: clients cannot make the cache recompute) or pass true');
  const healthPolicy = oneOf<HealthPolicy>(options.healthPolicy, ['degraded-is-up', 'degraded-is-down'], MODULE_DEFAULTS.healthPolicy, 'healthPolicy', "omit it ('degraded-is-up': a fail-open cache that is degraded or down keeps the health check up), or pass 'degraded-is-down'");
  const diagnosticHeaders = oneOf(options.diagnosticHeaders, [true, false], MODULE_DEFAULTS.diagnosticHeaders, 'diagnosticHeaders', 'omit it (true: X-Cache and Age are sent) or pass false');

  const manager: Record<string, unknown> = { ...options, logger: logger ?? false };
  for (const key of MODULE_KEYS) delete manager[key];
  return {
    manager: manager as CacheManagerOptions,
    logger,
    clock: resolved.clock,
    tenant: options.tenant,
    messageTenant,
    onMissingTenant,
    keyVersion,
    vary,
    cacheableHeaders,
    perRequestHeaders,
    credentialHeaders,
    userId,
    tenantContext,
    fastPath,
    diagnosticHeaders,
    headerGuard,
    honorRequestCacheControl,
    safeHeaders,
    tenantHeader: tenantHeaderOf(options.tenant),
    healthPolicy,
  };
}

function headerAllowlist(list: unknown): (name: string) => boolean {
  const matches = headerMatcher(list, 'cacheableHeaders', "pass e.g. [...DEFAULT_CACHEABLE_HEADERS, 'x-api-version'] (a trailing * matches a prefix)");
  // Never replayed, even if listed: a cookie belongs to one client.
  return (name) => name !== 'set-cookie' && matches(name);
}

/** A case-insensitive matcher of header names; an entry ending in `*` matches a prefix. */
function headerMatcher(list: unknown, option: string, fix: string): (name: string) => boolean {
  if (!Array.isArray(list) || list.some((h) => typeof h !== 'string' || !/^[!#$%&'+.^_`|~0-9A-Za-z-]+\*?$/.test(h))) {
    throw new CacheConfigError(option, 'expected an array of header names (a trailing * matches a prefix)', fix);
  }
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of list as string[]) {
    const lower = entry.toLowerCase();
    if (lower.endsWith('*')) prefixes.push(lower.slice(0, -1));
    else exact.add(lower);
  }
  if (prefixes.length === 0) return (name) => exact.has(name);
  return (name) => exact.has(name) || prefixes.some((p) => name.startsWith(p));
}
