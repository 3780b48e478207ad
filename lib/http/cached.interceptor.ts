import { BadRequestException, HttpException, Injectable, StreamableFile, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { catchError, concatMap, isObservable, map, Observable, of, throwError } from 'rxjs';
import { X_CACHE_HEADER } from '../cache.constants.js';
import { NO_SYNC_READ, type TenantCache } from '../cache/tenant-cache.js';
import { assertUserKey } from '../keys/storage-key.js';
import type { Envelope, HttpMeta } from '../envelope/envelope.js';
import { canonicalJson, ifNoneMatchMatches, requestHash, strongEtag } from './request-key.js';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';
import { CacheRuntime } from './cache-runtime.js';
import { PASS } from './fast-path/hit-fast-path.js';
import { headerText, isFastifyReply, setHeader, setStatus, type HttpResponseLike } from './platform-response.js';
import type { CachedRoute, RouteMeta } from './route-registry.js';

/** The stored body of a cached response: the bytes sent, as a string; `null` for no body. */
export type StoredBody = string | null;

/** Never stored or replayed from a handler: cookies, our own headers, per-message framing. */
const NEVER_STORED = new Set(['set-cookie', 'x-cache', 'etag', 'age', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date']);
const JSON_TYPE = 'application/json; charset=utf-8';
/** What each platform sends a string as when the handler sets no Content-Type. */
const EXPRESS_TEXT_TYPE = 'text/html; charset=utf-8';
const FASTIFY_TEXT_TYPE = 'text/plain; charset=utf-8';
const NO_STORE_RE = /(?:^|[\s,])(?:no-store|private)(?:$|[\s,=])/i;

/**
 * Serves `@Cached()` routes from the cache of the request's tenant (one handler run per key
 * under concurrency: concurrent misses wait for the first), runs `@InvalidateTags()` after a
 * successful handler, and runs every HTTP handler with its tenant as the current one
 * (`CacheManager.current()`, through AsyncLocalStorage).
 *
 * CacheModule registers it globally (`APP_INTERCEPTOR`), alone: one interceptor layer per
 * request; it does nothing but set the tenant context on routes without cache decorators. A singleton: it never injects the
 * REQUEST-scoped `TENANT_ID`, so controllers stay singletons too.
 *
 * Override a protected hook in a subclass and pass it as `CacheModule.forRoot({ interceptor })`:
 * `resolveTenant`, `isRequestCacheable`, `trackBy`, `isResponseCacheable`, `serialize`.
 */
@Injectable()
export class CachedInterceptor implements NestInterceptor {
  /** Responses being computed in this process, by tenant scope and key: waiters share them. */
  private readonly flights = new Map<string, Promise<Envelope<StoredBody> | undefined>>();

  constructor(protected readonly runtime: CacheRuntime) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> | Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    const route = this.runtime.routes.lookup(context.getClass(), context.getHandler());
    const tenant = this.resolveTenant(context);
    if (typeof tenant === 'object') return tenant.then((id) => this.handle(context, next, route, id));
    return this.handle(context, next, route, tenant);
  }

  /** The tenant of the request (validated), or `undefined`. Default: the module's `tenant` strategy. */
  protected resolveTenant(context: ExecutionContext): string | undefined | Promise<string | undefined> {
    return this.runtime.resolveTenant(context.getArgByIndex<CacheRequest>(0), context);
  }

  /**
   * Whether this request may be served from and stored in the cache (before the tenant and
   * the key): the route can be cached, the method is listed, no `Authorization` or `Cookie`
   * unless the route names a `scope`, and the route's `condition` holds.
   */
  protected isRequestCacheable(context: ExecutionContext, route: CachedRoute): boolean {
    if (route.bypass !== undefined) return false;
    const req = context.getArgByIndex<CacheRequest>(0);
    if (!route.methods.has(req.method ?? '')) return false;
    // A credential (Authorization, or a Cookie that may carry a session) means the response may
    // depend on the caller: cache it only where the route says who shares it.
    if (!route.explicitScope && (req.headers.authorization !== undefined || req.headers.cookie !== undefined)) return false;
    if (route.condition !== undefined) {
      try {
        return route.condition(req) === true;
      } catch (err) {
        this.reportUserError('condition', err);
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
      this.reportUserError(route.scope === 'user' && user === undefined ? 'userId' : 'key', err);
      return undefined;
    }
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    if (method !== 'GET') {
      body = canonicalJson(req.body ?? null);
      if (body === undefined) return undefined;
    }
    return `http:${requestHash({
      keyVersion: this.runtime.options.keyVersion,
      controller: route.controller,
      handler: route.handler,
      method,
      routePath: routeTemplate(req),
      url: (req.originalUrl as string | undefined) ?? req.url ?? '',
      vary: route.vary,
      headers: req.headers,
      custom,
      scope: route.scope,
      tenant: route.scope === 'global' ? undefined : tenant,
      user,
      body,
    })}`;
  }

  /**
   * Whether the handler's response may be stored: a 2xx status, no `Set-Cookie`, no
   * `Cache-Control: no-store` or `private`, no `Vary: *`, and a body that is not a stream.
   */
  protected isResponseCacheable(context: ExecutionContext, _route: CachedRoute, value: unknown): boolean {
    const res = context.getArgByIndex<HttpResponseLike>(1);
    const status = res.statusCode;
    if (status < 200 || status > 299) return false;
    if (value instanceof StreamableFile) return false;
    if (res.getHeader('set-cookie') !== undefined) return false;
    const cacheControl = headerText(res.getHeader('cache-control'));
    if (cacheControl !== undefined && NO_STORE_RE.test(cacheControl)) return false;
    const vary = headerText(res.getHeader('vary'));
    if (vary !== undefined && vary.split(',').some((v) => v.trim() === '*')) return false;
    return true;
  }

  /**
   * The bytes the platform would send for `value`, as a string, and the Content-Type it would
   * send them with; `undefined` for a value that is not cached (a stream, binary data).
   * Objects and arrays are JSON; `null`/`undefined` are no body.
   */
  protected serialize(value: unknown, res: HttpResponseLike): { body: StoredBody; contentType: string | undefined } | undefined {
    if (value === undefined || value === null) return { body: null, contentType: undefined };
    const fastify = isFastifyReply(res);
    switch (typeof value) {
      case 'string':
        return { body: value, contentType: fastify ? FASTIFY_TEXT_TYPE : EXPRESS_TEXT_TYPE };
      case 'number':
      case 'boolean':
        // Express sends String(value) as HTML; Fastify serialises it as JSON.
        return fastify ? { body: JSON.stringify(value), contentType: JSON_TYPE } : { body: String(value), contentType: EXPRESS_TEXT_TYPE };
      case 'object': {
        if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || isObservable(value) || typeof (value as { pipe?: unknown }).pipe === 'function') return undefined;
        if (typeof (value as { getReader?: unknown }).getReader === 'function' || (typeof Response !== 'undefined' && value instanceof Response)) return undefined;
        if (typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function') return undefined;
        const json = JSON.stringify(value);
        return json === undefined ? undefined : { body: json, contentType: JSON_TYPE };
      }
      default:
        return undefined;
    }
  }

  /**
   * Runs `@InvalidateTags()` after the handler succeeded (no exception, status below 400): the
   * tags are invalidated in the request's tenant cache before the response goes. Never
   * rejects: a failure is logged, counted and retried in the background.
   */
  protected async invalidate(context: ExecutionContext, invalidate: NonNullable<RouteMeta['invalidate']>, tenant: string | undefined): Promise<void> {
    const req = context.getArgByIndex<CacheRequest>(0);
    const { manager } = this.runtime;
    let tags: readonly string[];
    try {
      tags = typeof invalidate.tags === 'function' ? invalidate.tags(req) : invalidate.tags;
    } catch (err) {
      manager.reportError('@InvalidateTags() tags', `An @InvalidateTags() tags function threw (${err instanceof Error ? err.name : typeof err}); nothing was invalidated.`, tenant);
      return;
    }
    if (!Array.isArray(tags)) {
      manager.reportError('@InvalidateTags() tags', `An @InvalidateTags() tags function returned ${typeof tags}, not an array; nothing was invalidated.`, tenant);
      return;
    }
    if (tags.length === 0) return;
    if (invalidate.scope !== 'global' && tenant === undefined) return; // no tenant: it has no entries to invalidate
    await this.runtime.invalidate(invalidate.scope === 'global' ? manager.global() : manager.forTenant(tenant!), tags);
  }

  // ---- internals ----

  private handle(context: ExecutionContext, next: CallHandler, meta: RouteMeta | null, tenant: string | undefined): Observable<unknown> | Promise<Observable<unknown>> {
    if (meta === null || meta.cached === undefined) {
      if (tenant === undefined && meta?.invalidate?.scope === 'tenant' && this.runtime.options.onMissingTenant === 'reject') throw missingTenant();
      return this.runHandler(context, meta, tenant, next, tenant);
    }
    const fastPath = this.runtime.fastPath;
    if (fastPath.active) {
      // Looked up before Nest's pipeline already (a miss, stale, or a bypass): go on from there.
      const found = fastPath.take(context.getArgByIndex<object>(0), meta) as Found | undefined;
      if (found !== undefined) return this.act(context, next, meta, found.tenant, found.prepared);
      fastPath.learn(this, context, meta);
    }
    return this.act(context, next, meta, tenant, this.prepare(context, meta.cached, tenant));
  }

  /**
   * Everything before the handler may run: the decision to reject, bypass or look up, and the
   * synchronous lookup (`NO_SYNC_READ` when the store can only answer asynchronously).
   */
  private prepare(context: ExecutionContext, route: CachedRoute, tenant: string | undefined): Prepared {
    if (tenant === undefined && route.scope !== 'global') return this.runtime.options.onMissingTenant === 'reject' ? REJECT : NO_TENANT;
    if (!this.isRequestCacheable(context, route)) return NOT_CACHEABLE;
    const key = this.trackBy(context, route, tenant);
    if (key === undefined) return NO_KEY;
    const manager = this.runtime.manager;
    const cache = route.scope === 'global' ? manager.global() : manager.forTenant(tenant!);
    let entry: Envelope<StoredBody> | undefined | typeof NO_SYNC_READ;
    try {
      // The memory store answers synchronously: a hit then costs no promise at all.
      entry = cache.getEntrySync<StoredBody>(key, route.graceMs > 0);
    } catch {
      return CACHE_CLOSED; // during shutdown
    }
    return { kind: 'lookup', route, cache, key, entry };
  }

  private act(context: ExecutionContext, next: CallHandler, meta: RouteMeta, tenant: string | undefined, prepared: Prepared): Observable<unknown> | Promise<Observable<unknown>> {
    const res = context.getArgByIndex<HttpResponseLike>(1);
    if (prepared.kind === 'reject') throw missingTenant();
    if (prepared.kind === 'bypass') return this.bypass(context, meta, res, tenant, next, prepared.reason);
    const { route, cache, key, entry } = prepared;
    if (entry === NO_SYNC_READ) return this.lookupAsync(context, next, meta, route, cache, key, tenant, res);
    return this.afterLookup(context, next, meta, route, cache, key, tenant, res, entry);
  }

  /**
   * The fast path's lookup (see `HitFastPath`), before Nest's pipeline: on a fresh hit, sets the
   * status and headers and returns the body to send; otherwise stashes what it found for
   * `intercept()` and returns `PASS`. Uses the same hooks as `intercept()`, on an
   * `ExecutionContext` of the route.
   * @internal
   */
  serveBeforePipeline(context: ExecutionContext, meta: RouteMeta): unknown {
    const tenant = this.resolveTenant(context);
    if (typeof tenant === 'object') return tenant.then((id) => this.serveOrStash(context, meta, id, this.prepare(context, meta.cached!, id)));
    return this.serveOrStash(context, meta, tenant, this.prepare(context, meta.cached!, tenant));
  }

  private serveOrStash(context: ExecutionContext, meta: RouteMeta, tenant: string | undefined, prepared: Prepared): unknown {
    if (prepared.kind === 'lookup') {
      const { cache, key, route, entry } = prepared;
      if (entry === NO_SYNC_READ) {
        return cache.getEntry<StoredBody>(key, route.graceMs > 0).then(
          (found) => this.serveOrStash(context, meta, tenant, { kind: 'lookup', route, cache, key, entry: found }),
          () => this.serveOrStash(context, meta, tenant, CACHE_CLOSED), // during shutdown
        );
      }
      if (entry !== undefined && entry.http !== undefined && cache.isFresh(entry)) {
        return this.replay(context.getArgByIndex<CacheRequest>(0), context.getArgByIndex<HttpResponseLike>(1), entry, entry.http, 'HIT');
      }
    }
    // Not a fresh hit: the interceptor goes on from what was found (nothing is resolved, looked
    // up, counted or reported twice).
    const found: Found = { tenant, prepared };
    this.runtime.fastPath.stash(context.getArgByIndex<object>(0), meta, found);
    return PASS;
  }

  private async lookupAsync(context: ExecutionContext, next: CallHandler, meta: RouteMeta, route: CachedRoute, cache: TenantCache, key: string, tenant: string | undefined, res: HttpResponseLike): Promise<Observable<unknown>> {
    let entry: Envelope<StoredBody> | undefined;
    try {
      entry = await cache.getEntry<StoredBody>(key, route.graceMs > 0); // fails open: a store error reads as a miss
    } catch {
      return this.bypass(context, meta, res, tenant, next, 'cache closed'); // during shutdown
    }
    return this.afterLookup(context, next, meta, route, cache, key, tenant, res, entry);
  }

  private afterLookup(context: ExecutionContext, next: CallHandler, meta: RouteMeta, route: CachedRoute, cache: TenantCache, key: string, tenant: string | undefined, res: HttpResponseLike, entry: Envelope<StoredBody> | undefined): Observable<unknown> | Promise<Observable<unknown>> {
    const req = context.getArgByIndex<CacheRequest>(0);
    // Only a stored HTTP response is replayed (`http` set); a stale one only within its grace.
    const usable = entry !== undefined && entry.http !== undefined ? entry : undefined;
    if (usable !== undefined && cache.isFresh(usable)) return of(this.replay(req, res, usable, usable.http!, 'HIT'));
    const stale = usable;
    // A miss. If the same response is already being computed in this process (same tenant,
    // same key), wait for it instead of running the handler again: one handler run per key.
    // With a stale response in grace, do not even wait: serve it.
    const flightKey = `${cache.scope.id} ${key}`;
    const leader = this.flights.get(flightKey);
    if (leader === undefined) return this.compute(context, next, meta, route, cache, key, tenant, res, flightKey, stale);
    if (stale !== undefined) {
      cache.recordStaleServed();
      return of(this.replay(req, res, stale, stale.http!, 'STALE'));
    }
    this.runtime.manager.recordStampedeWait(tenant);
    return leader.then((shared) =>
      shared !== undefined && shared.http !== undefined
        ? of(this.replay(req, res, shared, shared.http, 'HIT'))
        : // The leader's response was not cacheable (or failed): compute our own, not as a leader.
          this.compute(context, next, meta, route, cache, key, tenant, res, undefined, undefined),
    );
  }

  /**
   * Runs the handler on a miss and stores its response; as the leader of `flightKey`, shares it
   * with waiters. The flight is registered at once (and released if nothing subscribes by the
   * next turn of the event loop), and settled on every way out (value, error, completion without a value, or unsubscription when an outer
   * interceptor times out or the client goes away), so no waiter can be left hanging.
   */
  private compute(context: ExecutionContext, next: CallHandler, meta: RouteMeta, route: CachedRoute, cache: TenantCache, key: string, tenant: string | undefined, res: HttpResponseLike, flightKey: string | undefined, stale: Envelope<StoredBody> | undefined): Observable<unknown> {
    // The flight is opened now, at the decision, not when Nest subscribes: requests decided in
    // between (a batch of Redis replies resolves many lookups in one go) must find a leader. If
    // nothing subscribes by the next turn of the event loop (an outer interceptor dropped the
    // call), it is released, and its waiters compute their own.
    let unclaimed = flightKey !== undefined && !this.flights.has(flightKey) ? this.openFlight(flightKey) : undefined;
    if (unclaimed !== undefined) {
      const pending = unclaimed;
      setImmediate(() => {
        if (unclaimed === pending) {
          unclaimed = undefined;
          pending(undefined);
        }
      });
    }
    return new Observable<unknown>((subscriber) => {
      let settle = unclaimed;
      unclaimed = undefined;
      // A later subscription (an outer retry) leads a new flight if none is open.
      if (settle === undefined && flightKey !== undefined && !this.flights.has(flightKey)) settle = this.openFlight(flightKey);
      // Said before the handler runs, so an error response carries it too.
      setHeader(res, X_CACHE_HEADER, 'MISS');
      const before = res.getHeaders();
      // A `scope: 'global'` response is shared by all tenants: its handler runs without a tenant
      // context, so it cannot build a tenant's data into it through `current()`.
      let computed = this.runHandler(context, meta, tenant, next, route.scope === 'global' ? undefined : tenant).pipe(
        map((value) => {
          const stored = this.store(context, route, cache, key, tenant, res, before, value);
          settle?.(stored.entry);
          return stored.send;
        }),
      );
      if (stale !== undefined) {
        // Stale-if-error: the recomputation failed (a server error, not a 4xx answer), so the
        // response in grace is served instead.
        computed = computed.pipe(
          catchError((err: unknown) => {
            if (err instanceof HttpException && err.getStatus() < 500) return throwError(() => err);
            cache.recordStaleServed();
            return of(this.replay(context.getArgByIndex<CacheRequest>(0), res, stale, stale.http!, 'STALE'));
          }),
        );
      }
      const subscription = computed.subscribe(subscriber);
      return () => {
        subscription.unsubscribe();
        settle?.(undefined);
      };
    });
  }

  /** Registers a computation of `flightKey` for waiters; returns its settle function (idempotent). */
  private openFlight(flightKey: string): (entry: Envelope<StoredBody> | undefined) => void {
    let resolveFlight!: (entry: Envelope<StoredBody> | undefined) => void;
    const flight = new Promise<Envelope<StoredBody> | undefined>((resolve) => (resolveFlight = resolve));
    this.flights.set(flightKey, flight);
    let open = true;
    return (entry) => {
      if (!open) return;
      open = false;
      if (this.flights.get(flightKey) === flight) this.flights.delete(flightKey);
      resolveFlight(entry);
    };
  }

  /** Sends a stored response: status, recorded headers, the exact body; 304 when `If-None-Match` matches. */
  private replay(req: CacheRequest, res: HttpResponseLike, entry: Envelope<StoredBody>, http: HttpMeta, state: 'HIT' | 'STALE'): unknown {
    setHeader(res, X_CACHE_HEADER, state);
    setHeader(res, 'age', String(Math.max(0, Math.floor((this.runtime.options.clock.now() - entry.createdAt) / 1000))));
    setHeader(res, 'etag', http.etag);
    const notModified = ifNoneMatchMatches(req.headers['if-none-match'], http.etag);
    for (const [name, value] of http.headers) {
      if (!notModified || name !== 'content-type') setHeader(res, name, value);
    }
    if (notModified) {
      setStatus(res, 304);
      return undefined;
    }
    if (res.statusCode !== http.status) setStatus(res, http.status);
    return entry.value ?? undefined;
  }

  /**
   * After the handler (a miss): store the response if it may be, and send exactly what was
   * stored. Returns what to send and the entry (for requests waiting on this computation).
   */
  private store(context: ExecutionContext, route: CachedRoute, cache: TenantCache, key: string, tenant: string | undefined, res: HttpResponseLike, before: Record<string, unknown>, value: unknown): { send: unknown; entry: Envelope<StoredBody> | undefined } {
    const serialized = this.isResponseCacheable(context, route, value) ? this.serialize(value, res) : undefined;
    if (serialized === undefined) {
      setHeader(res, X_CACHE_HEADER, 'BYPASS');
      this.runtime.manager.recordBypass(tenant, 'response not cacheable');
      return { send: value, entry: undefined };
    }
    const req = context.getArgByIndex<CacheRequest>(0);
    let tags: readonly string[] | undefined;
    try {
      tags = typeof route.tags === 'function' ? route.tags(req) : route.tags;
      // Checked here, where a bad tag can be reported: an entry that cannot be written must not
      // quietly turn caching off for the route.
      if (tags !== undefined) {
        if (!Array.isArray(tags)) throw new TypeError('tags must be an array of strings');
        for (const tag of tags) assertUserKey(tag, 'tag');
      }
    } catch (err) {
      this.reportUserError('tags', err, tenant);
      setHeader(res, X_CACHE_HEADER, 'BYPASS');
      return { send: value, entry: undefined };
    }
    const { body, contentType } = serialized;
    if (contentType !== undefined && res.getHeader('content-type') === undefined) setHeader(res, 'content-type', contentType);
    const etag = strongEtag(body ?? '');
    const http: HttpMeta = { status: res.statusCode, headers: this.recordedHeaders(res, before), etag };
    // Not awaited: the response does not wait for the write. A failed write is already
    // logged (once per burst) and counted by the cache; the response is served regardless.
    cache.setEntry<StoredBody>(key, { value: body, ttl: route.ttlMs, grace: route.graceMs, tags, http }).catch(() => undefined);
    setHeader(res, 'etag', etag);
    // What waiting requests replay; only its value, http and createdAt are read.
    const entry = { value: body, http, createdAt: this.runtime.options.clock.now() } as Envelope<StoredBody>;
    if (ifNoneMatchMatches(req.headers['if-none-match'], etag)) {
      setStatus(res, 304);
      return { send: undefined, entry };
    }
    return { send: body ?? undefined, entry };
  }

  /** The allowlisted headers the handler set or changed, plus the Content-Type. */
  private recordedHeaders(res: HttpResponseLike, before: Record<string, unknown>): [string, string][] {
    const after = res.getHeaders();
    const allow = this.runtime.options.cacheableHeaders;
    const out: [string, string][] = [];
    for (const name of Object.keys(after)) {
      const lower = name.toLowerCase();
      if (NEVER_STORED.has(lower)) continue;
      const value = headerText(after[name]);
      if (value === undefined) continue;
      if (lower !== 'content-type' && (!allow(lower) || headerText(before[name]) === value)) continue;
      out.push([lower, value]);
    }
    return out;
  }

  private bypass(context: ExecutionContext, meta: RouteMeta | null, res: HttpResponseLike, tenant: string | undefined, next: CallHandler, reason: string): Observable<unknown> {
    setHeader(res, X_CACHE_HEADER, 'BYPASS');
    this.runtime.manager.recordBypass(tenant, reason);
    return this.runHandler(context, meta, tenant, next, tenant);
  }

  /**
   * Runs the handler (and the interceptors after this one) with `runAs` as the current tenant
   * (AsyncLocalStorage; none when `undefined`), then its `@InvalidateTags()` for `tenant`.
   */
  private runHandler(context: ExecutionContext, meta: RouteMeta | null, tenant: string | undefined, next: CallHandler, runAs: string | undefined): Observable<unknown> {
    let handled: Observable<unknown>;
    if (runAs === undefined || !this.runtime.tenantContextOn) handled = next.handle();
    else {
      const tenantContext = this.runtime.manager.context;
      handled = new Observable((subscriber) => tenantContext.run(runAs, () => next.handle().subscribe(subscriber)));
    }
    const invalidate = meta?.invalidate;
    if (invalidate === undefined) return handled;
    return handled.pipe(
      concatMap(async (value) => {
        if (context.getArgByIndex<HttpResponseLike>(1).statusCode < 400) await this.invalidate(context, invalidate, tenant);
        return value;
      }),
    );
  }

  private reportUserError(option: string, err: unknown, tenant?: string): void {
    const name = err instanceof Error ? err.name : typeof err;
    this.runtime.manager.reportError(`@Cached() ${option}`, `A @Cached() ${option} function threw (${name}); the request bypassed the cache.`, tenant);
  }
}

/** The decision `prepare()` takes before any handler runs. */
type Prepared =
  | { readonly kind: 'reject' }
  | { readonly kind: 'bypass'; readonly reason: string }
  | { readonly kind: 'lookup'; readonly route: CachedRoute; readonly cache: TenantCache; readonly key: string; readonly entry: Envelope<StoredBody> | undefined | typeof NO_SYNC_READ };
/** What the fast path hands to `intercept()` when it did not serve the request. */
interface Found {
  readonly tenant: string | undefined;
  readonly prepared: Prepared;
}
const REJECT: Prepared = { kind: 'reject' };
const NO_TENANT: Prepared = { kind: 'bypass', reason: 'no tenant' };
const NOT_CACHEABLE: Prepared = { kind: 'bypass', reason: 'request not cacheable' };
const NO_KEY: Prepared = { kind: 'bypass', reason: 'no key' };
const CACHE_CLOSED: Prepared = { kind: 'bypass', reason: 'cache closed' };

function missingTenant(): BadRequestException {
  return new BadRequestException('The tenant of this request could not be resolved.');
}

/** The route template as the platform reports it (Express `req.route.path`, Fastify `routeOptions.url`). */
function routeTemplate(req: CacheRequest): string {
  const express = (req.route as { path?: unknown } | undefined)?.path;
  if (express !== undefined) return String(express);
  const fastify = (req.routeOptions as { url?: unknown } | undefined)?.url;
  return fastify === undefined ? '' : String(fastify);
}
