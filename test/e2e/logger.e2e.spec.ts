import type { INestApplication, LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheModule } from '../../lib/cache.module.js';
import type { CacheModuleOptions } from '../../lib/options/cache-module-options.interface.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ChaosStore } from '../helpers/chaos.store.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';

/** The app's logger: what Nest's `Logger` instances write to once the app is created with it. */
class AppLogger implements LoggerService {
  readonly log = vi.fn();
  readonly warn = vi.fn();
  readonly error = vi.fn();
  readonly debug = vi.fn();
  readonly verbose = vi.fn();
  /** Calls made with our context (the second argument Nest's Logger passes). */
  ours(): unknown[][] {
    return [this.log, this.warn, this.error, this.debug, this.verbose].flatMap((fn) => fn.mock.calls).filter((args) => args.includes('nestjs-tenant-cache'));
  }
}

const apps: INestApplication[] = [];
const managers: CacheManager[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

async function boot(options: Partial<CacheModuleOptions>, logger: LoggerService): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), ...options })] }).compile();
  const app = moduleRef.createNestApplication({ logger });
  apps.push(app);
  await app.init();
  return app;
}

describe('logging inside Nest', () => {
  it("defaults to Nest's Logger with the context nestjs-tenant-cache, so the app's logger gets the lines (not the console)", async () => {
    const consoleWarn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const logger = new AppLogger();
    const chaos = new ChaosStore(new MemoryStore({ sweepInterval: 0 }));
    const app = await boot({ store: chaos, circuitBreaker: false }, logger);
    chaos.failing.add('get');
    expect(await app.get(CacheManager).forTenant('acme').get('k')).toBeUndefined();
    expect(logger.warn).toHaveBeenCalledWith(expect.stringMatching(/\bget\b/), 'nestjs-tenant-cache');
    expect(consoleWarn).not.toHaveBeenCalled();
  });

  it('logger: a logger of your own gets the lines instead', async () => {
    const logger = new AppLogger();
    const mine = { warn: vi.fn(), error: vi.fn() };
    const chaos = new ChaosStore(new MemoryStore({ sweepInterval: 0 }));
    const app = await boot({ store: chaos, circuitBreaker: false, logger: mine }, logger);
    chaos.failing.add('get');
    await app.get(CacheManager).forTenant('acme').get('k');
    expect(mine.warn).toHaveBeenCalledTimes(1);
    expect(logger.ours()).toEqual([]);
  });
});

describeWithRedis('logger: false inside Nest', () => {
  let server: RedisServer;
  afterEach(async () => {
    await server?.stop();
  });

  it('silences the cache and its Redis store, connection messages included', async () => {
    server = await startRedis();
    const consoleSpies = [vi.spyOn(console, 'warn'), vi.spyOn(console, 'error'), vi.spyOn(console, 'log')].map((s) => s.mockImplementation(() => undefined));
    const logger = new AppLogger();
    const app = await boot({ store: { type: 'redis', url: server.url }, logger: false, circuitBreaker: false }, logger);
    // The control: a manager with a logger on the same server, so the outage surely had something to log.
    const control = { warn: vi.fn(), error: vi.fn() };
    const loud = await CacheManager.create({ store: { type: 'redis', url: server.url }, logger: control, circuitBreaker: false });
    managers.push(loud);
    const manager = app.get(CacheManager);
    await manager.forTenant('acme').set('k', 1);

    await server.kill();
    await vi.waitFor(async () => expect((await manager.health()).ok).toBe(false), { timeout: 10_000, interval: 20 });
    for (const m of [manager, loud]) await Promise.all(Array.from({ length: 20 }, () => m.forTenant('acme').get('k')));
    await vi.waitFor(() => expect(control.warn.mock.calls.some(([m]) => String(m).startsWith('Redis at'))).toBe(true), { timeout: 10_000, interval: 20 });

    expect(logger.ours()).toEqual([]);
    for (const spy of consoleSpies) expect(spy).not.toHaveBeenCalled();
  });
});
