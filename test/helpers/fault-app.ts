import { Controller, Get, Module, Param } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { CacheHealthIndicator } from '../../lib/health/cache.health-indicator.js';
import type { CacheModuleOptions } from '../../lib/options/cache-module-options.interface.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, type Platform, type TestApp } from '../e2e/helpers/app-factory.js';

/**
 * The app of the Redis fault tests: a `@Cached()` route, a terminus readiness check on
 * `CacheHealthIndicator` (`/health`, 200 or 503) and the manager's own health (`/health/cache`,
 * always 200, as the sample app's), booted on a real HTTP server.
 */

export const TENANT_HEADERS = { 'x-tenant-id': 'acme' } as const;

@Controller()
class FaultController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: CacheHealthIndicator,
    private readonly cache: CacheManager,
  ) {}

  @Get('item/:id')
  @Cached({ ttl: '10m' })
  item(@Param('id') id: string) {
    return { id };
  }

  @Get('health')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.indicator.isHealthy('cache')]);
  }

  @Get('health/cache')
  async cacheHealth() {
    return this.cache.health();
  }
}

export function bootFaultApp(platform: Platform, options: Partial<CacheModuleOptions>): Promise<TestApp> {
  @Module({
    imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), ...options }), TerminusModule.forRoot({ logger: false })],
    controllers: [FaultController],
  })
  class FaultAppModule {}
  return createTestApp(platform, { imports: [FaultAppModule] });
}

/** `/item/0` … `/item/<n-1>`. */
export function itemPaths(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `/item/${i}`);
}
