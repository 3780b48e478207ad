import { Scope, type Provider, type Type } from '@nestjs/common';
import { APP_INTERCEPTOR, ModuleRef, REQUEST } from '@nestjs/core';
import { CACHE_MODULE_OPTIONS, TENANT_ID } from './cache.constants.js';
import { RESOLVED_CACHE_OPTIONS, TENANT_RESOLVER_FN } from './cache.internal-constants.js';
import { CacheLifecycle } from './cache.lifecycle.js';
import { CacheManager } from './cache/cache-manager.js';
import { resolveManagerOptions } from './options/manager-options.js';
import { CacheConfigError } from './errors/cache.errors.js';
import { CacheHealthIndicator } from './health/cache.health-indicator.js';
import { CachedInterceptor } from './http/cached.interceptor.js';
import { HitFastPath } from './http/fast-path/hit-fast-path.js';
import { HttpCache } from './http/http-cache.js';
import { RouteRegistry } from './http/route-registry.js';
import { headerNames } from './http/route-registry.js';
import type { CacheManagerOptions } from './options/cache-options.interface.js';
import type { CacheModuleOptions, MissingTenantPolicy } from './options/cache-module-options.interface.js';
import type { UserIdResolver } from './options/cached-options.interface.js';
import type { CacheRequest, TenantResolverFn, TenantStrategy } from './tenant/tenant-resolver.interface.js';
import { assertTenantStrategy, normalizeTenantStrategy } from './tenant/tenant-resolution.js';
import type { Clock } from './utils/clock.js';
import type { CacheLogger } from './utils/error-reporter.js';

/** Options of the module, not of the manager. */
const MODULE_KEYS = ['tenant', 'onMissingTenant', 'keyVersion', 'vary', 'cacheableHeaders', 'userId', 'tenantContext', 'fastPath'] as const;

export const DEFAULT_VARY: readonly string[] = ['accept', 'accept-language'];
export const DEFAULT_CACHEABLE_HEADERS: readonly string[] = [
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
  'x-*',
];

/** `CacheModuleOptions` checked and normalised at start-up (a copy; the caller's object is untouched). */
export interface ResolvedCacheModuleOptions {
  /** What `CacheManager.create()` gets: the manager options only. */
  readonly manager: CacheManagerOptions;
  readonly logger: CacheLogger | undefined;
  readonly clock: Clock;
  readonly tenant: TenantStrategy;
  readonly onMissingTenant: MissingTenantPolicy;
  readonly keyVersion: string;
  /** Lowercased, sorted, deduplicated. */
  readonly vary: readonly string[];
  /** Whether a (lowercased) response header name may be stored; never true for `set-cookie`. */
  readonly cacheableHeaders: (name: string) => boolean;
  readonly userId: UserIdResolver;
  readonly tenantContext: boolean | 'auto';
  readonly fastPath: boolean;
}

/** `req.user?.id ?? req.user?.sub`, as a string. */
export const defaultUserId: UserIdResolver = (req: CacheRequest) => {
  const user = req.user as { id?: unknown; sub?: unknown } | undefined | null;
  const id = user?.id ?? user?.sub;
  if (typeof id === 'string') return id === '' ? undefined : id;
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  return undefined;
};

/**
 * Validates the module options so a mistake fails the boot with a `CacheConfigError` naming the
 * option and the fix, not the first request.
 */
