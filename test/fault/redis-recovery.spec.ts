import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { CacheManager, type CacheHealth } from '../../lib/cache/cache-manager.js';
import { CIRCUIT_BREAKER_DEFAULTS } from '../../lib/options/manager-options.js';
import { MAX_RECONNECT_SPACING_MS } from '../../lib/stores/redis/redis-client.factory.js';
import { parseDuration } from '../../lib/utils/duration.js';
import { RecordingLogger, type TestApp } from '../e2e/helpers/app-factory.js';
import { bootFaultApp, itemPaths, TENANT_HEADERS } from '../helpers/fault-app.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { percentile, pollFor, SteadyLoad } from '../helpers/steady-load.js';

/**
 * Rows "SIGKILL 10 s under 200 req/s, then restarted" and "SIGSTOP 6.5 s" of the Redis faults
 * issue, on a real Nest app over real HTTP: the first HIT comes within a bound (under the
 * issue's target of 1 s) of Redis being usable again, measured from the moment redis-server
 * answers PING, or from SIGCONT; and the cache's health never says up while its circuit is open.
 * Both apps use the default command timeout and circuit breaker.
 */

/** The breaker's default cooldown: an open circuit probes with the first call this long after its last probe started. */
const COOLDOWN_MS = parseDuration(CIRCUIT_BREAKER_DEFAULTS.cooldown);
/** The longest wait between two reconnect attempts of the store's client (its capped backoff plus jitter). */
const RECONNECT_SPACING_MS = MAX_RECONNECT_SPACING_MS;
const PATHS = 20;
const REQUESTS_PER_SECOND = 200;
const REQUEST_GAP_MS = 1_000 / REQUESTS_PER_SECOND;
/** How long until a path is requested again (round-robin). */
const PATH_ROUND_MS = PATHS * REQUEST_GAP_MS;
/** Timer and scheduling lag allowed on a busy 2-core machine (the app and its client share this process) on top of the timings a bound is made of. */
const LAG_MS = 300;
/**
 * SIGKILL, then a restart (an empty Redis): the client's next reconnect attempt comes at most
 * `RECONNECT_SPACING_MS` after Redis listens, and its 'ready' makes the breaker probe (a PING)
 * and close; the next request is a MISS that stores its path's entry, and that path's next
 * request, a round of the paths later, is the HIT. A client backing off for seconds, or a
 * circuit waiting out a cooldown of seconds, would be seconds late.
 */
const KILL_RECOVERY_BOUND_MS = RECONNECT_SPACING_MS + REQUEST_GAP_MS + PATH_ROUND_MS + LAG_MS;
/**
 * SIGSTOP, then SIGCONT (the entries are still in Redis): a probe in flight gets its PING
 * answered at once; otherwise the next probe starts with the first request a cooldown after the
 * last one started, at the latest, and the request after that is a HIT. (The test's health
 * checks, one PING at a time, can close the circuit sooner: a health check that finds Redis
 * answering closes it too.)
 */
const PAUSE_RECOVERY_BOUND_MS = COOLDOWN_MS + 2 * REQUEST_GAP_MS + LAG_MS;

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

  it('SIGKILL for 10 s under 200 req/s, then a restart: the first HIT within a reconnect attempt and a round of the paths (plus lag) of Redis answering PING; health never up while the circuit is open, and the readiness check stays 200 meanwhile', async () => {
    server = await startRedis();
    t = await bootFaultApp('fastify', { store: { type: 'redis', url: server.url }, logger: new RecordingLogger() });
    const manager = t.app.get(CacheManager);
    const paths = itemPaths(PATHS);
    for (const path of paths) await t.http().get(path).set(TENANT_HEADERS);
    expect((await t.http().get(paths[0]!).set(TENANT_HEADERS)).headers['x-cache']).toBe('HIT');

    const health = sampleHealth(manager);
    load = new SteadyLoad(t.url, paths, TENANT_HEADERS, REQUESTS_PER_SECOND);
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
      `SIGKILL 10 s under 200 req/s: first HIT ${hitMs.toFixed(0)} ms after Redis answered PING (bound ${KILL_RECOVERY_BOUND_MS} ms); health up after ${upMs.toFixed(0)} ms; ` +
        `${upWhileOpen.length} of ${health.samples.length} health samples said up with the circuit not closed; readiness during the outage: ${readiness.status} ${JSON.stringify(readiness.body?.info?.cache ?? readiness.body?.error?.cache)}; ` +
        `${load.samples.length} requests, ${failed.length} not 200`,
    );
    expect(hitMs).toBeLessThan(KILL_RECOVERY_BOUND_MS);
    expect(upWhileOpen).toEqual([]);
    expect(failed).toEqual([]);
    expect(readiness.status).toBe(200);
    expect(readiness.body.info.cache).toMatchObject({ status: 'up', state: 'down' });
  });

  it('SIGSTOP for 6.5 s under 200 req/s: the first HIT within a cooldown (plus lag) of SIGCONT', async () => {
    server = await startRedis();
    t = await bootFaultApp('express', { store: { type: 'redis', url: server.url }, logger: new RecordingLogger() });
    const manager = t.app.get(CacheManager);
    const paths = itemPaths(PATHS);
    for (const path of paths) await t.http().get(path).set(TENANT_HEADERS);

    const health = sampleHealth(manager);
    load = new SteadyLoad(t.url, paths, TENANT_HEADERS, REQUESTS_PER_SECOND);
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
      `SIGSTOP 6.5 s under 200 req/s: first HIT ${hitMs.toFixed(0)} ms after SIGCONT (bound ${PAUSE_RECOVERY_BOUND_MS} ms); during the pause p50 ${percentile(during, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(during, 99).toFixed(1)} ms over ${during.length} requests; ${upWhileOpen.length} health samples said up with the circuit not closed; ${failed.length} requests not 200`,
    );
    expect(hitMs).toBeLessThan(PAUSE_RECOVERY_BOUND_MS);
    expect(upWhileOpen).toEqual([]);
    expect(failed).toEqual([]);
  });
});
