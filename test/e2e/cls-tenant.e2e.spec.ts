import { Controller, Get, Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import * as cls7 from 'nestjs-cls';
import * as cls6 from 'nestjs-cls-6';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { CacheResult } from '../../lib/decorators/cache-result.decorator.js';
import { CacheConfigError } from '../../lib/errors/cache.errors.js';
import { fromCls } from '../../lib/tenant/cls-tenant.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, PLATFORMS, type TestApp } from './helpers/app-factory.js';

@Injectable()
class PricesService {
  runs = 0;

  constructor(private readonly cache: CacheManager) {}

  @CacheResult({ key: 'price:{0}' })
  async price(id: string): Promise<{ id: string; tenant: string | undefined; run: number }> {
    return { id, tenant: this.cache.currentTenantId(), run: ++this.runs };
  }
}

@Controller('cls')
class ClsController {
  runs = 0;

  constructor(
    private readonly prices: PricesService,
    private readonly cache: CacheManager,
  ) {}

  @Get('route')
  @Cached()
  route() {
    return { tenant: this.cache.current().tenantId, run: ++this.runs };
  }

  @Get('method')
  async method() {
    return { price: await this.prices.price('p1'), current: this.cache.current().tenantId, mode: this.cache.context.mode };
  }
}

/**
 * Both majors the peer range admits: 6.3 (what npm installs on Node 20; 7 needs Node 22) and 7.
 * The library never imports nestjs-cls: it finds the app's ClsService in the container.
 */
const CLS_MAJORS = [
  ['nestjs-cls 7', cls7.ClsModule],
  ['nestjs-cls 6', cls6.ClsModule as unknown as typeof cls7.ClsModule],
] as const;

/** nestjs-cls fills its context from the header in its middleware: the tenant never comes from the request here. */
function clsModuleOf(ClsModule: typeof cls7.ClsModule) {
  return ClsModule.forRoot({ global: true, middleware: { mount: true, setup: (cls: cls7.ClsService, req: { headers: Record<string, string | undefined> }) => cls.set('tenantId', req.headers['x-org']) } });
}

function clsAppModule(ClsModule: typeof cls7.ClsModule) {
  @Module({ imports: [clsModuleOf(ClsModule), CacheModule.forRoot({ tenant: fromCls('tenantId'), store: { type: 'memory', maxEntries: 1_000 }, logger: false })], controllers: [ClsController], providers: [PricesService] })
  class ClsAppModule {}
  return ClsAppModule;
}

let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const CASES = PLATFORMS.flatMap((platform) => CLS_MAJORS.map(([major, ClsModule]) => [platform, major, ClsModule] as const));

describe.each(CASES)('tenants from nestjs-cls (%s, %s)', (platform, _major, ClsModule) => {
  it('a tenant set in CLS middleware reaches @Cached(), a cached method and current(), with no AsyncLocalStorage of ours', async () => {
    app = await createTestApp(platform, { imports: [clsAppModule(ClsModule)] });
    const acme1 = await app.http().get('/cls/route').set('x-org', 'acme');
    const acme2 = await app.http().get('/cls/route').set('x-org', 'acme');
    const globex = await app.http().get('/cls/route').set('x-org', 'globex');
    expect([acme1.headers['x-cache'], acme2.headers['x-cache'], globex.headers['x-cache']]).toEqual(['MISS', 'HIT', 'MISS']);
    expect(acme2.body).toEqual({ tenant: 'acme', run: 1 });
    expect(globex.body).toEqual({ tenant: 'globex', run: 2 });

    const m1 = await app.http().get('/cls/method').set('x-org', 'acme');
    const m2 = await app.http().get('/cls/method').set('x-org', 'acme');
    const m3 = await app.http().get('/cls/method').set('x-org', 'globex');
    expect(m1.body).toEqual({ price: { id: 'p1', tenant: 'acme', run: 1 }, current: 'acme', mode: 'nestjs-cls' });
    expect(m2.body.price).toEqual({ id: 'p1', tenant: 'acme', run: 1 });
    expect(m3.body.price).toEqual({ id: 'p1', tenant: 'globex', run: 2 });
    const manager = app.app.get(CacheManager);
    expect(await manager.forTenant('acme').get('price:p1')).toEqual({ id: 'p1', tenant: 'acme', run: 1 });
    // Outside a request, runWithTenant opens a CLS context (CLS's own storage) for the tenant.
    expect(await manager.runWithTenant('initech', () => app!.app.get(PricesService).price('p1'))).toEqual({ id: 'p1', tenant: 'initech', run: 3 });
  });

  it('with another strategy, an app using nestjs-cls keeps the tenant context in CLS too', async () => {
    @Module({ imports: [clsModuleOf(ClsModule), CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store: { type: 'memory', maxEntries: 1_000 }, logger: false })], controllers: [ClsController], providers: [PricesService] })
    class HeaderAppModule {}
    app = await createTestApp(platform, { imports: [HeaderAppModule] });
    const res = await app.http().get('/cls/method').set('x-tenant-id', 'acme');
    expect(res.body).toEqual({ price: { id: 'p1', tenant: 'acme', run: 1 }, current: 'acme', mode: 'nestjs-cls' });
  });
});

describe('fromCls() without nestjs-cls', () => {
  it('fails the boot with a CacheConfigError that says what to import', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [CacheModule.forRoot({ tenant: fromCls('tenantId'), logger: false })] }).compile();
    await expect(moduleRef.init()).rejects.toThrow(CacheConfigError);
    await expect(moduleRef.init()).rejects.toThrow(/ClsModule/);
  });
});