export function resolveModuleOptions(options: CacheModuleOptions): ResolvedCacheModuleOptions {
  const resolved = resolveManagerOptions(options, MODULE_KEYS);
  assertTenantStrategy(options.tenant);

  const onMissingTenant = options.onMissingTenant ?? 'bypass';
  if (onMissingTenant !== 'bypass' && onMissingTenant !== 'reject') {
    throw new CacheConfigError('onMissingTenant', `expected 'bypass' or 'reject', got ${JSON.stringify(onMissingTenant)}`, "use 'bypass' (serve without the cache, the default) or 'reject' (answer 400)");
  }
  const keyVersion = options.keyVersion ?? '1';
  if (typeof keyVersion !== 'string' || keyVersion.length === 0 || keyVersion.length > 64) {
    throw new CacheConfigError('keyVersion', `expected a string of 1-64 characters, got ${JSON.stringify(keyVersion)}`, "use e.g. '1', '2', or a release id; change it to stop serving older entries");
  }
  const vary = [...new Set(headerNames(options.vary ?? DEFAULT_VARY, 'vary'))].sort();
  const cacheableHeaders = headerAllowlist(options.cacheableHeaders ?? DEFAULT_CACHEABLE_HEADERS);
  if (options.userId !== undefined && typeof options.userId !== 'function') {
    throw new CacheConfigError('userId', `expected a function, got ${typeof options.userId}`, 'pass (req) => req.user?.id, or omit it for the default');
  }
  const tenantContext = options.tenantContext ?? 'auto';
  if (typeof tenantContext !== 'boolean' && tenantContext !== 'auto') {
    throw new CacheConfigError('tenantContext', `expected 'auto', true or false, got ${JSON.stringify(tenantContext)}`, "omit it ('auto': on when something injects CacheManager), or pass true or false");
  }
  const fastPath = options.fastPath ?? true;
  if (typeof fastPath !== 'boolean') throw new CacheConfigError('fastPath', `expected true or false, got ${JSON.stringify(fastPath)}`, 'omit it (true) or pass false');

  const manager: Record<string, unknown> = { ...options };
  for (const key of MODULE_KEYS) delete manager[key];
  return {
    manager: manager as CacheManagerOptions,
    logger: resolved.logger,
    clock: resolved.clock,
    tenant: options.tenant,
    onMissingTenant,
    keyVersion,
    vary,
    cacheableHeaders,
    userId: options.userId ?? defaultUserId,
    tenantContext,
    fastPath,
  };
}

function headerAllowlist(list: unknown): (name: string) => boolean {
  if (!Array.isArray(list) || list.some((h) => typeof h !== 'string' || !/^[!#$%&'+.^_`|~0-9A-Za-z-]+\*?$/.test(h))) {
    throw new CacheConfigError('cacheableHeaders', 'expected an array of header names (a trailing * matches a prefix)', "pass e.g. ['content-type', 'cache-control', 'x-*']");
  }
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of list as string[]) {
    const lower = entry.toLowerCase();
    if (lower.endsWith('*')) prefixes.push(lower.slice(0, -1));
    else exact.add(lower);
  }
  exact.delete('set-cookie'); // never replayed: a cookie belongs to one client
  return (name) => name !== 'set-cookie' && (exact.has(name) || prefixes.some((p) => name.startsWith(p)));
}

/** Providers of one CacheModule instance. */
export function createCacheProviders(interceptor: Type<unknown> | false | undefined): Provider[] {
  const providers: Provider[] = [
    { provide: RESOLVED_CACHE_OPTIONS, useFactory: (options: CacheModuleOptions) => resolveModuleOptions(options), inject: [CACHE_MODULE_OPTIONS] },
    // One manager per module instance (per app): two apps in one process share nothing.
    { provide: CacheManager, useFactory: (options: ResolvedCacheModuleOptions) => CacheManager.create(options.manager), inject: [RESOLVED_CACHE_OPTIONS] },
    {
      provide: TENANT_RESOLVER_FN,
      useFactory: (options: ResolvedCacheModuleOptions, moduleRef: ModuleRef): Promise<TenantResolverFn> => normalizeTenantStrategy(options.tenant, moduleRef),
      inject: [RESOLVED_CACHE_OPTIONS, ModuleRef],
    },
    RouteRegistry,
    HttpCache,
    HitFastPath,
    CacheLifecycle,
    {
      provide: TENANT_ID,
      scope: Scope.REQUEST,
      useFactory: (request: CacheRequest, http: HttpCache) => http.resolveTenant(request, undefined),
      inject: [REQUEST, HttpCache],
    },
    CachedInterceptor,
    CacheHealthIndicator,
  ];
  if (interceptor !== false) {
    const cached = interceptor ?? CachedInterceptor;
    if (cached !== CachedInterceptor) providers.push(cached);
    // One global interceptor serves @Cached() and @InvalidateTags(): one interceptor layer per request.
    providers.push({ provide: APP_INTERCEPTOR, useExisting: cached });
  }
  return providers;
}

// HttpCache, RouteRegistry and HitFastPath are exported for `@UseInterceptors(CachedInterceptor)` in other modules (interceptor: false).
export const CACHE_EXPORTS = [CacheManager, TENANT_ID, CachedInterceptor, HttpCache, RouteRegistry, HitFastPath, CacheHealthIndicator, CACHE_MODULE_OPTIONS];
