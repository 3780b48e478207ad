/** Tokens used inside the package only (never exported from `index.ts`). */

/** `ResolvedCacheModuleOptions`: the module options, validated at start-up. */
export const RESOLVED_CACHE_OPTIONS = Symbol('nestjs-tenant-cache:RESOLVED_CACHE_OPTIONS');

/** The tenant strategy normalised to a `TenantResolverFn` (a class resolver instantiated once). */
export const TENANT_RESOLVER_FN = Symbol('nestjs-tenant-cache:TENANT_RESOLVER_FN');
