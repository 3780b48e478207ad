import { fileURLToPath } from 'node:url';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// SWC compiles the tests and lib/ with legacy decorators and decorator metadata, which
// Nest's dependency injection needs (esbuild/OXC's default transform emits no metadata).
const swcPlugin = swc.vite({
  jsc: {
    target: 'es2022',
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
  },
});

export default defineConfig({
  plugins: [swcPlugin],
  resolve: {
    // The sample app imports the library by its package name; in tests that name points at
    // the sources so a test run never depends on a stale build. The packaging test checks the
    // built package separately, the way users load it.
    alias: [
      { find: /^nestjs-tenant-cache$/, replacement: fileURLToPath(new URL('./lib/index.ts', import.meta.url)) },
      { find: /^nestjs-tenant-cache\/redis$/, replacement: fileURLToPath(new URL('./lib/redis.ts', import.meta.url)) },
    ],
  },
  test: {
    pool: 'forks',
    // Heap-bound tests (test/stores/memory-heap-bound.spec.ts) collect before they measure.
    execArgv: ['--expose-gc'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    include: ['test/**/*.spec.ts', 'sample-app/test/**/*.spec.ts'],
    reporters: ['default'],
  },
});
