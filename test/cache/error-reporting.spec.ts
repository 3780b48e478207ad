import { afterEach, describe, expect, it, vi } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { RedisStore } from '../../lib/stores/redis.store.js';
import { ChaosStore } from '../helpers/chaos.store.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';

const closing: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(closing.splice(0).map((c) => c.close()));
});

const recorder = () => ({ warn: vi.fn(), error: vi.fn(), log: vi.fn() });
const lines = (logger: ReturnType<typeof recorder>): string[] => [...logger.warn.mock.calls, ...logger.error.mock.calls, ...logger.log.mock.calls].map(([m]) => String(m));
/** Every console method a logger could fall back to. */
const consoleSpies = () => [vi.spyOn(console, 'warn').mockImplementation(() => undefined), vi.spyOn(console, 'error').mockImplementation(() => undefined), vi.spyOn(console, 'log').mockImplementation(() => undefined)];

describe('the default logger outside Nest', () => {
  it('is the console, each line prefixed [nestjs-tenant-cache]', async () => {
    const [warn] = consoleSpies();
    const chaos = new ChaosStore(new MemoryStore({ sweepInterval: 0 }));
    const manager = await CacheManager.create({ store: chaos, circuitBreaker: false });
    closing.push(manager);
    chaos.failing.add('get');
    expect(await manager.forTenant('acme').get('k')).toBeUndefined(); // a read fails open
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn!.mock.calls[0]![0])).toMatch(/^\[nestjs-tenant-cache\] \S/);
  });
});

describeWithRedis('one report per failure, through one reporter per manager', () => {
  let server: RedisServer;
  afterEach(async () => {
    await server?.stop();
  });

  it('a Redis outage under 100 failing gets logs one line: the connection going down and the failed gets share its burst; nothing from the store per operation', async () => {
    server = await startRedis();
    const logger = recorder();
    // A manual clock: the burst window never ends during the test, whatever the machine's speed.
    const manager = await CacheManager.create({ store: { type: 'redis', url: server.url }, logger, clock: new ManualClock(), circuitBreaker: false });
    closing.push(manager);
    const cache = manager.forTenant('acme');
    await cache.set('k', 1);
    expect(lines(logger)).toEqual([]);

    await server.kill();
    await vi.waitFor(async () => expect((await manager.health()).ok).toBe(false), { timeout: 10_000, interval: 20 });
    const results = await Promise.all(Array.from({ length: 100 }, () => cache.get('k')));
    expect(results.every((r) => r === undefined)).toBe(true);
    expect((await manager.stats()).errors).toBe(100);
    // Whichever came first (the client's close event or a failed get) names the server.
    await vi.waitFor(() => expect(lines(logger).length).toBeGreaterThan(0), { timeout: 10_000, interval: 20 });

    const logged = lines(logger);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain(`127.0.0.1:${server.port}`);
  });

  it('commands timing out on a paused server: one line for the burst (the store rejects, the cache logs), not one from each', async () => {
    server = await startRedis();
    const logger = recorder();
    const manager = await CacheManager.create({ store: { type: 'redis', url: server.url, commandTimeout: 100, writeDeadlineMargin: 50 }, logger, clock: new ManualClock(), circuitBreaker: false });
    closing.push(manager);
    const cache = manager.forTenant('acme');
    await cache.set('k', 1);
    server.pause();
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => cache.get('k')));
      expect(results.every((r) => r === undefined)).toBe(true);
    } finally {
      server.resume();
    }
    expect((await manager.stats()).errors).toBe(20);
    const logged = lines(logger);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/\bget\b/);
  });

  it('logger: false silences the stores too (their connection messages included); a logger given to another manager on the same server shows there was something to log', async () => {
    server = await startRedis();
    const [warn, error, log] = consoleSpies();
    const control = recorder();
    const loud = await CacheManager.create({ store: { type: 'redis', url: server.url }, logger: control, circuitBreaker: false });
    const silent = await CacheManager.create({ store: { type: 'redis', url: server.url }, logger: false, circuitBreaker: false });
    const silentStore = new RedisStore({ url: server.url, logger: false });
    closing.push(loud, silent, silentStore);
    await silentStore.health();

    await server.kill();
    await vi.waitFor(async () => {
      for (const m of [loud, silent]) expect((await m.health()).ok).toBe(false);
      expect((await silentStore.health()).ok).toBe(false);
    }, { timeout: 10_000, interval: 20 });
    for (const m of [loud, silent]) await Promise.all(Array.from({ length: 20 }, () => m.forTenant('acme').get('k')));
    await vi.waitFor(() => expect(lines(control).some((l) => l.includes(`127.0.0.1:${server.port}`))).toBe(true), { timeout: 10_000, interval: 20 });
    expect(lines(control)).toHaveLength(1); // the outage's one line (the connection's burst)

    for (const spy of [warn, error, log]) expect(spy).not.toHaveBeenCalled();
  });

  it('a RedisStore of your own logs to the console with the prefix by default', async () => {
    server = await startRedis();
    const [warn] = consoleSpies();
    const store = new RedisStore({ url: server.url });
    closing.push(store);
    expect((await store.health()).ok).toBe(true);
    await server.kill();
    await vi.waitFor(() => expect(warn).toHaveBeenCalled(), { timeout: 10_000, interval: 20 });
    expect(String(warn!.mock.calls[0]![0])).toMatch(/^\[nestjs-tenant-cache\] Redis at 127\.0\.0\.1:\d+: /);
  });
});
