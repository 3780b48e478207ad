import { Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { CacheModule, fromHeader, type CacheModuleOptions } from 'nestjs-tenant-cache';
import { OpsModule } from './ops/ops.module.js';
import { ProductsModule } from './products/products.module.js';
import { ReportsModule } from './reports/reports.module.js';
import { TENANT_HEADER } from './tenant.js';

/**
 * The cache configuration, from the environment:
 * - `REDIS_URL` (e.g. `redis://localhost:6379`): cache in Redis, shared by every instance;
 *   unset: the embedded memory store (one process, nothing to install).
 * - `CACHE_NAMESPACE` (default `sample`): prefix of every key, so apps can share one Redis.
 */
export function cacheOptions(config: ConfigService): CacheModuleOptions {
  const redisUrl = config.get<string>('REDIS_URL');
  return {
    store: redisUrl ? { type: 'redis', url: redisUrl } : { type: 'memory', maxEntries: 10_000 },
    tenant: fromHeader(TENANT_HEADER),
    defaultTtl: '5m',
    namespace: config.get<string>('CACHE_NAMESPACE', 'sample'),
    // A request without a tenant is served but never cached (X-Cache: BYPASS); 'reject' answers 400.
    onMissingTenant: 'bypass',
  };
}

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    CacheModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: cacheOptions,
      isGlobal: true,
    }),
    ProductsModule,
    ReportsModule,
    OpsModule,
  ],
})
export class AppModule implements OnApplicationShutdown {
  onApplicationShutdown(signal?: string): void {
    if (signal !== undefined) new Logger('AppModule').log(`${signal} received: closing the HTTP server and the cache store`);
  }
}
