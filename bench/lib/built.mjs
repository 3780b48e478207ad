/**
 * Where the bench loads the library from: the built package, never lib/ sources. run.mjs copies
 * dist/ once to bench/.lib-snapshot/ and sets BENCH_LIB, so every process of a run uses the same
 * code even if dist/ is rebuilt meanwhile; the copy sits inside the repository, so its imports
 * (@nestjs/*, lru-cache, ioredis) resolve to the same node_modules as the package's would.
 * Without BENCH_LIB (scripts run by hand) it is the package itself: `nestjs-tenant-cache` (dist/).
 */
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = process.env.BENCH_LIB ?? fileURLToPath(new URL('../../dist/', import.meta.url));

/** The package entry point (what `import ... from 'nestjs-tenant-cache'` gives users). */
export function libEntry() {
  return process.env.BENCH_LIB ? import(pathToFileURL(`${dir}index.js`).href) : import('nestjs-tenant-cache');
}

/** An internal module of the built package (stores, keys), for the micro and memory benchmarks. */
export function libModule(path) {
  return import(pathToFileURL(dir + path).href);
}
