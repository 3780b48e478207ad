import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { CacheManager, internalsOf } from '../../lib/cache/cache-manager.js';
import { CacheError, CircuitOpenError } from '../../lib/errors/cache.errors.js';
import { INVALIDATION_RETRY_DEFAULTS } from '../../lib/options/manager-options.js';
import type { Clock } from '../../lib/utils/clock.js';
import { parseDuration } from '../../lib/utils/duration.js';
import { describeWithRedis, rawCommand, startRedis, type RedisServer } from '../helpers/redis-server.js';

/** Longer than the old code's give-up: 5 retries, ceilings 200 ms doubling, so at most 6.2 s. */
const OUTAGE_MS = 8_000;
/** Longer than the outage: the circuit probes only when the test skips the clock, so the probes' timing is the test's. */
const COOLDOWN_MS = 20_000;
const COMMAND_TIMEOUT_MS = 200;
/** The jitter's draw (full jitter at its top: the slowest retries the policy allows). */
const JITTER = 0.99;
/** How often the test reads (and checks what is pending) after Redis resumed. */
const POLL_MS = 20;
/** Timer and scheduling lag allowed on a busy 2-core machine on top of the timings the bound is made of. */
const LAG_MS = 300;
/**
 * From the end of the cooldown (the test skips the clock) to the invalidation applied: the next
 * read starts the probe, whose PING (under the command timeout, or it would fail) closes the
 * circuit; a closed circuit brings the pending retry forward to the first backoff (jittered);
 * its write succeeds under the command timeout, and the next check sees nothing pending. Without
 * that, the retry would wait out its backoff, seconds by then (doubled at each of the attempts
 * that failed during the outage).
 */
const APPLIED_BOUND_MS = POLL_MS + COMMAND_TIMEOUT_MS + parseDuration(INVALIDATION_RETRY_DEFAULTS.backoff) * JITTER + COMMAND_TIMEOUT_MS + POLL_MS + LAG_MS;

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

describeWithRedis('durable invalidation through a Redis outage (SIGSTOP, longer than the old give-up)', () => {
  let server: RedisServer;
  const managers: CacheManager[] = [];
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    server?.resume();
    await Promise.all(managers.map((m) => m.close()));
    await server?.stop();
  });

  it('an invalidation issued during the outage is applied after recovery, and the invalidated version is never served, during the outage or after', async () => {
    const clock = new SkippableClock();
    const lines: string[] = [];
    const logger = { warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    const store = { type: 'redis', url: server.url, commandTimeout: COMMAND_TIMEOUT_MS } as const;
    const a = await CacheManager.create({ store, clock, logger, errorBurst: 0, circuitBreaker: { failureThreshold: 5, cooldown: COOLDOWN_MS }, invalidationRetry: { random: () => JITTER } });
    // Another instance on the same Redis, which never hears of the invalidation: it shows what Redis holds.
    const b = await CacheManager.create({ store, logger: false, circuitBreaker: false });
    managers.push(a, b);
    const cache = a.forTenant('acme');
    await cache.set('p1', 'v1 (invalidated)', { ttl: '10m', tags: ['product:1'] });
    await cache.set('p2', 'v1 (invalidated)', { ttl: '10m', tags: ['product:2'] });
    expect(await cache.get('p1')).toBe('v1 (invalidated)');
    const entryKey = `${internalsOf(a).access('acme').key('p1').full}`;

    server.pause();
    const outageStart = performance.now();
    // Sent while Redis is paused: it times out here, and Redis runs it when it resumes.
    await expect(cache.invalidateTags(['product:2'])).rejects.toBeInstanceOf(CacheError);
    // Reads time out until the circuit opens; then an invalidation fails fast, never sent.
    while ((await a.health()).circuit !== 'open') await cache.get('other');
    await expect(cache.invalidateTags(['product:1'])).rejects.toBeInstanceOf(CircuitOpenError);
    const issuedAt = performance.now();
    expect((await a.stats()).pendingInvalidations).toBe(2);

    let readsDuring = 0;
    let reopened = false;
    while (performance.now() - outageStart < OUTAGE_MS) {
      for (const key of ['p1', 'p2']) expect(await cache.get(key)).toBeUndefined();
      readsDuring++;
      if (!reopened && performance.now() - outageStart > OUTAGE_MS / 2) {
        // Mid-outage the cooldown ends: the next call probes, fails, and the circuit opens again.
        clock.skip(COOLDOWN_MS);
        reopened = true;
      }
      await sleep(100); // the outage is real time on a real server: there is no clock to move
    }
    expect((await a.health()).circuit).toBe('open');
    const attemptsDuring = (await a.stats()).errors;
    server.resume();
    const resumedAt = performance.now();
    // Redis answers again; without the retry, p1 would be a hit for its whole TTL here.
    await vi.waitFor(async () => expect(await b.forTenant('acme').has('other')).toBe(false), { timeout: 10_000, interval: 50 });
    expect(await rawCommand(server.port, 'EXISTS', entryKey)).toBe(1);
    clock.skip(COOLDOWN_MS); // the circuit's cooldown is over: the next call probes it
    const cooldownOverAt = performance.now();

    let readsAfter = 0;
    while ((await a.stats()).pendingInvalidations > 0) {
      expect(performance.now() - resumedAt).toBeLessThan(15_000); // a hang guard; the bound is asserted below
      for (const key of ['p1', 'p2']) expect(await cache.get(key)).toBeUndefined();
      readsAfter++;
      await sleep(POLL_MS);
    }
    const appliedAt = performance.now();
    const appliedMs = Math.round(appliedAt - cooldownOverAt);
    const applied = lines.find((l) => l.includes('Pending invalidation applied after'));
    console.log(
      `Redis paused ${((resumedAt - outageStart) / 1000).toFixed(1)} s (old give-up: at most 6.2 s); ${readsDuring} rounds of reads during it and ${readsAfter} after, none served the invalidated entries; ` +
        `store errors counted during the outage: ${attemptsDuring}; applied ${((appliedAt - resumedAt) / 1000).toFixed(2)} s after Redis resumed, ${appliedMs} ms after the cooldown ended (bound ${Math.round(APPLIED_BOUND_MS)} ms), ` +
        `${((appliedAt - issuedAt) / 1000).toFixed(1)} s after it was issued; log (on the manager's clock, which skipped two cooldowns of 20 s): "${applied}"`,
    );
    expect(appliedMs).toBeLessThan(APPLIED_BOUND_MS);
    expect(applied).toMatch(/applied after \d+ attempt\(s\)/);
    expect(lines.join('\n')).not.toMatch(/gave up/);
    expect(lines.some((l) => l.includes('still pending'))).toBe(true);
    // Applied in Redis: a miss for every instance, not only hidden on this one (the entry itself is left to expire).
    expect(await rawCommand(server.port, 'EXISTS', entryKey)).toBe(1);
    expect(await b.forTenant('acme').get('p1')).toBeUndefined();
    expect(await b.forTenant('acme').get('p2')).toBeUndefined();
    expect(await cache.get('p1')).toBeUndefined();
    await cache.set('p1', 'v2');
    expect(await cache.get('p1')).toBe('v2');
  });
});
