import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';

/**
 * A full Redis (maxmemory reached, noeviction) refuses writes, but not invalidations: a tag
 * invalidation or a clear only makes entries unreadable, and must reach every instance even
 * then (review of issue 12: the versioned scripts' first SET was refused, so other instances
 * kept serving invalidated entries until memory freed).
 */
describeWithRedis('invalidation on a full Redis (maxmemory, noeviction)', () => {
  let server: RedisServer | undefined;
  const managers: CacheManager[] = [];
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.close()));
    await server?.stop();
    server = undefined;
  });

  it('invalidateTags and clear are applied, and another instance then misses; a write is still refused', async () => {
    server = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
    const raw = new Redis(server.url);
    try {
      const options = { store: { type: 'redis' as const, url: server.url }, namespace: 'full', logger: false as const, circuitBreaker: false as const };
      const a = await CacheManager.create(options);
      const b = await CacheManager.create(options);
      managers.push(a, b);
      await a.forTenant('acme').set('p1', 'v1', { tags: ['product:1'], ttl: '1h' });
      await a.forTenant('acme').set('p2', 'v2', { ttl: '1h' });
      await a.forTenant('globex').set('p1', 'g1', { tags: ['product:1'], ttl: '1h' });
      expect(await b.forTenant('acme').get('p1')).toBe('v1');

      await raw.config('SET', 'maxmemory', '1'); // full from now on
      const refused = await a.forTenant('acme').set('new', 'x').then(() => 'stored', (err: Error) => err.name);
      const tags = await a.forTenant('acme').invalidateTags(['product:1']).then(() => 'applied', (err: Error) => err.name);
      const afterTags = [await b.forTenant('acme').get('p1'), await b.forTenant('acme').get('p2'), await b.forTenant('globex').get('p1')];
      const clear = await a.forTenant('acme').clear().then(() => 'applied', (err: Error) => err.name);
      const afterClear = await b.forTenant('acme').get('p2');
      console.log(`[full redis] a write: ${refused}; invalidateTags: ${tags} (instance B then reads ${JSON.stringify(afterTags)}); clear: ${clear} (B then reads ${JSON.stringify(afterClear)})`);
      expect(refused).toBe('CacheStoreFullError');
      expect(tags).toBe('applied');
      expect(afterTags).toEqual([undefined, 'v2', 'g1']);
      expect(clear).toBe('applied');
      expect(afterClear).toBeUndefined();
      expect(await b.forTenant('globex').get('p1')).toBe('g1');
    } finally {
      await raw.config('SET', 'maxmemory', '0').catch(() => undefined);
      raw.disconnect();
    }
  });
});
