/**
 * The public tokens and metadata keys of the Nest integration (internal ones are in
 * `cache.internal-constants.ts`).
 */

/**
 * The tenant id of the current request (REQUEST-scoped provider): `string | undefined`.
 * Inject it with `@Inject(TENANT_ID)` or `@InjectTenant()`. Injecting it makes the consumer
 * request-scoped (that is Nest's rule for REQUEST providers); singletons should call
 * `CacheManager.currentTenantId()` instead.
 */
export const TENANT_ID = Symbol('nestjs-tenant-cache:TENANT_ID');

/** The options given to `CacheModule.forRoot` / returned by the `forRootAsync` factory, as given. */
export const CACHE_MODULE_OPTIONS = Symbol('nestjs-tenant-cache:CACHE_MODULE_OPTIONS');

/** Metadata key of `@Cached()` (on a controller class or a handler). */
export const CACHED_METADATA = 'nestjs-tenant-cache:cached';
/** Metadata key of `@InvalidateTags()` (on a handler). */
export const INVALIDATE_TAGS_METADATA = 'nestjs-tenant-cache:invalidate-tags';
/** Metadata key of `@NoCache()` (on a handler). */
export const NO_CACHE_METADATA = 'nestjs-tenant-cache:no-cache';

/** Response header telling whether the response came from the cache: `HIT`, `MISS` or `BYPASS`. */
export const X_CACHE_HEADER = 'x-cache';
/** Metadata key of `@CacheResult()` (on a provider's method): its checked options. */
export const CACHE_RESULT_METADATA = 'nestjs-tenant-cache:cache-result';
/** Metadata key of `@CacheEvict()` (on a provider's method): its checked options. */
export const CACHE_EVICT_METADATA = 'nestjs-tenant-cache:cache-evict';
