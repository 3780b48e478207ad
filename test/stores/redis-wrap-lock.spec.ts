import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { KeyScope, storageKey } from '../../lib/keys/storage-key.js';
import { CACHE_CHANNELS } from '../../lib/observability/cache-channels.js';
import { RedisStore } from '../../lib/stores/redis.store.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';

/**
 * Stampede protection across processes: two managers on one Redis stand for two app
 * instances. The one that takes the lock computes; the other waits for its entry.
 */
describeWithRedis('wrap across processes (Redis lock)', () => {
  let server: RedisServer;
  const managers: CacheManager[] = [];
  const instance = async () => {
    const manager = await CacheManager.create({ store: { type: 'redis', url: server.url }, namespace: 'lock-test', logger: false });
    managers.push(manager);
    return manager;
  };

  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.close()));
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** Resolves when any cache starts waiting for a computation in flight. */
  const nextWait = () =>
    new Promise<void>((resolve) => {
      const listener = () => {
        unsubscribe(CACHE_CHANNELS.stampedeWait, listener);
        resolve();
      };
      subscribe(CACHE_CHANNELS.stampedeWait, listener);
    });

  it('runs the factory in one instance; the other waits for its entry', async () => {
    const [a, b] = [await instance(), await instance()];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const factoryA = vi.fn(async () => (await gate, { report: 'from A' }));
    const factoryB = vi.fn(async () => ({ report: 'from B' }));

    const fromA = a.forTenant('acme').wrap('report', factoryA, { ttl: '1m' });
    await vi.waitFor(() => expect(factoryA).toHaveBeenCalledTimes(1)); // A holds the lock
    const waiting = nextWait();
    const fromB = b.forTenant('acme').wrap('report', factoryB, { ttl: '1m' });
    await waiting; // B found the lock taken and waits for A's entry
    release();
    expect(await fromA).toEqual({ report: 'from A' });
    expect(await fromB).toEqual({ report: 'from A' });
    expect(factoryB).not.toHaveBeenCalled();
    // The lock is released once A has stored its value.
    const raw = new RedisStore({ url: server.url, logger: { warn: () => undefined, error: () => undefined } });
    try {
      await vi.waitFor(async () => expect(await raw.acquireLock(storageKey(KeyScope.of('lock-test', 'acme'), 'lock', 'report'), 'probe', 1000)).toBe(true));
    } finally {
      await raw.close();
    }
  });

  it('locks per tenant: two tenants compute at the same time', async () => {
    const [a, b] = [await instance(), await instance()];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const runs: string[] = [];
    const factory = (tenant: string) => async () => {
      runs.push(tenant);
      await gate;
      return tenant;
    };
    // A key no other test wrote (entries of earlier tests are still cached).
    const one = a.forTenant('acme').wrap('per-tenant', factory('acme'));
    const two = b.forTenant('globex').wrap('per-tenant', factory('globex'));
    await vi.waitFor(() => expect(runs.sort()).toEqual(['acme', 'globex']));
    release();
    expect(await Promise.all([one, two])).toEqual(['acme', 'globex']);
  });

  it('when the holder never writes (it died), the waiter computes after lockTtl', async () => {
    const b = await instance();
    // A holder that crashed: the lock is taken and nobody will write the entry.
    const raw = new RedisStore({ url: server.url, logger: { warn: () => undefined, error: () => undefined } });
    try {
      expect(await raw.acquireLock(storageKey(KeyScope.of('lock-test', 'acme'), 'lock', 'orphan'), 'dead-holder', 60_000)).toBe(true);
    } finally {
      await raw.close();
    }
    const factory = vi.fn(async () => 'computed by B');
    expect(await b.forTenant('acme').wrap('orphan', factory, { lockTtl: 150 })).toBe('computed by B');
    expect(factory).toHaveBeenCalledTimes(1);
    expect((await b.stats()).stampedeWaits).toBe(1);
  });

  it('lock: false skips the lock', async () => {
    const b = await instance();
    const raw = new RedisStore({ url: server.url, logger: { warn: () => undefined, error: () => undefined } });
    try {
      expect(await raw.acquireLock(storageKey(KeyScope.of('lock-test', 'acme'), 'lock', 'unlocked'), 'someone', 60_000)).toBe(true); // held by another
    } finally {
      await raw.close();
    }
    const factory = vi.fn(async () => 'now');
    expect(await b.forTenant('acme').wrap('unlocked', factory, { lock: false })).toBe('now');
    expect((await b.stats()).stampedeWaits).toBe(0);
  });

  it('a release never frees another holder: releaseLock only deletes its own token', async () => {
    const store = new RedisStore({ url: server.url, logger: { warn: () => undefined, error: () => undefined } });
    try {
      const key = storageKey(KeyScope.of('lock-test', 'acme'), 'lock', 'mine');
      expect(await store.acquireLock(key, 'token-1', 60_000)).toBe(true);
      expect(await store.acquireLock(key, 'token-2', 60_000)).toBe(false);
      await store.releaseLock(key, 'token-2');
      expect(await store.acquireLock(key, 'token-3', 60_000)).toBe(false);
      await store.releaseLock(key, 'token-1');
      expect(await store.acquireLock(key, 'token-3', 60_000)).toBe(true);
    } finally {
      await store.close();
    }
  });
});
