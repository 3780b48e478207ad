import { Controller, Get, Module, Param, Put, Res } from '@nestjs/common';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { InvalidateTags } from '../../lib/decorators/invalidate-tags.decorator.js';
import type { CacheModuleOptions } from '../../lib/options/cache-module-options.interface.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, PLATFORMS, RecordingLogger, type TestApp } from './helpers/app-factory.js';
import { FlakyStore } from './helpers/flaky-store.js';

let runs = 0;

@Controller('r')
class ResilienceController {
  @Get('item/:id')
  @Cached({ tags: (req) => [`item:${req.params.id}`] })
  item(@Param('id') id: string) {
    return { id, n: ++runs };
  }

  @Put('item/:id')
  @InvalidateTags((req) => [`item:${req.params.id}`])
  update(@Param('id') id: string) {
    return { updated: id };
  }

  @Get('raw')
  @Cached()
  raw(@Res() res: { send(body: unknown): void }) {
    res.send({ raw: ++runs });
  }

  @Get('plain')
  plain() {
    return { plain: true };
  }
}

function boot(platform: (typeof PLATFORMS)[number], options: Partial<CacheModuleOptions>): Promise<TestApp> {
  @Module({ imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), ...options })], controllers: [ResilienceController] })
  class ResilienceModule {}
  return createTestApp(platform, { imports: [ResilienceModule] });
}

