import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Docs that compile: every TypeScript block of README.md and sample-app/README.md is extracted
 * and type-checked against the BUILT package's types, the way a new user's app sees them, under
 * the tsconfig the Nest 12 CLI writes (`nest new`, nestjs/schematics
 * `application/files/ts/tsconfig.json`: CommonJS, `strictNullChecks`, `noImplicitAny: false`,
 * `skipLibCheck`), and under its ESM template (`files/ts-esm`) with `strict: true`
 * (`nest new --strict`). A block that does not compile fails the suite with tsc's message and
 * the README line of the block.
 *
 * - A block whose first line is `// <file>.ts` is that file; the blocks of one `## ` section
 *   form one project (they import each other); services they import but do not show come from
 *   test/package/fixtures/doc-stubs/.
 * - A block without a name is a file of its own (`block-<line>.ts`).
 * - A block whose first line is `// excerpt of <path>` shows lines of that file (`…` elides):
 *   each line must be in it, in order, and the file itself is compiled here.
 * - A file named `*.mts` is an ES module (top-level await): compiled under the ESM settings only.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STUBS = join(ROOT, 'test/package/fixtures/doc-stubs');

/** The Nest CLI's CommonJS template with its defaults (`strict` off), and its ESM template with `--strict`. */
const CONFIGS = {
  'nest-cli-cjs-default': {
    module: 'commonjs',
    declaration: true,
    removeComments: true,
    emitDecoratorMetadata: true,
    experimentalDecorators: true,
    allowSyntheticDefaultImports: true,
    target: 'ES2023',
    sourceMap: true,
    skipLibCheck: true,
    strictNullChecks: true,
    forceConsistentCasingInFileNames: true,
    noImplicitAny: false,
    strictBindCallApply: false,
    noFallthroughCasesInSwitch: false,
    types: ['node'],
  },
  'nest-cli-esm-strict': {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    resolvePackageJsonExports: true,
    esModuleInterop: true,
    isolatedModules: true,
    declaration: true,
    removeComments: true,
    emitDecoratorMetadata: true,
    experimentalDecorators: true,
    allowSyntheticDefaultImports: true,
    target: 'ES2023',
    sourceMap: true,
    skipLibCheck: true,
    strict: true,
    strictPropertyInitialization: false,
    types: ['vitest/globals', 'node'],
  },
} as const;

interface Block {
  readme: string;
  line: number;
  section: string;
  name: string;
  code: string;
  excerptOf?: string;
}

function blocksOf(readmePath: string): Block[] {
  const text = readFileSync(join(ROOT, readmePath), 'utf8');
  const blocks: Block[] = [];
  let section = 'top';
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heading = /^## (.+)$/.exec(lines[i]!);
    if (heading) section = heading[1]!;
    if (!/^```(ts|typescript)\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    let end = start;
    while (!/^```\s*$/.test(lines[end]!)) end++;
    const code = lines.slice(start, end).join('\n') + '\n';
    const first = lines[start] ?? '';
    const excerpt = /^\/\/ excerpt of (\S+)/.exec(first);
    const named = /^\/\/ ([\w.-]+\.m?ts)\b/.exec(first);
    blocks.push({ readme: readmePath, line: start, section, name: named?.[1] ?? `block-${start}.ts`, code, excerptOf: excerpt?.[1] });
    i = end;
  }
  return blocks;
}

const BLOCKS = [...blocksOf('README.md'), ...blocksOf('sample-app/README.md')];
let work: string;
const results = new Map<string, { code: number; output: string }>();
/** Project file (relative to `work`) → the README block it came from. */
const origin = new Map<string, Block>();

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

