import { Inject, Injectable, type ExecutionContext } from '@nestjs/common';
import { Observable } from 'rxjs';
import { X_CACHE_HEADER } from '../cache.constants.js';
import { RESOLVED_CACHE_OPTIONS, TENANT_RESOLVER_FN } from '../cache.internal-constants.js';
import { CacheManager, internalsOf, type ManagerInternals } from '../cache/cache-manager.js';
import type { FactoryContext, Outcome } from '../cache/compute-policy.js';
import type { FirstRead } from '../cache/compute.js';
import type { ScopeAccess } from '../cache/scope-access.js';
import type { ResolvedCacheModuleOptions } from '../options/module-options.js';
import { assertUserKey } from '../keys/storage-key.js';
import type { CacheRequest, TenantResolverFn } from '../tenant/tenant-resolver.interface.js';
import { resolveTenant } from '../tenant/tenant-resolution.js';
import { isHeadersSent, setHeader, setStatus, type HttpResponseLike } from './platform-response.js';
import { replay, isStoredResponse, lastModifiedOf, type StoredResponse } from './replay.js';
import { strongEtag, unkeyedInput } from './request-key.js';
import { isEntityTag, isNotModified } from './conditional.js';
import { headerText } from './platform-response.js';
import { freshnessOf, isOriginBoundWithoutVary, ORIGIN_WITHOUT_VARY, recordedHeaders, variedHeaders, varyNames, type SerializedBody, type StoredBody } from './response-policy.js';
import { HeaderPolicyReporter } from './header-policy.reporter.js';
import type { EntryFilter } from '../cache/compute.js';
import type { HttpMeta } from '../envelope/envelope.js';
import type { CachedRoute, RouteMeta } from './route-registry.js';
import { requestDirective } from './freshness.js';
import { invalidateRouteTags } from './route-invalidation.js';
import { HeaderGuard } from './header-guard.js';
import { acceptFor, httpComputePolicy, lifetimeOf, producedSince, RequestAbandoned } from './http-compute-policy.js';


/** The decisions a `CachedInterceptor` (or a subclass) makes through its protected hooks; the fast path asks the same. */
export interface HttpCacheHooks {
  isRequestCacheable(context: ExecutionContext, route: CachedRoute): boolean;
  trackBy(context: ExecutionContext, route: CachedRoute, tenant: string | undefined): string | undefined;
  isResponseCacheable(context: ExecutionContext, route: CachedRoute, value: unknown): boolean;
  serialize(value: unknown, res: HttpResponseLike): SerializedBody | undefined;
}

/** What a lookup decided for a request to a `@Cached()` route. */
export type HttpLookup =
  | { readonly kind: 'reject'; readonly tenant: undefined }
  | { readonly kind: 'bypass'; readonly tenant: string | undefined; readonly reason: string }
  | { readonly kind: 'hit'; readonly tenant: string | undefined; readonly entry: StoredResponse }
  | { readonly kind: 'miss'; readonly tenant: string | undefined; readonly access: ScopeAccess; readonly key: string; readonly first: FirstRead | undefined; readonly accept: EntryFilter };

const REJECT: HttpLookup = { kind: 'reject', tenant: undefined };


/**
 * The HTTP face of the cache: decides for a request whether it is rejected, bypasses the cache,
 * hits or misses (one lookup per request, shared by the fast path and the interceptor), and on
 * a miss runs the handler through the one compute engine of the cache layer (single-flight,
 * cross-process lock, stale rules), storing what may be stored. Keeps no flights of its own.
 */
@Injectable()
export class HttpCache {
  private readonly internals: ManagerInternals;
  /** Lookups made before Nest's pipeline (the fast path), for the interceptor of the same request. */
  private readonly early = new WeakMap<object, { readonly route: CachedRoute; readonly lookup: HttpLookup }>();
  private readonly reportTenantFailure = (kind: string, message: string): void => this.reportError(undefined, kind, message);
  private readonly guard: HeaderGuard;
  private readonly headerReports: HeaderPolicyReporter;

  constructor(
    @Inject(RESOLVED_CACHE_OPTIONS) private readonly options: ResolvedCacheModuleOptions,
    readonly manager: CacheManager,
    @Inject(TENANT_RESOLVER_FN) private readonly resolver: TenantResolverFn,
  ) {
    this.internals = internalsOf(manager);
    this.guard = new HeaderGuard(options.headerGuard, options.logger);
    this.headerReports = new HeaderPolicyReporter(options.logger);
  }

