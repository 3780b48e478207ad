import type { CacheManagerOptions } from './cache-options.interface.js';
import type { UserIdResolver } from './cached-options.interface.js';
import type { MessageTenantStrategy, TenantStrategy } from '../tenant/tenant-resolver.interface.js';

/** What to do with a request to a `@Cached()` / `@InvalidateTags()` route whose tenant cannot be resolved. */
export type MissingTenantPolicy = 'bypass' | 'reject';

/**
 * What `CacheHealthIndicator` tells terminus about a cache that is not `up`
 * (`CacheModuleOptions.healthPolicy`).
 */
export type HealthPolicy = 'degraded-is-up' | 'degraded-is-down';

/** What the unkeyed-input guard does (`CacheModuleOptions.headerGuard`). */
export type HeaderGuardMode = 'warn' | 'strict' | 'off';

/**
 * Options of `CacheModule.forRoot()` (and the result of a `forRootAsync()` factory): every
 * `CacheManagerOptions` option (`store`, `namespace`, `defaultTtl`, `tenantStores`, …) plus the
 * HTTP ones below. Everything is validated when the app boots; a bad option fails the boot
 * with a `CacheConfigError` naming it as written (`store.maxEntries`) and the fix; a misspelt
 * name gets the closest known one, and the names of @nestjs/cache-manager (`ttl`, `max`,
 * `stores`, `isCacheableValue`) say what to write instead.
 */
