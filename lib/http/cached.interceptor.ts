import { BadRequestException, Inject, Injectable, Optional, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { catchError, concatMap, Observable, of, throwError } from 'rxjs';
import { TenantRequiredError } from '../errors/cache.errors.js';
import { CONTEXT_FACES, type ContextFace } from '../cache/context-face.interface.js';
import { canonicalJson, requestHash } from './request-key.js';
import { GenerationalMap } from '../utils/generational-map.js';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';
import { HitFastPath } from './fast-path/hit-fast-path.js';
import { HttpCache, type HttpCacheHooks, type HttpLookup } from './http-cache.js';
import type { HttpResponseLike } from './platform-response.js';
import { isStorableResponse, serializeBody, type SerializedBody } from './response-policy.js';
import { RouteRegistry, type CachedRoute, type RouteMeta } from './route-registry.js';

/**
 * Serves `@Cached()` routes from the cache of the request's tenant, runs `@InvalidateTags()`
 * after a successful handler, and runs every HTTP handler with its tenant as the current one
 * (`CacheManager.current()`, through AsyncLocalStorage, when the tenant context is on). Glue
 * only: the lookup and the computation are `HttpCache`'s, which runs every miss through the
 * cache layer's one compute engine.
 *
 * CacheModule registers it globally (`APP_INTERCEPTOR`), alone: one interceptor layer per
 * request. A singleton: it never injects the REQUEST-scoped `TENANT_ID`, so controllers stay
 * singletons too.
 *
 * In a GraphQL or RPC context it hands the call to that context's face (`GraphqlCache`,
 * `MessageCache`), which passes a handler without cache decorators through untouched.
 *
 * Override a protected hook in a subclass and pass it as `CacheModule.forRoot({ interceptor })`:
 * `resolveTenant`, `isRequestCacheable`, `trackBy`. The fast path asks the same hooks.
 */
@Injectable()
export class CachedInterceptor implements NestInterceptor {
  /** The protected hooks, for `HttpCache` and the fast path (so a subclass's overrides apply everywhere). */
  private readonly hooks: HttpCacheHooks = {
    isRequestCacheable: (context, route) => this.isRequestCacheable(context, route),
    trackBy: (context, route, tenant) => this.trackBy(context, route, tenant),
    isResponseCacheable: (context, route, value) => this.isResponseCacheable(context, route, value),
    serialize: (value, res) => this.serialize(value, res),
  };

  constructor(
    protected readonly http: HttpCache,
    private readonly routes: RouteRegistry,
    private readonly fastPath: HitFastPath,
    /**
     * The faces of other contexts (GraphQL resolvers, message handlers), by context type. A
     * subclass whose constructor leaves it out serves HTTP only: other contexts pass through.
     */
    @Optional() @Inject(CONTEXT_FACES) private readonly faces?: readonly ContextFace[],
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> | Promise<Observable<unknown>> {
    const type = context.getType();
    // Another context (GraphQL, RPC, WebSockets) never reaches the HTTP code below: no req, no res.
    if (type !== 'http') return this.faces?.find((face) => face.type === type)?.intercept(context, next) ?? next.handle();
    const meta = this.routes.lookup(context.getClass(), context.getHandler());
    const cached = meta?.cached;
    if (cached !== undefined) {
      // Looked up before Nest's pipeline already (not a fresh hit): go on from there.
      const early = this.fastPath.active ? this.http.lookupMadeEarly(context.getArgByIndex<object>(0), cached) : undefined;
      if (early !== undefined) return this.answer(context, next, meta!, cached, early);
      if (this.fastPath.active) this.fastPath.learnRoute(context, meta!, this, this.hooks, (ctx) => this.resolveTenant(ctx));
    } else if (meta === null && !this.http.manager.context.enabled) {
      return next.handle(); // nothing to cache, invalidate or run in a tenant context
    }
    const tenant = this.resolveTenant(context);
    if (typeof tenant === 'object') return tenant.then((id) => this.handle(context, next, meta, id));
    return this.handle(context, next, meta, tenant);
  }

  /** The tenant of the request (validated), or `undefined`. Default: the module's `tenant` strategy. */
  protected resolveTenant(context: ExecutionContext): string | undefined | Promise<string | undefined> {
    return this.http.resolveTenant(context.getArgByIndex<CacheRequest>(0), context);
  }

  /**
   * Whether this request may be served from and stored in the cache (before the key): the
   * method is listed, no credential header (the module's `credentialHeaders`: `Authorization`,
   * `Cookie`, `X-API-Key`, …) unless the route names a `scope`, and the
   * route's `condition` holds.
   */
  protected isRequestCacheable(context: ExecutionContext, route: CachedRoute): boolean {
    if (route.bypass !== undefined) return false;
    const req = context.getArgByIndex<CacheRequest>(0);
    if (!route.methods.has(req.method ?? '')) return false;
    // A credential (a token, an API key, a Cookie that may carry a session) means the response
    // may depend on the caller: cache it only where the route says who shares it.
    if (!route.explicitScope && hasAny(req.headers, this.http.credentialHeaders)) return false;
    if (route.condition !== undefined) {
      try {
        return route.condition(req) === true;
      } catch (err) {
        this.reportUserError(undefined, 'condition', err);
        return false;
      }
    }
    return true;
  }

  /**
   * The key of the request within its tenant's cache (the request hash), or `undefined` to
   * bypass the cache (a `scope: 'user'` route without a user, a key function that fails).
   */
  protected trackBy(context: ExecutionContext, route: CachedRoute, tenant: string | undefined): string | undefined {
    const req = context.getArgByIndex<CacheRequest>(0);
    let user: string | undefined;
    let custom: string | undefined;
    let body: string | undefined;
    try {
      if (route.scope === 'user') {
        user = route.userId(req);
        if (typeof user !== 'string' || user === '') return undefined;
      }
      if (route.key !== undefined) {
        custom = typeof route.key === 'string' ? route.key : route.key(req);
        if (typeof custom !== 'string') return undefined;
      }
    } catch (err) {
      this.reportUserError(tenant, route.scope === 'user' && user === undefined ? 'userId' : 'key', err);
      return undefined;
    }
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    if (method !== 'GET') {
      body = canonicalJson(req.body ?? null);
      if (body === undefined) return undefined;
    }
    // keyOnly: the custom key replaces the request line and the route (empty here, which no
    // other key has: a controller name is never empty), as @CacheKey() of @nestjs/cache-manager.
    const url = route.keyOnly ? '' : ((req.originalUrl as string | undefined) ?? req.url ?? '');
    const query = route.keyOnly ? undefined : queryOf(req, url);
    if (query === null) return undefined;
    return httpKeyOf(requestHash({
      keyVersion: this.http.keyVersion,
      controller: route.keyOnly ? '' : route.controller,
      handler: route.keyOnly ? '' : route.handler,
      method,
      routePath: route.keyOnly ? '' : routeTemplate(req),
      url,
      query,
      vary: route.vary,
      headers: req.headers,
      custom,
      scope: route.scope,
      tenant: route.scope === 'global' ? undefined : tenant,
      user,
      body,
    }));
  }

  /**
   * Whether the handler's response may be stored: a 2xx status other than 206, no `Set-Cookie`, no
   * `Cache-Control: no-store` or `private`, no `Vary: *`, and a body that is not a stream.
   */
  protected isResponseCacheable(context: ExecutionContext, _route: CachedRoute, value: unknown): boolean {
    return isStorableResponse(context.getArgByIndex<HttpResponseLike>(1), value);
  }

  /**
   * The bytes the platform would send for `value`, as a string, and the Content-Type it would
   * send them with; `undefined` for a value that is not cached (a stream, binary data).
   */
  protected serialize(value: unknown, res: HttpResponseLike): SerializedBody | undefined {
    return serializeBody(value, res);
  }

  // ---- internals ----

  private handle(context: ExecutionContext, next: CallHandler, meta: RouteMeta | null, tenant: string | undefined): Observable<unknown> | Promise<Observable<unknown>> {
    const cached = meta?.cached;
    if (cached === undefined) {
      if (tenant === undefined && meta?.invalidate?.scope === 'tenant' && this.http.rejectsMissingTenant) throw missingTenant();
      return this.runHandler(context, meta, tenant, next, tenant);
    }
    const lookup = this.http.lookup(context, cached, tenant, this.hooks);
    if (isPromise(lookup)) return lookup.then((found) => this.answer(context, next, meta!, cached, found));
    return this.answer(context, next, meta!, cached, lookup);
  }

  private answer(context: ExecutionContext, next: CallHandler, meta: RouteMeta, route: CachedRoute, lookup: HttpLookup): Observable<unknown> {
    const req = context.getArgByIndex<CacheRequest>(0);
    const res = context.getArgByIndex<HttpResponseLike>(1);
    switch (lookup.kind) {
      case 'reject':
        throw missingTenant();
      case 'bypass':
        this.http.markCache(res, 'BYPASS');
        this.http.countBypass(lookup.tenant, lookup.reason);
        return this.runHandler(context, meta, lookup.tenant, next, lookup.tenant);
      case 'hit':
        return of(this.http.replay(req, res, lookup.entry, 'HIT'));
      case 'miss':
        // A `scope: 'global'` response is shared by all tenants: its handler runs without a tenant
        // context, so it cannot build a tenant's data into it through `current()`.
        return this.http.respond(context, route, lookup, this.hooks, () => this.runHandler(context, meta, lookup.tenant, next, route.scope === 'global' ? undefined : lookup.tenant));
    }
  }

  /**
   * Runs the handler (and the interceptors after this one) with `runAs` as the current tenant
   * (none when `undefined` or when the tenant context is off), then its `@InvalidateTags()`
   * for `tenant` when the response is not an error. A request without a tenant whose handler
   * calls `current()` gets 400 (the `TenantRequiredError` becomes a `BadRequestException`).
   */
  private runHandler(context: ExecutionContext, meta: RouteMeta | null, tenant: string | undefined, next: CallHandler, runAs: string | undefined): Observable<unknown> {
    const tenantContext = this.http.manager.context;
    let handled = runAs === undefined || !tenantContext.enabled ? next.handle() : new Observable((subscriber) => tenantContext.run(runAs, () => next.handle().subscribe(subscriber)));
    // `current()` in a request that brought no tenant: the client's fault (400), not the server's.
    // Not on a global route (its handler never has a tenant) nor with the context off (a setup error).
    if (tenant === undefined && tenantContext.enabled && meta?.cached?.scope !== 'global') handled = handled.pipe(catchError((err: unknown) => throwError(() => (err instanceof TenantRequiredError ? missingTenant(err) : err))));
    const invalidate = meta?.invalidate;
    if (invalidate === undefined) return handled;
    return handled.pipe(
      concatMap(async (value) => {
        if (context.getArgByIndex<HttpResponseLike>(1).statusCode < 400) await this.http.invalidate(context.getArgByIndex<CacheRequest>(0), invalidate, tenant);
        return value;
      }),
    );
  }

  private reportUserError(tenant: string | undefined, option: string, err: unknown): void {
    const name = err instanceof Error ? err.name : typeof err;
    this.http.reportError(tenant, `@Cached() ${option}`, `A @Cached() ${option} function threw (${name}); the request bypassed the cache.`);
  }
}

/** `http:<digest>`, one string per digest while it is hot, so the store finds its hash computed. */
const httpKeys = new GenerationalMap<string, string>(4_096);
function httpKeyOf(digest: string): string {
  let key = httpKeys.get(digest);
  if (key === undefined) httpKeys.set(digest, (key = `http:${digest}`));
  return key;
}

function missingTenant(cause?: TenantRequiredError): BadRequestException {
  return new BadRequestException('The tenant of this request could not be resolved.', { cause });
}

function hasAny(headers: CacheRequest['headers'], names: readonly string[]): boolean {
  for (let i = 0; i < names.length; i++) if (headers[names[i]!] !== undefined) return true;
  return false;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

/**
 * The query as the handler receives it (the platform's parsed `req.query`), as canonical JSON;
 * `undefined` for none; `null` when the key cannot hold it (no parsed query for a target that
 * has one, a value JSON cannot encode): the request then bypasses the cache.
 */
function queryOf(req: CacheRequest, url: string): string | undefined | null {
  const parsed: unknown = req.query;
  if (parsed === undefined || parsed === null) {
    const q = url.indexOf('?');
    return q === -1 || q === url.length - 1 ? undefined : null;
  }
  if (typeof parsed !== 'object') return null;
  // No parameters (most hits): what canonicalJson would say, without running JSON.stringify.
  if (hasNoParameters(parsed)) return '{}';
  return canonicalJson(parsed) ?? null;
}

/** Whether a parsed query encodes as `{}`: no enumerable own string key, and no `toJSON` of its own. */
function hasNoParameters(query: object): boolean {
  if (typeof (query as { toJSON?: unknown }).toJSON === 'function') return false;
  for (const name in query) if (Object.hasOwn(query, name)) return false;
  return true;
}

/** The route template as the platform reports it (Express `req.route.path`, Fastify `routeOptions.url`). */
function routeTemplate(req: CacheRequest): string {
  const express = (req.route as { path?: unknown } | undefined)?.path;
  if (express !== undefined) return String(express);
  const fastify = (req.routeOptions as { url?: unknown } | undefined)?.url;
  return fastify === undefined ? '' : String(fastify);
}
