import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The package as npm hands it to users: `npm pack`ed (from a staging copy, so a build racing in
 * another test file never sees a half-written dist/), then installed by `npm install <tarball>`
 * into a fresh app, the way a new user does — peers and all, from the npm cache when it has them
 * (`--prefer-offline`), else from the registry. Under each Node major CI runs (the suite's node
 * runs npm too).
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; files: string[]; dependencies: Record<string, string> };

interface Packed {
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: Array<{ path: string; size: number }>;
}

let work: string;
let app: string;
let packed: Packed;
let installOutput: string;

function run(cmd: string, args: string[], cwd: string, timeout: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, timeout, env: { ...process.env, NODE_OPTIONS: '' }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${cmd} ${args.join(' ')} failed (${err.message})\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

function duBytes(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((n, entry) => n + duBytes(join(path, entry)), 0);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ntc-tarball-'));
  const stage = join(work, 'stage');
  mkdirSync(stage);
  for (const file of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']) cpSync(join(ROOT, file), join(stage, file));
  execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(stage, 'dist')], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], stage, 60_000);
  packed = (JSON.parse(stdout) as Packed[])[0]!;

  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true }));
  const tarball = join(work, `${PKG.name}-${PKG.version}.tgz`);
  const install = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app, 240_000);
  installOutput = install.stdout + install.stderr;
}, 400_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds only what users need: the built code and types, README, LICENSE, CHANGELOG; no source maps', () => {
    const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} kB`;
    const maps = packed.files.filter((f) => f.path.endsWith('.map'));
    const outside = packed.files.map((f) => f.path).filter((path) => !path.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(path));
    const dist = packed.files.filter((f) => f.path.startsWith('dist/'));
    const other = dist.filter((f) => !f.path.endsWith('.js') && !f.path.endsWith('.d.ts'));
    console.log(`[tarball] ${kb(packed.size)} packed, ${kb(packed.unpackedSize)} unpacked, ${packed.entryCount} files (${dist.filter((f) => f.path.endsWith('.js')).length} .js, ${dist.filter((f) => f.path.endsWith('.d.ts')).length} .d.ts)`);
    expect(maps.map((f) => f.path)).toEqual([]);
    expect(outside).toEqual([]);
    expect(other.map((f) => f.path)).toEqual([]);
    expect(packed.files.map((f) => f.path)).toContain('LICENSE');
  });
});

describe('npm install <tarball> into a fresh app', () => {
  it('prints no install-script warning (the default install runs no install script)', () => {
    const lines = installOutput.split('\n').filter((line) => /install[- ]scripts?/i.test(line));
    console.log(`[tarball] npm install output:\n${installOutput.trim()}`);
    expect(lines).toEqual([]);
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
    expect(Object.entries(lock.packages).filter(([, meta]) => meta.hasInstallScript === true).map(([path]) => path)).toEqual([]);
  });

  it('weighs the package and its runtime dependencies (printed), and installs no optional peer', () => {
    const modules = join(app, 'node_modules');
    const own = duBytes(join(modules, PKG.name));
    const deps = Object.keys(PKG.dependencies).map((name) => [name, duBytes(join(modules, name))] as const);
    const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;
    console.log(`[tarball] runtime install: ${mb(own + deps.reduce((n, [, b]) => n + b, 0))} (${PKG.name} ${mb(own)}, ${deps.map(([name, bytes]) => `${name} ${mb(bytes)}`).join(', ')}); whole fresh app with the Nest peers: ${mb(duBytes(modules))}`);
    for (const optional of ['ioredis', '@opentelemetry/api', 'nestjs-cls']) expect(() => statSync(join(modules, optional)), `${optional} not installed`).toThrow(/ENOENT/);
  });

  // `nestjs-tenant-cache/redis` needs ioredis, which this app has not installed (see package-manifest.spec.ts).
  it('import and require by name work in the fresh app, and the built cache caches', async () => {
    const esm = await run(process.execPath, ['--input-type=module', '-e', `import * as m from '${PKG.name}'; console.log(JSON.stringify([typeof m.CacheModule, typeof m.CacheManager, typeof m.Cached]))`], app, 30_000);
    expect(JSON.parse(esm.stdout.trim())).toEqual(['function', 'function', 'function']);
    const cjs = await run(process.execPath, ['--input-type=commonjs', '-e', `const m = require('${PKG.name}'); console.log(JSON.stringify([typeof m.CacheModule, typeof m.CacheManager, typeof m.Cached, require.resolve('${PKG.name}')]))`], app, 30_000);
    const [module, manager, store, resolved] = JSON.parse(cjs.stdout.trim()) as string[];
    expect([module, manager, store]).toEqual(['function', 'function', 'function']);
    expect(resolved!.startsWith(join(app, 'node_modules', PKG.name))).toBe(true);
    const cache = await run(process.execPath, ['--input-type=module', '-e', `import { CacheManager } from '${PKG.name}'; const m = CacheManager.createSync(); console.log(JSON.stringify(await m.forTenant('acme').wrap('k', () => 42))); await m.close();`], app, 30_000);
    expect(JSON.parse(cache.stdout.trim())).toBe(42);
  });
});
