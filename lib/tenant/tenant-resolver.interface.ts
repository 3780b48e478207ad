import type { ExecutionContext, Type } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * The HTTP request as the library reads it: an Express `Request` or a `FastifyRequest`. Both
 * carry `headers`; the rest (`params`, `query`, `user`, `hostname`, …) is what the platform and
 * the app's middleware and guards put there.
 */
export interface CacheRequest {
  readonly headers: IncomingHttpHeaders;
  readonly method?: string;
  readonly url?: string;
  // Platform- and app-specific fields (params, query, body, user, …).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [field: string]: any;
}

/** What a resolver may return: a tenant id, `undefined` for "no tenant", or a promise of either. */
export type TenantResolution = string | undefined | Promise<string | undefined>;

/**
 * A tenant strategy as a plain function. `context` is the `ExecutionContext` when called by the
 * interceptors; it is `undefined` when called for the REQUEST-scoped `TENANT_ID` provider (which
 * Nest builds before guards run).
 */
export type TenantResolverFn = {
  // A method's parameter is checked both ways (bivariantly), a function type's only one way: so a
  // function typed by the platform's request (`(req: express.Request) => …`, `FastifyRequest`)
  // is accepted, as it is what the function receives at run time.
  bivariant(request: CacheRequest, context: ExecutionContext | undefined): TenantResolution;
}['bivariant'];

/**
 * A tenant strategy as an injectable class, for resolvers with dependencies (a tenant
 * directory, a config service):
 *
 * ```ts
 * @Injectable()
 * class DomainTenantResolver implements TenantResolver {
 *   constructor(private readonly tenants: TenantDirectory) {}
 *   resolve(req: CacheRequest) { return this.tenants.byHost(req.headers.host); }
 * }
 * CacheModule.forRoot({ tenant: DomainTenantResolver, … })
 * ```
 *
 * The class is instantiated once (a singleton), at start-up, through `ModuleRef`: an instance
 * already provided in the app is reused; otherwise one is created with its dependencies
 * resolved from CacheModule's scope (global modules, and `imports` of `forRootAsync`).
 */
export interface TenantResolver {
  resolve(request: CacheRequest, context: ExecutionContext | undefined): TenantResolution;
}

/**
 * How the tenant of a request is found: `fromHeader(name)`, `fromSubdomain()`, `fromUser(path)`,
 * a `TenantResolverFn`, a `TenantResolver` instance, or a `TenantResolver` class.
 *
 * An id that is not a non-empty string of at most 256 characters, and a resolver that throws,
 * count as "no tenant" (see `onMissingTenant`); both are logged once per burst.
 */
export type TenantStrategy = TenantResolverFn | TenantResolver | Type<TenantResolver>;

/**
 * How the tenant of a message is found (`CacheModuleOptions.messageTenant`): a function of the
 * payload and the handler's `ExecutionContext` (`context.switchToRpc().getContext()` is the
 * transport's context: NATS headers, a Kafka message, …). Returns an id, `undefined` for "no
 * tenant", or a promise of either.
 */
export type MessageTenantStrategy = (data: unknown, context: ExecutionContext) => TenantResolution;
