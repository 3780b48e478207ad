import { Inject, Injectable, Optional, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { APP_INTERCEPTOR, DiscoveryService, ModulesContainer } from '@nestjs/core';
import { RESOLVED_CACHE_OPTIONS } from './cache.internal-constants.js';
import type { ResolvedCacheModuleOptions } from './options/module-options.js';
import { CacheManager } from './cache/cache-manager.js';
import { CachedInterceptor } from './http/cached.interceptor.js';
import { HitFastPath } from './http/fast-path/hit-fast-path.js';
import { RouteRegistry } from './http/route-registry.js';
import { anyClassInjects, type ScannedModule } from './tenant/tenant-context-demand.js';
import { bindClsStrategy, clsKeyOf, CLS_TENANT_KEY, isClsService, type ClsServiceLike } from './tenant/cls-tenant.js';
import { MethodCacheExplorer } from './methods/method-cache.explorer.js';
import { CacheConfigError } from './errors/cache.errors.js';
import { HandlerSpecs } from './cache/handler-cache.js';
import { CACHED_METADATA, INVALIDATE_TAGS_METADATA } from './cache.constants.js';
import { PATH_METADATA } from '@nestjs/common/constants.js';

/**
 * The start-up and shutdown of one CacheModule instance: scans the controllers (validating every
 * `@Cached()` and warning about handlers that cannot be cached), installs the fast path, decides
 * whether handlers run in the tenant context, warns about interceptors that run before ours,
 * and closes the manager (its stores and connections, its invalidation retries) on shutdown.
 */
@Injectable()
export class CacheLifecycle implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  private requestScoped: ReadonlySet<Function> | undefined;

  constructor(
    @Inject(RESOLVED_CACHE_OPTIONS) private readonly options: ResolvedCacheModuleOptions,
    private readonly manager: CacheManager,
    private readonly routes: RouteRegistry,
    private readonly fastPath: HitFastPath,
    private readonly discovery: DiscoveryService,
    private readonly methods: MethodCacheExplorer,
    @Optional() private readonly modules?: ModulesContainer,
  ) {}

  /**
   * Installs the fast path (see `HitFastPath`). Called from `CacheModule.configure()`, which Nest
   * runs in `app.init()` before it registers the routes: on Fastify the route handlers are
   * wrapped as they are registered.
   */
  prepareFastPath(): void {
    const requestScoped = this.scanOnce();
    if (this.options.fastPath && this.routes.hasCachedRoutes()) this.fastPath.install(requestScoped);
  }

  onModuleInit(): void {
    this.scanOnce();
    this.checkHandlerDecorators();
    const cachedMethods = this.methods.wrapAll();
    // Here, not in configure(): Nest fills the modules' middleware while it runs the configure()
    // hooks. onModuleInit comes after them and before the app listens.
    this.decideTenantContext(cachedMethods > 0);
  }

  /** Scans the controllers once; returns the request-scoped ones. */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  private scanOnce(): ReadonlySet<Function> {
    if (this.requestScoped !== undefined) return this.requestScoped;
    // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
    const controllers = new Set<Function>();
    // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
    const requestScoped = new Set<Function>();
    for (const wrapper of this.discovery.getControllers()) {
      if (typeof wrapper.metatype !== 'function') continue;
      controllers.add(wrapper.metatype);
      if (!wrapper.isDependencyTreeStatic()) requestScoped.add(wrapper.metatype);
    }
    this.routes.scan(controllers);
    this.requestScoped = requestScoped;
    return requestScoped;
  }

  /**
   * Where handlers find their tenant (`current()`, cached methods): nestjs-cls's context when the
   * app uses nestjs-cls (it already pays for one AsyncLocalStorage: no second is opened), else
   * our own, unless `tenantContext` is off or, in `'auto'`, nothing could read it (nothing
   * injects CacheManager and no provider has a cached method).
   */
  private decideTenantContext(cachedMethods: boolean): void {
    const mode = this.options.tenantContext;
    const context = this.manager.context;
    const cls = this.findClsService();
    const clsKey = clsKeyOf(this.options.tenant);
    if (clsKey !== undefined) {
      if (cls === undefined) {
        throw new CacheConfigError('tenant', "fromCls() needs nestjs-cls, and no ClsService was found in the app", "import ClsModule.forRoot({ global: true, middleware: { mount: true, setup: (cls, req) => cls.set('tenantId', …) } }), or use another strategy");
      }
      bindClsStrategy(this.options.tenant, cls);
    }
    if (cls !== undefined && mode !== false) {
      context.useCls(cls, clsKey ?? CLS_TENANT_KEY);
      context.offReason = undefined;
      return;
    }
    if (mode !== 'auto') {
      context.offReason = mode ? undefined : 'The tenant context is off (CacheModule option tenantContext: false).';
      return;
    }
    // Without the container (never in a Nest app) nothing can be ruled out: stay on.
    if (this.modules === undefined) return;
    // The CacheModule's own classes never read the context: modules that provide CacheLifecycle
    // (CacheModule instances) are skipped.
    const isCacheModule = (module: ScannedModule): boolean => module.providers.has(CacheLifecycle);
    if (!cachedMethods && !anyClassInjects(this.modules.values() as Iterable<ScannedModule>, new Set<unknown>([CacheManager]), isCacheModule)) {
      context.offReason =
        "The tenant context is off: tenantContext is 'auto' and nothing in the app injects CacheManager (by constructor, @Inject() property or factory inject) and no provider has a @CacheResult()/@CacheEvict() method. " +
        'If code gets the manager another way (moduleRef.get(), moduleRef.create(), app.get(), a lazily loaded module), set tenantContext: true.';
    }
  }

  /**
   * Checks, at start-up, the `@Cached()` / `@InvalidateTags()` options of handlers that are not
   * HTTP routes (GraphQL resolvers, message handlers; the route registry checks routes), so a
   * mistake fails the boot rather than the first call.
   */
  private checkHandlerDecorators(): void {
    const specs = new HandlerSpecs();
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) {
      // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
      const type = wrapper.metatype as Function | null | undefined;
      const proto = (type as { prototype?: object } | null | undefined)?.prototype;
      if (typeof type !== 'function' || proto === undefined || proto === Object.prototype) continue;
      const classLevel = Reflect.hasMetadata(CACHED_METADATA, type);
      for (const name of Object.getOwnPropertyNames(proto)) {
        const method = Object.getOwnPropertyDescriptor(proto, name)?.value as unknown;
        if (name === 'constructor' || typeof method !== 'function' || Reflect.getMetadata(PATH_METADATA, method) !== undefined) continue;
        if (classLevel || Reflect.hasMetadata(CACHED_METADATA, method) || Reflect.hasMetadata(INVALIDATE_TAGS_METADATA, method)) specs.of(type, method);
      }
    }
  }

  /** The app's nestjs-cls `ClsService`, if it has one (found by its class name: nestjs-cls is never imported). */
  private findClsService(): ClsServiceLike | undefined {
    for (const wrapper of this.discovery.getProviders()) {
      const type = wrapper.metatype as { name?: string } | null | undefined;
      if ((type?.name === 'ClsService' || (wrapper.token as { name?: string } | undefined)?.name === 'ClsService') && isClsService(wrapper.instance)) return wrapper.instance;
    }
    return undefined;
  }

  /**
   * Warns about global interceptors (`APP_INTERCEPTOR`) that run before ours: on `@Cached()`
   * routes they receive the serialized body (a string), not the handler's value, so one that
   * transforms responses (ClassSerializerInterceptor, a `{ data }` wrapper) would be skipped or
   * break. Global interceptors run in the order their modules were scanned (the root module
   * first); `app.useGlobalInterceptors()` ones and route ones run after ours.
   */
  onApplicationBootstrap(): void {
    if (this.options.logger === undefined || !this.routes.hasCachedRoutes()) return;
    const before: string[] = [];
    for (const wrapper of this.discovery.getProviders()) {
      if (typeof wrapper.token !== 'string' || !wrapper.token.startsWith(`${APP_INTERCEPTOR} (`)) continue;
      const instance = wrapper.instance as { constructor?: { name?: string } } | undefined;
      if (instance === undefined || instance === null) continue;
      // Ours (registered by this CacheModule instance): everything after it runs inside it.
      if (instance instanceof CachedInterceptor && wrapper.host?.providers.get(CacheLifecycle)?.instance === this) break;
      before.push(instance.constructor?.name ?? 'an interceptor');
    }
    if (before.length > 0) {
      this.options.logger.warn(
        `Global interceptor(s) ${before.join(', ')} run before CachedInterceptor: on @Cached() routes they receive the serialized body (a string), not the handler's value. ` +
          'If one transforms responses (e.g. ClassSerializerInterceptor), provide it in a module imported after CacheModule, or register it with app.useGlobalInterceptors().',
      );
    }
  }

  /** Closes the manager (its stores, connections and retries). Idempotent. */
  async onApplicationShutdown(): Promise<void> {
    await this.manager.close();
  }
}
