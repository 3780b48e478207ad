import { Injectable, Module, type Type } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import type { CacheModuleOptions } from '../../lib/options/cache-module-options.interface.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { createTestApp, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX } from './helpers/fast-path-probe.js';
import { AppModule } from './fixtures/migration/app.module.js';
import { CacheConfigService } from './fixtures/migration/cache-config.service.js';
import { clearCache } from './fixtures/migration/clear-cache.js';
import { ItemsController } from './fixtures/migration/items.controller.js';

/**
 * README "Migrating from @nestjs/cache-manager" works as written: its code blocks are the files
 * of fixtures/migration/ (test/package/readme-snippets.spec.ts checks they are the same text;
 * `npm run typecheck` compiles them), and this file runs them. With the fast path on, the app is
 * `AppModule` as written; with it off, the same pieces with `fastPath: false`.
 */
@Injectable()
class FastPathOffConfig extends CacheConfigService {
  override createCacheOptions(): CacheModuleOptions {
    return { ...super.createCacheOptions(), fastPath: false };
  }
}

@Module({
  imports: [CacheModule.forRootAsync({ imports: [ConfigModule.forRoot()], useClass: FastPathOffConfig, isGlobal: true })],
  controllers: [ItemsController],
})
class FastPathOffModule {}

/** The guide's pieces on one shared store, under a given keyVersion. */
function onSharedStore(store: MemoryStore, keyVersion: string, fastPath: boolean): Type {
  @Injectable()
  class SharedStoreConfig extends CacheConfigService {
    override createCacheOptions(): CacheModuleOptions {
      return { ...super.createCacheOptions(), store, keyVersion, fastPath };
    }
  }
  @Module({
    imports: [CacheModule.forRootAsync({ imports: [ConfigModule.forRoot()], useClass: SharedStoreConfig })],
    controllers: [ItemsController],
  })
  class SharedStoreModule {}
  return SharedStoreModule;
}

