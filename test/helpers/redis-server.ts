import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, it } from 'vitest';

/**
 * Real redis-server processes for tests: each test file starts its own on free ports (never the
 * machine's shared Redis on 6379), and every process is killed on stop() and on process exit.
 */

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** Kills the process (if running) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL: the server vanishes without closing connections cleanly. */
  kill(): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Starts a fresh (empty) server on the same port, killing the old one if it still runs. */
  restart(): Promise<void>;
}

export interface RedisClusterHandle {
  readonly nodes: readonly RedisServer[];
  /** Startup nodes for ioredis `Cluster`. */
  readonly startupNodes: ReadonlyArray<{ host: string; port: number }>;
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** Extra redis-server arguments, e.g. ['--cluster-enabled', 'yes']. */
  readonly args?: readonly string[];
  /**
   * Run as a Sentinel (`redis-server sentinel.conf --sentinel`) with these config lines
   * (`sentinel monitor …`); port, bind and dir are added. Sentinel rewrites the file, so it
   * lives in the server's temp dir.
   */
  readonly sentinelConfig?: readonly string[];
}

const HOST = '127.0.0.1';
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous: on exit nothing async runs any more, but kill() is a plain syscall.
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** Whether `binary` runs on this machine. */
export function hasBinary(binary: string): boolean {
  const result = spawnSync(binary, ['--version'], { stdio: 'ignore' });
  return result.error === undefined && result.status === 0;
}

/** A port that was free a moment ago (bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') return reject(new Error('no port'));
      server.close(() => resolve(address.port));
    });
  });
}

async function pollUntil(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    // Polling a real process that is starting up; there is no clock to move here.
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** One command on a short-lived connection (no retries, no offline queue). */
export async function rawCommand(port: number, ...args: Array<string | number>): Promise<unknown> {
  const client = new Redis({ host: HOST, port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: true, connectTimeout: 1_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.call(String(args[0]), ...args.slice(1).map(String));
  } finally {
    client.disconnect();
  }
}

function spawnServer(port: number, dir: string, args: readonly string[], sentinelConfig: readonly string[] | undefined): ChildProcess {
  let argv = ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir, ...args];
  if (sentinelConfig !== undefined) {
    const file = join(dir, 'sentinel.conf');
    writeFileSync(file, [`port ${port}`, `bind ${HOST}`, `dir ${dir}`, ...sentinelConfig, ''].join('\n'));
    argv = [file, '--sentinel', ...args];
  }
  const child = spawn('redis-server', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts a redis-server on a free port and waits until it answers PING. */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  installExitHook();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ntc-redis-'));
  const args = opts.args ?? [];
  let child = spawnServer(port, dir, args, opts.sentinelConfig);
  let stopped = false;

  const waitUp = async (c: ChildProcess): Promise<void> => {
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await pollUntil(`redis-server on port ${port} to answer PING`, async () => {
      if (c.exitCode !== null) throw new Error(`redis-server exited with ${c.exitCode}: ${stderr}`);
      return (await rawCommand(port, 'PING')) === 'PONG';
    });
  };
  const killNow = async (): Promise<void> => {
    child.kill('SIGKILL');
    await waitExit(child);
  };

  await waitUp(child);
  return {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      await killNow();
      rmSync(dir, { recursive: true, force: true });
    },
    kill: killNow,
    pause() {
      child.kill('SIGSTOP');
    },
    resume() {
      child.kill('SIGCONT');
    },
    async restart() {
      await killNow();
      child = spawnServer(port, dir, args, opts.sentinelConfig);
      await waitUp(child);
    },
  };
}

export interface StartRedisClusterOptions {
  /** Replicas per primary (nodes started: primaries × (1 + replicas)). */
  readonly replicas?: number;
  /** `cluster-node-timeout` in milliseconds: how long a node may not answer before it is marked failed (and, with a replica, failed over). */
  readonly nodeTimeoutMs?: number;
  /** Extra redis-server arguments for every node, e.g. ['--cluster-require-full-coverage', 'no']. */
  readonly args?: readonly string[];
}

/**
 * Starts `primaries` cluster-enabled primaries (and `replicas` replicas each), creates the
 * cluster and waits until every node says cluster_state:ok and knows the whole slot map (with
 * its replicas).
 */
