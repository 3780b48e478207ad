import { Injectable } from '@nestjs/common';
import { CacheManager } from '../cache/cache-manager.js';

/** The shape `@nestjs/terminus` expects from an indicator: `{ [key]: { status, ...details } }`. */
export type CacheHealthResult<Key extends string = string> = Record<Key, { status: 'up' | 'down'; store: string; latencyMs?: number; detail?: string; tenantStoresOpen?: number; pendingInvalidations?: number }>;

/**
 * A health indicator for `@nestjs/terminus` (12+), without depending on it: terminus treats a
 * returned `status: 'down'` as a failed check. Provided and exported by `CacheModule`.
 *
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.cacheHealth.isHealthy('cache')]); }
 * ```
 * The check never throws and never hangs longer than the store's own timeouts.
 */
@Injectable()
export class CacheHealthIndicator {
  constructor(private readonly cache: CacheManager) {}

  async isHealthy<const Key extends string = 'cache'>(key: Key = 'cache' as Key): Promise<CacheHealthResult<Key>> {
    const health = await this.cache.health();
    const details: CacheHealthResult<Key>[Key] = { status: health.ok ? 'up' : 'down', store: this.cache.store.kind };
    if (health.store.latencyMs !== undefined) details.latencyMs = Math.round(health.store.latencyMs * 100) / 100;
    if (health.store.detail !== undefined) details.detail = health.store.detail;
    if (health.tenantStoresOpen !== undefined) details.tenantStoresOpen = health.tenantStoresOpen;
    // Pending invalidations do not make the check fail (the store's health does); they say why hits may be fewer.
    if (health.pendingInvalidations > 0) details.pendingInvalidations = health.pendingInvalidations;
    return { [key]: details } as CacheHealthResult<Key>;
  }
}
