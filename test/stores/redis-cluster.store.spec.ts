import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { GLOBAL_SCOPE, KeyScope, storageKey, userKeyOf, type StorageKey, type TenantRef } from '../../lib/keys/storage-key.js';
import { RedisStore } from '../../lib/stores/redis.store.js';
import { clusterSlot } from '../../lib/stores/redis/cluster-slot.js';
import { describeWithRedis, startRedisCluster, type RedisClusterHandle } from '../helpers/redis-server.js';
import { describeStoreConformance } from '../helpers/store-conformance.js';

const quietLogger = { warn: vi.fn(), error: vi.fn() };

function envelope<T>(key: StorageKey, value: T, tags?: string[]): Envelope<T> {
  return { value, createdAt: Date.now(), expiresAt: 0, stamp: newStamp(), scope: key.scope.id, ...(tags ? { tags } : {}) };
}

describeWithRedis(
  'RedisStore on a 3-primary Redis Cluster',
  () => {
    let cluster: RedisClusterHandle;
    let raw: Cluster;

    const flushAll = async (): Promise<void> => {
      await Promise.all(raw.nodes('master').map((node) => node.flushdb()));
    };

    beforeAll(async () => {
      cluster = await startRedisCluster(3);
      raw = new Cluster([...cluster.startupNodes]);
      await raw.ping();
    });
    afterAll(async () => {
      raw?.disconnect();
      await cluster?.stop();
    });

    describeStoreConformance('redis cluster', async () => {
      const store = new RedisStore({ cluster: { nodes: [...cluster.startupNodes] }, logger: quietLogger });
      return { store, flush: flushAll, teardown: () => store.close() };
    });

    describe('Cluster specifics', () => {
      let store: RedisStore;
      beforeAll(() => {
        store = new RedisStore({ cluster: { nodes: [...cluster.startupNodes] }, logger: quietLogger });
      });
      afterAll(async () => {
        await store?.close();
        await flushAll();
      });

      /** Which primary holds the slot of a key (by its port). */
      const ownerPort = async (fullKey: string): Promise<number> => {
        const slot = Number(await raw.call('CLUSTER', 'KEYSLOT', fullKey));
        const slots = (await raw.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
        const range = slots.find(([from, to]) => slot >= from && slot <= to)!;
        return Number(range[2][1]);
      };

      it('knows each scope\'s slot as Redis does (CLUSTER KEYSLOT), so it knows the node before sending', async () => {
        const keys = [...Array.from({ length: 100 }, (_, i) => storageKey(KeyScope.of('slot', `tenant-${i}-é漢`), 'entry', `k${i}`).full), 'plain', '{}x', 'a{b}c', 'a{{b}}', 'é{ü}'];
        for (const key of keys) expect(clusterSlot(key), key).toBe(Number(await raw.call('CLUSTER', 'KEYSLOT', key)));
        const scope = KeyScope.of('slot', 'acme');
        await store.get(storageKey(scope, 'entry', 'k')); // connected: the slot map is known
        expect(store.routeOf(scope)).toBe(`127.0.0.1:${await ownerPort(storageKey(scope, 'entry', 'k').full)}`);
      });

      it('concurrent gets of 40 tenants spread over all primaries each get their own entry (one MGET per tenant, no CROSSSLOT)', async () => {
        const tenants = Array.from({ length: 40 }, (_, i) => `mget-${i}`);
        const keys = tenants.flatMap((tenant) => ['a', 'b', 'c'].map((k) => storageKey(KeyScope.of('mget', tenant), 'entry', k)));
        for (const key of keys) await store.set(key, envelope(key, key.full), 60_000);
        const ports = new Set(await Promise.all(tenants.map((t) => ownerPort(storageKey(KeyScope.of('mget', t), 'entry', 'a').full))));
        expect(ports.size).toBe(3);
        const results = await Promise.all(keys.map((key) => store.get(key)));
        expect(results.map((r) => r?.value)).toEqual(keys.map((k) => k.full));
        expect(store.stats().errors).toBe(0);
      });

      it('purgeScope removes one tenant\'s keys wherever its slot lives, and no other tenant\'s; clearScope makes them misses', async () => {
        const ns = 'spread';
        const tenants: TenantRef[] = [...Array.from({ length: 40 }, (_, i) => `tenant-${i}`), GLOBAL_SCOPE];
        const keysOf = new Map<TenantRef, StorageKey[]>();
        const portOf = new Map<TenantRef, number>();
        for (const tenant of tenants) {
          const scope = KeyScope.of(ns, tenant);
          const keys = ['a', 'b', 'c', '*'].map((k) => storageKey(scope, 'entry', k));
          keysOf.set(tenant, keys);
          for (const key of keys) await store.set(key, envelope(key, key.full, ['t']), 60_000);
          portOf.set(tenant, await ownerPort(keys[0]!.full));
        }
        // The tenants really are spread over all three primaries.
        expect(new Set(portOf.values()).size).toBe(3);

        // Clear one tenant from each primary (and the global scope), then check everyone.
        const byPort = new Map<number, TenantRef>();
        for (const [tenant, port] of portOf) if (!byPort.has(port) && tenant !== GLOBAL_SCOPE) byPort.set(port, tenant);
        const victims = new Set<TenantRef>([...byPort.values(), GLOBAL_SCOPE]);
        for (const victim of victims) {
          // 4 entries + 1 tag version (clock and epoch stay, as a tombstone).
          expect(await store.purgeScope(KeyScope.of(ns, victim))).toBe(5);
        }
        for (const tenant of tenants) {
          for (const key of keysOf.get(tenant)!) {
            const exists = await raw.exists(key.full);
            expect(exists, `${String(tenant)} ${victims.has(tenant) ? 'purged' : 'kept'}`).toBe(victims.has(tenant) ? 0 : 1);
          }
        }
        // A clear of one tenant on each primary: its entries stay but read as misses; nobody else's.
        const cleared = new Set<TenantRef>(tenants.filter((t) => !victims.has(t)).slice(0, 6));
        for (const tenant of cleared) await store.clearScope(KeyScope.of(ns, tenant));
        for (const tenant of tenants) {
          if (victims.has(tenant)) continue;
          for (const key of keysOf.get(tenant)!) {
            const got = await store.get(key);
            if (cleared.has(tenant)) expect(got, String(tenant)).toBeUndefined();
            else expect(got?.value, String(tenant)).toBe(key.full);
          }
        }
      });

      it('invalidates tags of several tenants (several slots) in one call, each tenant\'s own entries only', async () => {
        const ns = 'tags';
        const tenants = Array.from({ length: 12 }, (_, i) => `t${i}`);
        const tagged: StorageKey[] = [];
        const untouched: StorageKey[] = [];
        for (const tenant of tenants) {
          const scope = KeyScope.of(ns, tenant);
          for (const k of ['1', '2']) {
            const key = storageKey(scope, 'entry', k);
            await store.set(key, envelope(key, k, ['x', 'shared']), 60_000);
            tagged.push(key);
          }
          const other = storageKey(scope, 'entry', 'other');
          await store.set(other, envelope(other, 'o', ['y']), 60_000);
          untouched.push(other);
        }
        const ports = new Set(await Promise.all(tagged.map((k) => ownerPort(k.full))));
        expect(ports.size).toBeGreaterThan(1);

        const half = tenants.slice(0, 6);
        await store.invalidateTags(half.flatMap((t) => [storageKey(KeyScope.of(ns, t), 'tag', 'x'), storageKey(KeyScope.of(ns, t), 'tag', 'shared')]));
        for (const key of tagged) {
          const invalidated = half.includes(key.scope.tenant!);
          const got = await store.get(key);
          if (invalidated) expect(got).toBeUndefined();
          else expect(got?.value).toBe(userKeyOf(key));
        }
        for (const key of untouched) expect((await store.get(key))?.value).toBe('o');
      });

      it('invalidation and purgeScope honour a keyPrefix on the cluster', async () => {
        const prefixed = new RedisStore({ cluster: { nodes: [...cluster.startupNodes], options: { keyPrefix: 'cp:' } }, logger: quietLogger });
        try {
          const scopes = Array.from({ length: 9 }, (_, i) => KeyScope.of('prefixed', `t${i}`));
          for (const scope of scopes) {
            const key = storageKey(scope, 'entry', 'k');
            const tagged = storageKey(scope, 'entry', 'tagged');
            await prefixed.set(key, envelope(key, 1), 60_000);
            await prefixed.set(tagged, envelope(tagged, 1, ['x', 'y']), 60_000);
            await store.set(key, envelope(key, 2), 60_000);
            expect(await raw.exists(`cp:${key.full}`)).toBe(1);
            expect(await raw.exists(`cp:${storageKey(scope, 'tag', 'y').full}`)).toBe(1);
          }
          // Tag versions are prefixed too: invalidating them reaches the prefixed entries, not the others.
          await prefixed.invalidateTags(scopes.slice(0, 3).flatMap((scope) => [storageKey(scope, 'tag', 'x'), storageKey(scope, 'tag', 'y')]));
          for (const [i, scope] of scopes.entries()) {
            const tagged = storageKey(scope, 'entry', 'tagged');
            if (i < 3) expect(await prefixed.get(tagged)).toBeUndefined();
            else expect((await prefixed.get(tagged))?.value).toBe(1);
          }
          // Per scope: the entries 'k' and 'tagged' and the versions of x and y.
          for (const scope of scopes) expect(await prefixed.purgeScope(scope)).toBe(4);
          for (const scope of scopes) {
            const key = storageKey(scope, 'entry', 'k');
            expect(await raw.exists(`cp:${key.full}`)).toBe(0);
            expect((await store.get(key))?.value).toBe(2);
          }
        } finally {
          await prefixed.close();
        }
      });
    });
  },
  { needsCli: true },
);
