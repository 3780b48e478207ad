import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { RecordingLogger, type TestApp } from '../e2e/helpers/app-factory.js';
import { bootFaultApp, itemPaths, TENANT_HEADERS } from '../helpers/fault-app.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';

/**
 * Row "maxmemory full, noeviction" of the Redis faults issue, on a real Nest app over real HTTP:
 * a full Redis refuses writes (`-OOM command not allowed when used memory > 'maxmemory'`) but is
 * not an outage. No circuit opens, present keys keep hitting, and health says `degraded` with
 * the reason (while the readiness check, under the default policy, stays 200).
 */

/**
 * Fills Redis with 64 KB values until it answers OOM; resolves how many it took. Then lowers
 * `maxmemory` to half of what is used, so it stays full when client buffers are freed (the
 * filling connection's own buffers count, and closing it would make room for a few writes).
 */
async function fillUntilOom(port: number): Promise<number> {
  const raw = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0 });
  try {
    const value = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 10_000; i++) {
      try {
        await raw.set(`fill:${i}`, value);
      } catch (err) {
        if (!String((err as Error).message).startsWith('OOM')) throw err;
        const used = /used_memory:(\d+)/.exec(await raw.info('memory'))![1]!;
        await raw.config('SET', 'maxmemory', String(Math.floor(Number(used) / 2)));
        return i;
      }
    }
    throw new Error('Redis never answered OOM');
  } finally {
    raw.disconnect();
  }
}

describeWithRedis('a full Redis (maxmemory, noeviction)', () => {
  let server: RedisServer | undefined;
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    await server?.stop();
    server = t = undefined;
  });

  it('is not an outage: refused writes open no circuit, present keys keep hitting, health is degraded with the reason', async () => {
    server = await startRedis({ args: ['--maxmemory', '8mb', '--maxmemory-policy', 'noeviction'] });
    t = await bootFaultApp('fastify', { store: { type: 'redis', url: server.url }, logger: new RecordingLogger() });
    const manager = t.app.get(CacheManager);
    const present = itemPaths(10);
    for (const path of present) await t.http().get(path).set(TENANT_HEADERS);
    const filled = await fillUntilOom(server.port);

    // 50 writes refused (new keys: each a miss whose entry Redis refuses): 20 at once, then each
    // followed by a read of a present key, which must hit all along.
    const presentReads: (string | undefined)[] = [];
    const newWrites: (string | undefined)[] = [];
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => t!.http().get(`/item/new-${i}`).set(TENANT_HEADERS)));
    for (const miss of burst) {
      expect(miss.status).toBe(200);
      newWrites.push(miss.headers['x-cache']);
    }
    for (let i = 20; i < 50; i++) {
      const miss = await t.http().get(`/item/new-${i}`).set(TENANT_HEADERS);
      expect(miss.status).toBe(200);
      newWrites.push(miss.headers['x-cache']);
      for (const path of i === 20 ? present : [present[i % present.length]!]) {
        const hit = await t.http().get(path).set(TENANT_HEADERS);
        expect(hit.status).toBe(200);
        presentReads.push(hit.headers['x-cache']);
      }
    }
    const health = await manager.health();
    const readiness = await t.http().get('/health');
    const stats = await manager.stats();

    const hits = presentReads.filter((x) => x === 'HIT').length;
    console.log(
      `maxmemory full (noeviction, ${filled} x 64 KB to fill it): 50 refused writes (${stats.errors} store errors counted); present keys read ${hits}/${presentReads.length} HIT; ` +
        `circuit ${health.circuit}; health ${health.status} (${health.reason}); readiness ${readiness.status} ${JSON.stringify(readiness.body?.info?.cache ?? readiness.body?.error?.cache)}`,
    );
    expect(newWrites.every((x) => x === 'MISS')).toBe(true);
    expect(hits).toBe(presentReads.length);
    expect(health.circuit).toBe('closed');
    expect(health.status).toBe('degraded');
    expect(health.ok).toBe(false);
    expect(health.reason).toMatch(/full|maxmemory/i);
    expect(readiness.status).toBe(200);
    expect(readiness.body.info.cache).toMatchObject({ status: 'up', state: 'degraded', circuit: 'closed' });
    expect(readiness.body.info.cache.detail).toMatch(/maxmemory/);
  });
});