function tsc(project: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(join(ROOT, 'node_modules/.bin/tsc'), ['-p', project, '--noEmit', '--pretty', 'false'], { cwd: work, timeout: 300_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, output: stdout + stderr });
    });
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ntc-readme-tsc-'));
  // The package as installed: its package.json and built types, beside the repository's other
  // packages (Nest, @nestjs/config, …), which a user's app has too.
  const modules = join(work, 'node_modules');
  mkdirSync(modules);
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry === '.bin' || entry === 'nestjs-tenant-cache') continue;
    symlinkSync(join(ROOT, 'node_modules', entry), join(modules, entry));
  }
  const pkg = join(modules, 'nestjs-tenant-cache');
  mkdirSync(pkg);
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist'), '--emitDeclarationOnly'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'readme-app', private: true, type: 'module' }));

  for (const block of BLOCKS) {
    const dir = join(work, 'src', slug(block.readme), slug(block.section));
    mkdirSync(dir, { recursive: true });
    if (block.excerptOf !== undefined) continue;
    for (const stub of readdirSync(STUBS)) cpSync(join(STUBS, stub), join(dir, stub), { force: false, errorOnExist: false });
    const file = join(dir, block.name);
    writeFileSync(file, block.code);
    origin.set(relative(work, file), block);
  }
  // Excerpts: the files they come from are compiled too (a copy of the sample app's sources).
  cpSync(join(ROOT, 'sample-app/src'), join(work, 'src', 'sample-app-sources'), { recursive: true });

  for (const [name, options] of Object.entries(CONFIGS)) {
    const esm = options.module === 'nodenext';
    writeFileSync(join(work, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions: options, include: esm ? ['src/**/*.ts', 'src/**/*.mts'] : ['src/**/*.ts'] }, null, 2));
    results.set(name, await tsc(`tsconfig.${name}.json`));
  }
}, 600_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

/** tsc's lines, each with the README line of the block it is about. */
function explain(output: string): string {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const match = /^(src\/[^(]+)\((\d+),\d+\)/.exec(line);
      const block = match ? origin.get(match[1]!) : undefined;
      return block ? `${block.readme}:${block.line + Number(match![2]) - 1} (block ${block.name}): ${line}` : line;
    })
    .join('\n');
}

describe('every TypeScript block of the READMEs', () => {
  it('is found: both READMEs have blocks, and every block is a file, an excerpt, or both READMEs are empty of TS', () => {
    const counts = BLOCKS.reduce<Record<string, number>>((n, b) => ({ ...n, [b.readme]: (n[b.readme] ?? 0) + 1 }), {});
    console.log(`[readme-typecheck] ${BLOCKS.length} blocks (${Object.entries(counts).map(([r, n]) => `${r}: ${n}`).join(', ')}), ${BLOCKS.filter((b) => b.excerptOf).length} of them excerpts`);
    expect(counts['README.md']).toBeGreaterThan(10);
    expect(counts['sample-app/README.md']).toBeGreaterThan(0);
  });

  it.each(Object.keys(CONFIGS))('type-checks under %s', (name) => {
    const result = results.get(name)!;
    expect(result.code, explain(result.output)).toBe(0);
  });

  it('excerpts are lines of the file they name, in order (that file is compiled above)', () => {
    for (const block of BLOCKS.filter((b) => b.excerptOf !== undefined)) {
      const source = readFileSync(join(ROOT, relative('.', block.readme).replace(/README\.md$/, ''), block.excerptOf!), 'utf8').split('\n');
      let at = 0;
      for (const line of block.code.split('\n').slice(1).filter((l) => l.trim() !== '')) {
        // What follows an ellipsis and only closes brackets (`{ … }`) is on the elided lines.
        const pieces = line
          .split('…')
          .map((p) => p.trim())
          .filter((p, i) => p !== '' && !(i > 0 && /^[)}\]\s;,]*$/.test(p)));
        const found = source.findIndex((candidate, i) => {
          if (i < at) return false;
          let from = 0;
          for (const piece of pieces) {
            const hit = candidate.indexOf(piece, from);
            if (hit === -1) return false;
            from = hit + piece.length;
          }
          return true;
        });
        expect(found, `${block.readme}:${block.line} excerpt of ${block.excerptOf}: "${line}" is not in the file (after line ${at})`).toBeGreaterThanOrEqual(0);
        at = found + 1;
      }
    }
  });
});
