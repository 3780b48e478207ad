import type { CircuitState } from '../stores/circuit-breaker.store.js';
import type { StoreHealth, StoreStats } from '../stores/cache-store.interface.js';
import type { TenantStats } from './tenant-cache.js';
import type { TenantCounters } from './tenant-stats.js';

/* What the manager's health(), stats() and purgeTenant() report. */

/** How the cache is doing: see `CacheHealth.status`. */
export type CacheHealthStatus = 'up' | 'degraded' | 'down';

export interface CacheHealth {
  /** `status === 'up'`. */
  readonly ok: boolean;
  /**
   * - `'up'`: the store answers and the circuit around it is closed: hits are being served.
   * - `'degraded'`: hits are served, but not everything works (Redis full: writes refused); `reason` says what.
   * - `'down'`: the cache serves nothing (the store does not answer, the circuit is open, or the
   *   manager is closed). Requests still run their handlers: the cache fails open.
   */
  readonly status: CacheHealthStatus;
  /** Why it is not `'up'` (no values, no keys). */
  readonly reason?: string;
  readonly store: StoreHealth;
  /** Dedicated tenant stores open, when `tenantStores` is configured. */
  readonly tenantStoresOpen?: number;
  /** State of the circuit breaker around a remote store. */
  readonly circuit?: CircuitState;
  /** Invalidations the store has not applied yet, retried in the background (0 normally). */
  readonly pendingInvalidations: number;
}

/** What `purgeTenant()` did. */
export interface TenantPurgeReport {
  readonly tenant: string;
  /** Keys deleted from the store (entries, tag versions, locks). */
  readonly deletedKeys: number;
  /** How long the purge took, in milliseconds. */
  readonly durationMs: number;
}

export interface CacheStatsReport extends TenantCounters {
  /** Entries held by the shared store, where it can count them. */
  readonly sizeEntries: number | undefined;
  readonly store: StoreStats;
  /** Per tracked tenant (at most `maxTrackedTenants`); `tenant: null` is the global scope. */
  readonly tenants: readonly TenantStats[];
  /** Tenants beyond `maxTrackedTenants`, counted together. */
  readonly otherTenants: TenantCounters;
  /** Invalidations the store has not applied yet (bounded by `invalidationRetry.maxPending`), retried in the background. */
  readonly pendingInvalidations: number;
}