  /** The module's `keyVersion` (part of every request key). */
  get keyVersion(): string {
    return this.options.keyVersion;
  }

  /** The module's `credentialHeaders` (lowercased). */
  get credentialHeaders(): readonly string[] {
    return this.options.credentialHeaders;
  }

  /** Whether a request with no tenant is answered 400 (`onMissingTenant: 'reject'`). */
  get rejectsMissingTenant(): boolean {
    return this.options.onMissingTenant === 'reject';
  }

  /**
   * Runs `@InvalidateTags()` for a request whose handler succeeded. Never rejects: a failure is
   * logged, counted, and retried in the background by the cache layer.
   */
  invalidate(req: CacheRequest, invalidate: NonNullable<RouteMeta['invalidate']>, tenant: string | undefined): Promise<void> {
    return invalidateRouteTags(this.manager, req, invalidate, tenant, (kind, message) => this.reportError(tenant, kind, message));
  }

  /** The validated tenant id of a request, or `undefined`; synchronous when the resolver is. */
  resolveTenant(request: CacheRequest, context: ExecutionContext | undefined): string | undefined | Promise<string | undefined> {
    return resolveTenant(this.resolver, request, context, this.reportTenantFailure);
  }

  /**
   * The lookup of a request: reject (no tenant, `onMissingTenant: 'reject'`), bypass, a fresh
   * hit, or a miss carrying what was read. Synchronous where the store answers without I/O.
   */
  lookup(context: ExecutionContext, route: CachedRoute, tenant: string | undefined, hooks: HttpCacheHooks): HttpLookup | Promise<HttpLookup> {
    if (tenant === undefined && route.scope !== 'global') return this.options.onMissingTenant === 'reject' ? REJECT : { kind: 'bypass', tenant, reason: 'no tenant' };
    if (!hooks.isRequestCacheable(context, route)) return { kind: 'bypass', tenant, reason: 'request not cacheable' };
    const unkeyed = unkeyedInput(context.getArgByIndex<CacheRequest>(0));
    if (unkeyed !== undefined) return { kind: 'bypass', tenant, reason: unkeyed };
    const key = hooks.trackBy(context, route, tenant);
    if (key === undefined) return { kind: 'bypass', tenant, reason: 'no key' };
    const { engine } = this.internals.state;
    const req = context.getArgByIndex<CacheRequest>(0);
    let accept = acceptFor(req);
    if (this.options.honorRequestCacheControl) {
      const asked = requestDirective(headerText(req.headers['cache-control']), headerText(req.headers.pragma));
      if (asked === 'no-store') return { kind: 'bypass', tenant, reason: 'request no-store' };
      if (asked === 'no-cache') accept = producedSince(this.options.clock.now(), accept);
    }
    let access: ScopeAccess;
    try {
      access = this.internals.access(route.scope === 'global' ? undefined : tenant);
      if (access.readsSync) {
        // The memory store answers synchronously: a hit then costs no promise at all.
        const fresh = engine.peekSync(access, key, accept);
        if (isStoredResponse(fresh)) return { kind: 'hit', tenant, entry: fresh };
        return { kind: 'miss', tenant, access, key, first: undefined, accept };
      }
    } catch {
      return { kind: 'bypass', tenant, reason: 'cache closed' }; // during shutdown
    }
    return engine.lookup(access, key, accept).then(
      ({ fresh, first }): HttpLookup => (isStoredResponse(fresh) ? { kind: 'hit', tenant, entry: fresh } : { kind: 'miss', tenant, access, key, first, accept }),
      (): HttpLookup => ({ kind: 'bypass', tenant, reason: 'cache closed' }),
    );
  }

  /** Keeps a lookup made before Nest's pipeline for the interceptor of the same request. */
  keepForPipeline(req: object, route: CachedRoute, lookup: HttpLookup): void {
    this.early.set(req, { route, lookup });
  }

  /** The lookup kept for this request and route by `keepForPipeline`, once. */
  lookupMadeEarly(req: object, route: CachedRoute): HttpLookup | undefined {
    const kept = this.early.get(req);
    if (kept === undefined) return undefined;
    this.early.delete(req);
    return kept.route === route ? kept.lookup : undefined;
  }

