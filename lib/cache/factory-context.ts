import type { Envelope } from '../envelope/envelope.js';
import { FactoryFailedError } from '../errors/cache.errors.js';
import type { FactoryContext } from './compute-policy.js';
import type { EntryPolicy } from './scope-access.js';

/** What a factory said through its context, read by `runFactory` once it settles. */
export interface FactoryVerdict {
  readonly skipped: boolean;
  /** Set by `ctx.fail()`: the error callers get when no entry in grace is served instead. */
  readonly failure: Error | undefined;
  /** `setEntry` / `setTtl` / `setTags` / `setGrace`, merged in call order. */
  readonly override: EntryPolicy | undefined;
}

/** A factory's context, and what it has said so far. */
export function factoryContext<T>(graced: Envelope<T> | undefined): { readonly ctx: FactoryContext<T>; readonly verdict: FactoryVerdict } {
  const verdict: { skipped: boolean; failure: Error | undefined; override: EntryPolicy | undefined } = { skipped: false, failure: undefined, override: undefined };
  const set = (entry: EntryPolicy): void => {
    verdict.override = { ...verdict.override, ...entry };
  };
  const ctx: FactoryContext<T> = {
    gracedEntry: graced,
    stale: graced,
    skip: () => {
      verdict.skipped = true;
    },
    fail: (reason?: unknown): never => {
      // Kept even if the factory catches the throw: a run that failed is never stored.
      verdict.failure = reason instanceof Error ? reason : new FactoryFailedError(reason);
      throw verdict.failure;
    },
    setTtl: (ttl) => set({ ttl }),
    setTags: (tags) => set({ tags }),
    setGrace: (grace) => set({ grace }),
    setEntry: set,
  };
  return { ctx, verdict };
}

/** A context for a factory run outside the engine (its value is not stored whatever it says). */
export function detachedContext<T>(): FactoryContext<T> {
  return factoryContext<T>(undefined).ctx;
}