export async function startRedisCluster(primaries = 3, opts: StartRedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const replicas = opts.replicas ?? 0;
  const nodeArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 5000), ...(opts.args ?? [])];
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < primaries * (1 + replicas); i++) nodes.push(await startRedis({ args: nodeArgs }));
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr || create.stdout}`);
    for (const node of nodes) {
      await pollUntil(`cluster_state:ok on port ${node.port}`, async () => String(await rawCommand(node.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok'));
    }
    // Every node must also know all the others (replicas included), or ioredis may get an incomplete slot map.
    for (const node of nodes) {
      await pollUntil(`full slot map on port ${node.port}`, async () => {
        const slots = (await rawCommand(node.port, 'CLUSTER', 'SLOTS')) as unknown[][];
        return Array.isArray(slots) && slots.length === primaries && slots.every((range) => range.length === 3 + replicas);
      });
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  return {
    nodes,
    startupNodes: nodes.map((n) => ({ host: n.host, port: n.port })),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

export interface RedisSentinelHandle {
  /** The name the sentinels monitor the primary under (ioredis `name`). */
  readonly name: string;
  readonly primary: RedisServer;
  readonly replicas: readonly RedisServer[];
  readonly sentinels: readonly RedisServer[];
  /** ioredis `sentinels`. */
  readonly sentinelNodes: ReadonlyArray<{ host: string; port: number }>;
  stop(): Promise<void>;
}

export interface StartRedisSentinelOptions {
  readonly replicas?: number;
  readonly sentinels?: number;
  /** `sentinel down-after-milliseconds`: how long the primary may not answer before it is thought down. */
  readonly downAfterMs?: number;
  /** `sentinel failover-timeout`, in milliseconds. */
  readonly failoverTimeoutMs?: number;
}

/**
 * A primary, its replicas (in sync) and sentinels monitoring it (quorum: a majority), all real
 * processes on free ports. Waits until every sentinel knows the replicas and the other sentinels,
 * so a failover can start as soon as the primary fails.
 */
export async function startRedisSentinel(opts: StartRedisSentinelOptions = {}): Promise<RedisSentinelHandle> {
  const name = 'ntc-primary';
  const started: RedisServer[] = [];
  const replicas: RedisServer[] = [];
  const sentinels: RedisServer[] = [];
  try {
    const primary = await startRedis();
    started.push(primary);
    for (let i = 0; i < (opts.replicas ?? 1); i++) {
      const replica = await startRedis({ args: ['--replicaof', HOST, String(primary.port)] });
      started.push(replica);
      replicas.push(replica);
    }
    await pollUntil('the replicas in sync', async () => {
      const info = String(await rawCommand(primary.port, 'INFO', 'replication'));
      return (info.match(/^slave\d+:.*state=online/gm) ?? []).length === replicas.length;
    });
    const count = opts.sentinels ?? 3;
    const config = [
      `sentinel monitor ${name} ${HOST} ${primary.port} ${Math.floor(count / 2) + 1}`,
      `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${name} ${opts.failoverTimeoutMs ?? 3000}`,
      `sentinel parallel-syncs ${name} 1`,
    ];
    for (let i = 0; i < count; i++) {
      const sentinel = await startRedis({ sentinelConfig: config });
      started.push(sentinel);
      sentinels.push(sentinel);
    }
    for (const sentinel of sentinels) {
      await pollUntil(`sentinel on port ${sentinel.port} to know its peers and replicas`, async () => {
        const info = (await rawCommand(sentinel.port, 'SENTINEL', 'MASTER', name)) as string[];
        const field = (f: string): number => Number(info[info.indexOf(f) + 1]);
        return field('num-slaves') === replicas.length && field('num-other-sentinels') === count - 1;
      }, 20_000);
    }
    return {
      name,
      primary,
      replicas,
      sentinels,
      sentinelNodes: sentinels.map((s) => ({ host: s.host, port: s.port })),
      async stop() {
        await Promise.all(started.map((n) => n.stop()));
      },
    };
  } catch (err) {
    await Promise.all(started.map((n) => n.stop()));
    throw err;
  }
}

const INSTALL_HINT = 'Install it (Debian/Ubuntu: `apt-get install redis-server`, which brings redis-cli; macOS: `brew install redis`) and run the tests again.';

/**
 * `describe` for suites that need redis-server (and redis-cli for clusters). Without the
 * binaries: on CI (`CI=true`) the suite fails with a clear message; locally it is skipped
 * with a loud warning, so a missing Redis is never mistaken for a pass.
 */
export function describeWithRedis(name: string, fn: () => void, opts: { needsCli?: boolean } = {}): void {
  const missing = ['redis-server', ...(opts.needsCli ? ['redis-cli'] : [])].filter((b) => !hasBinary(b));
  if (missing.length === 0) {
    describe(name, fn);
    return;
  }
  const message = `${missing.join(' and ')} not found on PATH; the suite "${name}" needs a real Redis. ${INSTALL_HINT}`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has redis-server available', () => {
        throw new Error(message);
      });
    });
    return;
  }
  const banner = '!'.repeat(100);
  console.warn(`\n${banner}\nSKIPPED: ${message}\n(On CI, with CI=true, this suite fails instead.)\n${banner}\n`);
  describe.skipIf(true)(name, fn);
}
