import { randomBytes } from 'node:crypto';
import { vi } from 'vitest';
import type { CacheStore } from '../../lib/stores/cache-store.interface.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import type { MemoryStoreOptions } from '../../lib/stores/memory-store-options.interface.js';
import { RedisStore } from '../../lib/stores/redis.store.js';
import type { RedisStoreOptions } from '../../lib/stores/redis-store-options.interface.js';
import type { TieredStore } from '../../lib/stores/tiered.store.js';
import { resolveTieredStoreOptions } from '../../lib/stores/tiered-store-options.js';
import type { TieredStoreOptions } from '../../lib/stores/tiered-store-options.interface.js';
import { setUpTieredStore } from '../../lib/stores/tiered/tiered-store.setup.js';
import { systemClock, type Clock } from '../../lib/utils/clock.js';
import { ErrorReporter, type CacheLogger } from '../../lib/utils/error-reporter.js';

export interface TieredFixtureOptions extends Partial<Omit<TieredStoreOptions, 'l1' | 'l2'>> {
  readonly l1?: MemoryStoreOptions;
  /** L2 connection and options (default: the test's Redis URL). */
  readonly l2: RedisStoreOptions;
  /** Wraps the real Redis store (a store that holds or fails calls); default: none. */
  readonly wrapL2?: (redis: RedisStore) => CacheStore;
  readonly clock?: Clock;
  readonly logger?: CacheLogger;
}

export interface TieredFixture {
  readonly store: TieredStore;
  /** The real Redis store under L2 (and under `wrapL2`'s wrapper). */
  readonly redis: RedisStore;
  readonly l2: CacheStore;
  readonly logger: CacheLogger & { warn: ReturnType<typeof vi.fn> };
}

/**
 * A tiered store built as the assembler builds one (`setUpTieredStore`), minus the circuit
 * breaker (its own tests cover it), so a test can put a wrapper around the real Redis store.
 * Resolves once its bus is subscribed.
 */
export async function tieredStore(opts: TieredFixtureOptions): Promise<TieredFixture> {
  const logger = (opts.logger ?? { warn: vi.fn(), error: vi.fn() }) as TieredFixture['logger'];
  const { wrapL2, clock = systemClock, logger: _logger, ...options } = opts;
  const resolved = resolveTieredStoreOptions(options);
  const reporter = new ErrorReporter(logger, 10_000, clock);
  const origin = randomBytes(9).toString('base64url');
  const redis = new RedisStore({ ...resolved.l2, reporter }, { bus: { origin } });
  const l2 = wrapL2?.(redis) ?? redis;
  const store = setUpTieredStore(resolved, { makeL1: () => new MemoryStore({ ...resolved.l1, clock }), l2, l2Inner: redis, origin, clock, reporter, ownLogging: false });
  await store.whenBusUp(5_000);
  if (store.stats().bus.state !== 'up') throw new Error('the bus did not come up within 5 s');
  return { store, redis, l2, logger };
}

/** Resolves once `check()` holds, polling every few ms (state that another process or Redis changes), or throws after `ms`. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 5_000): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    // Waiting on another process (or Redis) to act: there is no clock to move.
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