describe.each(PLATFORMS)('resilience on %s', (platform) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('serves the response when the store fails on get and set; errors are counted and logged once per burst', async () => {
    const store = new FlakyStore();
    store.failGet = true;
    store.failSet = true;
    const logger = new RecordingLogger();
    t = await boot(platform, { store, logger });
    const responses = [];
    for (let i = 0; i < 4; i++) responses.push(await t.http().get('/r/item/1').set('x-tenant-id', 'acme'));
    for (const res of responses) {
      expect(res.status).toBe(200);
      expect(res.body.id).toBe('1');
    }
    expect(store.calls.get).toBeGreaterThanOrEqual(4);
    expect(store.calls.set).toBeGreaterThanOrEqual(4);
    const stats = await t.app.get(CacheManager).stats();
    expect(stats.errors).toBeGreaterThanOrEqual(8);
    expect(logger.warnings.filter((w) => w.includes('Cache get')).length).toBe(1);
    expect(logger.warnings.filter((w) => w.includes('Cache set')).length).toBe(1);
    expect(logger.warnings.join('\n')).not.toContain('acme');

    // The store recovers: the cache works again.
    store.failGet = false;
    store.failSet = false;
    expect((await t.http().get('/r/item/1').set('x-tenant-id', 'acme')).headers['x-cache']).toBe('MISS');
    expect((await t.http().get('/r/item/1').set('x-tenant-id', 'acme')).headers['x-cache']).toBe('HIT');
  });

  it('retries a failed invalidation in the background until it succeeds, and logs and counts the failure', async () => {
    const store = new FlakyStore();
    const logger = new RecordingLogger();
    t = await boot(platform, { store, logger, invalidationRetry: { backoff: 1 } });
    const manager = t.app.get(CacheManager);
    await t.http().get('/r/item/7').set('x-tenant-id', 'acme');
    expect((await t.http().get('/r/item/7').set('x-tenant-id', 'acme')).headers['x-cache']).toBe('HIT');

    store.failInvalidations = 2;
    const errorsBefore = (await manager.stats()).errors;
    const invalidated = store.nextSuccessfulInvalidation();
    const put = await t.http().put('/r/item/7').set('x-tenant-id', 'acme');
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ updated: '7' });
    // The first attempt failed before the response; the entry is still there until a retry succeeds.
    await invalidated;
    expect(store.calls.invalidateTags).toBe(3);
    expect((await t.http().get('/r/item/7').set('x-tenant-id', 'acme')).headers['x-cache']).toBe('MISS');
    expect((await manager.stats()).errors).toBeGreaterThan(errorsBefore);
    expect(logger.warnings.some((w) => w.includes('retried in the background until it is applied'))).toBe(true);
    await logger.waitFor('applied after 3 attempt(s)');
  });

  it('never gives up: 100 failures in a row, then applied, and the route never served the invalidated response meanwhile', async () => {
    const store = new FlakyStore();
    const logger = new RecordingLogger();
    t = await boot(platform, { store, logger, invalidationRetry: { backoff: 1, maxBackoff: 4 } });
    const first = await t.http().get('/r/item/8').set('x-tenant-id', 'acme');
    expect((await t.http().get('/r/item/8').set('x-tenant-id', 'acme')).headers['x-cache']).toBe('HIT');
    store.failInvalidations = 100;
    const invalidated = store.nextSuccessfulInvalidation();
    expect((await t.http().put('/r/item/8').set('x-tenant-id', 'acme')).status).toBe(200);
    let reads = 0;
    const progress = { applied: false };
    void invalidated.then(() => (progress.applied = true));
    while (!progress.applied) {
      const res = await t.http().get('/r/item/8').set('x-tenant-id', 'acme');
      reads++;
      expect(res.body.n).not.toBe(first.body.n);
    }
    console.log(`${platform}: applied at attempt ${store.calls.invalidateTags}; ${reads} reads meanwhile, none served the invalidated response`);
    expect(store.calls.invalidateTags).toBe(101);
    await logger.waitFor('applied after 101 attempt(s)');
    expect([...logger.warnings, ...logger.errors].join('\n')).not.toMatch(/gave up/);
  });

  it('warns at start-up about a @Cached() handler using @Res(), naming it, and bypasses it', async () => {
    const logger = new RecordingLogger();
    t = await boot(platform, { logger });
    expect(logger.warnings.some((w) => w.includes('ResilienceController.raw') && w.includes('@Res()'))).toBe(true);
    const a = await t.http().get('/r/raw').set('x-tenant-id', 'acme');
    const b = await t.http().get('/r/raw').set('x-tenant-id', 'acme');
    expect(a.status).toBe(200);
    expect(a.headers['x-cache']).toBe('BYPASS');
    expect(b.body.raw).toBe(a.body.raw + 1);
  });

  it("rejects a request without a tenant with 400 on cached routes when onMissingTenant is 'reject'", async () => {
    t = await boot(platform, { logger: false, onMissingTenant: 'reject' });
    const cached = await t.http().get('/r/item/1');
    expect(cached.status).toBe(400);
    const invalidating = await t.http().put('/r/item/1');
    expect(invalidating.status).toBe(400);
    const plain = await t.http().get('/r/plain');
    expect(plain.status).toBe(200);
    expect((await t.http().get('/r/item/1').set('x-tenant-id', 'acme')).status).toBe(200);
  });

  it('treats a resolver that throws as no tenant (bypass), logged once per burst', async () => {
    const logger = new RecordingLogger();
    t = await boot(platform, {
      logger,
      tenant: (req) => {
        if (req.headers['x-boom'] !== undefined) throw new Error('resolver exploded');
        return req.headers['x-tenant-id'] as string | undefined;
      },
    });
    for (let i = 0; i < 3; i++) {
      const res = await t.http().get('/r/item/1').set('x-boom', '1').set('x-tenant-id', 'acme');
      expect(res.status).toBe(200);
      expect(res.headers['x-cache']).toBe('BYPASS');
    }
    expect(logger.warnings.filter((w) => w.includes('tenant resolver threw')).length).toBe(1);
    expect((await t.http().get('/r/item/2').set('x-tenant-id', 'acme')).headers['x-cache']).toBe('MISS');
  });

  it('treats an async resolver returning an empty id as no tenant', async () => {
    const logger = new RecordingLogger();
    t = await boot(platform, { logger, tenant: async () => '' });
    const res = await t.http().get('/r/item/1');
    expect(res.status).toBe(200);
    expect(res.headers['x-cache']).toBe('BYPASS');
    expect(logger.warnings.some((w) => w.includes('empty id'))).toBe(true);
  });
});