describe.each(FAST_PATH_MATRIX)('the migration guide on %s, fast path %s', (platform, mode) => {
  let t: TestApp;
  beforeAll(() => {
    // The guide's CacheConfigService picks Redis when REDIS_URL is set: these tests run it on memory.
    vi.stubEnv('REDIS_URL', undefined);
    return () => vi.unstubAllEnvs();
  });
  afterEach(() => t?.close());
  const boot = async () => (t = await createTestApp(platform, { imports: [mode === 'on' ? AppModule : FastPathOffModule] }));
  const get = (path: string, tenant: string) => t.http().get(path).set('x-tenant-id', tenant);

  it(`@Cached({ key: 'featured-items', keyOnly: true }), the @CacheKey('featured-items') equivalent: one entry per tenant whatever the query, as @nestjs/cache-manager's (${platform}, fastPath ${mode})`, async () => {
    await boot();
    const one = await get('/items/featured?page=1', 'acme');
    const two = await get('/items/featured?page=2', 'acme');
    const globex = await get('/items/featured?page=2', 'globex');
    const globexAgain = await get('/items/featured?page=1', 'globex');
    console.log(
      `[migration] ${platform}/${mode} @CacheKey: acme ?page=1 ${one.headers['x-cache']} ${JSON.stringify(one.body)}, ?page=2 ${two.headers['x-cache']} ${JSON.stringify(two.body)}; ` +
        `globex ?page=2 ${globex.headers['x-cache']} ${JSON.stringify(globex.body)}, ?page=1 ${globexAgain.headers['x-cache']}`,
    );
    expect(one.headers['x-cache']).toBe('MISS');
    expect(two.headers['x-cache']).toBe('HIT');
    expect(two.body).toEqual(one.body);
    // The key replaces the request part only: another tenant never gets acme's entry.
    expect(globex.headers['x-cache']).toBe('MISS');
    expect(globex.body).toEqual({ page: '2', run: one.body.run + 1 });
    expect(globexAgain.headers['x-cache']).toBe('HIT');
    expect(globexAgain.body).toEqual(globex.body);
    // No tenant, no cache: the whole key never becomes a namespace shared by requests without one.
    expect((await t.http().get('/items/featured?page=3')).headers['x-cache']).toBe('BYPASS');
  });

  it(`@CacheKey() entries follow keyVersion: a new version on the same store stops serving them (${platform}, fastPath ${mode})`, async () => {
    const store = new MemoryStore({ maxEntries: 100 });
    const apps = [
      await createTestApp(platform, { imports: [onSharedStore(store, 'v1', mode === 'on')] }),
      await createTestApp(platform, { imports: [onSharedStore(store, 'v1', mode === 'on')] }),
      await createTestApp(platform, { imports: [onSharedStore(store, 'v2', mode === 'on')] }),
    ];
    try {
      const [v1, v1b, v2] = apps.map((app) => (path: string) => app.http().get(path).set('x-tenant-id', 'acme'));
      const first = await v1!('/items/featured?page=1');
      const same = await v1b!('/items/featured?page=2');
      const next = await v2!('/items/featured?page=1');
      console.log(`[migration] ${platform}/${mode} @CacheKey on one store: v1 ${first.headers['x-cache']}, another v1 app ${same.headers['x-cache']}, a v2 app ${next.headers['x-cache']}`);
      expect([first.headers['x-cache'], same.headers['x-cache'], next.headers['x-cache']]).toEqual(['MISS', 'HIT', 'MISS']);
    } finally {
      for (const app of apps) await app.close();
    }
  });

  it(`@Cached({ key: 'items' }) is an extra key part: ?page=1 and ?page=2 stay two entries (${platform}, fastPath ${mode})`, async () => {
    await boot();
    const one = await get('/items?page=1', 'acme');
    const two = await get('/items?page=2', 'acme');
    const oneAgain = await get('/items?page=1', 'acme');
    console.log(`[migration] ${platform}/${mode} @Cached({ key: 'items' }): ?page=1 ${one.headers['x-cache']}, ?page=2 ${two.headers['x-cache']} ${JSON.stringify(two.body)}, ?page=1 again ${oneAgain.headers['x-cache']}`);
    expect([one.headers['x-cache'], two.headers['x-cache'], oneAgain.headers['x-cache']]).toEqual(['MISS', 'MISS', 'HIT']);
    expect(two.body).toEqual({ page: '2', run: one.body.run + 1 });
    expect(oneAgain.body).toEqual(one.body);
  });

  it(`class-level @Cached() caches every GET handler of the class; @NoCache() opts one out (${platform}, fastPath ${mode})`, async () => {
    await boot();
    const a = await get('/items/live', 'acme');
    const b = await get('/items/live', 'acme');
    console.log(`[migration] ${platform}/${mode} @NoCache(): X-Cache ${String(a.headers['x-cache'])}, ${String(b.headers['x-cache'])}; runs ${a.body.run}, ${b.body.run}`);
    expect(a.headers['x-cache']).toBeUndefined();
    expect(b.body.run).toBe(a.body.run + 1);
  });

  it(`clearCache(app, tenant) outside a request empties that tenant only; without a tenant, the global scope (${platform}, fastPath ${mode})`, async () => {
    await boot();
    await get('/items?page=1', 'acme');
    await get('/items?page=1', 'globex');
    // clear() resolves nothing (the store makes the tenant's entries unreadable at once, whatever their number).
    await clearCache(t.app, 'acme');
    const acme = await get('/items?page=1', 'acme');
    const globex = await get('/items?page=1', 'globex');
    await clearCache(t.app);
    console.log(`[migration] ${platform}/${mode} clearCache(app, 'acme'): then acme ${acme.headers['x-cache']}, globex ${globex.headers['x-cache']}; clearCache(app) leaves globex cached`);
    expect(acme.headers['x-cache']).toBe('MISS');
    expect(globex.headers['x-cache']).toBe('HIT');
    expect((await get('/items?page=1', 'globex')).headers['x-cache']).toBe('HIT');
  });
});
