import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import type { CacheManagerOptions } from '../../lib/options/cache-options.interface.js';
import { ManualClock } from './manual-clock.js';
import { startRedis, type RedisServer } from './redis-server.js';

export type StoreKind = 'memory' | 'redis';

/**
 * Managers on the manual clock, on the memory store or on one real redis-server started for the
 * file (closed after each test; the server after the file). The clock starts at the real time:
 * Redis's scripts compare logical expiries with their own clock (getOrSet, compareAndSet).
 */
export function engineFixture(kind: StoreKind) {
  let server: RedisServer | undefined;
  const managers: CacheManager[] = [];
  const runId = randomBytes(3).toString('hex');
  let n = 0;
  if (kind === 'redis') {
    beforeAll(async () => {
      server = await startRedis();
    });
    afterAll(async () => {
      await server?.stop();
    });
  }
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.close()));
  });
  /** `count` managers sharing one clock and one namespace (so, on Redis, one cache). */
  const managersOn = async (count = 1, options: CacheManagerOptions = {}): Promise<{ clock: ManualClock; all: CacheManager[] }> => {
    const clock = new ManualClock(Date.now());
    const namespace = `api-${runId}-${++n}`;
    const all: CacheManager[] = [];
    for (let i = 0; i < count; i++) {
      const store = kind === 'memory' ? ({ type: 'memory', sweepInterval: 0 } as const) : ({ type: 'redis', url: server!.url } as const);
      const manager = await CacheManager.create({ store, clock, namespace, logger: false, defaultTtl: '1m', circuitBreaker: false, ...options });
      // `options.store` (a tiered config, a bounded memory store) replaces the default one.
      managers.push(manager);
      all.push(manager);
    }
    return { clock, all };
  };
  /** The file's redis-server URL (`'redis'` fixtures only). */
  const url = (): string => server!.url;
  return { managersOn, url };
}
