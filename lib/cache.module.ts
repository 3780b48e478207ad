import { Module, type NestModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ConfigurableCacheModule } from './cache.module-definition.js';
import { CACHE_EXPORTS } from './cache.providers.js';
import { CacheLifecycle } from './cache.lifecycle.js';

/**
 * Multi-tenant caching for a Nest app:
 *
 * ```ts
 * CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store: { type: 'memory', maxEntries: 10_000 }, isGlobal: true })
 * CacheModule.forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory: (config) => ({ … }) })
 * ```
 *
 * Provides `CacheManager` (inject it by its class), the REQUEST-scoped `TENANT_ID`, and
 * registers `CachedInterceptor` globally (it serves `@Cached()` and `@InvalidateTags()`; see the
 * `interceptor` extra). Options are validated when the app boots; the manager (stores,
 * connections) is closed on application shutdown.
 */
@Module({
  imports: [DiscoveryModule],
  exports: CACHE_EXPORTS,
})
export class CacheModule extends ConfigurableCacheModule implements NestModule {
  constructor(private readonly lifecycle: CacheLifecycle) {
    super();
  }

  /** Runs in `app.init()` before Nest registers its routes: where the fast path hooks in. */
  configure(): void {
    this.lifecycle.prepareFastPath();
  }
}
