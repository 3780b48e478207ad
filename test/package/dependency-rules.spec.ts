import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cruise, type ICruiseResult, type IConfiguration } from 'dependency-cruiser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The rules of `.dependency-cruiser.cjs` can fail: the repository's own rule set, run through
 * dependency-cruiser's API on a small lib/ written to a temporary folder, reports each import
 * the fixture gets wrong and none of those it gets right.
 */

const config = createRequire(import.meta.url)('../../.dependency-cruiser.cjs') as IConfiguration;

const FIXTURE: Record<string, string> = {
  'package.json': '{ "name": "fixture", "type": "module" }',
  'lib/cache.constants.ts': "export const TOKEN = Symbol('token');",
  'lib/cache.module.ts': "import { cacheValue } from './cache/a.js';\nexport const mod = cacheValue;",
  // Allowed: a lower layer and the constants.
  'lib/keys/key.ts': "import { TOKEN } from '../cache.constants.js';\nimport { CacheError } from '../errors/error.js';\nexport const key = [TOKEN, CacheError];",
  // Upward: errors is the lowest layer; keys may not reach a root file other than the constants.
  'lib/errors/error.ts': "import { face } from '../http/face.js';\nexport class CacheError extends Error {}\nexport const f = face;",
  'lib/keys/upward.ts': "import { mod } from '../cache.module.js';\nexport const m = mod;",
  // Two faces of one level never import each other.
  'lib/http/face.ts': "import { resolver } from '../graphql/resolver.js';\nexport const face = resolver;",
  'lib/graphql/resolver.ts': 'export const resolver = 1;',
  // A cycle made of type-only imports.
  'lib/cache/a.ts': "import type { B } from './b.js';\nexport type A = { b?: B };\nexport const cacheValue = 1;",
  'lib/cache/b.ts': "import type { A } from './a.js';\nexport type B = { a?: A };",
  // The package never imports its tests.
  'lib/cache/uses-test.ts': "import { helper } from '../../test/helper.js';\nexport const h = helper;",
  'test/helper.ts': 'export const helper = 1;',
};

let dir: string;
let result: ICruiseResult;
const violations = (): string[] => result.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dependency-rules-'));
  for (const [file, text] of Object.entries(FIXTURE)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), `${text}\n`);
  }
  const { output } = await cruise(['lib'], { ...config.options, baseDir: dir, validate: true, ruleSet: { forbidden: config.forbidden } }, { bustTheCache: true });
  result = output as ICruiseResult;
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('dependency rules (.dependency-cruiser.cjs)', () => {
  it('report every upward import, face-to-face import, type-only cycle and import of test/, and nothing else', () => {
    expect(violations()).toEqual([
      'layer-errors: lib/errors/error.ts -> lib/http/face.ts',
      'layer-http: lib/http/face.ts -> lib/graphql/resolver.ts',
      'layer-keys: lib/keys/upward.ts -> lib/cache.module.ts',
      'lib-not-to-outside: lib/cache/uses-test.ts -> test/helper.ts',
      'no-circular: lib/cache/a.ts -> lib/cache/b.ts', // a cycle is reported once
    ]);
    expect(result.summary.error).toBe(5);
  });

  it('count an `import type` as a dependency (type-level cycles are cycles)', () => {
    const a = result.modules.find((m) => m.source === 'lib/cache/a.ts');
    expect(a?.dependencies.map((d) => d.resolved)).toEqual(['lib/cache/b.ts']);
  });
});
