import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheConfigError } from '../../lib/errors/cache.errors.js';
import { CacheHealthIndicator } from '../../lib/health/cache.health-indicator.js';
import type { HealthPolicy } from '../../lib/options/cache-module-options.interface.js';
import { MODULE_DEFAULTS } from '../../lib/options/module-options.js';
import type { StoreHealth } from '../../lib/stores/cache-store.interface.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ChaosStore } from '../helpers/chaos.store.js';

/** A chaos store that can also be full: it answers, but says writes are refused (as Redis at maxmemory does). */
class FullableChaos extends ChaosStore {
  full = false;
  override async health(): Promise<StoreHealth> {
    const health = await super.health();
    return this.full && health.ok ? { ...health, degraded: 'the store is full: writes are refused' } : health;
  }
}

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly cache: CacheHealthIndicator,
  ) {}
  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.cache.isHealthy('cache')]);
  }
}

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** An app whose CacheModule provides the indicator, under `healthPolicy` (omitted: the default). */
async function bootWithModule(store: ChaosStore, healthPolicy?: HealthPolicy): Promise<INestApplication> {
  @Module({
    imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store, logger: false, ...(healthPolicy === undefined ? {} : { healthPolicy }) }), TerminusModule.forRoot({ logger: false })],
    controllers: [HealthController],
  })
  class AppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  apps.push(app);
  await app.init();
  return app;
}

describe('CacheHealthIndicator with @nestjs/terminus', () => {
  it("defaults to 'degraded-is-up': a fail-open cache that is down or degraded keeps the check at 200, with its own state in the details", async () => {
    expect(MODULE_DEFAULTS.healthPolicy).toBe('degraded-is-up');
    const chaos = new FullableChaos(new MemoryStore({ sweepInterval: 0 }));
    const app = await bootWithModule(chaos);
    const up = await request(app.getHttpServer()).get('/health');
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ status: 'ok', info: { cache: { status: 'up', state: 'up', store: 'chaos(memory)', circuit: 'closed' } } });

    chaos.full = true;
    const degraded = await request(app.getHttpServer()).get('/health');
    expect(degraded.status).toBe(200);
    expect(degraded.body.info.cache).toMatchObject({ status: 'up', state: 'degraded', detail: 'the store is full: writes are refused' });

    chaos.full = false;
    chaos.failAll();
    const down = await request(app.getHttpServer()).get('/health');
    expect(down.status).toBe(200);
    expect(down.body.info.cache).toMatchObject({ status: 'up', state: 'down', detail: 'chaos: down' });
  });

  it("'degraded-is-down': anything but up fails the check (503)", async () => {
    const chaos = new FullableChaos(new MemoryStore({ sweepInterval: 0 }));
    const app = await bootWithModule(chaos, 'degraded-is-down');
    expect((await request(app.getHttpServer()).get('/health')).status).toBe(200);
    chaos.full = true;
    const degraded = await request(app.getHttpServer()).get('/health');
    expect(degraded.status).toBe(503);
    expect(degraded.body).toMatchObject({ status: 'error', error: { cache: { status: 'down', state: 'degraded' } } });
    chaos.full = false;
    chaos.failAll();
    const down = await request(app.getHttpServer()).get('/health');
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ status: 'error', error: { cache: { status: 'down', state: 'down', detail: 'chaos: down' } } });
  });

  it('a closed cache is down under either policy (the app is shutting down; every call is refused)', async () => {
    for (const policy of ['degraded-is-up', 'degraded-is-down'] as const) {
      const app = await bootWithModule(new FullableChaos(new MemoryStore({ sweepInterval: 0 })), policy);
      await app.get(CacheManager).close();
      const result = await app.get(CacheHealthIndicator).isHealthy('cache');
      expect(result.cache).toMatchObject({ status: 'down', state: 'down', detail: 'closed' });
    }
  });

  it('provided outside CacheModule, it takes the default policy', async () => {
    const chaos = new ChaosStore(new MemoryStore({ sweepInterval: 0 }));
    const manager = CacheManager.createSync({ store: chaos, logger: false });
    @Module({ imports: [TerminusModule.forRoot({ logger: false })], controllers: [HealthController], providers: [{ provide: CacheManager, useValue: manager }, CacheHealthIndicator] })
    class AppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    apps.push(app);
    await app.init();
    chaos.failAll();
    const down = await request(app.getHttpServer()).get('/health');
    expect(down.status).toBe(200);
    expect(down.body.info.cache).toMatchObject({ status: 'up', state: 'down' });
    await manager.close();
  });

  it('healthPolicy is checked at start-up, naming the option', async () => {
    const boot = bootWithModule(new ChaosStore(new MemoryStore({ sweepInterval: 0 })), 'sometimes' as HealthPolicy);
    await expect(boot).rejects.toBeInstanceOf(CacheConfigError);
    await expect(boot).rejects.toMatchObject({ option: 'healthPolicy' });
  });
});
