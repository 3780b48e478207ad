// The public surface of nestjs-tenant-cache. Explicit named exports only: anything not listed
// here is internal. RedisStore and TieredStore are exported as types only, so an app on the
// memory store never loads ioredis (an optional peer); `{ store: { type: 'redis' | 'tiered', … } }`
// loads it on demand, and the Redis store class is importable from 'nestjs-tenant-cache/redis'.

// ---- Nest module ----
export { CacheModule } from './cache.module.js';
export { CACHE_EVICT_METADATA, CACHE_MODULE_OPTIONS, CACHE_RESULT_METADATA, CACHED_METADATA, INVALIDATE_TAGS_METADATA, NO_CACHE_METADATA, TENANT_ID, X_CACHE_HEADER } from './cache.constants.js';
export { DEFAULT_CACHEABLE_HEADERS, DEFAULT_CREDENTIAL_HEADERS, DEFAULT_PER_REQUEST_HEADERS, DEFAULT_VARY, MODULE_DEFAULTS } from './options/module-options.js';
export type { CacheModuleExtras } from './cache.module-definition.js';
export type {
  CacheModuleOptions,
  CacheModuleOptionsFactory,
  HeaderGuardMode,
  HealthPolicy,
  MissingTenantPolicy,
} from './options/cache-module-options.interface.js';
export { DEFAULT_SAFE_HEADERS } from './http/header-guard.js';

// ---- decorators ----
export { Cached } from './decorators/cached.decorator.js';
export { InvalidateTags } from './decorators/invalidate-tags.decorator.js';
export { NoCache } from './decorators/no-cache.decorator.js';
export { InjectTenant } from './decorators/inject-tenant.decorator.js';
export { CacheResult } from './decorators/cache-result.decorator.js';
export { CacheEvict } from './decorators/cache-evict.decorator.js';
export type { CacheMethodDecorator } from './decorators/method-decorator.types.js';
export type { CacheEvictOptions, CacheResultOptions, KeyTemplateCheck, MethodCacheTarget, MethodKeyFn, MethodTagsSource, MethodTenantSource, MissingPlaceholders } from './options/method-cache-options.interface.js';
export { METHOD_CACHE_DEFAULTS } from './options/method-cache-options.js';
export type { CachedOptions, CacheScope, InvalidateTagsOptions, TagsSource, UserIdResolver } from './options/cached-options.interface.js';
export { CACHED_DEFAULTS, INVALIDATE_TAGS_DEFAULTS } from './options/cached-options.js';

// ---- interceptors (for subclassing or manual registration) ----
export { CachedInterceptor } from './http/cached.interceptor.js';
// What a subclass of CachedInterceptor with a constructor of its own passes to `super()`.
export { HttpCache } from './http/http-cache.js';
export { RouteRegistry } from './http/route-registry.js';
export { HitFastPath } from './http/fast-path/hit-fast-path.js';
export { MessageCache } from './microservices/message-cache.js';
export { GraphqlCache } from './graphql/graphql-cache.js';
export { CONTEXT_FACES } from './cache/context-face.interface.js';
export type { ContextFace } from './cache/context-face.interface.js';
export type { StoredBody, SerializedBody } from './http/response-policy.js';
export type { CachedRoute, RouteMeta } from './http/route-registry.js';

// ---- tenant resolution ----
export { fromHeader, fromPayload, fromSubdomain, fromUser } from './tenant/tenant-strategies.js';
export { fromCls } from './tenant/cls-tenant.js';
export type { SubdomainOptions } from './tenant/tenant-strategies.js';
export type { CacheRequest, MessageTenantStrategy, TenantResolution, TenantResolver, TenantResolverFn, TenantStrategy } from './tenant/tenant-resolver.interface.js';

