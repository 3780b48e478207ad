import { CacheClosedError } from '../../errors/cache.errors.js';

// The memory store's answers as promises: it works synchronously, callers only await.

/** One settled promise per answer of `set`: callers only await it. */
export const APPLIED: Promise<boolean> = Promise.resolve(true);
/** A write its basis refused. */
export const NOT_APPLIED: Promise<boolean> = Promise.resolve(false);

export function closedRejection(): Promise<never> {
  return Promise.reject(new CacheClosedError('memory store'));
}

/** Runs `fn` as a store call: rejected once `closed`, and a throw becomes a rejection. */
export function settled<T>(closed: boolean, fn: () => T): Promise<T> {
  if (closed) return closedRejection();
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}
