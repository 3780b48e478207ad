import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import type { TieredStoreStats } from '../../lib/stores/tiered/tiered-stats.interface.js';
import type { StoreConfig } from '../../lib/stores/store-config.interface.js';
import { describeWithRedis, rawCommand, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { TieredInstance } from '../helpers/tiered-instance.js';

interface Stats {
  stats: TieredStoreStats;
  health: { status: string; reason?: string };
  logs: string[];
}

/** Polls an instance (another process) until `check` holds; throws after `ms`. */
async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    // Another process and a real Redis act: nothing here to move a clock for.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return performance.now() - started;
}

/**
 * Redis itself failing under tiered stores in app processes: L1 fails open (its hits go on being
 * served, no longer than the bus's `maxStaleness`, since Redis down takes the bus down too),
 * writes reject and are counted, and a write Redis refuses after a background write answered is
 * taken back out of L1.
 */
describeWithRedis('tiered stores when Redis fails (real processes, real Redis)', () => {
  let server: RedisServer;
  let instances: TieredInstance[] = [];
  /** One namespace per test, shared by its instances. */
  let namespace = '';
  const start = async (name: string, store: StoreConfig): Promise<TieredInstance> => {
    const instance = await TieredInstance.start(name, { namespace, store });
    instances.push(instance);
    return instance;
  };

  beforeAll(async () => {
    server = await startRedis();
  });
  beforeEach(() => {
    namespace = `down-${randomBytes(3).toString('hex')}`;
  });
  afterEach(async () => {
    await Promise.all(instances.splice(0).map((i) => i.close()));
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('redis-server killed: L1 keeps serving its hits (for maxStaleness: 3 s here), writes reject and are counted; after a restart the bus is back and changes are seen again', { timeout: 60_000 }, async () => {
    const boundMs = 3_000;
    const b = await start('B', { type: 'tiered', l2: { url: server.url }, bus: { maxStaleness: boundMs } });
    const keys = Array.from({ length: 10 }, (_, i) => `hot-${i}`);
    for (const key of keys) await b.call({ cmd: 'set', tenant: 'acme', key, value: key });
    const held = await Promise.all(keys.map((key) => b.call<{ stamp: string }>({ cmd: 'fill', tenant: 'acme', key })));
    const watches = await Promise.all(keys.map((key, i) => b.watch('acme', key, held[i]!.stamp)));
    const killedAt = performance.timeOrigin + performance.now();
    await server.kill();
    let rejected = 0;
    for (let i = 0; i < 5; i++) await b.call({ cmd: 'act', op: 'set', tenant: 'acme', key: `write-${i}` }).catch(() => rejected++);
    const during = await b.call<Stats>({ cmd: 'stats' });
    const gone = await Promise.all(watches.map((w) => w.gone));
    const servedFor = gone.map((g) => g.lastServed - killedAt);
    const polls = gone.reduce((n, g) => n + g.served, 0);

    await server.restart();
    const backMs = await until('the bus subscribed again', async () => (await b.call<Stats>({ cmd: 'stats' })).stats.bus.state === 'up');
    await until('the cache up again (its circuit closed)', async () => (await b.call<Stats>({ cmd: 'stats' })).health.status === 'up');
    const a = await start('A', { type: 'tiered', l2: { url: server.url } });
    await a.call({ cmd: 'set', tenant: 'acme', key: 'after', value: 1 });
    const after = await b.call<{ stamp: string }>({ cmd: 'fill', tenant: 'acme', key: 'after' });
    const watch = await b.watch('acme', 'after', after.stamp);
    const { at } = await a.call<{ at: number }>({ cmd: 'act', op: 'delete', tenant: 'acme', key: 'after' });
    const seenMs = (await watch.gone).at - at;

    console.log(
      `[tiered Redis down] redis-server SIGKILLed: B served its ${keys.length} L1 hits for ${(Math.min(...servedFor) / 1000).toFixed(2)}-${(Math.max(...servedFor) / 1000).toFixed(2)} s after (bound ${boundMs / 1000} s; ${polls} hits served by its 1 ms polls), ${rejected} of 5 writes rejected (stats.errors ${during.stats.errors}), health ${during.health.status}; restarted: bus up ${Math.round(backMs)} ms after, a change seen by B ${seenMs.toFixed(1)} ms after it started`,
    );
    // Served for most of the bound (it counts from the last heartbeat before the kill, at most a quarter of it earlier), never past it.
    expect(Math.min(...servedFor)).toBeGreaterThan(boundMs * 0.7);
    // (+5 ms: the two processes' clocks, and lru-cache's 1 ms TTL resolution.)
    expect(Math.max(...servedFor)).toBeLessThanOrEqual(boundMs + 5);
    expect(rejected).toBe(5);
    expect(during.stats.errors).toBeGreaterThanOrEqual(5);
    expect(during.stats.bus.state).toBe('down');
    expect(during.health.status).toBe('down');
    expect(seenMs).toBeLessThan(100);
  });

  it("l2Writes: 'background': a computation answered from L1 whose Redis write then fails is taken back out of L1, counted and logged once per burst", { timeout: 60_000 }, async () => {
    const own = await startRedis();
    try {
      const c = await start('C', { type: 'tiered', l2: { url: own.url }, l2Writes: 'background' });
      const peek = async (key: string): Promise<string | undefined> => (await c.call<{ stamp?: string }>({ cmd: 'peek', tenant: 'acme', key })).stamp;
      const ok = await c.call<{ value: string; held: string }>({ cmd: 'wrap', tenant: 'acme', key: 'ok', value: 'computed' });
      expect(ok).toEqual({ value: 'computed', held: 'computed' });
      await until('the first write in Redis', async () => Number(await rawCommand(own.port, 'DBSIZE')) > 0);

      // Redis full (OOM): an outage-class failure, logged in the connection's burst (one line for
      // everything that fails on it, the lock the computation tried first included).
      await rawCommand(own.port, 'CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
      await rawCommand(own.port, 'CONFIG', 'SET', 'maxmemory', '1');
      const full = await c.call<{ value: string; held: string }>({ cmd: 'wrap', tenant: 'acme', key: 'full', value: 'computed' });
      const takenBackMs = await until('the refused entry taken out of L1', async () => (await peek('full')) === undefined);
      const afterFull = await c.call<Stats>({ cmd: 'stats' });
      await rawCommand(own.port, 'CONFIG', 'SET', 'maxmemory', '0');

      // Writes refused (an ACL without SET, which the write scripts run; the basis, read by a
      // script that writes nothing, still passes): not an outage, so its own burst: 3 failures, one line.
      await rawCommand(own.port, 'ACL', 'SETUSER', 'default', '-set');
      const refused = [];
      for (const key of ['r1', 'r2', 'r3']) refused.push(await c.call<{ value: string; held: string }>({ cmd: 'wrap', tenant: 'acme', key, value: 'computed' }));
      await until('the refused entries taken out of L1', async () => (await Promise.all(['r1', 'r2', 'r3'].map(peek))).every((stamp) => stamp === undefined));
      await rawCommand(own.port, 'ACL', 'SETUSER', 'default', '+@all');
      const { stats, logs } = await c.call<Stats>({ cmd: 'stats' });
      const lines = logs.filter((l) => l.includes('background write'));
      console.log(
        `[tiered background write] wrap() answered from L1 (held ${JSON.stringify(full.held)}); Redis then refused its write (OOM): taken out of L1 ${takenBackMs.toFixed(1)} ms later (failures ${afterFull.stats.backgroundWriteFailures}, errors ${afterFull.stats.errors}); 3 more refused by an ACL: all taken out, backgroundWriteFailures ${stats.backgroundWriteFailures}, ${lines.length} line for them: "${lines[0]?.slice(0, 110)}…"`,
      );
      expect(full).toEqual({ value: 'computed', held: 'computed' });
      expect(refused.every((r) => r.held === 'computed')).toBe(true);
      expect(afterFull.stats.backgroundWriteFailures).toBe(1);
      expect(stats.backgroundWriteFailures).toBe(4);
      expect(stats.errors).toBeGreaterThanOrEqual(4);
      expect(lines).toHaveLength(1);
      expect(await peek('ok')).toBeDefined();
    } finally {
      await Promise.all(instances.splice(0).map((i) => i.close()));
      await own.stop();
    }
  });
});
