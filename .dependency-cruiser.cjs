// Dependency rules, checked by `npm run depcheck` (dependency-cruiser). The layers of lib/,
// lowest first: a file imports its own layer or lower ones, never higher. DESIGN.md's list has
// the same folders but not utils/, and lists observability/, tenant/ and options/ above cache/,
// which imports all three; this list (and README "Lint and dependency rules") is the one enforced.
/** lib/ folders, lowest first; the folders of one entry are one level and never import each other. */
const LAYERS = [
  ['errors'],
  ['utils'],
  ['keys'],
  ['envelope'],
  ['stores'],
  ['observability'],
  ['tenant'],
  ['options'],
  ['cache'],
  ['http', 'methods', 'graphql', 'microservices'],
  ['decorators'],
  ['health'],
];
/** Leaf files of constants: every layer may import them; they import nothing of lib/. */
const CONSTANTS = '^lib/cache\\.(internal-)?constants\\.ts$';
/** A root file of lib/ (module, providers, index...) other than the constants: the top layer. */
const ROOT_FILE = '^lib/(?!cache\\.(internal-)?constants\\.ts$)[^/]+\\.ts$';

const layerRules = LAYERS.flatMap((level, i) => {
  const higher = LAYERS.slice(i + 1).flat();
  return level.map((layer) => {
    const forbidden = [...higher, ...level.filter((other) => other !== layer)];
    return {
      name: `layer-${layer}`,
      comment: `lib/${layer}/ may import only its own layer or lower ones (${LAYERS.slice(0, i).flat().join(', ') || 'none'}) and the constants`,
      severity: 'error',
      from: { path: `^lib/${layer}/` },
      to: { path: `^lib/(${forbidden.join('|')})/|${ROOT_FILE}` },
    };
  });
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A cycle, type-only imports included: split the shared part into a lower file',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'constants-are-leaves',
      comment: 'cache.constants.ts and cache.internal-constants.ts import nothing of lib/ (every layer imports them)',
      severity: 'error',
      from: { path: CONSTANTS },
      to: { path: '^lib/' },
    },
    {
      name: 'lib-not-to-outside',
      comment: 'lib/ is the package: it never imports tests, benchmarks or the sample app',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(test|bench|sample-app)/' },
    },
    {
      name: 'lib-not-to-dev-dep',
      comment: 'lib/ imports only dependencies and peer dependencies: a dev dependency is missing for users',
      severity: 'error',
      from: { path: '^lib/' },
      to: {
        dependencyTypes: ['npm-dev'],
        // Peers are dev dependencies too (for the tests); these are installed for users.
        dependencyTypesNot: ['npm', 'npm-peer', 'npm-optional'],
        pathNot: '^node_modules/(ioredis|@opentelemetry/api|cbor-x)/',
      },
    },
    {
      name: 'sample-app-by-package-name',
      comment: "The sample app imports the library as a user does: 'nestjs-tenant-cache', never ../lib",
      severity: 'error',
      from: { path: '^sample-app/' },
      to: { path: '^lib/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to no file (or a package missing from package.json)',
      severity: 'error',
      from: {},
      // The package's own name resolves to dist/ (its `exports`), built or not: not followed.
      to: { couldNotResolve: true, pathNot: '^nestjs-tenant-cache(/redis)?$' },
    },
    {
      name: 'no-orphans',
      comment: 'A lib/ file nothing imports and that imports nothing: unused, or a missing export',
      severity: 'warn',
      from: { orphan: true, path: '^lib/' },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // A fixture app with its own package.json (test/*/fixtures/<app>/app.mjs) resolves its own
    // dependencies, installed by its test in a temp dir: not this repository's.
    exclude: { path: '^(sample-app/)?dist/|^test/.+/fixtures/[^/]+/app\\.mjs$' },
    // TypeScript 7 has no JS API dependency-cruiser can use; SWC parses the sources and keeps
    // every import declaration, `import type` included, so type-level cycles count.
    parser: 'swc',
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      exportsFields: ['exports'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
