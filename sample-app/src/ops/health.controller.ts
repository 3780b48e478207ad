import { Controller, Get } from '@nestjs/common';
import { CacheManager } from 'nestjs-tenant-cache';

@Controller('health')
export class HealthController {
  constructor(private readonly cache: CacheManager) {}

  /**
   * Always 200 while the app serves: the cache fails open (a store outage makes requests slower,
   * not failed), so an unreachable store reports `degraded` rather than taking the app out of
   * the load balancer.
   */
  @Get()
  async check() {
    const cache = await this.cache.health();
    return { status: cache.ok ? 'ok' : 'degraded', cache };
  }
}
