import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { KeyScope, storageKey, type StorageKey } from '../../lib/keys/storage-key.js';
import type { CacheStore } from '../../lib/stores/cache-store.interface.js';
import type { CircuitBreakerStore } from '../../lib/stores/circuit-breaker.store.js';
import { REDIS_STORE_DEFAULTS } from '../../lib/stores/redis-store-options.js';
import { assembleStore } from '../../lib/stores/store.factory.js';
import { systemClock } from '../../lib/utils/clock.js';
import { ErrorReporter } from '../../lib/utils/error-reporter.js';
import { describeWithRedis, rawCommand, startRedisCluster, type RedisClusterHandle, type RedisServer } from '../helpers/redis-server.js';
import { pollFor } from '../helpers/steady-load.js';
import { StoreLoad, summarize, type StoreOpSample } from '../helpers/store-load.js';

/**
 * Rows "Cluster, one primary SIGKILLed / SIGSTOPped under 100 ops/s" of the Redis faults issue,
 * on a real 3-primary + 3-replica Cluster (cluster-node-timeout 1 s): calls whose keys live on
 * the healthy shards never fail; those of the failed shard fail (the cache serves them without
 * it) within the command timeout; once the failed primary's replica is promoted (its ROLE says
 * master), its calls are served again within a bound derived below from the probe and refresh
 * timings: a second or so, where a client that refreshes its slot map only on MOVED serves them
 * when the stopped node comes back (10 s here).
 *
 * The servers run with `cluster-require-full-coverage no`: with Redis's default (yes) every node
 * refuses every key (CLUSTERDOWN) from the moment one primary is marked failed until its replica
 * is promoted, and no client can route around that.
 */

const COMMAND_TIMEOUT_MS = 500;
/** The breaker's cooldown: an open circuit probes (a slot-map refresh and a PING of its node, at once) with the first call this long after its last probe started. */
const COOLDOWN_MS = 500;
/** The store's ioredis `slotsRefreshTimeout`: how long a refresh waits for one node before it asks the next. */
const SLOTS_REFRESH_TIMEOUT_MS = Math.min(REDIS_STORE_DEFAULTS.connectTimeout, COMMAND_TIMEOUT_MS);
/** Timer and scheduling lag allowed on a busy 2-core machine on top of the timings each bound is made of. */
const LAG_MS = 300;
const OPS_PER_SECOND = 100;
const TENANTS = 30;

/**
 * How long after the promotion the failed shard is served again at the latest, once the client
 * routes its calls by a slot map read after the promotion (then the calls go to the new primary,
 * through a fresh circuit). While the shard's circuit is open nothing but its probes refreshes
 * the map before the next 1 s `slotsRefreshInterval` round, and one probe runs at a time:
 * - SIGKILL: the dead node refuses at once, so a probe (refresh, PING) settles in a round trip;
 *   the first probe started after the promotion starts with the shard's first call a cooldown
 *   after the previous one started, and reroutes the shard.
 * - SIGSTOP: the probe in flight at the promotion may have read the map just before it, and then
 *   waits for the stopped node's PING (up to the command timeout); the next one starts with the
 *   shard's first call after that and after the cooldown, and its refresh may ask the stopped
 *   node first (one `slotsRefreshTimeout`) before the next node gives the new map.
 * Then the shard's next call is served. `shardGapMs`: the longest time between two calls of the
 * shard (they are round-robin over the tenants). The target of the issue was 1 s; the stopped
 * node's two waits alone take 1 s, so the SIGSTOP row's bound is above it by the gaps and the lag.
 */
function servedAgainBoundMs(fault: 'SIGKILL' | 'SIGSTOP', shardGapMs: number): number {
  const toProbeAfterPromotion = fault === 'SIGKILL' ? COOLDOWN_MS : Math.max(COOLDOWN_MS, COMMAND_TIMEOUT_MS);
  const probe = fault === 'SIGKILL' ? 0 : SLOTS_REFRESH_TIMEOUT_MS;
  return toProbeAfterPromotion + shardGapMs + probe + shardGapMs + LAG_MS;
}

function envelope(key: StorageKey, value: unknown): Envelope {
  return { value, createdAt: Date.now(), expiresAt: 0, stamp: newStamp(), scope: key.scope.id };
}