export interface CacheModuleOptions extends CacheManagerOptions {
  /**
   * How the tenant of a request is found. Required. `fromHeader('x-tenant-id')`,
   * `fromSubdomain()`, `fromUser('tenantId')`, a function `(req, context) => id | undefined`,
   * or a `TenantResolver` class (instantiated once, with its dependencies).
   */
  tenant: TenantStrategy;
  /**
   * How the tenant of a message (a `@MessagePattern()` / `@EventPattern()` handler) is found,
   * from its payload and its `ExecutionContext` (the transport's context, with its metadata):
   * `fromPayload('tenantId')`, `fromCls('tenantId')`, or a function `(data, context) => id | undefined`.
   * A message without a tenant runs its handler uncached (`@Cached({ scope: 'global' })` needs none).
   * @default the `tenant` strategy when it is `fromCls()` (it reads no request); otherwise none
   */
  messageTenant?: MessageTenantStrategy;
  /**
   * A request to a cached route without a valid tenant: `'bypass'` runs the handler without
   * the cache (`X-Cache: BYPASS`); `'reject'` answers 400. Such a request never falls into a
   * shared namespace. Routes without `@Cached()`/`@InvalidateTags()` are never rejected.
   * @default MODULE_DEFAULTS.onMissingTenant: 'bypass'
   */
  onMissingTenant?: MissingTenantPolicy;
  /**
   * Part of every response key: change it (e.g. on deploy, when response shapes change) to
   * stop serving every entry written before. 1-64 characters.
   * @default MODULE_DEFAULTS.keyVersion: '1'
   */
  keyVersion?: string;
  /**
   * Request header names every `@Cached()` route varies on (case-insensitive); a route adds
   * its own with `@Cached({ vary })`.
   * @default MODULE_DEFAULTS.vary: ['accept', 'accept-language']
   */
  vary?: readonly string[];
  /**
   * Response headers set by a handler that are stored and replayed on a hit (case-insensitive;
   * a trailing `*` matches a prefix, as in `'x-api-*'`). Only headers the handler (or an
   * interceptor after the cache's) set are recorded; one set before it ran, by middleware or a
   * guard, belongs to the request and is set again by it on a hit. `set-cookie` is never stored,
   * even if listed (and a response setting a cookie is not cached at all), nor is a header in
   * `perRequestHeaders`. The content type is always kept. A handler-set header this drops is
   * logged once per route (its name, never its value). A list you pass replaces the default:
   * `[...DEFAULT_CACHEABLE_HEADERS, 'x-api-version']`.
   * @default MODULE_DEFAULTS.cacheableHeaders: ['content-type', 'content-language', 'content-disposition', 'content-location', 'cache-control', 'expires', 'last-modified', 'link', 'location', 'vary', 'content-security-policy', 'content-security-policy-report-only', 'strict-transport-security', 'referrer-policy', 'permissions-policy', 'cross-origin-resource-policy', 'cross-origin-opener-policy', 'cross-origin-embedder-policy', 'x-content-type-options', 'x-frame-options', 'x-xss-protection', 'retry-after', 'access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers']
   */
  cacheableHeaders?: readonly string[];
  /**
   * Response headers about one request (its id, its trace, its timing, the caller's rate
   * limit): never stored or replayed, even when `cacheableHeaders` matches them
   * (case-insensitive; a trailing `*` matches a prefix). A handler-set header listed here is
   * dropped without a word, unless `cacheableHeaders` matches it too: that is logged once per
   * route. A list you pass replaces the default: `[...DEFAULT_PER_REQUEST_HEADERS, 'x-request-user']`.
   * @default MODULE_DEFAULTS.perRequestHeaders: ['x-request-id', 'x-correlation-id', 'request-id', 'x-trace-id', 'traceparent', 'tracestate', 'server-timing', 'x-ratelimit-*', 'ratelimit', 'ratelimit-policy', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'x-response-time', 'x-powered-by']
   */
  perRequestHeaders?: readonly string[];
  /**
   * Request headers that carry a credential (case-insensitive). A request carrying any of them
   * may get a response that depends on the caller, so it is cached only on routes with an
   * explicit `@Cached({ scope })`; elsewhere it bypasses the cache (`X-Cache: BYPASS`). A list
   * you pass replaces the default: keep the defaults you still want in it.
   * @default MODULE_DEFAULTS.credentialHeaders: ['authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'x-auth-token']
   */
  credentialHeaders?: readonly string[];
  /**
   * The unkeyed-input guard. While a miss runs its handler (and the pipes and interceptors after
   * the cache's), the request headers it reads are recorded; reading one the key does not hold
   * (the route's `vary`, the `fromHeader()` tenant header) and that is not in `safeHeaders` or
   * `DEFAULT_SAFE_HEADERS` means one client could choose what everyone sharing the entry
   * receives (`X-Forwarded-Host`, `Host`, a custom header). `'warn'`: that response is not
   * stored, and the route is logged once at warn level, naming the headers and the fix.
   * `'strict'`: the request fails with `UnkeyedHeaderError` (for development and CI).
   * `'off'`: nothing is recorded. Hits never pay for it.
   * @default MODULE_DEFAULTS.headerGuard: 'warn'
   */
  headerGuard?: HeaderGuardMode;
  /**
   * Request headers a handler may read without them being in the key, because they never change
   * the response (case-insensitive), e.g. `['x-request-id']` for a logging interceptor. Added to
   * `DEFAULT_SAFE_HEADERS` (framing, conditional and cache directives).
   * @default MODULE_DEFAULTS.safeHeaders: []
   */
  safeHeaders?: readonly string[];
  /**
   * Honour the request's own `Cache-Control` (RFC 9111 §5.2.1): `no-cache` or `max-age=0` (or
   * `Pragma: no-cache` without `Cache-Control`) skip the stored response and recompute it (the
   * new one is stored; concurrent such requests still share one computation); `no-store`
   * bypasses the cache. Off by default: any client could otherwise make the server recompute
   * every response it asks for (a shift-reload sends `no-cache`), which is a denial-of-service
   * lever that a shared cache in front of an origin does not need to hand out.
   * @default MODULE_DEFAULTS.honorRequestCacheControl: false
   */
  honorRequestCacheControl?: boolean;
  /**
   * User id of a request, for `scope: 'user'` routes.
   * @default MODULE_DEFAULTS.userId: `req.user?.id ?? req.user?.sub` (as a string)
   */
  userId?: UserIdResolver;
  /**
   * Run each HTTP handler with its tenant in an AsyncLocalStorage context, so services can call
   * `CacheManager.current()` / `currentTenantId()`.
   *
   * - `'auto'` (the default): on when the app can reach those methods, that is when any provider,
   *   controller, guard, interceptor, pipe, filter or middleware of the app injects
   *   `CacheManager` or `CacheRuntime` (by constructor, `@Inject()`, `@Dependencies()`,
   *   `forwardRef()`, property, or a factory's `inject`, which includes `useExisting` aliases);
   *   off otherwise. Decided at start-up (`onModuleInit`), before the app listens. An app that
   *   only decorates routes with `@Cached()` then pays nothing for a context it cannot read.
   * - `true`: always on. Use it if code gets the manager another way (`moduleRef.get()`,
   *   `moduleRef.create()`, `app.get()`, a module loaded lazily after start-up); with `'auto'` it
   *   would find no context: `current()` throws `TenantRequiredError` and `currentTenantId()`
   *   returns `undefined`, and both say why (the error; a warning logged once per burst).
   * - `false`: always off, for services that get the tenant explicitly (`forTenant(id)`,
   *   `@InjectTenant()`).
   *
   * Why it matters: on Node 20 and 22, AsyncLocalStorage in use makes every promise and callback
   * of the process pay an async hook (Node 24's AsyncContextFrame does not); the benchmark
   * measures it. `@Cached()`, `@InvalidateTags()` and `runWithTenant()` work the same in every
   * mode.
   * @default MODULE_DEFAULTS.tenantContext: 'auto'
   */
  tenantContext?: boolean | 'auto';
  /**
   * Serve `@Cached()` hits before Nest's request pipeline, from the platform's route handler
   * (after every middleware and platform hook of the route), on routes where nothing but this cache would run before the lookup:
   * no guard applies (global, `APP_GUARD`, controller or handler) and the cache's interceptor is
   * the first of the route's interceptors. Such a hit is byte-for-byte the one the interceptor
   * would send, without the cost of Nest's interceptor pipeline. Routes with guards are always served through the interceptor,
   * after the guards. `false` serves every hit from the interceptor.
   * @default MODULE_DEFAULTS.fastPath: true
   */
  fastPath?: boolean;
  /**
   * Send the diagnostic headers `X-Cache` (HIT, MISS, STALE, BYPASS) and `Age` on `@Cached()`
   * routes. They tell a client when another user of its tenant last asked for the same URL;
   * `false` sends neither (the `ETag` and the replayed headers stay).
   * @default MODULE_DEFAULTS.diagnosticHeaders: true
   */
  diagnosticHeaders?: boolean;
  /**
   * What `CacheHealthIndicator` reports to `@nestjs/terminus` when the cache is `degraded` or
   * `down` (Redis full, unreachable, its circuit open). The cache fails open: requests are still
   * answered (their handlers run), so the app is degraded, not down.
   *
   * - `'degraded-is-up'`: the check stays `up` (200), with the cache's own `state`, `detail` and
   *   `circuit` in its details. A readiness probe then keeps a serving instance in rotation:
   *   Redis is shared, so failing readiness would take every instance out at once for an outage
   *   none of them can fix, while each could serve.
   * - `'degraded-is-down'`: the check is `down` (503) unless the cache is `up`, for apps where the
   *   cache is essential (it shields a backend that cannot take the uncached load).
   *
   * A closed cache (the app shutting down) is `down` under both. `CacheManager.health()` gives
   * the full state whatever the policy, for monitoring.
   * @default MODULE_DEFAULTS.healthPolicy: 'degraded-is-up'
   */
  healthPolicy?: HealthPolicy;
}


/** A class that makes the module options (`forRootAsync({ useClass })`). */
export interface CacheModuleOptionsFactory {
  createCacheOptions(): CacheModuleOptions | Promise<CacheModuleOptions>;
}
