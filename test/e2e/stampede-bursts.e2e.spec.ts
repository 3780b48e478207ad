import { Controller, Get, Query } from '@nestjs/common';
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import type { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { CachedInterceptor } from '../../lib/http/cached.interceptor.js';
import { CACHE_CHANNELS } from '../../lib/observability/cache-channels.js';
import type { CacheModuleOptions } from '../../lib/options/cache-module-options.interface.js';
import type { StoreConfig } from '../../lib/stores/store-config.interface.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { createTestApp, type Platform, type TestApp } from './helpers/app-factory.js';
import { BurstGate, burstAgent, figures, get, getMany, type Reply } from './helpers/burst.js';

/**
 * The must-shows of the one engine for `@Cached()`: bursts of 1,000 really concurrent cold
 * requests to one key run the handler exactly once, burst after burst, on memory and on Redis,
 * on both adapters, with the fast path on and off, right after a Redis restart, and across two
 * app processes on one Redis. Every burst has a key of its own (its `?burst=` query). The
 * handler is held until every request of the burst has joined the computation or started a run
 * of its own (`BurstGate`), then released: the count does not depend on timing. One variant
 * has no gate (a handler working 20 ms), so requests also arrive while the entry is written.
 */

const BURST = 1_000;
const TENANT = 'acme';
const gate = BurstGate.listen();
let agent: Agent;

@Controller('report')
class ReportController {
  @Get()
  @Cached({ ttl: '1m' })
  async report(@Query('burst') burst: string) {
    await gate.enter();
    return { report: 'daily', burst };
  }
}

/** Handler runs of `/work` per `?burst=`. */
const workRuns = new Map<string, number>();

/** The same route with a handler that works for 20 ms instead of waiting on the gate. */
@Controller('work')
class WorkController {
  @Get()
  @Cached({ ttl: '1m' })
  async work(@Query('burst') burst: string) {
    workRuns.set(burst, (workRuns.get(burst) ?? 0) + 1);
    // The handler's work: fixed, so requests keep arriving while it runs and while its entry is written.
    await sleep(20);
    return { report: 'daily', burst };
  }
}

function boot(platform: Platform, store: StoreConfig, options: Partial<CacheModuleOptions> = {}): Promise<TestApp> {
  return createTestApp(platform, {
    imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store, logger: false, ...options })],
    controllers: [ReportController, WorkController],
  });
}

interface BurstResult {
  readonly runs: number;
  readonly joins: number;
  readonly timedOut: boolean;
  readonly replies: readonly Reply[];
}

/** `BURST` concurrent GETs of a key no request asked for before; the handler is released once they all joined or ran. */
async function coldBurst(t: TestApp, burst: string, n = BURST): Promise<BurstResult> {
  gate.arm(n, { autoOpen: true });
  const replies = await getMany(agent, `${t.url}/report?burst=${burst}`, n, { 'x-tenant-id': TENANT });
  return { runs: gate.runs, joins: gate.joins, timedOut: gate.timedOut, replies };
}

/** What a burst with one run must show besides: everyone got its response, one MISS and the rest HITs. */
function expectOneResponse(replies: readonly Reply[], burst: string): void {
  const bodies = new Set(replies.map((r) => `${r.status} ${r.body}`));
  expect([...bodies]).toEqual([`200 ${JSON.stringify({ report: 'daily', burst })}`]);
  const xCache = replies.map((r) => r.xCache);
  expect(xCache.filter((v) => v === 'MISS')).toHaveLength(1);
  expect(xCache.filter((v) => v === 'HIT')).toHaveLength(replies.length - 1);
}

/** A gated burst with one run: the others all joined it (before the hang guard), and got its response. */
function expectJoinedOne(result: BurstResult, burst: string): void {
  expect(result.timedOut, 'every request joined or ran before the hang guard').toBe(false);
  expect(result.joins).toBe(result.replies.length - 1);
  expectOneResponse(result.replies, burst);
}

