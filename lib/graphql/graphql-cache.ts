import { Inject, Injectable, type CallHandler, type ExecutionContext } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { RESOLVED_CACHE_OPTIONS, TENANT_RESOLVER_FN } from '../cache.internal-constants.js';
import { CacheManager, internalsOf } from '../cache/cache-manager.js';
import type { ContextFace } from '../cache/context-face.interface.js';
import { cachedHandler, HandlerSpecs, inTenantContext, thenInvalidate, type HandlerSpec } from '../cache/handler-cache.js';
import { canonicalDigest } from '../keys/canonical-value.js';
import type { ResolvedCacheModuleOptions } from '../options/module-options.js';
import { resolveTenant } from '../tenant/tenant-resolution.js';
import type { CacheRequest, TenantResolverFn } from '../tenant/tenant-resolver.interface.js';

/** What this face reads of graphql-js's `GraphQLResolveInfo` (graphql is never imported). */
interface ResolveInfoLike {
  readonly fieldName: string;
  readonly parentType: { readonly name: string };
  readonly operation: { readonly operation: 'query' | 'mutation' | 'subscription' };
  readonly schema: { getQueryType(): { readonly name: string } | null | undefined };
}

/**
 * The GraphQL face (`@nestjs/graphql`, on Apollo or Mercurius): `@Cached()` on a query resolver,
 * or on a `@ResolveField()` (with `fieldResolverEnhancers: ['interceptors']`), stores the field's
 * value in the cache of the request's tenant, keyed by the field (`Type.field`), its arguments
 * (canonical), its parent object for a field of a type other than `Query`, and the tenant. A
 * mutation or a subscription is never cached; `@InvalidateTags()` on a mutation runs after it
 * succeeded. The tenant comes from the GraphQL context's request (`{ req }` on Apollo, the
 * Fastify `reply.request` on Mercurius) through the module's `tenant` strategy. Nothing here
 * reads or writes an HTTP response: a resolver without cache decorators only runs in its
 * tenant's context.
 */
@Injectable()
export class GraphqlCache implements ContextFace {
  readonly type = 'graphql';
  private readonly specs = new HandlerSpecs();
  private readonly reportTenantFailure = (kind: string, message: string): void => internalsOf(this.manager).state.reporter.report(kind, message);

  constructor(
    @Inject(RESOLVED_CACHE_OPTIONS) private readonly options: ResolvedCacheModuleOptions,
    private readonly manager: CacheManager,
    @Inject(TENANT_RESOLVER_FN) private readonly resolver: TenantResolverFn,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> | Promise<Observable<unknown>> {
    const spec = this.specs.of(context.getClass(), context.getHandler());
    if (spec === null && !this.manager.context.enabled) return next.handle();
    const info = context.getArgByIndex<ResolveInfoLike | undefined>(3);
    if (info?.operation?.operation === 'subscription') return next.handle();
    const req = requestOf(context.getArgByIndex<unknown>(2));
    const tenant = req === undefined ? undefined : resolveTenant(this.resolver, req, context, this.reportTenantFailure);
    if (typeof tenant === 'object') return tenant.then((id) => this.handle(context, next, spec, req, info, id));
    return this.handle(context, next, spec, req, info, tenant);
  }

  private handle(context: ExecutionContext, next: CallHandler, spec: HandlerSpec | null, req: CacheRequest | undefined, info: ResolveInfoLike | undefined, tenant: string | undefined): Observable<unknown> {
    const args = context.getArgByIndex<unknown>(1) ?? {};
    const run = (): Observable<unknown> => next.handle();
    const key = spec?.cached === undefined || info === undefined || info.operation.operation !== 'query' ? undefined : this.keyOf(context, spec, req, info, args, tenant);
    const values = key === undefined ? inTenantContext(this.manager, tenant, run) : cachedHandler(this.manager, spec!, tenant, key, args, 'last', run);
    return spec === null || info?.operation.operation !== 'mutation' ? values : thenInvalidate(this.manager, spec, tenant, args, values);
  }

  /** The key of a field within its tenant's cache, or `undefined` when it is not cached. */
  private keyOf(context: ExecutionContext, spec: HandlerSpec, req: CacheRequest | undefined, info: ResolveInfoLike, args: unknown, tenant: string | undefined): string | undefined {
    const cached = spec.cached!;
    if (cached.scope !== 'global' && tenant === undefined) return undefined;
    let user: string | undefined;
    let custom: string | undefined;
    try {
      if (cached.scope === 'user') {
        user = req === undefined ? undefined : (cached.userId ?? this.options.userId)(req);
        if (typeof user !== 'string' || user === '') return undefined;
      }
      if (cached.condition !== undefined && cached.condition(args as CacheRequest) !== true) return undefined;
      custom = typeof cached.key === 'function' ? cached.key(args as CacheRequest) : cached.key;
    } catch {
      return undefined;
    }
    const field = `${info.parentType.name}.${info.fieldName}`;
    // A field of an object type depends on its parent object as much as on its arguments.
    const parent = info.parentType.name === info.schema.getQueryType()?.name ? null : context.getArgByIndex<unknown>(0);
    const digest = canonicalDigest([this.options.keyVersion, field, cached.keyOnly ? null : args, cached.keyOnly ? null : (parent ?? null), custom ?? null, cached.scope === 'global' ? null : tenant, user ?? null]);
    return digest === undefined ? undefined : `gql:${digest}`;
  }
}

/** The HTTP request of a GraphQL context: `{ req }` (Apollo, and Nest's convention), `{ request }`, or Mercurius's `{ reply }`. */
function requestOf(gqlContext: unknown): CacheRequest | undefined {
  const ctx = gqlContext as { req?: unknown; request?: unknown; reply?: { request?: unknown } } | null | undefined;
  const req = ctx?.req ?? ctx?.request ?? ctx?.reply?.request;
  return typeof req === 'object' && req !== null && typeof (req as { headers?: unknown }).headers === 'object' ? (req as CacheRequest) : undefined;
}
