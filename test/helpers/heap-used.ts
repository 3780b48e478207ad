/**
 * The heap in use after two full collections, for tests that bound what something keeps alive.
 * vitest runs the test workers with --expose-gc (vitest.config.ts); without it the figure would
 * include garbage, so this throws rather than measure that.
 */
export function heapUsedAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('heapUsedAfterGc needs --expose-gc (the vitest config passes it to the workers)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}
