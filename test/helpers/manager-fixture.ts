import { afterEach, vi } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { ChaosStore } from './chaos.store.js';
import { ManualClock } from './manual-clock.js';

export interface ManagerSetupOptions {
  maxEntries?: number;
  /** The store's `maxTenantShare` (default: the store's default). */
  maxTenantShare?: number;
  /** The manager gets a ChaosStore over `memory` (no getSync, like Redis) instead of building its own store. */
  chaos?: boolean;
  maxTrackedTenants?: number;
}

/**
 * CacheManagers on the manual clock for unit tests, closed after each test (call once, at the
 * top of the file). `managers` takes any other manager the test makes, for the same cleanup.
 */
export function managerFixture() {
  const managers: CacheManager[] = [];
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.close()));
  });
  const setup = (opts: ManagerSetupOptions = {}) => {
    const clock = new ManualClock();
    const logger = { warn: vi.fn(), error: vi.fn() };
    const bounds = { maxEntries: opts.maxEntries ?? 1000, ...(opts.maxTenantShare !== undefined ? { maxTenantShare: opts.maxTenantShare } : {}) };
    const memory = new MemoryStore({ clock, ...bounds, sweepInterval: 0 });
    const chaos = new ChaosStore(memory);
    // Without chaos, the manager builds the store from its config, as users do (it then observes evictions).
    const store = opts.chaos ? chaos : ({ type: 'memory', ...bounds, sweepInterval: 0 } as const);
    // The circuit breaker has its own tests (circuit-breaker.spec.ts); here every call must reach the store.
    const manager = CacheManager.createSync({ store, clock, logger, defaultTtl: '1m', maxTrackedTenants: opts.maxTrackedTenants, circuitBreaker: false });
    managers.push(manager);
    return { clock, logger, memory, chaos, manager };
  };
  return { setup, managers };
}
