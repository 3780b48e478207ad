import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * Docs that compile: each README section listed here shows only code that is a file of its
 * fixture folder, verbatim (a block starts with `// <file>.ts`). `npm run typecheck` compiles
 * those files (tsconfig includes test/), and an e2e test runs them.
 */
const SECTIONS = [
  { heading: '## Migrating from @nestjs/cache-manager', folder: 'test/e2e/fixtures/migration/', runBy: 'test/e2e/migration.e2e.spec.ts' },
  { heading: '## Beyond controllers', folder: 'test/e2e/fixtures/contexts/', runBy: 'test/e2e/contexts-readme.e2e.spec.ts' },
  { heading: '## Several instances: the tiered store', folder: 'test/e2e/fixtures/tiered/', runBy: 'test/e2e/tiered.e2e.spec.ts' },
  { heading: '## Testing your app', folder: 'test/e2e/fixtures/testing/', runBy: 'test/e2e/fixtures/testing/quotes.controller.spec.ts (a Vitest spec itself)' },
];

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');

function section(heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start === -1) throw new Error(`README.md has no section "${heading}"`);
  const end = readme.indexOf('\n## ', start + heading.length + 2);
  return readme.slice(start, end === -1 ? undefined : end);
}

describe.each(SECTIONS)('README "$heading"', ({ heading, folder, runBy }) => {
  const text = section(heading);
  const blocks = [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map(([, lang, code]) => ({ lang: lang!, code: code! }));

  it(`every code block is a file of ${folder}, verbatim, and every file is shown`, () => {
    const files = readdirSync(new URL(folder, root)).filter((f) => f.endsWith('.ts')).sort();
    const shown: string[] = [];
    for (const { lang, code } of blocks) {
      expect(lang, `a block of "${heading}" is TypeScript: ${code.slice(0, 60)}`).toBe('ts');
      const name = /^\/\/ ([\w.-]+\.ts)\n/.exec(code)?.[1];
      expect(name, `a block of "${heading}" starts with // <file>.ts: ${code.slice(0, 60)}`).toBeDefined();
      expect(files, `${folder}${name} exists`).toContain(name);
      expect(code, `README block ${name} = ${folder}${name}`).toBe(readFileSync(new URL(folder + name!, root), 'utf8'));
      shown.push(name!);
    }
    console.log(`[readme-snippets] "${heading}": ${blocks.length} blocks, each a file of ${folder} (${shown.join(', ')}), run by ${runBy}`);
    expect(shown.sort()).toEqual(files);
  });
});
