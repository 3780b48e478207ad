import { Inject, Injectable, Optional } from '@nestjs/common';
import { RESOLVED_CACHE_OPTIONS } from '../cache.internal-constants.js';
import { CacheManager, type CacheHealthStatus } from '../cache/cache-manager.js';
import type { HealthPolicy } from '../options/cache-module-options.interface.js';
import { MODULE_DEFAULTS, type ResolvedCacheModuleOptions } from '../options/module-options.js';
import type { CircuitState } from '../stores/circuit-breaker.store.js';

/** What the indicator says about the cache, under its key. */
export interface CacheHealthDetails {
  /** Terminus's verdict under the `healthPolicy`: `'down'` fails the check (503). */
  status: 'up' | 'down';
  /** The cache's own state (`CacheHealth.status`): `'up'`, `'degraded'` or `'down'`, whatever the policy. */
  state: CacheHealthStatus;
  /** The shared store's kind. */
  store: string;
  /** The circuit breaker around a remote store. */
  circuit?: CircuitState;
  latencyMs?: number;
  /** Why the cache is not `up`. */
  detail?: string;
  tenantStoresOpen?: number;
  /** Invalidations this instance still retries (see `invalidationRetry`), when any. */
  pendingInvalidations?: number;
}

/** The shape `@nestjs/terminus` expects from an indicator: `{ [key]: { status, ...details } }`. */
export type CacheHealthResult<Key extends string = string> = Record<Key, CacheHealthDetails>;

/**
 * A health indicator for `@nestjs/terminus` (12+), without depending on it: terminus treats a
 * returned `status: 'down'` as a failed check. Provided and exported by `CacheModule`.
 *
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.cacheHealth.isHealthy('cache')]); }
 * ```
 * Whether a cache that is degraded or down fails the check is the module's `healthPolicy`
 * (default `'degraded-is-up'`: the cache fails open, so the app still serves). The details
 * always carry the cache's own `state`. The check never throws and settles within the store's
 * command timeout (on a Redis Cluster with a failed node, twice that: it waits for that node's probe).
 */
@Injectable()
export class CacheHealthIndicator {
  private readonly policy: HealthPolicy;

  constructor(
    private readonly cache: CacheManager,
    // Absent when the indicator is provided outside CacheModule: then the default policy.
    @Optional() @Inject(RESOLVED_CACHE_OPTIONS) options?: ResolvedCacheModuleOptions,
  ) {
    this.policy = options?.healthPolicy ?? MODULE_DEFAULTS.healthPolicy;
  }

  async isHealthy<const Key extends string = 'cache'>(key: Key = 'cache' as Key): Promise<CacheHealthResult<Key>> {
    const health = await this.cache.health();
    // A closed cache fails every call (the app is shutting down): down under either policy.
    const up = health.status === 'up' || (this.policy === 'degraded-is-up' && !this.cache.closed);
    const details: CacheHealthDetails = { status: up ? 'up' : 'down', state: health.status, store: this.cache.store.kind };
    if (health.circuit !== undefined) details.circuit = health.circuit;
    if (health.store.latencyMs !== undefined) details.latencyMs = Math.round(health.store.latencyMs * 100) / 100;
    if (health.reason !== undefined) details.detail = health.reason;
    if (health.tenantStoresOpen !== undefined) details.tenantStoresOpen = health.tenantStoresOpen;
    // Pending invalidations do not make the check fail (the store's health does); they say why hits may be fewer.
    if (health.pendingInvalidations > 0) details.pendingInvalidations = health.pendingInvalidations;
    return { [key]: details } as CacheHealthResult<Key>;
  }
}
