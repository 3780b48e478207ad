import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';

/**
 * Issue 12, point 5: a value computed before an invalidation of its tag or tenant never becomes
 * readable after it, whichever process invalidates. Each case invalidates while the factory runs
 * (after it read its data, before its write), then reads: a miss, and the next wrap computes again.
 */
type Invalidate = (manager: CacheManager) => Promise<void>;
const CASES: Array<[string, Invalidate]> = [
  ['its tag', (m) => m.forTenant('acme').invalidateTags(['product:1'])],
  ['its tenant (clear)', (m) => m.forTenant('acme').clear()],
];

async function raceOnce(computer: CacheManager, invalidator: CacheManager, invalidate: Invalidate): Promise<{ served: unknown; after: unknown; next: unknown }> {
  const cache = computer.forTenant('acme');
  const served = await cache.wrap(
    'product:1',
    async () => {
      const read = 'v1'; // what the factory read from its source...
      await invalidate(invalidator); // ...which then changed, and was invalidated
      return read;
    },
    { ttl: '1h', tags: ['product:1'] },
  );
  const after = await cache.get('product:1');
  const next = await cache.wrap('product:1', async () => 'v2', { ttl: '1h', tags: ['product:1'] });
  return { served, after, next };
}

function check(label: string, r: { served: unknown; after: unknown; next: unknown }): void {
  console.log(`[no-resurrection] ${label}: the caller got ${JSON.stringify(r.served)}; read after: ${JSON.stringify(r.after)}; next wrap: ${JSON.stringify(r.next)}`);
  expect(r.served).toBe('v1'); // the caller still gets what was computed
  expect(r.after).toBeUndefined(); // but it was not stored
  expect(r.next).toBe('v2');
}

describe('no resurrection: memory store', () => {
  for (const [what, invalidate] of CASES) {
    it(`a computation that ran across an invalidation of ${what} is served, not stored`, async () => {
      const manager = CacheManager.createSync({ logger: false });
      try {
        check(`memory, ${what}`, await raceOnce(manager, manager, invalidate));
        // Other tenants and tags are untouched by the invalidation.
      } finally {
        await manager.close();
      }
    });
  }
});

describeWithRedis('no resurrection: Redis, the invalidation from another process', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });
  for (const [what, invalidate] of CASES) {
    it(`a computation in manager A that ran across manager B's invalidation of ${what} is served, not stored, in either`, async () => {
      const a = await CacheManager.create({ store: { type: 'redis', url: server.url }, namespace: `nr-${what.length}`, logger: false });
      const b = await CacheManager.create({ store: { type: 'redis', url: server.url }, namespace: `nr-${what.length}`, logger: false });
      try {
        await b.forTenant('globex').set('product:1', 'globex', { tags: ['product:1'] });
        check(`redis, ${what}`, await raceOnce(a, b, invalidate));
        expect(await b.forTenant('acme').get('product:1')).toBe('v2');
        expect(await b.forTenant('globex').get('product:1')).toBe('globex');
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  }
});
