import type { CacheStore } from '../stores/cache-store.interface.js';
import type { Clock } from '../utils/clock.js';
import type { ErrorReporter } from '../utils/error-reporter.js';
import type { ComputeEngine } from './compute.js';
import type { InvalidationRetries } from './invalidation.js';
import type { MetricsRecorder } from './metrics-recorder.js';
import type { TenantStorePool } from './tenant-store-pool.js';

/** What the caches of one manager share (one per manager, never global). */
export interface SharedCacheState {
  readonly store: CacheStore;
  readonly pool: TenantStorePool | undefined;
  readonly clock: Clock;
  readonly defaultTtlMs: number;
  readonly engine: ComputeEngine;
  readonly metrics: MetricsRecorder;
  readonly reporter: ErrorReporter;
  readonly invalidations: InvalidationRetries;
  readonly isClosed: () => boolean;
}
