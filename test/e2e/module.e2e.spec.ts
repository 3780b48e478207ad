import { Controller, Get, Inject, Injectable, Module, Scope, UseInterceptors, type ExecutionContext } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { TENANT_ID } from '../../lib/cache.constants.js';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { InjectTenant } from '../../lib/decorators/inject-tenant.decorator.js';
import { CacheClosedError, CacheConfigError } from '../../lib/errors/cache.errors.js';
import { CachedInterceptor } from '../../lib/http/cached.interceptor.js';
import type { CachedRoute } from '../../lib/http/route-registry.js';
import type { CacheModuleOptions, CacheModuleOptionsFactory } from '../../lib/options/cache-module-options.interface.js';
import type { CacheRequest, TenantResolver } from '../../lib/tenant/tenant-resolver.interface.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, PLATFORMS, type TestApp } from './helpers/app-factory.js';

let counter = 0;

@Controller('m')
class ModuleTestController {
  @Get('item')
  @Cached()
  item() {
    return { n: ++counter };
  }
}

const apps: TestApp[] = [];
async function boot(platform: (typeof PLATFORMS)[number], imports: unknown[], controllers: unknown[] = [ModuleTestController]): Promise<TestApp> {
  const t = await createTestApp(platform, { imports: imports as never[], controllers: controllers as never[] });
  apps.push(t);
  return t;
}
afterEach(async () => {
  for (const t of apps.splice(0)) await t.close();
});

