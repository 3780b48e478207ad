import { Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RESOLVED_CACHE_OPTIONS } from '../cache.internal-constants.js';
import { HOST_METADATA, PATH_METADATA, REDIRECT_METADATA, RENDER_METADATA, RESPONSE_PASSTHROUGH_METADATA, ROUTE_ARGS_METADATA, SSE_METADATA } from '@nestjs/common/constants.js';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum.js';
import { CACHED_METADATA, INVALIDATE_TAGS_METADATA, NO_CACHE_METADATA } from '../cache.constants.js';
import { defaultUserId, type ResolvedCacheModuleOptions } from '../options/module-options.js';
import { readableHeaders } from './header-guard.js';
import { resolveCachedOptions, resolveInvalidateTagsOptions, type ResolvedCachedOptions } from '../options/cached-options.js';
import type { CachedOptions, InvalidateTagsMetadata, TagsSource, UserIdResolver } from '../options/cached-options.interface.js';

/** `@Cached()` options of one route, merged (class, then handler) and checked at start-up, with the module's defaults applied. */
export interface CachedRoute extends Omit<ResolvedCachedOptions, 'vary' | 'userId'> {
  /** Controller class name (part of the key). */
  readonly controller: string;
  /** Handler method name (part of the key). */
  readonly handler: string;
  /** Lowercased header names: the module's `vary` plus the route's, sorted, deduplicated. */
  readonly vary: readonly string[];
  readonly userId: UserIdResolver;
  /** Why this route is never cached (the handler sends the response itself), or `undefined`. */
  readonly bypass: string | undefined;
  /** Request headers its handler may read on a miss without the response going unstored (see `readableHeaders`). */
  readonly readableHeaders: ReadonlySet<string>;
}

/** What the interceptors need to know about one route, computed once (no reflection per request). */
export interface RouteMeta {
  /** `Controller.method`. */
  readonly id: string;
  readonly controller: string;
  readonly handler: string;
  readonly cached: CachedRoute | undefined;
  readonly invalidate: { readonly tags: TagsSource; readonly scope: 'tenant' | 'global' } | undefined;
}

const RESPONSE_PARAM = `${RouteParamtypes.RESPONSE}:`;
const NEXT_PARAM = `${RouteParamtypes.NEXT}:`;

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type AnyFunction = Function;

/**
 * Route metadata by controller class and handler, filled at start-up by `scan()` (which also
 * validates every `@Cached()` and warns about handlers that cannot be cached), and lazily for
 * a route it did not see. A lookup on the request path is two `Map.get`s.
 */
@Injectable()
export class RouteRegistry {
  private readonly byClass = new Map<AnyFunction, Map<AnyFunction, RouteMeta | null>>();

  constructor(
    @Inject(RESOLVED_CACHE_OPTIONS) private readonly options: ResolvedCacheModuleOptions,
    private readonly reflector: Reflector,
  ) {}

  private get logger(): ResolvedCacheModuleOptions['logger'] {
    return this.options.logger;
  }

  /** The metadata of a route, or `null` when it has no cache decorator. */
  lookup(controller: AnyFunction, handler: AnyFunction): RouteMeta | null {
    const routes = this.byClass.get(controller);
    const meta = routes?.get(handler);
    if (meta !== undefined) return meta;
    let built: RouteMeta | null;
    try {
      built = this.build(controller, handler, handler.name);
    } catch (err) {
      // Only reachable for a route the start-up scan did not see; never fail the request.
      this.logger?.error(`Ignoring the cache decorators of ${controller.name}.${handler.name}: ${(err as Error).message}`);
      built = null;
    }
    this.remember(controller, handler, built);
    return built;
  }

  /** Whether any route seen so far has `@Cached()`. */
  hasCachedRoutes(): boolean {
    for (const routes of this.byClass.values()) for (const meta of routes.values()) if (meta?.cached !== undefined) return true;
    return false;
  }

