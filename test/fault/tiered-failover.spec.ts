import { randomBytes } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { KeyScope, storageKey, type StorageKey } from '../../lib/keys/storage-key.js';
import { describeWithRedis, rawCommand, startRedisCluster, startRedisSentinel, type RedisClusterHandle, type RedisSentinelHandle } from '../helpers/redis-server.js';
import { eventually, tieredStore, type TieredFixture } from '../helpers/tiered-fixture.js';

function envelope<T>(key: StorageKey, value: T): Envelope<T> {
  return { value, createdAt: Date.now(), expiresAt: Date.now() + 60_000, stamp: newStamp(), scope: key.scope.id };
}

/**
 * The bus follows L2 wherever it goes: to a new Sentinel primary after a failover, to another
 * Cluster node when its node drops it. Two tiered stores in this process (each its own L1,
 * connections and bus id, as two instances would have): after the fault, each one's bus is
 * subscribed again by itself, and a change in one drops the entry from the other's L1.
 */
describeWithRedis(
  'the invalidation bus reconnects by itself (Sentinel failover, Cluster nodes)',
  () => {
    let sentinel: RedisSentinelHandle | undefined;
    let cluster: RedisClusterHandle | undefined;
    const open: TieredFixture[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((f) => f.store.close()));
      await sentinel?.stop();
      await cluster?.stop();
      sentinel = cluster = undefined;
    });

    /** A sets, B reads it into L1, A changes it: ms until B's L1 no longer has it. */
    const change = async (a: TieredFixture, b: TieredFixture, key: StorageKey): Promise<number> => {
      await a.store.set(key, envelope(key, 'old'), 60_000);
      await eventually('B holds it', async () => (await b.store.get(key)) !== undefined && b.store.getSync(key) !== undefined);
      const started = performance.now();
      await a.store.set(key, envelope(key, 'new'), 60_000);
      await eventually('B dropped it', () => b.store.getSync(key)?.value !== 'old');
      return performance.now() - started;
    };

    it('Sentinel: primary SIGKILLed, a replica promoted: both buses resubscribe on the new primary and changes are seen again', { timeout: 60_000 }, async () => {
      sentinel = await startRedisSentinel({ replicas: 1, sentinels: 3, downAfterMs: 1_000, failoverTimeoutMs: 3_000 });
      const l2 = { options: { sentinels: [...sentinel.sentinelNodes], name: sentinel.name } };
      const [a, b] = await Promise.all([tieredStore({ l2 }), tieredStore({ l2 })]);
      open.push(a, b);
      const scope = KeyScope.of(`sen-${randomBytes(3).toString('hex')}`, 'acme');
      const before = await change(a, b, storageKey(scope, 'entry', 'before'));
      await sentinel.primary.kill();
      const killed = performance.now();
      await eventually('both buses down', () => a.store.stats().bus.state === 'down' && b.store.stats().bus.state === 'down', 10_000);
      const upMs = await eventually('both buses up on the new primary', () => a.store.stats().bus.state === 'up' && b.store.stats().bus.state === 'up', 30_000);
      const promoted = Number((await rawCommand(sentinel.replicas[0]!.port, 'ROLE') as unknown[])[0] === 'master');
      // L2's own connections follow the sentinels too; the first writes may still fail meanwhile.
      let after = Number.POSITIVE_INFINITY;
      let attempt = 0;
      await eventually('a change made and seen after the failover', async () => {
        try {
          after = await change(a, b, storageKey(scope, 'entry', `after-${attempt++}`));
          return true;
        } catch {
          return false;
        }
      }, 20_000);
      console.log(
        `[tiered failover] Sentinel: change seen in ${before.toFixed(1)} ms before; primary SIGKILLed: buses down, subscribed again ${((performance.now() - killed) / 1000).toFixed(1)} s after the kill (${Math.round(upMs)} ms after they went down; replica promoted: ${promoted === 1}); a change then seen in ${after.toFixed(1)} ms`,
      );
      expect(promoted).toBe(1);
      expect(a.store.stats().bus.outages).toBeGreaterThanOrEqual(1);
      expect(after).toBeLessThan(100);
    });

    it('Cluster: every node drops its pub/sub clients: each bus moves to a node and resubscribes, and changes are seen again', { timeout: 60_000 }, async () => {
      cluster = await startRedisCluster(3);
      const l2 = { cluster: { nodes: [...cluster.startupNodes] } };
      const [a, b] = await Promise.all([tieredStore({ l2 }), tieredStore({ l2 })]);
      open.push(a, b);
      const scope = KeyScope.of(`clu-${randomBytes(3).toString('hex')}`, 'acme');
      const before = await change(a, b, storageKey(scope, 'entry', 'before'));
      for (let round = 0; round < 5; round++) {
        const outages = a.store.stats().bus.outages + b.store.stats().bus.outages;
        await Promise.all(cluster.nodes.map((node) => rawCommand(node.port, 'CLIENT', 'KILL', 'TYPE', 'pubsub')));
        await eventually('both buses down and up again', () => a.store.stats().bus.outages + b.store.stats().bus.outages === outages + 2 && a.store.stats().bus.state === 'up' && b.store.stats().bus.state === 'up', 10_000);
      }
      const after = await change(a, b, storageKey(scope, 'entry', 'after'));
      console.log(`[tiered failover] Cluster: change seen in ${before.toFixed(1)} ms; pub/sub clients of all 3 nodes killed 5 times, each bus resubscribed by itself each time; a change then seen in ${after.toFixed(1)} ms`);
      expect(after).toBeLessThan(100);
    });
  },
  { needsCli: true },
);