/** The error a module fails to boot with. */
async function bootError(imports: unknown[], controllers: unknown[] = []): Promise<unknown> {
  try {
    const moduleRef = await Test.createTestingModule({ imports: imports as never[], controllers: controllers as never[] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    await app.close();
  } catch (err) {
    return err;
  }
  return undefined;
}

@Injectable()
class CacheOptionsService implements CacheModuleOptionsFactory {
  createCacheOptions(): CacheModuleOptions {
    return { tenant: fromHeader('x-org'), logger: false, namespace: 'from-class' };
  }
}

@Module({ providers: [CacheOptionsService], exports: [CacheOptionsService] })
class OptionsModule {}

@Injectable()
class TenantDirectory {
  static instances = 0;
  constructor() {
    TenantDirectory.instances++;
  }
  byKey(key: string | undefined): string | undefined {
    return key === undefined ? undefined : `org-${key}`;
  }
}

@Module({ providers: [TenantDirectory], exports: [TenantDirectory] })
class DirectoryModule {}

@Injectable()
class DirectoryTenantResolver implements TenantResolver {
  static instances = 0;
  constructor(private readonly directory: TenantDirectory) {
    DirectoryTenantResolver.instances++;
  }
  resolve(req: CacheRequest): string | undefined {
    return this.directory.byKey(req.headers['x-key'] as string | undefined);
  }
}

describe.each(PLATFORMS)('CacheModule on %s', (platform) => {
  it('forRootAsync with imports, inject and useFactory (ConfigModule)', async () => {
    const t = await boot(platform, [
      CacheModule.forRootAsync({
        imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ CACHE_NAMESPACE: 'from-config', TENANT_HEADER: 'x-team' })] })],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({ tenant: fromHeader(config.getOrThrow<string>('TENANT_HEADER')), namespace: config.getOrThrow<string>('CACHE_NAMESPACE'), logger: false }),
      }),
    ]);
    expect(t.app.get(CacheManager).namespace).toBe('from-config');
    await t.http().get('/m/item').set('x-team', 'a');
    expect((await t.http().get('/m/item').set('x-team', 'a')).headers['x-cache']).toBe('HIT');
  });

  it('forRootAsync with useClass and with useExisting', async () => {
    const a = await boot(platform, [CacheModule.forRootAsync({ useClass: CacheOptionsService })]);
    expect(a.app.get(CacheManager).namespace).toBe('from-class');
    await a.http().get('/m/item').set('x-org', 'o');
    expect((await a.http().get('/m/item').set('x-org', 'o')).headers['x-cache']).toBe('HIT');

    const b = await boot(platform, [CacheModule.forRootAsync({ imports: [OptionsModule], useExisting: CacheOptionsService })]);
    expect(b.app.get(CacheManager).namespace).toBe('from-class');
  });

  it('isGlobal makes CacheManager injectable in modules that do not import CacheModule', async () => {
    @Injectable()
    class FeatureService {
      constructor(readonly cache: CacheManager) {}
    }
    @Module({ providers: [FeatureService], exports: [FeatureService] })
    class FeatureModule {}

    const t = await boot(platform, [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, isGlobal: true }), FeatureModule]);
    expect(t.app.get(FeatureService).cache).toBe(t.app.get(CacheManager));

    @Injectable()
    class OtherService {
      constructor(readonly cache: CacheManager) {}
    }
    @Module({ providers: [OtherService] })
    class OtherModule {}
    const err = await bootError([CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false }), OtherModule]);
    expect(String(err)).toMatch(/CacheManager/);
  });

  it('gives two apps in one process separate cache state', async () => {
    const options = { tenant: fromHeader('x-tenant-id'), logger: false } as const;
    const one = await boot(platform, [CacheModule.forRoot(options)]);
    const two = await boot(platform, [CacheModule.forRoot(options)]);
    expect(one.app.get(CacheManager)).not.toBe(two.app.get(CacheManager));
    await one.http().get('/m/item').set('x-tenant-id', 'acme');
    expect((await one.http().get('/m/item').set('x-tenant-id', 'acme')).headers['x-cache']).toBe('HIT');
    expect((await two.http().get('/m/item').set('x-tenant-id', 'acme')).headers['x-cache']).toBe('MISS');
  });

  it('keyVersion: a new version stops serving entries written under the old one (same store)', async () => {
    const { MemoryStore } = await import('../../lib/stores/memory.store.js');
    const store = new MemoryStore({ maxEntries: 100 });
    const v1 = await boot(platform, [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, store, keyVersion: 'v1' })]);
    const v1b = await boot(platform, [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, store, keyVersion: 'v1' })]);
    const v2 = await boot(platform, [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, store, keyVersion: 'v2' })]);
    await v1.http().get('/m/item').set('x-tenant-id', 'acme');
    expect((await v1b.http().get('/m/item').set('x-tenant-id', 'acme')).headers['x-cache']).toBe('HIT');
    expect((await v2.http().get('/m/item').set('x-tenant-id', 'acme')).headers['x-cache']).toBe('MISS');
  });

  it('a TenantResolver class gets its dependencies and is instantiated once', async () => {
    const before = DirectoryTenantResolver.instances;
    const t = await boot(platform, [CacheModule.forRootAsync({ imports: [DirectoryModule], useFactory: () => ({ tenant: DirectoryTenantResolver, logger: false }) })]);
    expect(DirectoryTenantResolver.instances).toBe(before + 1);
    await t.http().get('/m/item').set('x-key', 'k');
    const hit = await t.http().get('/m/item').set('x-key', 'k');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect((await t.http().get('/m/item')).headers['x-cache']).toBe('BYPASS');
    expect(DirectoryTenantResolver.instances).toBe(before + 1);
    expect(await t.app.get(CacheManager).forTenant('org-k').stats()).toMatchObject({ tenant: 'org-k', puts: 1, hits: 1 });
  });

  it('TENANT_ID and @InjectTenant() give the tenant to request-scoped consumers', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class TenantAware {
      constructor(@Inject(TENANT_ID) readonly tenant: string | undefined) {}
    }
    @Controller('tenant')
    class TenantController {
      constructor(
        @InjectTenant() private readonly tenant: string | undefined,
        private readonly aware: TenantAware,
      ) {}
      @Get()
      get() {
        return { controller: this.tenant ?? null, service: this.aware.tenant ?? null };
      }
    }
    @Module({ imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false })], controllers: [TenantController], providers: [TenantAware] })
    class TenantAppModule {}
    const t = await boot(platform, [TenantAppModule], []);
    expect((await t.http().get('/tenant').set('x-tenant-id', 'acme')).body).toEqual({ controller: 'acme', service: 'acme' });
    expect((await t.http().get('/tenant').set('x-tenant-id', 'globex')).body).toEqual({ controller: 'globex', service: 'globex' });
    expect((await t.http().get('/tenant')).body).toEqual({ controller: null, service: null });
  });

  it('a subclass of CachedInterceptor given as `interceptor` replaces the global one', async () => {
    class SkippingInterceptor extends CachedInterceptor {
      protected override isRequestCacheable(context: ExecutionContext, route: CachedRoute): boolean {
        return context.switchToHttp().getRequest<CacheRequest>().headers['x-skip'] === undefined && super.isRequestCacheable(context, route);
      }
    }
    const t = await boot(platform, [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, interceptor: SkippingInterceptor })]);
    expect((await t.http().get('/m/item').set('x-tenant-id', 'a').set('x-skip', '1')).headers['x-cache']).toBe('BYPASS');
    await t.http().get('/m/item').set('x-tenant-id', 'a');
    expect((await t.http().get('/m/item').set('x-tenant-id', 'a')).headers['x-cache']).toBe('HIT');
  });

  it('interceptor: false registers none; @UseInterceptors(CachedInterceptor) still works', async () => {
    @Controller('manual')
    @UseInterceptors(CachedInterceptor)
    class ManualController {
      @Get()
      @Cached()
      get() {
        return { n: ++counter };
      }
    }
    const t = await boot(platform, [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, interceptor: false })], [ModuleTestController, ManualController]);
    expect((await t.http().get('/m/item').set('x-tenant-id', 'a')).headers['x-cache']).toBeUndefined();
    await t.http().get('/manual').set('x-tenant-id', 'a');
    expect((await t.http().get('/manual').set('x-tenant-id', 'a')).headers['x-cache']).toBe('HIT');
  });
});

