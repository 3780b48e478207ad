import { Scope, type Provider, type Type } from '@nestjs/common';
import { APP_INTERCEPTOR, ModuleRef, REQUEST } from '@nestjs/core';
import { CACHE_MODULE_OPTIONS, TENANT_ID } from './cache.constants.js';
import { RESOLVED_CACHE_OPTIONS, TENANT_RESOLVER_FN } from './cache.internal-constants.js';
import { CacheLifecycle } from './cache.lifecycle.js';
import { CacheManager } from './cache/cache-manager.js';
import { CacheHealthIndicator } from './health/cache.health-indicator.js';
import { CachedInterceptor } from './http/cached.interceptor.js';
import { HitFastPath } from './http/fast-path/hit-fast-path.js';
import { HttpCache } from './http/http-cache.js';
import { RouteRegistry } from './http/route-registry.js';
import { MethodCacheExplorer } from './methods/method-cache.explorer.js';
import { MessageCache } from './microservices/message-cache.js';
import { GraphqlCache } from './graphql/graphql-cache.js';
import { CONTEXT_FACES, type ContextFace } from './cache/context-face.interface.js';
import type { CacheModuleOptions } from './options/cache-module-options.interface.js';
import { resolveModuleOptions, type ResolvedCacheModuleOptions } from './options/module-options.js';
import type { CacheRequest, TenantResolverFn } from './tenant/tenant-resolver.interface.js';
import { normalizeTenantStrategy } from './tenant/tenant-resolution.js';

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
    MethodCacheExplorer,
    MessageCache,
    GraphqlCache,
    { provide: CONTEXT_FACES, useFactory: (...faces: ContextFace[]) => faces, inject: [GraphqlCache, MessageCache] },
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
export const CACHE_EXPORTS = [CacheManager, TENANT_ID, CachedInterceptor, HttpCache, RouteRegistry, HitFastPath, CONTEXT_FACES, GraphqlCache, MessageCache, CacheHealthIndicator, CACHE_MODULE_OPTIONS];
