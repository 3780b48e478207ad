import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The packaging proof: the BUILT package, loaded by its name through its `exports` map, the way
 * users load it — ESM `import` and CommonJS `require` (require(esm), Node >= 20.19) — from a
 * consumer directory outside the repository. Nothing here goes through the vitest alias: every
 * check runs in a child `node` process.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  main: string;
  types: string;
  exports: Record<string, string | Record<string, string>>;
};
/** Names a user imports in the README's first lines; the package must export them, from ESM and CJS alike. */
const PUBLIC_NAMES = ['CacheModule', 'CacheManager', 'Cached', 'InvalidateTags', 'NoCache', 'fromHeader', 'TENANT_ID'];

let consumer: string; // node_modules/nestjs-tenant-cache -> the repository (as `npm link` would do)
let noRedisConsumer: string; // a copy of the package whose dependency tree has neither optional peer: no ioredis, no @opentelemetry/api
const tempDirs: string[] = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function node(cwd: string, args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, args, { cwd, timeout: 30_000, env: { ...process.env, NODE_OPTIONS: '' } }, (err, stdout, stderr) => {
      done({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

/** Runs an ES module given as source, in `cwd`; resolves its last stdout line parsed as JSON. */
async function esm(cwd: string, source: string): Promise<unknown> {
  return lastJsonLine(await node(cwd, ['--input-type=module', '-e', source]));
}

/** Runs a CommonJS script given as source, in `cwd`; resolves its last stdout line parsed as JSON. */
async function cjs(cwd: string, source: string): Promise<unknown> {
  return lastJsonLine(await node(cwd, ['--input-type=commonjs', '-e', source]));
}

function lastJsonLine(run: Run): unknown {
  if (run.code !== 0) throw new Error(`child node exited with ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`);
  const lines = run.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!);
}

function jsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.js'))
    .map((entry) => join(entry.parentPath, entry.name));
}

beforeAll(() => {
  // One build per run; a failing build fails every test below with tsc's output.
  try {
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000, encoding: 'utf8' });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`npm run build failed:\n${stdout ?? ''}\n${stderr ?? ''}`, { cause: err });
  }

  consumer = mkdtempSync(join(tmpdir(), 'ntc-consumer-'));
  tempDirs.push(consumer);
  mkdirSync(join(consumer, 'node_modules'));
  symlinkSync(ROOT, join(consumer, 'node_modules', PKG.name), 'dir');
  // The consumer's own dependencies (an app has Nest installed next to the library).
  symlinkSync(join(ROOT, 'node_modules', '@nestjs'), join(consumer, 'node_modules', '@nestjs'), 'dir');
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));

  // An app that never installed the optional peers ioredis and @opentelemetry/api: the package
  // is copied (a symlink would resolve its imports from the repository's node_modules, which has
  // both), and its node_modules links every installed package except those.
  noRedisConsumer = mkdtempSync(join(tmpdir(), 'ntc-no-ioredis-'));
  tempDirs.push(noRedisConsumer);
  const modules = join(noRedisConsumer, 'node_modules');
  mkdirSync(modules);
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry === 'ioredis' || entry === '@opentelemetry' || entry === '.bin' || entry === PKG.name) continue;
    symlinkSync(join(ROOT, 'node_modules', entry), join(modules, entry));
  }
  const copy = join(modules, PKG.name);
  mkdirSync(copy);
  cpSync(join(ROOT, 'package.json'), join(copy, 'package.json'));
  cpSync(join(ROOT, 'dist'), join(copy, 'dist'), { recursive: true });
  writeFileSync(join(noRedisConsumer, 'package.json'), JSON.stringify({ name: 'consumer-without-ioredis', private: true }));
}, 180_000);

afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('package.json', () => {
  it('has an exports map with types, import, require and default, each pointing at a built file', () => {
    const root = PKG.exports['.'];
    expect(typeof root).toBe('object');
    const conditions = root as Record<string, string>;
    // `types` must come first: TypeScript takes the first matching condition.
    expect(Object.keys(conditions)[0]).toBe('types');
    for (const condition of ['types', 'import', 'require', 'default']) {
      expect(conditions[condition], `exports["."].${condition}`).toMatch(/^\.\/dist\//);
      expect(existsSync(join(ROOT, conditions[condition]!)), `${conditions[condition]} exists`).toBe(true);
    }
    expect(PKG.exports['./package.json']).toBe('./package.json');
    const redis = PKG.exports['./redis'] as Record<string, string>;
    expect(Object.keys(redis)).toEqual(['types', 'import', 'require', 'default']);
    for (const target of Object.values(redis)) expect(existsSync(join(ROOT, target)), `${target} exists`).toBe(true);
  });

  it('has main and types fields (for tools that ignore exports) pointing at built files, and dist/index.d.ts', () => {
    expect(existsSync(join(ROOT, PKG.main))).toBe(true);
    expect(existsSync(join(ROOT, PKG.types))).toBe(true);
    const dts = readFileSync(join(ROOT, 'dist', 'index.d.ts'), 'utf8');
    for (const name of ['CacheModule', 'CacheManager', 'Cached', 'fromHeader']) expect(dts).toContain(name);
  });
});

describe('loading the package by its name', () => {
  it('import { CacheModule, CacheManager, Cached, fromHeader } works from an ES module, and the built CacheManager caches', async () => {
    const result = await esm(
      consumer,
      `
      import { CacheModule, CacheManager, Cached, fromHeader } from 'nestjs-tenant-cache';
      const resolved = import.meta.resolve('nestjs-tenant-cache');
      const manager = CacheManager.createSync();
      await manager.forTenant('acme').set('greeting', 'hello');
      const acme = await manager.forTenant('acme').get('greeting');
      const globex = await manager.forTenant('globex').get('greeting');
      await manager.close();
      console.log(JSON.stringify({
        resolved,
        types: [typeof CacheModule, typeof CacheModule.forRoot, typeof CacheModule.forRootAsync, typeof CacheManager, typeof Cached, typeof fromHeader],
        acme, globex: globex ?? null,
      }));
      `,
    );
    const { resolved, types, acme, globex } = result as { resolved: string; types: string[]; acme: string; globex: string | null };
    // Through the exports map, to the built file, not to lib/.
    expect(resolve(fileURLToPath(resolved))).toBe(resolve(ROOT, (PKG.exports['.'] as Record<string, string>).import!));
    expect(types).toEqual(['function', 'function', 'function', 'function', 'function', 'function']);
    expect(acme).toBe('hello');
    expect(globex).toBeNull();
  });

  it("require('nestjs-tenant-cache') works from CommonJS (require(esm)) and exposes the same names as import", async () => {
    const required = (await cjs(
      consumer,
      `
      const m = require('nestjs-tenant-cache');
      console.log(JSON.stringify({ resolved: require.resolve('nestjs-tenant-cache'), names: Object.keys(m).filter((k) => k !== '__esModule' && k !== 'module.exports').sort() }));
      `,
    )) as { resolved: string; names: string[] };
    const imported = (await esm(consumer, `import * as m from 'nestjs-tenant-cache'; console.log(JSON.stringify(Object.keys(m).sort()));`)) as string[];

    expect(resolve(required.resolved)).toBe(resolve(ROOT, (PKG.exports['.'] as Record<string, string>).require!));
    for (const name of PUBLIC_NAMES) expect(imported, `ESM exports ${name}`).toContain(name);
    expect(required.names).toEqual(imported);
  });

  it("'nestjs-tenant-cache/redis' gives the RedisStore class, by import and by require", async () => {
    const imported = (await esm(consumer, `import { RedisStore, createRedisStore } from 'nestjs-tenant-cache/redis'; console.log(JSON.stringify([typeof RedisStore, typeof createRedisStore, RedisStore.name]));`)) as string[];
    expect(imported).toEqual(['function', 'function', 'RedisStore']);
    const required = (await cjs(consumer, `const m = require('nestjs-tenant-cache/redis'); console.log(JSON.stringify([typeof m.RedisStore, m.RedisStore.name]));`)) as string[];
    expect(required).toEqual(['function', 'RedisStore']);
  });

  it('gives CommonJS and ESM callers in one process the same classes (no dual-package hazard)', async () => {
    const result = await esm(
      consumer,
      `
      import { createRequire } from 'node:module';
      import * as esm from 'nestjs-tenant-cache';
      const cjs = createRequire(import.meta.url)('nestjs-tenant-cache');
      console.log(JSON.stringify(${JSON.stringify(PUBLIC_NAMES)}.map((n) => [n, esm[n] !== undefined && esm[n] === cjs[n]])));
      `,
    );
    expect(result).toEqual(PUBLIC_NAMES.map((name) => [name, true]));
  });

  it('boots a Nest application context with CacheModule.forRoot from the built code (tsc-emitted decorator metadata)', async () => {
    const result = await esm(
      consumer,
      `
      import { Module } from '@nestjs/common';
      import { NestFactory } from '@nestjs/core';
      import { CacheModule, CacheManager, fromHeader } from 'nestjs-tenant-cache';
      class AppModule {}
      Module({ imports: [CacheModule.forRoot({ store: { type: 'memory', maxEntries: 100 }, tenant: fromHeader('x-tenant-id') })] })(AppModule);
      const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
      const manager = app.get(CacheManager);
      const value = await manager.forTenant('acme').wrap('k', () => 42);
      await app.close();
      console.log(JSON.stringify({ isManager: manager instanceof CacheManager, value }));
      `,
    );
    expect(result).toEqual({ isManager: true, value: 42 });
  });
});

describe('the built dist', () => {
  it('has no top-level await in any module (require(esm) of every file succeeds)', async () => {
    const files = jsFilesUnder(join(ROOT, 'dist'));
    expect(files.length).toBeGreaterThan(10);
    // Positive control: on this Node, require() of a module with top-level await does fail.
    const control = join(consumer, 'tla-control.mjs');
    writeFileSync(control, 'await Promise.resolve();\nexport const x = 1;\n');
    const script = `
      const failures = [];
      for (const file of ${JSON.stringify([control, ...files])}) {
        try { require(file); } catch (err) { failures.push([file, err.code ?? String(err)]); }
      }
      console.log(JSON.stringify(failures));
    `;
    const failures = (await cjs(consumer, script)) as Array<[string, string]>;
    expect(failures[0]).toEqual([control, 'ERR_REQUIRE_ASYNC_MODULE']);
    expect(failures.slice(1).map(([file, code]) => `${relative(ROOT, file)}: ${code}`)).toEqual([]);
  });

  it('loads neither ioredis nor @opentelemetry/api when imported: it works, memory store and telemetry included, for an app without them', async () => {
    const result = await esm(
      noRedisConsumer,
      `
      let ioredis = 'resolvable';
      try { await import('ioredis'); } catch (err) { ioredis = err.code; }
      let otel = 'resolvable';
      try { await import('@opentelemetry/api'); } catch (err) { otel = err.code; }
      const { CacheManager } = await import('nestjs-tenant-cache');
      const manager = await CacheManager.create({ store: { type: 'memory' } });
      await manager.forTenant('acme').set('k', 'v');
      const value = await manager.forTenant('acme').get('k');
      // Computations run in a (no-op) span, and every event is counted by (no-op) instruments.
      const wrapped = await manager.forTenant('acme').wrap('w', () => 'computed');
      await manager.close();
      let redis;
      try { await CacheManager.create({ store: { type: 'redis', url: 'redis://127.0.0.1:1' } }); redis = 'created'; }
      catch (err) { redis = { name: err.name, message: err.message }; }
      console.log(JSON.stringify({ ioredis, otel, value, wrapped, redis }));
      `,
    );
    const { ioredis, otel, value, wrapped, redis } = result as { ioredis: string; otel: string; value: string; wrapped: string; redis: { name: string; message: string } };
    // The setup really hides ioredis from this consumer...
    expect(ioredis).toBe('ERR_MODULE_NOT_FOUND');
    expect(otel).toBe('ERR_MODULE_NOT_FOUND');
    // ...yet the package loads and caches on memory, telemetry a no-op,
    expect(value).toBe('v');
    expect(wrapped).toBe('computed');
    // and asking for Redis explains what to install instead of crashing at import time.
    expect(redis.name).toBe('CacheConfigError');
    expect(redis.message).toMatch(/ioredis/);
  });
});
