import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterEach, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheResult } from '../../lib/decorators/cache-result.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';

/** Runs of every instance of the service (two apps share one Redis). */
let runs = 0;
let gate: Promise<void> = Promise.resolve();

@Injectable()
class ReportService {
  @CacheResult({ key: 'report:{0}', ttl: '1m' })
  async report(day: string): Promise<string> {
    runs++;
    await gate;
    return `report ${day} #${runs}`;
  }
}

const apps: TestingModule[] = [];
let redis: RedisServer | undefined;
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  await redis?.stop();
});

async function instance(url: string): Promise<{ service: ReportService; manager: CacheManager }> {
  const app = await Test.createTestingModule({ imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store: { type: 'redis', url }, namespace: 'methods-redis', logger: false })], providers: [ReportService] }).compile();
  await app.init();
  apps.push(app);
  return { service: app.get(ReportService), manager: app.get(CacheManager) };
}

describeWithRedis('@CacheResult() on Redis, two app instances', () => {
  it('50 concurrent calls on each of two instances run the method once (the cross-process lock of the one engine)', async () => {
    redis = await startRedis();
    const a = await instance(redis.url);
    const b = await instance(redis.url);
    runs = 0;
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    const first = a.manager.runWithTenant('acme', () => a.service.report('mon'));
    // A holds the lock (its method is running) before B's calls start.
    await expect.poll(() => runs).toBe(1);
    const calls = [
      ...Array.from({ length: 49 }, () => a.manager.runWithTenant('acme', () => a.service.report('mon'))),
      ...Array.from({ length: 50 }, () => b.manager.runWithTenant('acme', () => b.service.report('mon'))),
    ];
    open();
    const values = await Promise.all([first, ...calls]);
    console.log(`[methods] Redis, 2 instances x 50 concurrent calls of ReportService.report('mon') -> ${runs} run(s)`);
    expect(runs).toBe(1);
    expect(new Set(values)).toEqual(new Set(['report mon #1']));
    // Another tenant on the same Redis computes its own.
    expect(await b.manager.runWithTenant('globex', () => b.service.report('mon'))).toBe('report mon #2');
  });
});