/** `bursts` cold bursts; prints and returns the runs of each; a burst with 1 run must have shared its one response. */
async function runsPerBurst(t: TestApp, label: string, bursts: number): Promise<number[]> {
  const runs: number[] = [];
  const started = performance.now();
  for (let i = 0; i < bursts; i++) {
    const burst = `${label.replaceAll(/\W+/g, '-')}-${i}`;
    const result = await coldBurst(t, burst);
    runs.push(result.runs);
    if (result.runs === 1) expectJoinedOne(result, burst);
  }
  const ms = Math.round(performance.now() - started);
  console.log(`${label}: ${bursts} bursts x ${BURST} requests, handler runs per burst: ${figures(runs)} (${ms} ms)`);
  return runs;
}

const ones = (n: number): number[] => Array.from({ length: n }, () => 1);

/** Whether a hit of this app goes through Nest's pipeline (the interceptor): not with the fast path on. */
async function hitTakesInterceptor(t: TestApp, burst: string): Promise<boolean> {
  const spy = vi.spyOn(CachedInterceptor.prototype, 'intercept');
  try {
    const hit = await get(agent, `${t.url}/report?burst=${burst}`, { 'x-tenant-id': TENANT });
    expect(hit.xCache).toBe('HIT');
    return spy.mock.calls.length > 0;
  } finally {
    spy.mockRestore();
  }
}

beforeAll(() => {
  agent = burstAgent(BURST);
});
afterAll(() => {
  agent.destroy();
  gate.close();
});

/** [platform, fast path, bursts]: 20 bursts with the fast path on Fastify, 5 on the other combinations (time). */
const MATRIX: readonly (readonly [Platform, 'on' | 'off', number])[] = [
  ['fastify', 'on', 20],
  ['express', 'on', 5],
  ['fastify', 'off', 5],
  ['express', 'off', 5],
];

/** Per test: a burst takes 0.2-0.5 s alone, several times that when the whole suite shares the 2 cores. */
const TIMEOUT = 120_000;

/** The runs of each burst, and whether a hit afterwards went through the interceptor. */
async function matrixCase(store: StoreConfig, storeName: string, platform: Platform, fastPath: 'on' | 'off', bursts: number): Promise<{ runs: number[]; hitTookInterceptor: boolean }> {
  const t = await boot(platform, store, { fastPath: fastPath === 'on' });
  try {
    // The first request of a route learns it (takes the interceptor); on a key of its own.
    const warmUp = `${storeName}-${platform}-${fastPath}-warm-up`;
    await get(agent, `${t.url}/report?burst=${warmUp}`, { 'x-tenant-id': TENANT });
    const runs = await runsPerBurst(t, `${platform} ${storeName} fastPath=${fastPath}`, bursts);
    return { runs, hitTookInterceptor: await hitTakesInterceptor(t, warmUp) };
  } finally {
    await t.close();
  }
}

describe(`${BURST} concurrent cold requests to one @Cached() key on the memory store`, () => {
  it.each(MATRIX)('%s, fast path %s: 1 handler run in each of %i bursts', async (platform, fastPath, bursts) => {
    const { runs, hitTookInterceptor } = await matrixCase({ type: 'memory' }, 'memory', platform, fastPath, bursts);
    expect(runs).toEqual(ones(bursts));
    expect(hitTookInterceptor).toBe(fastPath === 'off');
  }, TIMEOUT);
});

describeWithRedis(`${BURST} concurrent cold requests to one @Cached() key on Redis`, () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it.each(MATRIX)('%s, fast path %s: 1 handler run in each of %i bursts', async (platform, fastPath, bursts) => {
    const { runs, hitTookInterceptor } = await matrixCase({ type: 'redis', url: server.url }, 'redis', platform, fastPath, bursts);
    expect(runs).toEqual(ones(bursts));
    expect(hitTookInterceptor).toBe(fastPath === 'off');
  }, TIMEOUT);
});

/**
 * The same bursts without the gate: the handler works 20 ms, so the burst's requests arrive
 * before, during and after its run, and while its entry is written (the flight must stay
 * joinable until the entry is readable). Every request still gets the one response.
 */
