import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { KeyScope, storageKey } from '../../lib/keys/storage-key.js';
import type { CacheManagerOptions } from '../../lib/options/cache-options.interface.js';
import type { TieredStore } from '../../lib/stores/tiered.store.js';
import { engineFixture } from '../helpers/engine-fixture.js';
import { describeWithRedis, rawCommand, startRedisCluster, type RedisClusterHandle } from '../helpers/redis-server.js';

/**
 * Issue 16, point 4 on Redis: the bulk operations of one tenant on a 3-primary Cluster, counted
 * by each node's own `INFO commandstats` (reset before each measured call), and `pull` under 100
 * concurrent callers in two managers; on a tiered store, that bulk removals reach the other
 * instance's L1 through the bus.
 */

/** Calls of `command` on the node at `port` since its last `CONFIG RESETSTAT`. */
async function calls(port: number, command: string): Promise<number> {
  const info = String(await rawCommand(port, 'INFO', 'commandstats'));
  const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info);
  return match === null ? 0 : Number(match[1]);
}

describeWithRedis(
  'bulk operations on a 3-primary Redis Cluster',
  () => {
    let cluster: RedisClusterHandle;
    const managers: CacheManager[] = [];
    let n = 0;
    beforeAll(async () => {
      cluster = await startRedisCluster(3);
    });
    afterEach(async () => {
      await Promise.all(managers.splice(0).map((m) => m.close()));
    });
    afterAll(async () => {
      await cluster?.stop();
    });

    const two = async (): Promise<[CacheManager, CacheManager]> => {
      // These tests count commands, not time: a bound well above the default's 500 ms keeps the
      // 1,000 writes of their setup from timing out on a loaded machine (it did, once, in CI).
      const options: CacheManagerOptions = { store: { type: 'redis', cluster: { nodes: [...cluster.startupNodes] }, commandTimeout: 10_000 }, namespace: `bulk-${++n}`, logger: false };
      const pair: [CacheManager, CacheManager] = [await CacheManager.create(options), await CacheManager.create(options)];
      managers.push(...pair);
      return pair;
    };
    const resetStats = (): Promise<unknown[]> => Promise.all(cluster.nodes.map((node) => rawCommand(node.port, 'CONFIG', 'RESETSTAT')));
    const perNode = (command: string): Promise<number[]> => Promise.all(cluster.nodes.map((node) => calls(node.port, command)));
    const scripts = async (): Promise<number[]> => {
      const [sha, plain] = await Promise.all([perNode('evalsha'), perNode('eval')]);
      return sha.map((count, i) => count + plain[i]!);
    };
    const sum = (counts: number[]): number => counts.reduce((a, b) => a + b, 0);

    it("getMany of 1,000 keys of one tenant is one MGET on its slot's node; deleteMany is one script", async () => {
      const [a] = await two();
      const cache = a.forTenant('acme');
      const keys = Array.from({ length: 1_000 }, (_, i) => `item:${i}`);
      await cache.setMany(keys.map((key, i) => ({ key, value: { i } })));
      await cache.deleteMany(['warm-up-1', 'warm-up-2']); // loads the script on that node's connection
      await cache.getMany(['item:0']); // the tenant's value sizes known: its next getMany is cut by them alone (no first read of 16)

      await resetStats();
      const values = await cache.getMany<{ i: number }>(keys);
      const mgets = await perNode('mget');
      const readScripts = await scripts();
      expect(values.map((v) => v?.i)).toEqual(keys.map((_, i) => i));

      await resetStats();
      const deleted = await cache.deleteMany(keys);
      const deleteScripts = await scripts();
      const deleteMgets = await perNode('mget');
      console.log(
        `[bulk] Cluster, 1,000 keys of one tenant: getMany sent MGET ${mgets.join('/')} and scripts ${readScripts.join('/')} per node; deleteMany sent scripts ${deleteScripts.join('/')} and MGET ${deleteMgets.join('/')} per node (deleted ${deleted})`,
      );
      expect(sum(mgets)).toBe(1);
      expect(sum(readScripts)).toBe(0); // untagged entries: the MGET snapshot decides every one
      expect(sum(deleteScripts)).toBe(1);
      expect(sum(deleteMgets)).toBe(0);
      expect(mgets.indexOf(1)).toBe(deleteScripts.indexOf(1)); // both on the tenant's node
      expect(deleted).toBe(1_000);
      expect((await cache.getMany(keys)).every((v) => v === undefined)).toBe(true);
    });

    it("getMany of large values is cut by reply size, learned per tenant: about a MiB per MGET, and another tenant's small values still one MGET", async () => {
      const [a] = await two();
      const acme = a.forTenant('acme');
      const globex = a.forTenant('globex');
      const big = Array.from({ length: 40 }, (_, i) => `big:${i}`);
      // 40 values of ~100 KB: 4 MB, which one MGET would write out in one reply.
      await acme.setMany(big.map((key, i) => ({ key, value: `${i}:`.padEnd(100_000, 'x') })));
      const small = Array.from({ length: 1_000 }, (_, i) => `small:${i}`);
      await globex.setMany(small.map((key, i) => ({ key, value: i })));

      const mgetsOf = async (read: () => Promise<unknown>): Promise<number> => {
        await resetStats();
        await read();
        return sum(await perNode('mget'));
      };
      let values: Array<string | undefined> = [];
      // Cold: the first 16 keys, then the other 24 by what those weighed: floor(1 MiB / ~100 KB) = 10 a read.
      const cold = await mgetsOf(async () => (values = await acme.getMany<string>(big)));
      expect(values.map((v) => v?.slice(0, v.indexOf(':')))).toEqual(big.map((_, i) => String(i)));
      expect(values.every((v) => v?.length === 100_000)).toBe(true);
      const warm = await mgetsOf(() => acme.getMany(big));
      const otherCold = await mgetsOf(() => globex.getMany(small));
      const otherWarm = await mgetsOf(() => globex.getMany(small));
      // A tenant with nothing cached: its probe finds only misses, and it is not probed again.
      const empty = a.forTenant('initech');
      const emptyCold = await mgetsOf(() => empty.getMany(small));
      const emptyAgain = await mgetsOf(() => empty.getMany(small));
      console.log(`[bulk] getMany of 40 values of ~100 KB: ${cold} MGETs cold, ${warm} warm (1 before, at up to 1,000 keys each); then another tenant's 1,000 small values: ${otherCold} cold, ${otherWarm} warm; an empty tenant's 1,000 misses: ${emptyCold} then ${emptyAgain}`);
      expect(cold).toBe(1 + 3);
      expect(warm).toBe(4);
      expect(otherCold).toBe(2); // 16, then the other 984 together
      expect(otherWarm).toBe(1);
      expect(emptyCold).toBe(2);
      expect(emptyAgain).toBe(1);
    });

    it('getMany of keys of two tenants is one MGET per tenant, each on its own slot; neither reads the other', async () => {
      const [a] = await two();
      await a.forTenant('t1').setMany([{ key: 'k', value: 't1' }]);
      await a.forTenant('t2').setMany([{ key: 'k', value: 't2' }]);
      await resetStats();
      const [one, other] = await Promise.all([a.forTenant('t1').getMany(['k', 'x']), a.forTenant('t2').getMany(['k', 'x'])]);
      const mgets = await perNode('mget');
      console.log(`[bulk] Cluster, two tenants' getMany at once: MGET ${mgets.join('/')} per node`);
      expect(one).toEqual(['t1', undefined]);
      expect(other).toEqual(['t2', undefined]);
      expect(sum(mgets)).toBe(2);
    });

    it('pull under 100 concurrent callers (50 in each of 2 managers) hands the value to exactly one, 20 rounds', async () => {
      const [a, b] = await two();
      const winners: number[] = [];
      for (let round = 0; round < 20; round++) {
        await a.forTenant('acme').set('coupon', { code: `C${round}` });
        const got = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).forTenant('acme').pull<{ code: string }>('coupon')));
        const taken = got.filter((v) => v !== undefined);
        winners.push(taken.length);
        expect(taken).toEqual([{ code: `C${round}` }]);
        expect(await b.forTenant('acme').get('coupon')).toBeUndefined();
      }
      console.log(`[bulk] Cluster, pull: callers that got the value per round of 100: ${winners.join(',')}`);
    });
  },
  { needsCli: true },
);

