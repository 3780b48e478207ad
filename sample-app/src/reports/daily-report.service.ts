import { Injectable } from '@nestjs/common';
import { CacheManager } from 'nestjs-tenant-cache';
import { ProductsRepository } from '../products/products.repository.js';

export interface DailyReport {
  readonly tenant: string;
  readonly generatedAt: string;
  /** Which build of this tenant's report this is (1 = the first since the app started). */
  readonly build: number;
  readonly products: number;
  readonly unitsInStock: number;
  readonly stockValueCents: number;
}

/** How long a report takes to build; slow on purpose, so the cache's effect is plain to see. */
export const REPORT_BUILD_MS = 300;

/**
 * A slow per-tenant report, cached for an hour with `wrap`: on a miss, concurrent requests of one
 * tenant share one build (stampede protection) instead of each starting their own.
 */
@Injectable()
export class DailyReportService {
  private readonly builds = new Map<string, number>();

  constructor(
    private readonly cache: CacheManager,
    private readonly products: ProductsRepository,
  ) {}

  /** The report of `tenant`, from the cache or freshly built. */
  daily(tenant: string): Promise<DailyReport> {
    return this.cache.forTenant(tenant).wrap('report:daily', () => this.build(tenant), { ttl: '1h' });
  }

  /** How many times the report of `tenant` was built (not served from the cache). */
  buildsOf(tenant: string): number {
    return this.builds.get(tenant) ?? 0;
  }

  private async build(tenant: string): Promise<DailyReport> {
    const build = (this.builds.get(tenant) ?? 0) + 1;
    this.builds.set(tenant, build);
    const products = await this.products.findAll(tenant);
    await new Promise((resolve) => setTimeout(resolve, REPORT_BUILD_MS));
    return {
      tenant,
      generatedAt: new Date().toISOString(),
      build,
      products: products.length,
      unitsInStock: products.reduce((sum, p) => sum + p.stock, 0),
      stockValueCents: products.reduce((sum, p) => sum + p.stock * p.priceCents, 0),
    };
  }
}