describeWithRedis(`${BURST} concurrent cold requests to one @Cached() key whose handler works 20 ms`, () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  // One row per store, each on its own platform (time).
  it.each([
    ['memory', 'fastify'],
    ['redis', 'express'],
  ] as const)('on %s, %s, fast path on: 1 handler run in each of 3 bursts', async (storeName, platform) => {
    const t = await boot(platform, storeName === 'memory' ? { type: 'memory' } : { type: 'redis', url: server.url });
    try {
      const label = `work-${storeName}-${platform}`;
      await get(agent, `${t.url}/work?burst=${label}-warm-up`, { 'x-tenant-id': TENANT });
      const runs: number[] = [];
      const started = performance.now();
      for (let i = 0; i < 3; i++) {
        const burst = `${label}-${i}`;
        const replies = await getMany(agent, `${t.url}/work?burst=${burst}`, BURST, { 'x-tenant-id': TENANT });
        const n = workRuns.get(burst) ?? 0;
        runs.push(n);
        if (n === 1) expectOneResponse(replies, burst);
      }
      console.log(`${platform} ${storeName} fastPath=on, handler working 20 ms: 3 bursts x ${BURST} requests, handler runs per burst: ${figures(runs)} (${Math.round(performance.now() - started)} ms)`);
      expect(runs).toEqual(ones(3));
    } finally {
      await t.close();
    }
  }, TIMEOUT);
});

/**
 * Right after Redis comes back: the server is killed and started again (empty) on the same
 * port; once the app's cache is healthy again, each burst still runs the handler once.
 */
describeWithRedis('1,000 concurrent cold requests right after a Redis restart', () => {
  let server: RedisServer;
  let t: TestApp | undefined;
  const clock = new ManualClock();
  const cooldownMs = 5_000;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** Kills Redis and waits until the app has seen it go; `during` runs while it is down. */
  async function outage(manager: CacheManager, during: () => Promise<void>): Promise<void> {
    await server.kill();
    await vi.waitFor(async () => expect((await manager.health()).ok).toBe(false), { timeout: 10_000, interval: 20 });
    await during();
    await server.restart();
  }

  /** Polls the app's health until the store answers and the circuit is closed (the cooldown is moved on the clock; a request probes). */
  async function untilHealthy(manager: CacheManager, probe: () => Promise<unknown>): Promise<void> {
    await vi.waitFor(
      async () => {
        const health = await manager.health();
        expect(health.ok).toBe(true);
        if (health.circuit !== 'closed') {
          clock.advance(cooldownMs);
          await probe();
        }
        expect((await manager.health()).circuit).toBe('closed');
      },
      { timeout: 15_000, interval: 20 },
    );
  }

  it.each([
    ['a quiet outage (no request while Redis was down)', 'quiet'],
    ['an outage under traffic (requests served by their handlers, circuit opened then closed)', 'traffic'],
  ] as const)('after %s: 1 handler run in each of 3 bursts on fastify', async (_label, kind) => {
    t = await boot('fastify', { type: 'redis', url: server.url }, { clock, circuitBreaker: { failureThreshold: 5, cooldown: cooldownMs } });
    const manager = t.app.get(CacheManager);
    const app = t;
    await get(agent, `${app.url}/report?burst=restart-${kind}-warm-up`, { 'x-tenant-id': TENANT });
    const before = await coldBurst(app, `restart-${kind}-before`);
    expect(before.runs).toBe(1);

    const down: Reply[] = [];
    await outage(manager, async () => {
      if (kind === 'quiet') return;
      // Fail open: served by their handlers (one run per key), the store failures open the circuit.
      for (let i = 0; i < 10; i++) down.push(await get(agent, `${app.url}/report?burst=restart-down-${i}`, { 'x-tenant-id': TENANT }));
      expect((await manager.health()).circuit).toBe('open');
    });
    expect(down.every((r) => r.status === 200)).toBe(true);
    await untilHealthy(manager, () => get(agent, `${app.url}/report?burst=restart-${kind}-probe`, { 'x-tenant-id': 'probe' }));

    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const burst = `restart-${kind}-${i}`;
      const result = await coldBurst(app, burst);
      runs.push(result.runs);
      if (result.runs === 1) expectJoinedOne(result, burst);
    }
    console.log(`fastify redis fastPath=on after a Redis restart (${kind} outage): 3 bursts x ${BURST} requests, handler runs per burst: ${figures(runs)}`);
    expect(runs).toEqual([1, 1, 1]);
  }, TIMEOUT);
});

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE_NAME = 'nestjs-tenant-cache';

