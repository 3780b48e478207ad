import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it, vi } from 'vitest';
import { RedisStore } from '../../lib/stores/redis.store.js';
import { RecordingLogger, type TestApp } from '../e2e/helpers/app-factory.js';
import { bootFaultApp, itemPaths, TENANT_HEADERS } from '../helpers/fault-app.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { SteadyLoad } from '../helpers/steady-load.js';

/**
 * Row "60 s of refused connections" of the Redis faults issue, on real Nest apps over real
 * HTTP, shortened to 20 s (the target is a rate): the apps keep answering, nothing rejects
 * unhandled, the cache logs at most one line per 10 s for the connection (its circuit
 * transitions included), and with `logger: false` nothing is printed at all, by a store the
 * cache builds from a config or by a `RedisStore` instance passed in without a logger.
 */

const OUTAGE_MS = 20_000;
/** The target: at most one line per this long, per connection. */
const PER_MS = 10_000;

describeWithRedis('quiet logs while Redis refuses connections', () => {
  let server: RedisServer | undefined;
  const apps: TestApp[] = [];
  const loads: SteadyLoad[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(loads.splice(0).map((l) => l.stop()));
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await server?.stop();
    server = undefined;
  });

  it('20 s of refused connections under traffic: up, no unhandled rejection, at most one line per 10 s; logger: false prints nothing', async () => {
    server = await startRedis();
    const logger = new RecordingLogger();
    const loud = await bootFaultApp('express', { store: { type: 'redis', url: server.url }, logger });
    const silentConfig = await bootFaultApp('fastify', { store: { type: 'redis', url: server.url }, logger: false });
    const silentInstance = await bootFaultApp('express', { store: new RedisStore({ url: server.url }), logger: false });
    apps.push(loud, silentConfig, silentInstance);
    const paths = itemPaths(10);
    for (const app of apps) for (const path of paths) await app.http().get(path).set(TENANT_HEADERS);

    // Everything the silent apps could print, by any route: the console, and the process's own streams.
    const printed: string[] = [];
    for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void printed.push(`console.${method}: ${args.map(String).join(' ')}`));
    for (const stream of [process.stdout, process.stderr]) {
      const write = stream.write.bind(stream);
      vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown, ...rest: never[]) => {
        printed.push(String(chunk));
        return write(chunk as string, ...rest);
      }) as typeof stream.write);
    }
    let unhandled = 0;
    const onUnhandled = (): void => void unhandled++;
    process.on('unhandledRejection', onUnhandled);
    const linesBefore = logger.warnings.length + logger.errors.length;
    try {
      await server.stop(); // nothing listens on the port any more: every reconnect is refused
      for (const app of apps) {
        const load = new SteadyLoad(app.url, paths, TENANT_HEADERS, 50);
        loads.push(load);
        load.start();
      }
      await sleep(OUTAGE_MS);
      await Promise.all(loads.map((l) => l.stop()));
    } finally {
      process.off('unhandledRejection', onUnhandled);
      vi.restoreAllMocks();
    }

    const lines = [...logger.warnings, ...logger.errors].slice(linesBefore);
    const requests = loads.flatMap((l) => l.samples);
    const failed = requests.filter((s) => s.status !== 200);
    console.log(
      `${OUTAGE_MS / 1000} s of refused connections under 3 x 50 req/s: ${lines.length} log line(s) (${((lines.length * PER_MS) / OUTAGE_MS).toFixed(2)} per 10 s; target at most 1): ${JSON.stringify(lines)}; ` +
        `logger: false printed ${printed.length} line(s)${printed.length > 0 ? `: ${JSON.stringify(printed.slice(0, 3))}` : ''}; ${unhandled} unhandled rejections; ${requests.length} requests, ${failed.length} not 200`,
    );
    expect(lines.length).toBeLessThanOrEqual(Math.ceil(OUTAGE_MS / PER_MS));
    expect(printed).toEqual([]);
    expect(unhandled).toBe(0);
    expect(failed).toEqual([]);
  });
});