describe('CacheModule start-up and shutdown', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['a missing tenant strategy', {}, 'tenant'],
    ['an unknown option', { tenant: fromHeader('x'), tenantt: 1 }, 'tenantt'],
    ['a bad onMissingTenant', { tenant: fromHeader('x'), onMissingTenant: 'drop' }, 'onMissingTenant'],
    ['a bad keyVersion', { tenant: fromHeader('x'), keyVersion: '' }, 'keyVersion'],
    ['a bad vary', { tenant: fromHeader('x'), vary: ['ok', 'not a header'] }, 'vary'],
    ['bad cacheableHeaders', { tenant: fromHeader('x'), cacheableHeaders: 'x-*' }, 'cacheableHeaders'],
    ['a bad defaultTtl', { tenant: fromHeader('x'), defaultTtl: '5 parsecs' }, 'defaultTtl'],
    ['a bad namespace', { tenant: fromHeader('x'), namespace: 'a:b' }, 'namespace'],
    ['a bad invalidation bound', { tenant: fromHeader('x'), invalidationRetry: { maxPending: -1 } }, 'invalidationRetry.maxPending'],
    ['a bad store type', { tenant: fromHeader('x'), store: { type: 'memcached' } }, 'store.type'],
  ])('fails the boot on %s with a CacheConfigError naming the option', async (_what, options, option) => {
    const err = await bootError([CacheModule.forRoot(options as unknown as CacheModuleOptions)]);
    expect(err).toBeInstanceOf(CacheConfigError);
    expect((err as CacheConfigError).option).toBe(option);
    expect((err as Error).message).toContain('Fix:');
  });

  it('fails the boot on bad @Cached() options, naming the route', async () => {
    @Controller('bad')
    class BadController {
      @Get()
      // @ts-expect-error -- not a Duration: the type rejects it, and so does start-up
      @Cached({ ttl: 'soon' })
      get() {
        return 1;
      }
    }
    const err = await bootError([CacheModule.forRoot({ tenant: fromHeader('x'), logger: false })], [BadController]);
    expect(err).toBeInstanceOf(CacheConfigError);
    expect((err as CacheConfigError).option).toBe('@Cached() on BadController.get: ttl');

    @Controller('bad2')
    class BadScopeController {
      @Get()
      @Cached({ scope: 'team' as never })
      get() {
        return 1;
      }
    }
    const err2 = await bootError([CacheModule.forRoot({ tenant: fromHeader('x'), logger: false })], [BadScopeController]);
    expect((err2 as CacheConfigError).option).toBe('@Cached() on BadScopeController.get: scope');
  });

  it('does not mutate the options object it is given, and applies it', async () => {
    const tenant = fromHeader('x-tenant-id');
    const vary = ['X-A'];
    const options = { tenant, logger: false as const, vary, defaultTtl: '1m' as const };
    const t = await boot('express', [CacheModule.forRoot(options)]);
    expect(options).toStrictEqual({ tenant, logger: false, vary: ['X-A'], defaultTtl: '1m' });
    expect(options.vary).toBe(vary);
    // X-A (normalised to x-a) is part of the key.
    await t.http().get('/m/item').set('x-tenant-id', 'acme').set('x-a', '1');
    expect((await t.http().get('/m/item').set('x-tenant-id', 'acme').set('x-a', '2')).headers['x-cache']).toBe('MISS');
    expect((await t.http().get('/m/item').set('x-tenant-id', 'acme').set('x-a', '1')).headers['x-cache']).toBe('HIT');
    // A frozen one boots too (a write to it would throw).
    await boot('express', [CacheModule.forRoot(Object.freeze({ tenant, logger: false as const, vary: Object.freeze(['X-A']) }))]);
  });

  it('closes the manager on shutdown; closing twice is fine', async () => {
    const t = await createTestApp('express', { imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false })] });
    const manager = t.app.get(CacheManager);
    await manager.forTenant('acme').set('k', 1);
    await t.app.close();
    await t.app.close();
    expect((await manager.health()).ok).toBe(false);
    await expect(manager.forTenant('acme').get('k')).rejects.toBeInstanceOf(CacheClosedError);
  });
});