/** The slot ranges of the cluster: owner (primary) port and its replica's port. */
async function shards(port: number): Promise<Array<{ from: number; to: number; primary: number; replica: number }>> {
  const slots = (await rawCommand(port, 'CLUSTER', 'SLOTS')) as Array<[number, number, [string, number], [string, number]]>;
  return slots.map(([from, to, primary, replica]) => ({ from, to, primary: Number(primary[1]), replica: Number(replica[1]) }));
}

describeWithRedis(
  'Redis Cluster faults under 100 ops/s: a failed shard never fails the others',
  () => {
    let cluster: RedisClusterHandle | undefined;
    let store: CacheStore | undefined;
    let load: StoreLoad | undefined;
    let paused: RedisServer | undefined;
    afterEach(async () => {
      paused?.resume();
      await load?.stop();
      await store?.close();
      await cluster?.stop();
      cluster = store = load = paused = undefined;
    });

    /** The cluster, the store (behind its circuit breaker, as a cache assembles it), and each tenant's key and shard (its primary's port). */
    async function setUp() {
      cluster = await startRedisCluster(3, { replicas: 1, nodeTimeoutMs: 1_000, args: ['--cluster-require-full-coverage', 'no'] });
      const logger = { warn: () => undefined, error: () => undefined };
      store = await assembleStore(
        { type: 'redis', cluster: { nodes: [...cluster.startupNodes] }, commandTimeout: COMMAND_TIMEOUT_MS, logger },
        { clock: systemClock, observer: {}, reporter: new ErrorReporter(logger), circuitBreaker: { failureThreshold: 5, cooldownMs: COOLDOWN_MS } },
      );
      const map = await shards(cluster.nodes[0]!.port);
      const keys = await Promise.all(
        Array.from({ length: TENANTS }, async (_, i) => {
          const key = storageKey(KeyScope.of('clu', `t${i}`), 'entry', 'k');
          const slot = Number(await rawCommand(cluster!.nodes[0]!.port, 'CLUSTER', 'KEYSLOT', key.full));
          return { key, shard: map.find((s) => slot >= s.from && slot <= s.to)! };
        }),
      );
      expect(new Set(keys.map((k) => k.shard.primary)).size).toBe(3);
      for (const { key } of keys) await store.set(key, envelope(key, key.full), 600_000);
      const victim = keys[0]!.shard;
      // The longest run of calls between two of the victim shard's, in calls (the whole round if it has one tenant).
      const onVictim = keys.flatMap((k, i) => (k.shard.primary === victim.primary ? [i] : []));
      const longestRun = Math.max(...onVictim.map((i, j) => (onVictim[(j + 1) % onVictim.length]! - i + TENANTS) % TENANTS || TENANTS));
      // Where the client's slot map sends the victim's calls now, checked at every call: when it first names the replica.
      const inner = (store as CircuitBreakerStore).inner;
      const replicaRoute = `127.0.0.1:${victim.replica}`;
      const route = { reroutedAt: Number.POSITIVE_INFINITY };
      // Every call a get or a set, round-robin over the tenants; its target is its shard's original primary.
      const current = store;
      load = new StoreLoad((n) => {
        if (route.reroutedAt === Number.POSITIVE_INFINITY && inner.routeOf?.(keys[0]!.key.scope) === replicaRoute) route.reroutedAt = performance.now();
        const { key, shard } = keys[n % keys.length]!;
        return { target: String(shard.primary), call: n % 2 === 0 ? current.get(key) : current.set(key, envelope(key, n), 600_000) };
      }, OPS_PER_SECOND);
      return { victim, primary: cluster.nodes.find((n) => n.port === victim.primary)!, traffic: load, shardGapMs: (longestRun * 1_000) / OPS_PER_SECOND, route };
    }

    /** Polls the replica's ROLE until it says master; returns when it first did. */
    const promotion = (replicaPort: number): Promise<number> =>
      pollFor(
        `the replica on ${replicaPort} promoted`,
        async () => {
          const role = (await rawCommand(replicaPort, 'ROLE').catch(() => [])) as unknown[];
          return role[0] === 'master' ? performance.now() : undefined;
        },
        20_000,
      );

    function report(row: string, samples: readonly StoreOpSample[], victimPort: number, at: { faultAt: number; promotedAt: number; reroutedAt: number }, boundMs: number) {
      const { faultAt, promotedAt, reroutedAt } = at;
      const healthy = summarize(samples.filter((s) => s.target !== String(victimPort)));
      const failedShard = samples.filter((s) => s.target === String(victimPort));
      const failed = summarize(failedShard);
      const failedOps = failedShard.filter((s) => !s.ok);
      const servedAgain = failedShard.filter((s) => s.ok && s.sentAt >= faultAt && s.doneAt >= promotedAt).sort((a, b) => a.doneAt - b.doneAt)[0];
      const servedAgainMs = servedAgain === undefined ? Number.POSITIVE_INFINITY : Math.round(servedAgain.doneAt - promotedAt);
      const lateFailures = failedShard.filter((s) => !s.ok && s.sentAt >= promotedAt + boundMs).length;
      const maxFailedMs = Math.round(Math.max(0, ...failedOps.map((s) => s.doneAt - s.sentAt)));
      console.log(
        `[figure] ${row}: ${samples.length} ops; healthy shards ${healthy.failed} of ${healthy.total} failed (max ${healthy.maxMs} ms); ` +
          `failed shard ${failed.failed} of ${failed.total} failed (${[...new Set(failedOps.map((s) => s.error))].join(', ') || 'none'}; slowest failure ${maxFailedMs} ms), ` +
          `promoted ${Math.round(promotedAt - faultAt)} ms after the fault, the client's slot map followed ${Math.round(reroutedAt - promotedAt)} ms after the promotion, ` +
          `served again ${servedAgainMs} ms after it (bound ${Math.round(boundMs)} ms), ${lateFailures} failures sent later than the bound after it`,
      );
      return { healthy, maxFailedMs, servedAgainMs, lateFailures, failedShardTotal: failed.total };
    }

    it('one primary SIGKILLed: 0 failures on the healthy shards, the failed shard fails within the timeout, and is served within a cooldown (plus call gaps and lag) of its replica\'s promotion', async () => {
      const { victim, primary, traffic, shardGapMs, route } = await setUp();
      const boundMs = servedAgainBoundMs('SIGKILL', shardGapMs);
      traffic.start();
      await sleep(1_000);
      const faultAt = performance.now();
      await primary.kill();
      const promotedAt = await promotion(victim.replica);
      // Traffic well past the bound, so a failure after it would be seen.
      await sleep(boundMs + 2_000);
      await traffic.stop();

      const figures = report('Cluster SIGKILL of one primary', traffic.samples, victim.primary, { faultAt, promotedAt, reroutedAt: route.reroutedAt }, boundMs);
      expect(figures.healthy.failed).toBe(0);
      expect(figures.healthy.maxMs).toBeLessThan(COMMAND_TIMEOUT_MS + LAG_MS);
      expect(figures.maxFailedMs).toBeLessThan(COMMAND_TIMEOUT_MS + LAG_MS);
      expect(figures.servedAgainMs).toBeLessThan(boundMs);
      // The client's slot map itself names the promoted replica for the shard by then.
      expect(route.reroutedAt - promotedAt).toBeLessThan(boundMs);
      expect(figures.lateFailures).toBe(0);
      expect(figures.failedShardTotal).toBeGreaterThan(50);
    }, 60_000);

    it('one primary SIGSTOPped for 10 s: routed to the promoted replica within the stopped node\'s PING and refresh timeouts (plus call gaps and lag) of the promotion, 0 failures on the healthy shards', async () => {
      const { victim, primary, traffic, shardGapMs, route } = await setUp();
      const boundMs = servedAgainBoundMs('SIGSTOP', shardGapMs);
      traffic.start();
      await sleep(1_000);
      const faultAt = performance.now();
      paused = primary;
      primary.pause();
      const promotedAt = await promotion(victim.replica);
      await sleep(Math.max(boundMs + 2_000, faultAt + 10_000 - performance.now()));
      primary.resume();
      await sleep(1_000);
      await traffic.stop();

      const figures = report('Cluster SIGSTOP of one primary for 10 s', traffic.samples, victim.primary, { faultAt, promotedAt, reroutedAt: route.reroutedAt }, boundMs);
      expect(figures.healthy.failed).toBe(0);
      expect(figures.healthy.maxMs).toBeLessThan(COMMAND_TIMEOUT_MS + LAG_MS);
      expect(figures.maxFailedMs).toBeLessThan(COMMAND_TIMEOUT_MS + LAG_MS);
      expect(figures.servedAgainMs).toBeLessThan(boundMs);
      // The client's slot map itself names the promoted replica for the shard by then.
      expect(route.reroutedAt - promotedAt).toBeLessThan(boundMs);
      expect(figures.lateFailures).toBe(0);
    }, 60_000);
  },
  { needsCli: true },
);
