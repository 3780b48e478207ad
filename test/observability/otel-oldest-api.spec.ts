import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startRedis, type RedisServer } from '../helpers/redis-server.js';

/**
 * `@opentelemetry/api` is an optional peer (`^1.3.0`): the library uses the app's copy. This
 * proves it with the oldest API of the range: a real app (test/observability/fixtures/otel-oldest/,
 * its own package.json and lockfile: api 1.3.0, sdk-metrics and sdk-trace-base 1.8.0, the
 * newest SDK that takes that API) installed in a temp dir with the BUILT library copied into its
 * node_modules, run as a child process over real HTTP and a real redis-server. Every metric and
 * span the README's "Observability" section names must arrive in the SDK.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = join(ROOT, 'test/observability/fixtures/otel-oldest');
const METRICS = ['cache.hits', 'cache.misses', 'cache.stale_served', 'cache.bypasses', 'cache.puts', 'cache.evictions', 'cache.errors', 'cache.stampede_waits', 'cache.circuit.transitions', 'cache.store.duration'];
const SPANS = ['cache.compute'];
const ATTRIBUTES = ['cache.tenant', 'cache.operation', 'cache.circuit.state'];

interface Point {
  scope: string;
  name: string;
  attributes: Record<string, unknown>;
  value: number;
}
interface Collected {
  api: string;
  resolvedApi: string;
  xcache: Array<string | null>;
  metrics: Point[];
  spans: Array<{ name: string; scope: string; attributes: Record<string, unknown> }>;
}

let app: string;
let redis: RedisServer;
let collected: Collected;

function run(cmd: string, args: string[], cwd: string, timeout: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, timeout, env: { ...process.env, NODE_OPTIONS: '' } }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${cmd} ${args.join(' ')} failed (${err.message})\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
      else resolve(stdout);
    });
  });
}

beforeAll(async () => {
  app = mkdtempSync(join(tmpdir(), 'ntc-otel-oldest-'));
  for (const file of ['package.json', 'package-lock.json', 'app.mjs']) cpSync(join(FIXTURE, file), join(app, file));
  // The app's own resolution, from its lockfile: this is where the old API comes from. A
  // missing registry or cache fails here, loudly: the test cannot prove anything without it.
  await run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], app, 180_000);
  // The library as users get it: built, in the app's node_modules (not a symlink, so its
  // require('@opentelemetry/api') resolves from the app, as an installed package's does).
  const pkg = join(app, 'node_modules', 'nestjs-tenant-cache');
  mkdirSync(pkg, { recursive: true });
  execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist'), '--declaration', 'false', '--declarationMap', 'false', '--sourceMap', 'false'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  // The app's other dependencies, which do not depend on the API: the repository's.
  for (const name of ['@nestjs', 'lru-cache', 'ioredis', 'reflect-metadata', 'rxjs']) symlinkSync(join(ROOT, 'node_modules', name), join(app, 'node_modules', name));
  redis = await startRedis();
  const dead = `redis://127.0.0.1:${await freePort()}`;
  const stdout = await run(process.execPath, ['app.mjs', redis.url, dead], app, 60_000);
  collected = JSON.parse(stdout.trim().split('\n').at(-1)!) as Collected;
}, 300_000);

afterAll(async () => {
  await redis?.stop();
  if (app !== undefined) rmSync(app, { recursive: true, force: true });
});

function points(name: string, scope?: string, operation?: string): Point[] {
  return collected.metrics.filter((p) => p.name === name && (scope === undefined || p.scope === scope) && (operation === undefined || p.attributes['cache.operation'] === operation));
}
function total(list: Point[]): number {
  return list.reduce((n, p) => n + p.value, 0);
}

describe('an app on @opentelemetry/api 1.3.0 (the oldest of the peer range) with SDK 1.8.0', () => {
  it('resolves the old API, in the app, for the app and the library alike', () => {
    console.log(`[otel-oldest] api ${collected.api} from ${collected.resolvedApi}; X-Cache ${collected.xcache.join(', ')}`);
    expect(collected.api).toBe('1.3.0');
    expect(collected.resolvedApi.startsWith(app)).toBe(true);
    expect(collected.xcache).toEqual(['MISS', 'HIT', 'BYPASS']);
  });

  it("receives every metric and span the README's Observability section names", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Observability\n'), readme.indexOf('\n## ', readme.indexOf('\n## Observability\n') + 5));
    const named = new Set([...section.matchAll(/`(cache\.[a-z_.]+)`/g)].map((m) => m[1]!));
    // The lists above are the README's, no more and no less.
    expect([...named].sort()).toEqual([...METRICS, ...SPANS, ...ATTRIBUTES].sort());

    const figures = METRICS.map((name) => `${name}=${total(points(name))}`);
    console.log(`[otel-oldest] ${figures.join(' ')}; spans ${collected.spans.map((s) => s.name).join(', ')}`);
    for (const name of METRICS) expect(total(points(name)), `${name} arrived`).toBeGreaterThan(0);
    for (const name of SPANS) expect(collected.spans.some((s) => s.name === name), `span ${name} arrived`).toBe(true);
  });

  it('carries the documented attributes: the tenant, the operation, the circuit state', () => {
    expect(points('cache.hits', 'http').map((p) => p.attributes['cache.tenant'])).toEqual(['acme']);
    expect(points('cache.circuit.transitions', 'down').some((p) => p.attributes['cache.circuit.state'] === 'open')).toBe(true);
    const span = collected.spans.find((s) => s.name === 'cache.compute' && s.scope === 'memory');
    expect(span?.attributes['cache.tenant']).toBe('acme');
  });

  it('times every store read and write: synchronous memory hits, and the put of wrap() on Redis', () => {
    const memoryReads = total(points('cache.store.duration', 'hits', 'read'));
    const memoryHits = total(points('cache.hits', 'hits'));
    const redisWrites = total(points('cache.store.duration', 'redis', 'write'));
    const redisPuts = total(points('cache.puts', 'redis'));
    const httpReads = total(points('cache.store.duration', 'http', 'read'));
    console.log(`[otel-oldest] http (MISS, HIT, BYPASS): ${httpReads} timed reads; memory: ${memoryHits} hits, ${memoryReads} timed reads; redis: ${redisPuts} puts, ${redisWrites} timed writes, ${total(points('cache.store.duration', 'redis', 'read'))} timed reads`);
    // Three wrap() hits, each one synchronous read of the memory store, and nothing else read.
    expect(memoryHits).toBe(3);
    expect(memoryReads).toBe(3);
    expect(redisPuts).toBe(1);
    expect(redisWrites).toBeGreaterThanOrEqual(redisPuts);
    // The MISS: a synchronous peek, then the computation's read and its basis; the HIT: a
    // synchronous read of the memory store (it used to have no point: 2 here).
    expect(httpReads).toBeGreaterThanOrEqual(4);
  });
});
