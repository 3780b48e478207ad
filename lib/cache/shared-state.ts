import type { CacheStore } from '../stores/cache-store.interface.js';
import type { Clock } from '../utils/clock.js';
import type { ErrorReporter } from '../utils/error-reporter.js';
import type { CacheTelemetry } from '../observability/cache-telemetry.js';
import type { Singleflight } from './singleflight.js';
import type { TenantStorePool } from './tenant-store-pool.js';
import type { TenantStatsRegistry } from './tenant-stats.js';

/** What a `TenantCache` shares with its `CacheManager` (one per manager, never global). */
export interface SharedCacheState {
  readonly store: CacheStore;
  readonly pool: TenantStorePool | undefined;
  readonly clock: Clock;
  readonly defaultTtlMs: number;
  readonly flights: Singleflight;
  readonly stats: TenantStatsRegistry;
  readonly reporter: ErrorReporter;
  readonly telemetry: CacheTelemetry;
  readonly isClosed: () => boolean;
}