// ---- the cache ----
export { CacheManager } from './cache/cache-manager.js';
export type { CacheHealth, CacheHealthStatus, CacheStatsReport, TenantPurgeReport } from './cache/cache-manager.js';
export { TenantCache } from './cache/tenant-cache.js';
export type { GetOrSetResult, TenantStats } from './cache/tenant-cache.js';
export type { Factory, FactoryContext } from './cache/compute-policy.js';
export type { TenantContext, TenantContextMode } from './tenant/tenant-context.js';
export type { TenantCounters } from './cache/tenant-stats.js';
export type { CacheManagerOptions, CircuitBreakerConfig, EagerRefreshOption, GetOptions, InvalidationRetryOptions, SetOptions, TenantStoresOptions, WrapOptions } from './options/cache-options.interface.js';
export { CIRCUIT_BREAKER_DEFAULTS, INVALIDATION_RETRY_DEFAULTS, MANAGER_DEFAULTS, TENANT_STORES_DEFAULTS } from './options/manager-options.js';
export type { MemoryStoreConfig, RedisStoreConfig, StoreConfig, TieredStoreConfig } from './stores/store-config.interface.js';

// ---- stores ----
export { MemoryStore } from './stores/memory.store.js';
export type { RedisStore } from './stores/redis.store.js';
export type { MemoryStoreBounds, MemoryStoreOptions } from './stores/memory-store-options.interface.js';
export { MEMORY_STORE_DEFAULTS } from './stores/memory-store-options.js';
export { REDIS_STORE_DEFAULTS } from './stores/redis-store-options.js';
export type { DecodeLimitOptions, RedisStoreOptions } from './stores/redis-store-options.interface.js';
export type { TieredStore } from './stores/tiered.store.js';
export type { TieredBusOptions, TieredStoreOptions } from './stores/tiered-store-options.interface.js';
export { TIERED_STORE_DEFAULTS } from './stores/tiered-store-options.js';
export type { TieredBusStats, TieredStoreStats } from './stores/tiered/tiered-stats.interface.js';
export type { CacheStore, StoreGetOrSetResult, StoreHealth, StoreObserver, StoreStats } from './stores/cache-store.interface.js';
export type { Envelope, HttpMeta } from './envelope/envelope.js';
export { requestHash } from './http/request-key.js';
export type { RequestHashInput } from './http/request-key.js';
export type { KeyScope, StorageKey } from './keys/storage-key.js';
export type { CircuitState } from './stores/circuit-breaker.store.js';
export { JsonCodec } from './envelope/codecs/json.codec.js';
export { CborCodec } from './envelope/codecs/cbor.codec.js';
export { DEFAULT_DECODE_LIMITS } from './envelope/decode-limits.js';
export type { Codec } from './envelope/codecs/codec.interface.js';
export type { DecodeLimits } from './envelope/decode-limits.js';

// ---- health and observability ----
export { CacheHealthIndicator } from './health/cache.health-indicator.js';
export type { CacheHealthDetails, CacheHealthResult } from './health/cache.health-indicator.js';
export { CACHE_CHANNELS } from './observability/cache-channels.js';
export type { CacheEvent, CacheEventKind } from './observability/cache-channels.js';
export { TELEMETRY_DEFAULTS } from './observability/cache-telemetry.js';
export type { TelemetryOptions } from './observability/cache-telemetry.js';

// ---- errors ----
export {
  CacheClosedError,
  CacheConfigError,
  CacheConnectionError,
  CacheError,
  CacheMissError,
  CacheOperationError,
  CacheStoreFullError,
  CacheTimeoutError,
  CacheUnsupportedError,
  CasConflictError,
  DecodeError,
  EncodeError,
  FactoryFailedError,
  FactoryTimeoutError,
  InvalidKeyError,
  InvalidTtlError,
  CircuitOpenError,
  PayloadTooLargeError,
  TenantRequiredError,
  UnkeyedHeaderError,
} from './errors/cache.errors.js';

// ---- utilities ----
export type { Clock } from './utils/clock.js';
export type { Duration, DurationString, DurationUnit } from './utils/duration.js';
export type { ByteSize, ByteUnit } from './utils/byte-size.js';
export type { CacheLogger } from './utils/error-reporter.js';