  /** Builds (and validates) the metadata of every route of `controllers`. Throws `CacheConfigError`. */
  scan(controllers: Iterable<AnyFunction>): void {
    for (const controller of controllers) {
      const proto = (controller as { prototype?: object }).prototype;
      if (proto === undefined) continue;
      for (const name of methodNames(proto)) {
        const handler = (proto as Record<string, unknown>)[name];
        if (typeof handler !== 'function' || Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
        const meta = this.build(controller, handler, name);
        if (meta?.cached?.bypass !== undefined) {
          this.logger?.warn(`@Cached() has no effect on ${meta.id}: ${meta.cached.bypass}, so its responses are never cached (X-Cache: BYPASS).`);
        }
        this.remember(controller, handler, meta);
      }
    }
  }

  private remember(controller: AnyFunction, handler: AnyFunction, meta: RouteMeta | null): void {
    let routes = this.byClass.get(controller);
    if (routes === undefined) this.byClass.set(controller, (routes = new Map()));
    routes.set(handler, meta);
  }

  private build(controller: AnyFunction, handler: AnyFunction, name: string): RouteMeta | null {
    const classOptions = this.reflector.get<CachedOptions | undefined>(CACHED_METADATA, controller as never);
    const handlerOptions = this.reflector.get<CachedOptions | undefined>(CACHED_METADATA, handler as never);
    const noCache = this.reflector.get<boolean | undefined>(NO_CACHE_METADATA, handler as never) === true;
    const invalidate = this.reflector.get<InvalidateTagsMetadata | undefined>(INVALIDATE_TAGS_METADATA, handler as never);
    const cachedOn = !noCache && (classOptions !== undefined || handlerOptions !== undefined);
    if (!cachedOn && invalidate === undefined) return null;
    const id = `${controller.name}.${name}`;
    return {
      id,
      controller: controller.name,
      handler: name,
      cached: cachedOn ? this.cachedRoute(id, { ...classOptions, ...handlerOptions }, controller, handler, name) : undefined,
      invalidate: invalidate === undefined ? undefined : resolveInvalidateTagsOptions(invalidate.tags, invalidate.options, `@InvalidateTags() on ${id}`),
    };
  }

  private cachedRoute(id: string, options: CachedOptions, controller: AnyFunction, handler: AnyFunction, name: string): CachedRoute {
    const checked = resolveCachedOptions(options, `@Cached() on ${id}`);
    // A host-bound controller (`@Controller({ host })`, `@HostParam()`): Nest routes by the host
    // name before any interceptor, so its responses depend on it and the key must hold it.
    const hostBound = Reflect.getMetadata(HOST_METADATA, controller) !== undefined ? ['host', 'x-forwarded-host'] : [];
    const vary = [...new Set([...this.options.vary, ...checked.vary, ...hostBound])].sort();
    const userId = checked.userId ?? this.options.userId;
    const { safeHeaders, credentialHeaders, tenantHeader } = this.options;
    return {
      controller: controller.name,
      handler: name,
      ttlMs: checked.ttlMs,
      graceMs: checked.graceMs,
      tags: checked.tags,
      vary,
      scope: checked.scope,
      explicitScope: checked.explicitScope,
      key: checked.key,
      keyOnly: checked.keyOnly,
      methods: checked.methods,
      condition: checked.condition,
      userId,
      bypass: bypassReason(controller, handler, name),
      readableHeaders: readableHeaders({ vary, scope: checked.scope, explicitScope: checked.explicitScope, safeHeaders, credentialHeaders, tenantHeader, userFromCredentials: userId === defaultUserId }),
    };
  }
}

/** Why Nest would not hand the handler's result to the interceptor as the body, if so. */
function bypassReason(controller: AnyFunction, handler: AnyFunction, name: string): string | undefined {
  const params = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, name) ?? {}) as Record<string, unknown>;
  const keys = Object.keys(params);
  if (keys.some((k) => k.startsWith(RESPONSE_PARAM) || k.startsWith(NEXT_PARAM)) && Reflect.getMetadata(RESPONSE_PASSTHROUGH_METADATA, controller, name) !== true) {
    return 'the handler uses @Res() or @Next() and sends the response itself (use @Res({ passthrough: true }) to let Nest send it)';
  }
  if (Reflect.getMetadata(SSE_METADATA, handler) !== undefined) return 'it is an @Sse() stream';
  if (Reflect.getMetadata(RENDER_METADATA, handler) !== undefined) return 'it renders a template (@Render())';
  if (Reflect.getMetadata(REDIRECT_METADATA, handler) !== undefined) return 'it redirects (@Redirect())';
  return undefined;
}

/** Own and inherited method names of a prototype chain (up to Object.prototype). */
function methodNames(proto: object): string[] {
  const names = new Set<string>();
  for (let p: object | null = proto; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const name of Object.getOwnPropertyNames(p)) {
      if (name === 'constructor') continue;
      const descriptor = Object.getOwnPropertyDescriptor(p, name);
      if (descriptor !== undefined && typeof descriptor.value === 'function') names.add(name);
    }
  }
  return [...names];
}
