import { VersioningType, type ExecutionContext } from '@nestjs/common';
import { GUARDS_METADATA, HEADERS_METADATA, HOST_METADATA, INTERCEPTORS_METADATA } from '@nestjs/common/constants.js';
import type { ApplicationConfig } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import type { CacheRequest } from '../../tenant/tenant-resolver.interface.js';
import type { HttpResponseLike } from '../platform-response.js';
import type { RouteMeta } from '../route-registry.js';

/** What a pre-pipeline lookup returns when it did not serve the request: Nest handles it. */
export const PASS: unique symbol = Symbol('nestjs-tenant-cache pass');

/**
 * The interceptor side of the fast path: looks a request up before Nest's pipeline and, on a
 * fresh hit, sets the status and headers and returns the body to send; otherwise returns `PASS`
 * after handing what it found to `HitFastPath.stash`, so the interceptor does not look again.
 */
export interface PrePipelineServer {
  serveBeforePipeline(context: ExecutionContext, meta: RouteMeta): unknown;
}

/** A route learned by the interceptor: everything the fast path needs, fixed at start-up. */
interface FastRoute {
  readonly server: PrePipelineServer;
  readonly meta: RouteMeta;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  readonly controller: Function;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  readonly handler: Function;
  /** `@Header()` headers, which Nest sets before the interceptors run. */
  readonly headers: readonly { readonly name: string; readonly value: unknown }[];
}

/** The few methods of Nest's `HttpAdapterHost.httpAdapter` used here. */
export interface HttpAdapterLike {
  getType(): string;
  getInstance(): unknown;
  setHeader(response: unknown, name: string, value: unknown): unknown;
}
interface FastifyLike {
  addHook(name: 'onRoute', hook: (route: FastifyRouteOptionsLike) => void): unknown;
}
type FastifyHandler = (this: unknown, request: FastifyRequestLike, reply: FastifyReplyLike) => unknown;
interface FastifyRouteOptionsLike {
  handler: unknown;
}
/** Marks a route handler already wrapped (Fastify runs `onRoute` again for the HEAD route it derives from a GET). */
const WRAPPED = Symbol('nestjs-tenant-cache fast path');
interface FastifyRequestLike extends CacheRequest {
  readonly routeOptions: { readonly config: object | undefined };
}
interface FastifyReplyLike extends HttpResponseLike {
  readonly sent: boolean;
  send(body?: unknown): unknown;
}
interface ExpressResponseLike extends HttpResponseLike {
  readonly headersSent: boolean;
  send(body?: unknown): unknown;
}
interface ExpressLayerLike {
  handle: unknown;
}
interface ExpressRouteLike {
  readonly stack: ExpressLayerLike[];
}
type ExpressHandler = (req: CacheRequest, res: ExpressResponseLike, next: (err?: unknown) => void) => unknown;

/**
 * Serves cache hits before Nest's request pipeline, where that pipeline would run nothing but
 * our interceptor before the lookup: Nest 12's interceptor pipeline alone costs a Fastify route
 * about a quarter of its throughput, which a hit served from an interceptor cannot win back.
 *
 * A route qualifies only when the hit would be served identically and nothing that may refuse or
 * change the request is skipped:
 * - no guard applies to it (global, `APP_GUARD`, controller or handler): a hit never skips
 *   authorization;
 * - our interceptor is the first interceptor of its chain (those after it never run on a hit);
 * - it is an HTTP route whose response Nest sends (no `@Res()`, `@Render()`, `@Redirect()`, SSE);
 * - Nest does not decide inside its handler whether the route takes the request at all: not a
 *   controller bound to a `host`, and on Express no header, media-type or custom versioning
 *   (Nest's filters pass a request for another host or version on to the next route; Fastify
 *   routes versions by constraint, before any hook);
 * - its controller is not request-scoped (Nest builds such a controller and its request-scoped
 *   dependencies before the interceptors; a hit from the interceptor still pays for that).
 *
 * The lookup runs in the route handler itself, where Nest's would start: after Nest middleware
 * and every platform hook of the route (on Fastify, instance and route-level hooks alike,
 * whenever they were added). Routes are learned
 * when the interceptor first sees them, so the first request of a route always takes the
 * interceptor. Anything but a fresh hit (a miss, stale, a bypass) continues into Nest with what
 * the lookup found, so nothing is looked up, counted or reported twice.
 *
 * Turned off with `CacheModule.forRoot({ fastPath: false })`.
 */
export class HitFastPath {
  /** The slot of each wrapped Fastify handler, by its route's config object (one per route). */
  private readonly fastifySlots = new WeakMap<object, { route: FastRoute | undefined }>();
  /** Express routes already wrapped. */
  private readonly expressRoutes = new WeakSet<object>();
  private readonly eligibility = new WeakMap<RouteMeta, boolean>();
  /** What a lookup that passed found, for the interceptor of the same request. */
  private readonly stashed = new WeakMap<object, { readonly meta: RouteMeta; readonly found: unknown }>();
  private platform: 'fastify' | 'express' | undefined;
  /** Nest's adapter: sets `@Header()` headers exactly as Nest would. */
  private adapter: HttpAdapterLike | undefined;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  private requestScoped: ReadonlySet<Function> = new Set();