/**
 * A directory holding the compiled package under its name (next to links to the repository's
 * dependencies) and the child app, as an app of a user would have them. The package is
 * compiled into that directory, not into dist/: the packaging test empties dist/ while it
 * builds, and test files run side by side.
 */
function installBuiltPackage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ntc-two-processes-'));
  const modules = join(dir, 'node_modules');
  mkdirSync(modules);
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry.startsWith('.') || entry === PACKAGE_NAME) continue;
    symlinkSync(join(ROOT, 'node_modules', entry), join(modules, entry));
  }
  const pkg = join(modules, PACKAGE_NAME);
  mkdirSync(pkg);
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], {
      cwd: ROOT,
      stdio: 'pipe',
      timeout: 120_000,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`building the package failed:\n${stdout ?? ''}\n${stderr ?? ''}`, { cause: err });
  }
  cpSync(join(ROOT, 'test', 'e2e', 'fixtures', 'report-app.child.mjs'), join(dir, 'report-app.mjs'));
  return dir;
}

interface ChildMessage {
  readonly type: string;
  readonly url?: string;
  readonly runs?: number;
  readonly joins?: number;
}

/** The other app process (`fixtures/report-app.child.mjs`), driven over IPC. */
class ChildApp {
  private readonly inbox: ChildMessage[] = [];
  private waiters: { type: string; resolve: (m: ChildMessage) => void; reject: (err: Error) => void }[] = [];
  private stderr = '';
  url = '';

  private constructor(private readonly child: ChildProcess) {
    child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    child.on('message', (m: ChildMessage) => {
      const waiter = this.waiters.find((w) => w.type === m.type);
      if (waiter === undefined) this.inbox.push(m);
      else {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(m);
      }
    });
    child.once('exit', (code, signal) => {
      for (const w of this.waiters) w.reject(new Error(`the child app exited (${code ?? signal}) waiting for "${w.type}"\n${this.stderr}`));
      this.waiters = [];
    });
  }

