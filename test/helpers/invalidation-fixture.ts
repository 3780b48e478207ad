import type { Duration } from '../../lib/utils/duration.js';
import { afterEach, vi } from 'vitest';
import { CacheManager, internalsOf } from '../../lib/cache/cache-manager.js';
import type { InvalidationRetryOptions } from '../../lib/options/cache-options.interface.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { ChaosStore } from './chaos.store.js';
import { ManualClock } from './manual-clock.js';

export interface InvalidationSetup {
  readonly invalidationRetry?: InvalidationRetryOptions;
  /** A circuit breaker around the chaos store (default: none, every call reaches the store). */
  readonly circuitBreaker?: boolean;
  readonly defaultTtl?: Duration;
  /** Default 0: every line is logged (no burst suppression), so the tests read what each event said. */
  readonly errorBurst?: Duration;
}

/**
 * Managers over a ChaosStore (memory inside: no getSync, like Redis) on the manual clock, for
 * the durable-invalidation tests; retries run on fake timers (`setTimeout` only), moved with
 * the clock by `advance()`. Closed after each test (call once, at the top of the file).
 */
export function invalidationFixture() {
  const managers: CacheManager[] = [];
  afterEach(async () => {
    vi.useRealTimers();
    await Promise.all(managers.splice(0).map((m) => m.close()));
  });
  return (opts: InvalidationSetup = {}) => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const clock = new ManualClock();
    const memory = new MemoryStore({ clock, maxEntries: 200_000, sweepInterval: 0 });
    const chaos = new ChaosStore(memory);
    const logger = { warn: vi.fn(), error: vi.fn() };
    const manager = CacheManager.createSync({
      store: chaos,
      clock,
      logger,
      errorBurst: opts.errorBurst ?? 0,
      defaultTtl: opts.defaultTtl ?? '1m',
      circuitBreaker: opts.circuitBreaker === true ? { failureThreshold: 5, cooldown: '5s' } : false,
      invalidationRetry: opts.invalidationRetry,
    });
    managers.push(manager);
    const lines = (): string[] => logger.warn.mock.calls.map((call) => String(call[0]));
    /** Moves the clock and the retry timers together, in steps of `stepMs`. */
    const advance = async (ms: number, stepMs = 100): Promise<void> => {
      for (let left = ms; left > 0; left -= stepMs) {
        const step = Math.min(stepMs, left);
        clock.advance(step);
        await vi.advanceTimersByTimeAsync(step);
      }
    };
    const retries = internalsOf(manager).state.invalidations;
    return { clock, memory, chaos, manager, logger, lines, advance, retries, pending: retries.pending };
  };
}