  constructor(private readonly config: ApplicationConfig | undefined) {}

  /** Whether the fast path is installed on the platform (learning is pointless otherwise). */
  get active(): boolean {
    return this.platform !== undefined;
  }

  /**
   * Installs the fast path, before Nest registers its routes (from `CacheModule.configure()`):
   * on Fastify, an `onRoute` hook wraps every route handler, so the lookup runs where Nest's
   * handler would start, after every hook of the route (instance or route-level, whenever it
   * was added); on Express, routes are wrapped one by one as they are learned (a route's handler
   * runs after all middleware). Other platforms get nothing.
   */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  install(adapter: HttpAdapterLike | undefined, requestScopedControllers: ReadonlySet<Function>): void {
    if (this.platform !== undefined || this.config === undefined || adapter === undefined) return;
    this.adapter = adapter;
    this.requestScoped = requestScopedControllers;
    const adapterType = adapter.getType();
    const instance: unknown = adapter.getInstance();
    if (adapterType === 'fastify' && typeof (instance as Partial<FastifyLike> | undefined)?.addHook === 'function') {
      (instance as FastifyLike).addHook('onRoute', (route) => this.wrapFastifyRoute(route));
      this.platform = 'fastify';
    } else if (adapterType === 'express') {
      this.platform = 'express';
    }
  }

  /**
   * Called by the interceptor for a `@Cached()` route it is handling: remembers the platform
   * route if the route qualifies. Cheap after the first call per route.
   */
  learn(server: PrePipelineServer, context: ExecutionContext, meta: RouteMeta): void {
    let eligible = this.eligibility.get(meta);
    if (eligible === undefined) {
      eligible = this.qualifies(server, context, meta);
      this.eligibility.set(meta, eligible);
    }
    if (!eligible) return;
    const req = context.getArgByIndex<CacheRequest>(0);
    if (this.platform === 'fastify') {
      // The slot of the wrapped handler that is running this request (see wrapFastifyRoute).
      const config = (req as FastifyRequestLike).routeOptions?.config;
      const slot = config === undefined || config === null ? undefined : this.fastifySlots.get(config);
      if (slot !== undefined && slot.route === undefined) slot.route = this.fastRoute(server, context, meta);
      return;
    }
    const expressRoute = req.route as ExpressRouteLike | undefined;
    if (expressRoute === undefined || expressRoute === null || this.expressRoutes.has(expressRoute)) return;
    this.expressRoutes.add(expressRoute);
    this.wrapExpressRoute(expressRoute, this.fastRoute(server, context, meta));
  }

  private fastRoute(server: PrePipelineServer, context: ExecutionContext, meta: RouteMeta): FastRoute {
    const handler = context.getHandler();
    const headers = (Reflect.getMetadata(HEADERS_METADATA, handler) ?? []) as FastRoute['headers'];
    return { server, meta, controller: context.getClass(), handler, headers };
  }

  /** Hands what a passing lookup found to the interceptor of the same request. */
  stash(req: object, meta: RouteMeta, found: unknown): void {
    this.stashed.set(req, { meta, found });
  }

  /** What the fast path found for this request and route, once; `undefined` if it did not look. */
  take(req: object, meta: RouteMeta): unknown {
    const entry = this.stashed.get(req);
    if (entry === undefined) return undefined;
    this.stashed.delete(req);
    return entry.meta === meta ? entry.found : undefined;
  }

  private qualifies(server: PrePipelineServer, context: ExecutionContext, meta: RouteMeta): boolean {
    if (this.platform === undefined || this.config === undefined) return false;
    if (context.getType() !== 'http' || meta.cached === undefined || meta.cached.bypass !== undefined) return false;
    const controller = context.getClass();
    const handler = context.getHandler();
    const config = this.config;
    if (config.getGlobalGuards().length > 0 || config.getGlobalRequestGuards().length > 0) return false;
    if (hasAny(Reflect.getMetadata(GUARDS_METADATA, controller)) || hasAny(Reflect.getMetadata(GUARDS_METADATA, handler))) return false;
    if (Reflect.getMetadata(HOST_METADATA, controller) !== undefined || this.requestScoped.has(controller)) return false;
    const versioning = config.getVersioning();
    if (this.platform === 'express' && versioning !== undefined && versioning.type !== VersioningType.URI) return false;
    // Nest's order: app-wide interceptors (APP_INTERCEPTOR, then useGlobalInterceptors), the
    // request-scoped app-wide ones, the controller's, the handler's.
    const first: unknown = [
      ...config.getGlobalInterceptors(),
      ...config.getGlobalRequestInterceptors(),
      ...asArray(Reflect.getMetadata(INTERCEPTORS_METADATA, controller)),
      ...asArray(Reflect.getMetadata(INTERCEPTORS_METADATA, handler)),
    ][0];
    return first === server || (first !== undefined && first === (server as { constructor?: unknown }).constructor);
  }