  static async start(dir: string, options: { redisUrl: string; platform: Platform }): Promise<ChildApp> {
    const args = JSON.stringify({ ...options, stampedeWaitChannel: CACHE_CHANNELS.stampedeWait });
    const child = fork(join(dir, 'report-app.mjs'), [args], { cwd: dir, execArgv: [], stdio: ['ignore', 'inherit', 'pipe', 'ipc'], env: { ...process.env, NODE_OPTIONS: '' } });
    const app = new ChildApp(child);
    try {
      app.url = (await app.next('ready')).url!;
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    return app;
  }

  /** The next message of `type` (one that came already, or the next to come). */
  next(type: string): Promise<ChildMessage> {
    const i = this.inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.reject(new Error(`the child app has exited\n${this.stderr}`));
    return new Promise((resolve, reject) => this.waiters.push({ type, resolve, reject }));
  }

  send(message: { type: string; expected?: number }): void {
    this.child.send(message);
  }

  /** Sends `message` and waits for the answer of type `answer`. */
  ask(message: { type: string; expected?: number }, answer: string): Promise<ChildMessage> {
    const reply = this.next(answer);
    this.send(message);
    return reply;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send({ type: 'close' });
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(killer);
  }
}

/**
 * Two processes on one Redis: the test's app and a child process's app (the compiled package)
 * each get half of a burst of cold requests at the same moment. Across processes the Redis lock
 * decides: its holder runs the handler, the other process waits for its entry. Both handlers
 * are held until all the requests of both apps have joined or run.
 */
describeWithRedis('2 app processes x 500 concurrent cold requests on one Redis', () => {
  const EACH = 500;
  let server: RedisServer;
  let dir: string;
  beforeAll(async () => {
    dir = installBuiltPackage();
    server = await startRedis();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const headers = { 'x-tenant-id': TENANT };
  const url = (app: string, burst: string): string => `${app}/report?burst=${burst}`;

  /**
   * `EACH` cold requests to each app; `childLater`: the child's are sent once this process's
   * handler runs (it holds the lock), so the child's leader finds the lock taken; otherwise all
   * at the same moment. Releases both handlers once every request joined or ran.
   */
  async function twoProcessBurst(t: TestApp, child: ChildApp, burst: string, childLater: boolean): Promise<{ here: number; there: number; joins: number; together: boolean; joinMs: number; replies: Reply[] }> {
    const { reached, ran } = gate.arm(EACH, { autoOpen: false, hangMs: 30_000 });
    await child.ask({ type: 'arm', expected: EACH }, 'armed');
    const started = performance.now();
    const childReached = child.next('reached');
    const mine = getMany(agent, url(t.url, burst), EACH, headers);
    const theirs = childLater ? ran.then(() => getMany(agent, url(child.url, burst), EACH, headers)) : getMany(agent, url(child.url, burst), EACH, headers);
    let hang: NodeJS.Timeout | undefined;
    const together = await Promise.race([
      Promise.all([reached, childReached]).then(() => true),
      new Promise<boolean>((resolve) => (hang = setTimeout(() => resolve(false), 20_000))),
    ]);
    clearTimeout(hang);
    const joinMs = Math.round(performance.now() - started);
    gate.open();
    child.send({ type: 'open' });
    const replies = [...(await mine), ...(await theirs)];
    const counts = await child.ask({ type: 'counts' }, 'counts');
    return { here: gate.runs, there: counts.runs!, joins: gate.joins + counts.joins!, together, joinMs, replies };
  }

  it.each([
    ['fastify', 'express', 5, 'all sent at the same moment'],
    ['express', 'fastify', 3, 'all sent at the same moment'],
    ['fastify', 'express', 3, "the child's sent while this process computes"],
  ] as const)('this process on %s, the child on %s: 1 handler run in total in each of %i bursts, %s', async (platform, childPlatform, bursts, when) => {
    const childLater = when !== 'all sent at the same moment';
    const [t, child] = await Promise.all([boot(platform, { type: 'redis', url: server.url }), ChildApp.start(dir, { redisUrl: server.url, platform: childPlatform })]);
    try {
      const label = `two-${platform}-${childLater ? 'later' : 'together'}`;
      // Learn the route in both apps and open the sockets (so the bursts are not slowed by connecting), on keys of their own.
      await Promise.all([getMany(agent, url(t.url, `${label}-warm-up-a`), EACH, headers), getMany(agent, url(child.url, `${label}-warm-up-b`), EACH, headers)]);
      const rows: string[] = [];
      const totals: number[] = [];
      const intime: boolean[] = [];
      let slowest = 0;
      for (let i = 0; i < bursts; i++) {
        const burst = `${label}-${i}`;
        const { here, there, joins, together, joinMs, replies } = await twoProcessBurst(t, child, burst, childLater);
        slowest = Math.max(slowest, joinMs);
        rows.push(`${here}+${there}`);
        totals.push(here + there);
        intime.push(together);
        if (here + there === 1) {
          // The other process's leader waited for the lock holder's entry: a join like its followers'.
          expect(joins).toBe(2 * EACH - 1);
          expectOneResponse(replies, burst);
        }
      }
      console.log(`2 processes (${platform} here + ${childPlatform} child) on one Redis, ${when}: ${bursts} bursts x ${EACH}+${EACH} requests, handler runs per burst (here+child): ${rows.join(',')} (every request joined or ran within ${slowest} ms of the first being sent; the other process waits up to 5 s for the lock holder)`);
      expect(intime, 'every request of both apps joined or ran before the hang guard').toEqual(intime.map(() => true));
      expect(totals).toEqual(ones(bursts));
    } finally {
      await Promise.all([t.close(), child.close()]);
    }
  }, TIMEOUT);
});
