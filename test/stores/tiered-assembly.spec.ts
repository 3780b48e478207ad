import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { KeyScope, storageKey } from '../../lib/keys/storage-key.js';
import { TieredStore } from '../../lib/stores/tiered.store.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';

/**
 * `store: { type: 'tiered' }` as the cache assembles it: L1 a memory store with the per-tenant
 * share (not behind the breaker: its hits stay synchronous), L2 the Redis store behind the
 * circuit breaker, the cache's logger for both.
 */
describeWithRedis('the tiered store as CacheManager.create() builds it', () => {
  let server: RedisServer;
  const managers: CacheManager[] = [];
  const create = async (options: Parameters<typeof CacheManager.create>[0]): Promise<CacheManager> => {
    const manager = await CacheManager.create({ namespace: `asm-${randomBytes(3).toString('hex')}`, ...options });
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

  it('starts with its bus subscribed, serves wrap() hits from L1 synchronously, and shares entries through Redis', async () => {
    const a = await create({ store: { type: 'tiered', l2: { url: server.url } }, logger: false });
    const b = await create({ namespace: a.namespace, store: { type: 'tiered', l2: { url: server.url } }, logger: false });
    const store = a.store as TieredStore;
    expect(store).toBeInstanceOf(TieredStore);
    expect(store.stats().bus.state).toBe('up');
    const factory = vi.fn(() => 'report');
    expect(await a.forTenant('acme').wrap('daily', factory)).toBe('report');
    expect(store.getSync(storageKey(KeyScope.of(a.namespace, 'acme'), 'entry', 'daily'))?.value).toBe('report');
    expect(await b.forTenant('acme').wrap('daily', factory)).toBe('report');
    expect(factory).toHaveBeenCalledTimes(1);
    expect(await a.health()).toMatchObject({ status: 'up', circuit: 'closed' });
  });

  it("L1 keeps the memory store's per-tenant share (0.25 by default): one tenant writing 200 keys leaves another's 20 in L1", async () => {
    const manager = await create({ store: { type: 'tiered', l1: { maxEntries: 100 }, l2: { url: server.url } }, logger: false });
    const store = manager.store as TieredStore;
    for (let i = 0; i < 20; i++) await manager.forTenant('small').set(`k${i}`, i);
    for (let i = 0; i < 200; i++) await manager.forTenant('busy').set(`k${i}`, i);
    const small = KeyScope.of(manager.namespace, 'small');
    const busy = KeyScope.of(manager.namespace, 'busy');
    expect(store.scopeSize(small)).toBe(20);
    expect(store.scopeSize(busy)).toBe(80);
    expect(store.stats().l1.evictions).toBe(120);
    // Evicted from L1 only: Redis still has them.
    expect(await manager.forTenant('busy').get('k0')).toBe(0);
  });

  it('L2 sits behind the circuit breaker: with Redis killed the circuit opens (health down), L1 hits go on, writes fail fast', async () => {
    const own = await startRedis();
    try {
      const manager = await create({ store: { type: 'tiered', l2: { url: own.url }, bus: { maxStaleness: '10s' } }, logger: false, circuitBreaker: { failureThreshold: 2, cooldown: '1m' } });
      await manager.forTenant('acme').set('hot', 'kept');
      await own.kill();
      const cache = manager.forTenant('acme');
      for (let i = 0; i < 3; i++) await expect(cache.set(`k${i}`, i)).rejects.toBeDefined();
      const health = await manager.health();
      expect(health).toMatchObject({ status: 'down', circuit: 'open' });
      const started = performance.now();
      await expect(cache.set('fast', 1)).rejects.toMatchObject({ code: 'ERR_CIRCUIT_OPEN' });
      expect(performance.now() - started).toBeLessThan(50);
      expect(await cache.get('hot')).toBe('kept');
      expect((manager.store as TieredStore).stats().errors).toBeGreaterThanOrEqual(4);
    } finally {
      await Promise.all(managers.splice(0).map((m) => m.close()));
      await own.stop();
    }
  });
});
