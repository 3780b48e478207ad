import type { ComputeEngine } from './compute.js';
import type { InvalidationRetries } from './invalidation.js';
import type { MetricsRecorder } from './metrics-recorder.js';
import type { StoreState } from './scope-access.js';

/** What the caches of one manager share (one per manager, never global). */
export interface SharedCacheState extends StoreState {
  readonly engine: ComputeEngine;
  readonly metrics: MetricsRecorder;
  readonly invalidations: InvalidationRetries;
}