  /** Sets `X-Cache` (unless `diagnosticHeaders: false`). */
  markCache(res: HttpResponseLike, state: 'MISS' | 'BYPASS'): void {
    if (this.options.diagnosticHeaders) setHeader(res, X_CACHE_HEADER, state);
  }

  /** Replays a stored response. */
  replay(req: CacheRequest, res: HttpResponseLike, entry: StoredResponse, state: 'HIT' | 'STALE'): unknown {
    return replay(req, res, entry, state, this.options.clock.now(), this.options.diagnosticHeaders, this.options);
  }

  /**
   * A miss: the response through the compute engine. The handler (`handle`: the interceptors
   * after ours, then the route) runs only if this request leads the computation of its key, or
   * if the response it joined may not be shared; otherwise the stored response is replayed.
   * Unsubscribing (an outer timeout, a client that went away) ends this request's part: a
   * computation it led ends too, and requests that joined it compute their own.
   */
  respond(context: ExecutionContext, route: CachedRoute, miss: Extract<HttpLookup, { kind: 'miss' }>, hooks: HttpCacheHooks, handle: () => Observable<unknown>): Observable<unknown> {
    const req = context.getArgByIndex<CacheRequest>(0);
    const res = context.getArgByIndex<HttpResponseLike>(1);
    return new Observable<unknown>((subscriber) => {
      let abandoned = false;
      let abandon: (() => void) | undefined;
      /** What this request's own handler produced, once it ran. */
      let own: { readonly value: unknown } | undefined;
      const factory = (ctx: FactoryContext<StoredBody>): Promise<StoredBody> => {
        if (abandoned) return Promise.reject(new RequestAbandoned());
        return new Promise<StoredBody>((resolve, reject) => {
          // Said before the handler runs, so an error response carries it too.
          this.markCache(res, 'MISS');
          const before = res.getHeaders();
          let produced = false;
          // From here until the handler answers, the request headers it reads are recorded.
          const recording = this.guard.start(req);
          const inner = handle().subscribe({
            next: (value) => {
              if (produced) return;
              produced = true;
              own = { value };
              let unkeyed: readonly string[];
              let serialized: SerializedBody | undefined;
              try {
                // Serialized while still recording: a getter or toJSON of the value may read the request.
                serialized = hooks.isResponseCacheable(context, route, value) ? hooks.serialize(value, res) : undefined;
                unkeyed = this.guard.finish(recording, route, varyNames(res));
              } catch (err) {
                recording?.stop();
                reject(err); // strict mode, or a hook that threw
                return;
              }
              if (unkeyed.length > 0) {
                // Its response may carry what one client chose: never stored, never shared.
                ctx.skip();
                this.countBypass(miss.tenant, 'unkeyed header');
                resolve(null);
                return;
              }
              resolve(this.entryOf(ctx, context, route, miss.tenant, before, serialized));
            },
            error: (err: unknown) => {
              recording?.stop();
              reject(err);
            },
            complete: () => {
              recording?.stop();
              if (!produced) reject(new RequestAbandoned());
            },
          });
          abandon = () => {
            recording?.stop();
            inner.unsubscribe();
            // Also the teardown of every request that completed: an error only for one that had not.
            if (!produced) reject(new RequestAbandoned());
          };
        });
      };
      this.internals.state.engine.getOrCompute(miss.access, miss.key, factory, httpComputePolicy(route), miss.first, miss.accept).then(
        (outcome) => {
          if (abandoned) return;
          subscriber.next(this.send(outcome, own, req, res));
          subscriber.complete();
        },
        (err: unknown) => {
          if (abandoned) return;
          if (!isHeadersSent(res)) this.markCache(res, 'BYPASS'); // an error response is never stored
          subscriber.error(err);
        },
      );
      return () => {
        abandoned = true;
        abandon?.();
      };
    });
  }

