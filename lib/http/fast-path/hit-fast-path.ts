import { Injectable, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { HEADERS_METADATA } from '@nestjs/common/constants.js';
import { ApplicationConfig, HttpAdapterHost, ModulesContainer } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import type { CacheRequest } from '../../tenant/tenant-resolver.interface.js';
import { HttpCache, type HttpCacheHooks, type HttpLookup } from '../http-cache.js';
import type { HttpResponseLike } from '../platform-response.js';
import type { CachedRoute, RouteMeta } from '../route-registry.js';
import { qualifiesForFastPath } from './eligibility.js';
import { wrapExpressRoute, type ExpressRouteLike } from './express-route.js';
import { wrapFastifyRoute, type FastifyLike, type FastifyRequestLike, type FastifySlot } from './fastify-route.js';
import { isPromise, PASS, type FastLookup } from './platform-hooks.js';
import { RouteGuards, type Verdicts } from './route-guards.js';

/** The few methods of Nest's `HttpAdapterHost.httpAdapter` used here. */
interface HttpAdapterLike {
  getType(): string;
  getInstance(): unknown;
  setHeader(response: unknown, name: string, value: unknown): unknown;
}

/** A route learned from the interceptor: everything a lookup needs, fixed at start-up. */
interface FastRoute {
  readonly meta: RouteMeta;
  readonly cached: CachedRoute;
  readonly hooks: HttpCacheHooks;
  readonly resolveTenant: (context: ExecutionContext) => string | undefined | Promise<string | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  readonly controller: Function;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  readonly handler: Function;
  /** `@Header()` headers, which Nest sets before the interceptors run. */
  readonly headers: readonly { readonly name: string; readonly value: unknown }[];
  /** The route's guards, in Nest's order (run before the lookup, as Nest runs them before the interceptors). */
  readonly guards: readonly CanActivate[];
}

/**
 * Serves cache hits before Nest's request pipeline, where that pipeline would run nothing but
 * the route's guards and our interceptor before the lookup (see `qualifiesForFastPath`): Nest
 * 12's interceptor pipeline alone costs a Fastify route about a quarter of its throughput.
 *
 * The route's guards run first, as Nest runs them (`RouteGuards`); a request they deny, like a
 * miss, goes on into Nest's pipeline, which takes their verdicts instead of running them again.
 *
 * The lookup runs in the route handler itself, where Nest's would start: after Nest middleware
 * and every platform hook of the route. It is `HttpCache.lookup`, with the interceptor's hooks.
 * Routes are learned when the interceptor first sees them, so the first request of a route
 * always takes the interceptor. Anything but a fresh hit (a miss, a bypass) continues into Nest
 * with the lookup kept for the interceptor, so nothing is looked up, counted or reported twice.
 *
 * Turned off with `CacheModule.forRoot({ fastPath: false })`.
 */
@Injectable()
export class HitFastPath {
  /** The slot of each wrapped Fastify handler, by its route's config object (one per route). */
  private readonly fastifySlots = new WeakMap<object, FastifySlot>();
  /** Express routes already wrapped. */
  private readonly expressRoutes = new WeakSet<object>();
  /** The guards of each route the fast path takes, `null` for a route it does not take. */
  private readonly routeGuards = new WeakMap<RouteMeta, readonly CanActivate[] | null>();
  private platform: 'fastify' | 'express' | undefined;
  private adapter: HttpAdapterLike | undefined;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  private requestScoped: ReadonlySet<Function> = new Set();
  private readonly guards: RouteGuards | undefined;

  constructor(
    private readonly http: HttpCache,
    @Optional() private readonly config?: ApplicationConfig,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
    @Optional() modules?: ModulesContainer,
  ) {
    this.guards = modules === undefined || config === undefined ? undefined : new RouteGuards(modules, config);
  }

  /** Whether the fast path is installed on the platform. */
  get active(): boolean {
    return this.platform !== undefined;
  }

  /**
   * Installs the fast path, before Nest registers its routes (from `CacheModule.configure()`):
   * on Fastify, an `onRoute` hook wraps every route handler; on Express, routes are wrapped one
   * by one as they are learned. Other platforms get nothing.
   */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  install(requestScopedControllers: ReadonlySet<Function>): void {
    const adapter = this.adapterHost?.httpAdapter as HttpAdapterLike | undefined;
    if (this.platform !== undefined || this.config === undefined || adapter === undefined || adapter === null) return;
    this.adapter = adapter;
    this.requestScoped = requestScopedControllers;
    const adapterType = adapter.getType();
    const instance: unknown = adapter.getInstance();
    if (adapterType === 'fastify' && typeof (instance as Partial<FastifyLike> | undefined)?.addHook === 'function') {
      (instance as FastifyLike).addHook('onRoute', (route) => wrapFastifyRoute(route, (config, slot) => this.fastifySlots.set(config, slot)));
      this.platform = 'fastify';
    } else if (adapterType === 'express') {
      this.platform = 'express';
    }
  }

  /**
   * Called by the interceptor (`owner`) for a `@Cached()` route it is handling: remembers the
   * platform route if the route qualifies. Cheap after the first call per route.
   */
  learnRoute(context: ExecutionContext, meta: RouteMeta, owner: object, hooks: HttpCacheHooks, resolveTenant: FastRoute['resolveTenant']): void {
    const platform = this.platform;
    if (platform === undefined || this.config === undefined || meta.cached === undefined) return;
    let guards = this.routeGuards.get(meta);
    if (guards === undefined) {
      guards = this.guardsOf(platform, owner, context, meta);
      this.routeGuards.set(meta, guards);
    }
    if (guards === null) return;
    const req = context.getArgByIndex<CacheRequest>(0);
    if (platform === 'fastify') {
      // The slot of the wrapped handler that is running this request.
      const config = (req as FastifyRequestLike).routeOptions?.config;
      const slot = config === undefined || config === null ? undefined : this.fastifySlots.get(config);
      if (slot !== undefined && slot.lookup === undefined) slot.lookup = this.lookupOf(this.fastRoute(context, meta, meta.cached, hooks, resolveTenant, guards));
      return;
    }
    const expressRoute = req.route as ExpressRouteLike | undefined;
    if (expressRoute === undefined || expressRoute === null || this.expressRoutes.has(expressRoute)) return;
    this.expressRoutes.add(expressRoute);
    wrapExpressRoute(expressRoute, this.lookupOf(this.fastRoute(context, meta, meta.cached, hooks, resolveTenant, guards)));
  }

  /** The guards of a route the fast path takes, or `null`: it does not take the route (or could not work out its guards). */
  private guardsOf(platform: 'fastify' | 'express', owner: object, context: ExecutionContext, meta: RouteMeta): readonly CanActivate[] | null {
    if (!qualifiesForFastPath(this.config!, platform, this.requestScoped, owner, context, meta)) return null;
    try {
      return this.guards?.of(context.getClass(), context.getHandler()) ?? null;
    } catch (err) {
      // Nest's guard resolution changed under us: the route stays on Nest's pipeline, which is always right.
      this.http.reportError(undefined, 'fast path guards', `The fast path could not resolve the guards of ${context.getClass().name}.${context.getHandler().name} (${err instanceof Error ? err.name : typeof err}); its hits are served by the interceptor.`);
      return null;
    }
  }

  private fastRoute(context: ExecutionContext, meta: RouteMeta, cached: CachedRoute, hooks: HttpCacheHooks, resolveTenant: FastRoute['resolveTenant'], guards: readonly CanActivate[]): FastRoute {
    const handler = context.getHandler();
    const headers = (Reflect.getMetadata(HEADERS_METADATA, handler) ?? []) as FastRoute['headers'];
    return { meta, cached, hooks, resolveTenant, controller: context.getClass(), handler, headers, guards };
  }

  /** The lookup of one route: the body of a hit (status and headers set), `PASS`, or a promise of either. */
  private lookupOf(route: FastRoute): FastLookup {
    return (req, res, next) => {
      // The arguments Nest's handler gives its guards and interceptors (`next` is Express's; none on Fastify).
      const args = [req, res, next];
      if (route.guards.length === 0) return this.guarded(route, args);
      const verdicts = this.guards!.run(route.guards, args, route.controller, route.handler);
      if (isPromise(verdicts)) return verdicts.then((v) => this.afterGuards(route, args, v));
      return this.afterGuards(route, args, verdicts);
    };
  }

  /**
   * A guarded request after its guards: denied, it goes on into Nest's pipeline, which takes
   * their verdicts; allowed, it is looked up, and anything but a hit (or a throw, which the
   * platform hook hands to Nest too) keeps the verdicts for Nest the same way.
   */
  private afterGuards(route: FastRoute, args: unknown[], verdicts: Verdicts): unknown {
    const req = args[0] as object;
    if (!verdicts.allowed) {
      this.guards!.keep(req, verdicts);
      return PASS;
    }
    let result: unknown;
    try {
      result = this.guarded(route, args);
    } catch (err) {
      this.guards!.keep(req, verdicts);
      throw err;
    }
    if (result === PASS) this.guards!.keep(req, verdicts);
    else if (isPromise(result)) {
      return result.then(
        (body) => {
          if (body === PASS) this.guards!.keep(req, verdicts);
          return body;
        },
        (err: unknown) => {
          this.guards!.keep(req, verdicts);
          throw err;
        },
      );
    }
    return result;
  }

  /** The lookup of a request its route's guards let through. */
  private guarded(route: FastRoute, args: unknown[]): unknown {
    const req = args[0] as CacheRequest;
    const res = args[1] as HttpResponseLike;
    const context = new ExecutionContextHost(args, route.controller as never, route.handler);
    context.setType('http');
    const tenant = route.resolveTenant(context);
    if (isPromise(tenant)) return tenant.then((id) => this.lookupFor(route, context, req, res, id as string | undefined));
    return this.lookupFor(route, context, req, res, tenant);
  }

  private lookupFor(route: FastRoute, context: ExecutionContext, req: CacheRequest, res: HttpResponseLike, tenant: string | undefined): unknown {
    const lookup = this.http.lookup(context, route.cached, tenant, route.hooks);
    if (isPromise(lookup)) return lookup.then((found) => this.serve(route, req, res, found as HttpLookup));
    return this.serve(route, req, res, lookup);
  }

  private serve(route: FastRoute, req: CacheRequest, res: HttpResponseLike, lookup: HttpLookup): unknown {
    if (lookup.kind !== 'hit') {
      this.http.keepForPipeline(req, route.cached, lookup);
      return PASS;
    }
    const body = this.http.replay(req, res, lookup.entry, 'HIT');
    // The route's `@Header()` headers, on a hit only (Nest sets them itself when the request goes
    // on, and a header function must run once). Nest sets them before the interceptors, so what
    // the hit replays wins: a header the hit already has is kept.
    for (const { name, value } of route.headers) {
      if (res.getHeader(name) === undefined) this.adapter!.setHeader(res, name, typeof value === 'function' ? (value as () => unknown)() : value);
    }
    return body;
  }
}
