import { Module } from '@nestjs/common';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import type { TieredStore } from '../../lib/stores/tiered.store.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { createTestApp, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX } from './helpers/fast-path-probe.js';
import { AppModule } from './fixtures/tiered/app.module.js';
import { ProductsController } from './fixtures/tiered/products.controller.js';

/** The README's app with the fast path off: the same store, hits served by the interceptor. */
function fastPathOff(url: string): typeof AppModule {
  @Module({
    imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store: { type: 'tiered', l1: { maxEntries: 10_000 }, l2: { url } }, defaultTtl: '5m', fastPath: false, isGlobal: true })],
    controllers: [ProductsController],
  })
  class FastPathOffModule {}
  return FastPathOffModule;
}

/**
 * README "Several instances: the tiered store" as written (fixtures/tiered/, checked verbatim by
 * test/package/readme-snippets.spec.ts): two apps, each with its own L1, on one Redis. A route
 * cached in app A and invalidated through `@InvalidateTags()` in app B is a MISS in A on the
 * next request: B's invalidation reached A's L1 over the bus.
 */
describeWithRedis('two apps with tiered stores on one Redis', () => {
  let server: RedisServer;
  let apps: TestApp[] = [];

  beforeAll(async () => {
    server = await startRedis();
    vi.stubEnv('REDIS_URL', server.url);
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await server?.stop();
  });

  describe.each(FAST_PATH_MATRIX)('on %s, fast path %s', (platform, mode) => {
    it('a route cached in A, invalidated through @InvalidateTags in B, is a MISS in A on the next request', async () => {
      const module = mode === 'on' ? AppModule : fastPathOff(server.url);
      apps = await Promise.all([createTestApp(platform, { imports: [module] }), createTestApp(platform, { imports: [module] })]);
      const [a, b] = apps as [TestApp, TestApp];
      const id = `${platform}-${mode}`;
      const get = (app: TestApp) => app.http().get(`/products/${id}`).set('x-tenant-id', 'acme');
      expect((await get(a)).headers['x-cache']).toBe('MISS');
      expect((await get(a)).headers['x-cache']).toBe('HIT');
      // B has it from Redis (its own L1 was empty), and then from its L1.
      expect((await get(b)).headers['x-cache']).toBe('HIT');
      expect((await b.http().put(`/products/${id}`).set('x-tenant-id', 'acme')).status).toBe(200);
      // The bus is asynchronous (p99 a few ms; bounded by maxStaleness): A has applied B's message once it arrived.
      const store = a.app.get(CacheManager).store as TieredStore;
      await vi.waitFor(() => expect(store.stats().bus.applied).toBe(1), { timeout: 1_000, interval: 2 });
      const next = await get(a);
      expect(next.headers['x-cache']).toBe('MISS');
      expect((await get(a)).headers['x-cache']).toBe('HIT');
      expect(store.stats().bus).toMatchObject({ state: 'up', applied: 1 });
    });
  });
});