  private contextOf(route: FastRoute, req: CacheRequest, res: HttpResponseLike): ExecutionContext {
    const context = new ExecutionContextHost([req, res], route.controller as never, route.handler);
    context.setType('http');
    return context;
  }

  /** Runs the lookup: the body to send (status and headers set), `PASS`, or a promise of either. */
  private lookup(route: FastRoute, req: CacheRequest, res: HttpResponseLike): unknown {
    const result = route.server.serveBeforePipeline(this.contextOf(route, req, res), route.meta);
    if (route.headers.length === 0 || result === PASS) return result;
    if (isPromise(result)) return result.then((body) => (body === PASS ? body : this.withRouteHeaders(route, res, body)));
    return this.withRouteHeaders(route, res, result);
  }

  /**
   * Adds the route's `@Header()` headers to a hit, only then (Nest sets them itself when the
   * request goes on, and a header function must run once). Nest sets them before the
   * interceptors, so what the hit replays wins: here, a header the hit already has is kept.
   */
  private withRouteHeaders(route: FastRoute, res: HttpResponseLike, body: unknown): unknown {
    for (const { name, value } of route.headers) {
      if (res.getHeader(name) === undefined) this.adapter!.setHeader(res, name, typeof value === 'function' ? (value as () => unknown)() : value);
    }
    return body;
  }

  private wrapFastifyRoute(options: FastifyRouteOptionsLike): void {
    const nest = options.handler as FastifyHandler & { [WRAPPED]?: true };
    if (typeof nest !== 'function' || nest[WRAPPED] === true) return;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const fastPath = this;
    // Filled by learn() once the interceptor has seen this route: a hit then costs no lookup.
    const slot: { route: FastRoute | undefined } = { route: undefined };
    let announced = false;
    const fast = function (this: unknown, request: FastifyRequestLike, reply: FastifyReplyLike): unknown {
      const route = slot.route;
      if (route === undefined) {
        if (!announced) {
          // Fastify builds the route's config after onRoute: tell learn() which slot it belongs to.
          fastPath.fastifySlots.set(request.routeOptions.config as object, slot);
          announced = true;
        }
        return nest.call(this, request, reply);
      }
      if (reply.sent) return nest.call(this, request, reply);
      let result: unknown;
      try {
        result = fastPath.lookup(route, request, reply);
      } catch {
        return nest.call(this, request, reply); // never fail a request from here: Nest's pipeline handles it (and reports)
      }
      if (result === PASS) return nest.call(this, request, reply);
      if (isPromise(result)) {
        // A rejection of what a handler returns goes to Fastify's error handling.
        return result.then(
          (body) => {
            if (body === PASS) return nest.call(this, request, reply);
            if (!reply.sent) reply.send(body); // sent meanwhile (a timeout): nothing more to do
            return undefined;
          },
          () => nest.call(this, request, reply),
        );
      }
      reply.send(result);
      return undefined;
    } as FastifyHandler & { [WRAPPED]?: true };
    fast[WRAPPED] = true;
    options.handler = fast;
  }

  private wrapExpressRoute(expressRoute: ExpressRouteLike, route: FastRoute): void {
    for (const layer of expressRoute.stack) {
      const original = layer.handle;
      // A four-argument handler is an error handler: never Nest's route handler.
      if (typeof original !== 'function' || original.length > 3) continue;
      const nest = original as ExpressHandler;
      const fast: ExpressHandler = (req, res, next) => {
        if (res.headersSent) return nest(req, res, next);
        let result: unknown;
        try {
          result = this.lookup(route, req, res);
        } catch {
          return nest(req, res, next);
        }
        if (result === PASS) return nest(req, res, next);
        if (isPromise(result)) {
          // Express 5 passes a rejection of what a handler returns to next(err).
          return result.then(
            (body) => {
              if (body === PASS) return nest(req, res, next);
              return res.headersSent ? undefined : sendExpress(res, body); // sent meanwhile: nothing more to do
            },
            () => nest(req, res, next),
          );
        }
        return sendExpress(res, result);
      };
      layer.handle = fast;
    }
  }
}

/** As Nest's ExpressAdapter.reply sends a body our interceptor returns (a string, or nothing). */
function sendExpress(res: ExpressResponseLike, body: unknown): unknown {
  return body === undefined || body === null ? res.send() : res.send(String(body));
}

function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as Promise<unknown> | undefined)?.then === 'function';
}

function hasAny(list: unknown): boolean {
  return Array.isArray(list) && list.length > 0;
}

function asArray(list: unknown): unknown[] {
  return Array.isArray(list) ? list : [];
}
