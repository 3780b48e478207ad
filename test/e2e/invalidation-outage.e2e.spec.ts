import { Controller, Get, Module, Param, Put } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { InvalidateTags } from '../../lib/decorators/invalidate-tags.decorator.js';
import { CacheConnectionError } from '../../lib/errors/cache.errors.js';
import type { StorageKey } from '../../lib/keys/storage-key.js';
import type { CacheModuleOptions } from '../../lib/options/cache-module-options.interface.js';
import { INVALIDATION_RETRY_DEFAULTS } from '../../lib/options/manager-options.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import type { Clock } from '../../lib/utils/clock.js';
import { parseDuration } from '../../lib/utils/duration.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { createTestApp, PLATFORMS, RecordingLogger, type Platform, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX } from './helpers/fast-path-probe.js';

/**
 * Durable invalidation through real Nest apps: an `@InvalidateTags()` route whose invalidation
 * the store fails, then reads of the `@Cached()` route it invalidates. The response it
 * invalidated is never served again — on the synchronous hit path of the memory store (fast
 * path on and off) and through a Redis outage longer than the old ~6 s give-up.
 */

const OUTAGE_MS = 8_000;
/** Longer than the outage: the circuit probes only when the test skips the clock. */
const COOLDOWN_MS = 20_000;
const COMMAND_TIMEOUT_MS = 200;
/** The jitter's draw (full jitter at its top: the slowest retries the policy allows). */
const JITTER = 0.99;
/** How often the test reads both apps (and checks what is pending) after Redis resumed. */
const POLL_MS = 20;
/** Timer and scheduling lag allowed on a busy 2-core machine (both apps and their client share this process) on top of the timings the bound is made of. */
const LAG_MS = 300;
/**
 * From the end of the cooldown (the test skips the clock) to an app's invalidation applied: its
 * next read starts the probe, whose PING (under the command timeout, or it would fail) closes
 * the circuit; a closed circuit brings the pending retry forward to the first backoff
 * (jittered); its write succeeds under the command timeout, and the next round of reads sees
 * nothing pending. Without that, the retry would wait out its backoff, seconds by then (doubled
 * at each of the attempts that failed during the outage).
 */
const APPLIED_BOUND_MS = POLL_MS + COMMAND_TIMEOUT_MS + parseDuration(INVALIDATION_RETRY_DEFAULTS.backoff) * JITTER + COMMAND_TIMEOUT_MS + POLL_MS + LAG_MS;
/** Versions of each item: a response carries the version it was computed from. */
const versions = new Map<string, number>();

@Controller('inv')
class ItemsController {
  @Get('item/:id')
  @Cached({ ttl: '10m', tags: (req) => [`item:${req.params.id}`] })
  item(@Param('id') id: string) {
    return { id, version: versions.get(id) ?? 0 };
  }

  @Put('item/:id')
  @InvalidateTags((req) => [`item:${req.params.id}`])
  update(@Param('id') id: string) {
    versions.set(id, (versions.get(id) ?? 0) + 1);
    return { updated: id };
  }
}

function boot(platform: Platform, options: Partial<CacheModuleOptions>): Promise<TestApp> {
  @Module({ imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), ...options })], controllers: [ItemsController] })
  class InvalidationModule {}
  return createTestApp(platform, { imports: [InvalidationModule] });
}

/** A memory store (synchronous reads: the fast path) whose invalidations fail while `failing`. */
class FailingInvalidations extends MemoryStore {
  failing = false;
  override invalidateTags(tagKeys: readonly StorageKey[]): Promise<void> {
    return this.failing ? Promise.reject(new CacheConnectionError('invalidateTags', 'test:0')) : super.invalidateTags(tagKeys);
  }
}

describe.each(FAST_PATH_MATRIX)('durable invalidation on %s, fast path %s (memory store)', (platform, mode) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('a failed @InvalidateTags() never lets the invalidated response be served, and is applied once the store takes it', async () => {
    const id = `${platform}-${mode}`;
    const store = new FailingInvalidations({ maxEntries: 1000 });
    const logger = new RecordingLogger();
    t = await boot(platform, { store, logger, fastPath: mode === 'on', invalidationRetry: { backoff: 1, maxBackoff: 5 } });
    const read = () => t!.http().get(`/inv/item/${id}`).set('x-tenant-id', 'acme');
    expect((await read()).headers['x-cache']).toBe('MISS');
    expect((await read()).headers['x-cache']).toBe('HIT');
    store.failing = true;
    expect((await t.http().put(`/inv/item/${id}`).set('x-tenant-id', 'acme')).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await read()).body.version).toBe(1);
    expect((await t.app.get(CacheManager).stats()).pendingInvalidations).toBe(1);
    store.failing = false;
    await logger.waitFor('Pending invalidation applied after');
    expect((await read()).body.version).toBe(1);
  });
});

