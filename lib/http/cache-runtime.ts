import { Inject, Injectable, Optional, type ExecutionContext, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { APP_INTERCEPTOR, ApplicationConfig, DiscoveryService, HttpAdapterHost, ModulesContainer, Reflector } from '@nestjs/core';
import { RESOLVED_CACHE_OPTIONS, TENANT_RESOLVER_FN } from '../cache.constants.js';
import type { ResolvedCacheModuleOptions } from '../options/module-options.js';
import { CacheManager } from '../cache/cache-manager.js';
import type { TenantCache } from '../cache/tenant-cache.js';
import { CacheClosedError, CacheError, InvalidKeyError } from '../errors/cache.errors.js';
import type { CacheRequest, TenantResolverFn } from '../tenant/tenant-resolver.interface.js';
import { resolveTenant } from '../tenant/tenant-resolution.js';
import { HitFastPath, type HttpAdapterLike } from './fast-path/hit-fast-path.js';
import { RouteRegistry } from './route-registry.js';
import { anyClassInjects, type ScannedModule } from '../tenant/tenant-context-demand.js';

/** Longest delay between two invalidation retries. */
const MAX_RETRY_DELAY_MS = 30_000;

/**
 * What the interceptors and the `TENANT_ID` provider share, one per CacheModule instance (a
 * singleton; it never depends on the request): the validated options, the manager, the tenant
 * resolver, the route metadata computed at start-up, and the background invalidation retries.
 * It also closes the manager when the app shuts down.
 */
@Injectable()
export class CacheRuntime implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  readonly routes: RouteRegistry;
  /** Serves hits before Nest's pipeline on routes where nothing else would run first. */
  readonly fastPath: HitFastPath;
  /**
   * Whether handlers run in the tenant context (AsyncLocalStorage): the `tenantContext` option,
   * with `'auto'` decided at start-up (see `anyClassInjects`). Until then, on.
   */
  tenantContextOn = true;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  private requestScoped: ReadonlySet<Function> | undefined;
  private readonly retries = new Set<NodeJS.Timeout>();
  private shuttingDown = false;
  private readonly report = (kind: string, message: string): void => this.manager.reportError(kind, message);

  constructor(
    @Inject(RESOLVED_CACHE_OPTIONS) readonly options: ResolvedCacheModuleOptions,
    readonly manager: CacheManager,
    @Inject(TENANT_RESOLVER_FN) private readonly resolver: TenantResolverFn,
    private readonly discovery: DiscoveryService,
    reflector: Reflector,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
    @Optional() appConfig?: ApplicationConfig,
    @Optional() private readonly modules?: ModulesContainer,
  ) {
    this.routes = new RouteRegistry(options, reflector, options.logger);
    this.fastPath = new HitFastPath(appConfig);
  }

  /**
   * Scans every controller (validates `@Cached()` options, warns about uncacheable handlers) and
   * decides whether handlers run in the tenant context.
   */
  onModuleInit(): void {
    this.scanOnce();
    // Here, not in configure(): Nest fills the modules' middleware while it runs the configure()
    // hooks. onModuleInit comes after them and before the app listens.
    this.decideTenantContext();
  }

  /**
   * Installs the fast path (see `HitFastPath`). Called from `CacheModule.configure()`, which Nest
   * runs in `app.init()` before it registers the routes: on Fastify the route handlers are
   * wrapped as they are registered.
   */
  prepareFastPath(): void {
    const requestScoped = this.scanOnce();
    if (this.options.fastPath && this.routes.hasCachedRoutes()) this.fastPath.install(this.adapterHost?.httpAdapter as HttpAdapterLike | undefined, requestScoped);
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

  private decideTenantContext(): void {
    const mode = this.options.tenantContext;
    if (mode !== 'auto') {
      this.tenantContextOn = mode;
      if (!mode) this.manager.context.offReason = 'The tenant context is off (CacheModule option tenantContext: false).';
      return;
    }
    // Without the container (never in a Nest app) nothing can be ruled out: stay on.
    if (this.modules === undefined) return;
    // CacheRuntime counts too: its `manager` is public. The CacheModule's own classes never read
    // the context, so modules that provide CacheRuntime (CacheModule instances) are skipped.
    const tokens = new Set<unknown>([CacheManager, CacheRuntime]);
    const isCacheModule = (module: ScannedModule): boolean => module.providers.has(CacheRuntime);
    this.tenantContextOn = anyClassInjects(this.modules.values() as Iterable<ScannedModule>, tokens, isCacheModule);
    if (!this.tenantContextOn) {
      this.manager.context.offReason =
        "The tenant context is off: tenantContext is 'auto' and nothing in the app injects CacheManager (by constructor, @Inject() property or factory inject). " +
        'If code gets the manager another way (moduleRef.get(), moduleRef.create(), app.get(), a lazily loaded module), set tenantContext: true.';
    }
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
      const instance = wrapper.instance as { runtime?: unknown; constructor?: { name?: string } } | undefined;
      if (instance === undefined || instance === null) continue;
      if (instance.runtime === this) break; // ours: everything after it runs inside it
      before.push(instance.constructor?.name ?? 'an interceptor');
    }
    if (before.length > 0) {
      this.options.logger.warn(
        `Global interceptor(s) ${before.join(', ')} run before CachedInterceptor: on @Cached() routes they receive the serialized body (a string), not the handler's value. ` +
          'If one transforms responses (e.g. ClassSerializerInterceptor), provide it in a module imported after CacheModule, or register it with app.useGlobalInterceptors().',
      );
    }
  }

  /** The validated tenant id of a request, or `undefined`; synchronous when the resolver is. */
  resolveTenant(request: CacheRequest, context: ExecutionContext | undefined): string | undefined | Promise<string | undefined> {
    return resolveTenant(this.resolver, request, context, this.report);
  }

  /**
   * Invalidates `tags` in `cache`. A failure does not reject: it is logged (once per burst),
   * counted, and retried in the background with exponential backoff.
   */
  async invalidate(cache: TenantCache, tags: readonly string[]): Promise<void> {
    if (tags.length === 0) return;
    try {
      await cache.invalidateTags(tags);
    } catch (err) {
      if (err instanceof InvalidKeyError) {
        // A bad tag (empty, too long, not text) fails the same way every time: report, no retries.
        this.report('invalidate tags', `An @InvalidateTags() tag was invalid (${err.message}); nothing was invalidated.`);
        return;
      }
      if (!this.shouldRetry(err)) return;
      const { retries } = this.options.invalidationRetry;
      this.report('invalidate tags', `Invalidating ${tags.length} tag(s) failed (${codeOf(err)}); retrying in the background up to ${retries} time(s).`);
      this.scheduleRetry(cache, tags, 1);
    }
  }

  private scheduleRetry(cache: TenantCache, tags: readonly string[], attempt: number): void {
    const { retries, backoffMs } = this.options.invalidationRetry;
    if (attempt > retries) {
      this.report('invalidate tags gave up', `Invalidating ${tags.length} tag(s) still failed after ${retries} retries; entries with those tags stay until they expire.`);
      return;
    }
    const delay = Math.min(backoffMs * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS);
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      cache.invalidateTags(tags).then(
        () => undefined,
        (err: unknown) => {
          if (!this.shouldRetry(err)) return;
          this.report('invalidate tags', `Retry ${attempt} of invalidating ${tags.length} tag(s) failed (${codeOf(err)}).`);
          this.scheduleRetry(cache, tags, attempt + 1);
        },
      );
    }, delay);
    timer.unref();
    this.retries.add(timer);
  }

  private shouldRetry(err: unknown): boolean {
    return !this.shuttingDown && !(err instanceof CacheClosedError);
  }

  /** Retries in flight (for tests and diagnostics). */
  get pendingRetries(): number {
    return this.retries.size;
  }

  /** Stops the retries and closes the manager (its stores and connections). Idempotent. */
  async onApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const timer of this.retries) clearTimeout(timer);
    this.retries.clear();
    await this.manager.close();
  }
}

function codeOf(err: unknown): string {
  if (err instanceof CacheError) return err.code;
  return err instanceof Error ? err.name : typeof err;
}
