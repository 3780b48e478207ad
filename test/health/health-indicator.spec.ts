import { Controller, Get, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheHealthIndicator } from '../../lib/health/cache.health-indicator.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { ChaosStore } from '../helpers/chaos.store.js';

describe('CacheHealthIndicator with @nestjs/terminus', () => {
  it('reports up while the store answers and 503 down when it does not', async () => {
    const chaos = new ChaosStore(new MemoryStore({ sweepInterval: 0 }));
    const manager = CacheManager.createSync({ store: chaos, logger: false });

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
    @Module({ imports: [TerminusModule.forRoot({ logger: false })], controllers: [HealthController], providers: [{ provide: CacheManager, useValue: manager }, CacheHealthIndicator] })
    class AppModule {}

    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    try {
      const up = await request(app.getHttpServer()).get('/health');
      expect(up.status).toBe(200);
      expect(up.body).toMatchObject({ status: 'ok', info: { cache: { status: 'up', store: 'chaos(memory)' } } });
      chaos.failAll();
      const down = await request(app.getHttpServer()).get('/health');
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ status: 'error', error: { cache: { status: 'down', detail: 'chaos: down' } } });
    } finally {
      await app.close();
      await manager.close();
    }
  });
});