describeWithRedis('bulk removals on a tiered store reach the other instance', () => {
  const { managersOn, url } = engineFixture('redis');

  it("deleteMany and pull in one instance drop the other's L1 copies; getMany fills L1", async () => {
    const { all } = await managersOn(2, { store: { type: 'tiered', l2: { url: url() } } });
    const [a, b] = all as [CacheManager, CacheManager];
    await a.forTenant('acme').setMany(['x', 'y', 'z'].map((key) => ({ key, value: key })));
    // The writes' bus messages reach b first, or a read in flight when one arrives stays out of L1.
    await vi.waitFor(() => expect((b.store as TieredStore).stats().bus.applied).toBeGreaterThanOrEqual(3));
    expect(await b.forTenant('acme').getMany(['x', 'y', 'z'])).toEqual(['x', 'y', 'z']); // now in b's L1
    const inL1 = (key: string): unknown => (b.store as TieredStore).getSync(storageKey(KeyScope.of(b.namespace, 'acme'), 'entry', key))?.value;
    expect(['x', 'y', 'z'].map(inL1)).toEqual(['x', 'y', 'z']);
    await a.forTenant('acme').deleteMany(['x', 'y']);
    expect(await a.forTenant('acme').pull('z')).toBe('z');
    await vi.waitFor(() => expect(['x', 'y', 'z'].map(inL1)).toEqual([undefined, undefined, undefined]));
    expect(await b.forTenant('acme').getMany(['x', 'y', 'z'])).toEqual([undefined, undefined, undefined]);
  });
});
