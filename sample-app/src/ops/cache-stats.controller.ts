import { Controller, Get } from '@nestjs/common';
import { CacheManager } from 'nestjs-tenant-cache';

/**
 * Cache figures, overall and per tenant. In a real app this is an operator's endpoint: put it
 * behind your admin guard, since it lists tenant ids.
 */
@Controller('cache')
export class CacheStatsController {
  constructor(private readonly cache: CacheManager) {}

  @Get('stats')
  async stats() {
    const report = await this.cache.stats();
    const { tenants, otherTenants, store, ...total } = report;
    return {
      total,
      tenants: Object.fromEntries(tenants.map(({ tenant, ...figures }) => [tenant ?? '(global)', figures])),
      otherTenants,
      store,
    };
  }
}
