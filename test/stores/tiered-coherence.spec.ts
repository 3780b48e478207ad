import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TieredStoreStats } from '../../lib/stores/tiered/tiered-stats.interface.js';
import { describeWithRedis, startRedis, startRedisCluster, type RedisClusterHandle, type RedisServer } from '../helpers/redis-server.js';
import { percentiles, TieredInstance, type Gone } from '../helpers/tiered-instance.js';

/** Invalidations per topology; each is watched by the two other processes. */
const INVALIDATIONS = 1_000;
const OPS = ['set', 'delete', 'tags', 'clear'] as const;
/** The target: the stale L1 entry gone from the other processes within this, at the 99th percentile. */
const P99_BOUND_MS = 100;

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms)))]).finally(() => clearTimeout(timer));
}

/**
 * Three app processes, each with a tiered store (its own L1) on one Redis, or on a 3-primary
 * Cluster. In turn, one writes an entry, the other two read it into their L1 and poll it every
 * millisecond; then the writer changes it (overwrite, delete, tag invalidation or a clear of the
 * tenant) and each poller reports when its L1 stopped serving the old entry. The figure is that
 * delay, from the moment the writer started the change (one machine: the processes' clocks agree).
 */
describeWithRedis(
  'tiered stores in 3 processes: a change in one is seen in the others',
  () => {
    describe.each(['standalone', 'cluster'] as const)('on a %s Redis', (topology) => {
      let server: RedisServer | undefined;
      let cluster: RedisClusterHandle | undefined;
      let instances: TieredInstance[] = [];
      const namespace = `coh-${randomBytes(3).toString('hex')}`;

      beforeAll(async () => {
        let l2;
        if (topology === 'standalone') {
          server = await startRedis();
          l2 = { url: server.url };
        } else {
          cluster = await startRedisCluster(3);
          l2 = { cluster: { nodes: [...cluster.startupNodes] } };
        }
        instances = await Promise.all(['A', 'B', 'C'].map((name) => TieredInstance.start(name, { namespace, store: { type: 'tiered', l2 } })));
      });
      afterAll(async () => {
        await Promise.all(instances.map((i) => i.close()));
        await server?.stop();
        await cluster?.stop();
      });

      it(`${INVALIDATIONS} invalidations (sets, deletes, tags, clears): the stale L1 entry is gone from the other processes within ${P99_BOUND_MS} ms at p99`, { timeout: 180_000 }, async () => {
        const delays: number[] = [];
        const byOp = new Map<string, number[]>(OPS.map((op) => [op, []]));
        for (let i = 0; i < INVALIDATIONS; i++) {
          const writer = instances[i % 3]!;
          const observers = instances.filter((o) => o !== writer);
          const op = OPS[i % OPS.length]!;
          const tenant = `tenant-${i % 11}`;
          const key = `k${i}`;
          const tag = `tag-${i}`;
          await writer.call({ cmd: 'set', tenant, key, value: i, tags: [tag] });
          const held = await Promise.all(observers.map((o) => o.call<{ stamp: string }>({ cmd: 'fill', tenant, key })));
          const watches = await Promise.all(observers.map((o, j) => o.watch(tenant, key, held[j]!.stamp)));
          const { at } = await writer.call<{ at: number }>({ cmd: 'act', op, tenant, key, tag });
          const seen: Gone[] = await within(Promise.all(watches.map((w) => w.gone)), 5_000, `invalidation ${i} (${op}) seen by ${observers.map((o) => o.name).join(' and ')}`);
          for (const g of seen) {
            delays.push(g.at - at);
            byOp.get(op)!.push(g.at - at);
          }
        }
        const all = percentiles(delays);
        const per = OPS.map((op) => `${op} p99 ${percentiles(byOp.get(op)!).p99} ms`).join(', ');
        console.log(
          `[tiered coherence] ${topology}, 3 processes: ${all.n} observations of ${INVALIDATIONS} invalidations (${OPS.map((op) => `${INVALIDATIONS / OPS.length} ${op}`).join(', ')}): stale L1 entry gone after p50 ${all.p50} ms, p99 ${all.p99} ms, max ${all.max} ms (${per})`,
        );
        expect(all.p99).toBeLessThan(P99_BOUND_MS);
        for (const instance of instances) {
          const { stats } = await instance.call<{ stats: TieredStoreStats }>({ cmd: 'stats' });
          expect(stats.bus, instance.name).toMatchObject({ state: 'up', malformed: 0, outages: 0 });
          expect(stats.errors, instance.name).toBe(0);
        }
      });
    });
  },
  { needsCli: true },
);