  /**
   * What a computed response is stored as: its body (the bytes sent), with its status,
   * recorded headers, ETag and tags set on the context; `ctx.skip()` when it may not be stored.
   */
  private entryOf(ctx: FactoryContext<StoredBody>, context: ExecutionContext, route: CachedRoute, tenant: string | undefined, before: Record<string, unknown>, serialized: SerializedBody | undefined): StoredBody {
    const req = context.getArgByIndex<CacheRequest>(0);
    const res = context.getArgByIndex<HttpResponseLike>(1);
    // The response's own directives win when stricter, whatever the hook said (RFC 9111 §5.2.2).
    const freshness = serialized === undefined ? undefined : freshnessOf(res, this.options.clock.now());
    if (serialized === undefined || freshness === undefined || !freshness.store) {
      ctx.skip();
      this.countBypass(tenant, freshness?.store === false ? freshness.reason : 'response not cacheable');
      return null;
    }
    let tags: readonly string[] | undefined;
    try {
      tags = typeof route.tags === 'function' ? route.tags(req) : route.tags;
      if (tags !== undefined) {
        if (!Array.isArray(tags)) throw new TypeError('tags must be an array of strings');
        for (const tag of tags) assertUserKey(tag, 'tag');
      }
    } catch (err) {
      // An entry that cannot be written must not quietly turn caching off for the route: said here.
      this.reportError(tenant, '@Cached() tags', `A @Cached() tags function failed (${err instanceof Error ? err.name : typeof err}); the request bypassed the cache.`);
      ctx.skip();
      return null;
    }
    const { body, contentType } = serialized;
    if (contentType !== undefined && res.getHeader('content-type') === undefined) setHeader(res, 'content-type', contentType);
    const vary = variedHeaders(res, req.headers, this.options.credentialHeaders);
    const recorded = recordedHeaders(res, before, this.options);
    if (isOriginBoundWithoutVary(recorded.headers, vary, route.vary)) {
      this.headerReports.originWithoutVary(route);
      this.countBypass(tenant, ORIGIN_WITHOUT_VARY);
      ctx.skip();
      return null;
    }
    if (recorded.dropped !== undefined) this.headerReports.dropped(route, recorded.dropped);
    // The handler's own validator when it set one; ours, of the exact bytes, otherwise.
    const own = headerText(res.getHeader('etag'));
    const http: HttpMeta = { status: res.statusCode, headers: recorded.headers, etag: own !== undefined && isEntityTag(own) ? own : strongEtag(body ?? ''), ...(vary === undefined ? {} : { vary }), ...(freshness.initialAgeMs === undefined ? {} : { initialAge: Math.floor(freshness.initialAgeMs / 1000) }) };
    ctx.setEntry({ http, tags, ...lifetimeOf(route.ttlMs ?? this.manager.defaultTtlMs, freshness) });
    return body;
  }


  /** What this request sends for an outcome of the engine. */
  private send(outcome: Outcome<StoredBody>, own: { readonly value: unknown } | undefined, req: CacheRequest, res: HttpResponseLike): unknown {
    if (outcome.kind !== 'computed') {
      // An entry of another kind under an HTTP key is never replayed (it cannot be one of ours).
      if (isStoredResponse(outcome.entry)) return this.replay(req, res, outcome.entry, outcome.kind === 'hit' ? 'HIT' : 'STALE');
      return own?.value;
    }
    if (!outcome.leader) return isStoredResponse(outcome.entry) ? this.replay(req, res, outcome.entry, 'HIT') : undefined;
    const entry = outcome.entry;
    if (!isStoredResponse(entry)) {
      this.markCache(res, 'BYPASS');
      return own?.value;
    }
    setHeader(res, 'etag', entry.http.etag);
    if (isNotModified(req.method, req.headers, entry.http.etag, lastModifiedOf(entry.http))) {
      setStatus(res, 304);
      return undefined;
    }
    return entry.value ?? undefined;
  }


  /** Counts a request that skipped the cache, per tenant when it has a valid one. */
  countBypass(tenant: string | undefined, reason: string): void {
    const access = this.accessOf(tenant);
    const event = () => ({ tenant: tenant ?? null, reason });
    if (access === undefined) this.internals.state.metrics.countUnscoped('bypasses', event);
    else access.metrics.count('bypasses', event);
  }

  /** Logs `message` once per burst of `kind` and counts an error (per tenant when it has a valid one). */
  reportError(tenant: string | undefined, kind: string, message: string): void {
    const access = this.accessOf(tenant);
    if (access !== undefined) access.reportError(kind, message);
    else {
      this.internals.state.metrics.countUnscoped('errors', () => ({ tenant: null, reason: kind }));
      this.internals.state.reporter.report(kind, message);
    }
  }

  private accessOf(tenant: string | undefined): ScopeAccess | undefined {
    if (tenant === undefined) return undefined;
    try {
      return this.internals.access(tenant);
    } catch {
      return undefined; // an invalid id counts in the totals only
    }
  }
}