/** Real time that a test can push forward (to end a circuit breaker's cooldown without waiting for it). */
class SkippableClock implements Clock {
  private offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  skip(ms: number): void {
    this.offset += ms;
  }
}

describeWithRedis('durable invalidation through a Redis outage, Express and Fastify apps', () => {
  let server: RedisServer;
  const apps: TestApp[] = [];
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    server?.resume();
    await Promise.all(apps.map((a) => a.close()));
    await server?.stop();
  });

  it('an @InvalidateTags() route during an 8 s outage (SIGSTOP), then reads of the @Cached() route after recovery: never the stale version', async () => {
    const clock = new SkippableClock();
    const loggers = new Map<Platform, RecordingLogger>();
    for (const platform of PLATFORMS) {
      const logger = new RecordingLogger();
      loggers.set(platform, logger);
      apps.push(
        await boot(platform, {
          store: { type: 'redis', url: server.url, commandTimeout: COMMAND_TIMEOUT_MS },
          namespace: `inv-${platform}`,
          clock,
          logger,
          circuitBreaker: { failureThreshold: 5, cooldown: COOLDOWN_MS },
          invalidationRetry: { random: () => JITTER },
        }),
      );
    }
    const id = (t: TestApp): string => `redis-${t.platform}`;
    const read = (t: TestApp) => t.http().get(`/inv/item/${id(t)}`).set('x-tenant-id', 'acme');
    for (const t of apps) {
      expect((await read(t)).headers['x-cache']).toBe('MISS');
      const hit = await read(t);
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(hit.body.version).toBe(0);
    }

    server.pause();
    const outageStart = performance.now();
    for (const t of apps) {
      // Reads are served by the handler until the circuit opens (a store failure never fails a request).
      while ((await t.app.get(CacheManager).health()).circuit !== 'open') expect((await read(t)).status).toBe(200);
      expect((await t.http().put(`/inv/item/${id(t)}`).set('x-tenant-id', 'acme')).status).toBe(200);
      expect((await t.app.get(CacheManager).stats()).pendingInvalidations).toBe(1);
    }
    let during = 0;
    while (performance.now() - outageStart < OUTAGE_MS) {
      for (const t of apps) expect((await read(t)).body.version).toBe(1);
      during++;
      await sleep(200); // the outage is real time on a real server
    }
    server.resume();
    const resumedAt = performance.now();
    clock.skip(COOLDOWN_MS); // the cooldown is over: the next call probes the circuit
    const cooldownOverAt = performance.now();

    let after = 0;
    const applied = new Map<Platform, number>();
    await vi.waitFor(
      async () => {
        for (const t of apps) {
          const res = await read(t);
          expect(res.status).toBe(200);
          expect(res.body.version).toBe(1);
          after++;
          if (!applied.has(t.platform) && (await t.app.get(CacheManager).stats()).pendingInvalidations === 0) applied.set(t.platform, performance.now() - cooldownOverAt);
        }
        expect(applied.size).toBe(apps.length);
      },
      // A hang guard; the bound is asserted below.
      { timeout: 15_000, interval: POLL_MS },
    );
    // Applied in Redis: the route computes version 1 once, then serves it.
    for (const t of apps) {
      await vi.waitFor(async () => expect((await read(t)).headers['x-cache']).toBe('HIT'), { timeout: 5_000, interval: 20 });
      expect((await read(t)).body.version).toBe(1);
      const log = loggers.get(t.platform)!;
      expect([...log.warnings, ...log.errors].join('\n')).not.toMatch(/gave up/);
      expect(log.warnings.some((w) => w.includes('Pending invalidation applied after'))).toBe(true);
    }
    console.log(
      `Redis paused ${((resumedAt - outageStart) / 1000).toFixed(1)} s; ${during} rounds of reads during the outage and ${after} after, none stale; ` +
        `applied ${[...applied].map(([p, ms]) => `${p} ${ms.toFixed(0)} ms`).join(', ')} after the cooldown ended (bound ${Math.round(APPLIED_BOUND_MS)} ms); ` +
        `logs (on the manager's clock, which skipped a cooldown of 20 s): ` +
        [...loggers].map(([p, l]) => `${p}: "${l.warnings.find((w) => w.includes('applied after'))}"`).join('; '),
    );
    for (const ms of applied.values()) expect(ms).toBeLessThan(APPLIED_BOUND_MS);
  });
});
