import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { CacheManager, type CacheHealth } from '../../lib/cache/cache-manager.js';
import { RecordingLogger, type TestApp } from '../e2e/helpers/app-factory.js';
import { bootFaultApp, itemPaths, TENANT_HEADERS } from '../helpers/fault-app.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { percentile, pollFor, SteadyLoad } from '../helpers/steady-load.js';

/**
 * Rows "SIGKILL 10 s under 200 req/s, then restarted" and "SIGSTOP 6.5 s" of the Redis faults
 * issue, on a real Nest app over real HTTP: the first HIT comes within 1 s of Redis being usable
 * again (measured from the moment redis-server answers PING, or from SIGCONT), and the cache's
 * health never says up while its circuit is open.
 */

/** The target of both rows: hits again within this long of Redis being usable. */
const RECOVERY_TARGET_MS = 1_000;

interface HealthSample {
  readonly at: number;
  readonly health: CacheHealth;
}

/** Asks the manager for its health back to back (never two at once) until stopped. */
function sampleHealth(manager: CacheManager): { samples: HealthSample[]; stop(): Promise<void> } {
  const samples: HealthSample[] = [];
  const state = { running: true };
  const loop = (async () => {
    while (state.running) {
      const health = await manager.health();
      samples.push({ at: performance.now(), health });
      await sleep(20);
    }
  })();
  return {
    samples,
    async stop() {
      state.running = false;
      await loop;
    },
  };
}

describeWithRedis('Redis faults under traffic: recovery', () => {
  let server: RedisServer | undefined;
  let t: TestApp | undefined;
  let load: SteadyLoad | undefined;
  afterEach(async () => {
    server?.resume();
    await load?.stop();
    await t?.close();
    await server?.stop();
    server = t = load = undefined;
  });

  it('SIGKILL for 10 s under 200 req/s, then a restart: the first HIT within 1 s of Redis answering PING; health never up while the circuit is open, and the readiness check stays 200 meanwhile', async () => {
    server = await startRedis();
    t = await bootFaultApp('fastify', { store: { type: 'redis', url: server.url }, logger: new RecordingLogger() });
    const manager = t.app.get(CacheManager);
    const paths = itemPaths(20);
    for (const path of paths) await t.http().get(path).set(TENANT_HEADERS);
    expect((await t.http().get(paths[0]!).set(TENANT_HEADERS)).headers['x-cache']).toBe('HIT');

    const health = sampleHealth(manager);
    load = new SteadyLoad(t.url, paths, TENANT_HEADERS, 200);
    load.start();
    await sleep(500);
    await server.kill();
    await sleep(5_000);
    // Fail-open: the app serves every request from its handlers, so readiness must not fail.
    const readiness = await t.http().get('/health');
    await sleep(5_000);
    await server.restart();
    const readyAt = performance.now();
    const firstHit = await pollFor('a HIT after the restart', () => load!.sentBetween(readyAt).find((s) => s.xCache === 'HIT'), 10_000);
    const healthUp = await pollFor('health up after the restart', () => health.samples.find((s) => s.at > readyAt && s.health.ok), 10_000);
    await sleep(200);
    await health.stop();
    await load.stop();

    const hitMs = firstHit.doneAt - readyAt;
    const upMs = healthUp.at - readyAt;
    const upWhileOpen = health.samples.filter((s) => s.health.ok && s.health.circuit !== 'closed');
    const failed = load.samples.filter((s) => s.status !== 200);
    console.log(
      `SIGKILL 10 s under 200 req/s: first HIT ${hitMs.toFixed(0)} ms after Redis answered PING (target ${RECOVERY_TARGET_MS}); health up after ${upMs.toFixed(0)} ms; ` +
        `${upWhileOpen.length} of ${health.samples.length} health samples said up with the circuit not closed; readiness during the outage: ${readiness.status} ${JSON.stringify(readiness.body?.info?.cache ?? readiness.body?.error?.cache)}; ` +
        `${load.samples.length} requests, ${failed.length} not 200`,
    );
    expect(hitMs).toBeLessThanOrEqual(RECOVERY_TARGET_MS);
    expect(upWhileOpen).toEqual([]);
    expect(failed).toEqual([]);
    expect(readiness.status).toBe(200);
    expect(readiness.body.info.cache).toMatchObject({ status: 'up', state: 'down' });
  });

  it('SIGSTOP for 6.5 s under 200 req/s: the first HIT within 1 s of SIGCONT', async () => {
    server = await startRedis();
    t = await bootFaultApp('express', { store: { type: 'redis', url: server.url }, logger: new RecordingLogger() });
    const manager = t.app.get(CacheManager);
    const paths = itemPaths(20);
    for (const path of paths) await t.http().get(path).set(TENANT_HEADERS);

    const health = sampleHealth(manager);
    load = new SteadyLoad(t.url, paths, TENANT_HEADERS, 200);
    load.start();
    await sleep(500);
    server.pause();
    const pausedAt = performance.now();
    await sleep(6_500);
    server.resume();
    const resumedAt = performance.now();
    const firstHit = await pollFor('a HIT after SIGCONT', () => load!.sentBetween(resumedAt).find((s) => s.xCache === 'HIT'), 10_000);
    await sleep(200);
    await health.stop();
    await load.stop();

    const hitMs = firstHit.doneAt - resumedAt;
    const during = load.sentBetween(pausedAt, resumedAt).map((s) => s.doneAt - s.sentAt);
    const upWhileOpen = health.samples.filter((s) => s.health.ok && s.health.circuit !== 'closed');
    const failed = load.samples.filter((s) => s.status !== 200);
    console.log(
      `SIGSTOP 6.5 s under 200 req/s: first HIT ${hitMs.toFixed(0)} ms after SIGCONT (target ${RECOVERY_TARGET_MS}); during the pause p50 ${percentile(during, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(during, 99).toFixed(1)} ms over ${during.length} requests; ${upWhileOpen.length} health samples said up with the circuit not closed; ${failed.length} requests not 200`,
    );
    expect(hitMs).toBeLessThanOrEqual(RECOVERY_TARGET_MS);
    expect(upWhileOpen).toEqual([]);
    expect(failed).toEqual([]);
  });
});
