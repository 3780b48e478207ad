import type { Envelope } from '../envelope/envelope.js';
import { EncodeError, FactoryTimeoutError } from '../errors/cache.errors.js';
import type { StorageKey } from '../keys/storage-key.js';
import type { ComputePolicy, Factory, Outcome } from './compute-policy.js';
import { factoryContext } from './factory-context.js';
import type { StoreBasis } from '../stores/cache-store.interface.js';
import type { ScopeAccess } from './scope-access.js';

/** The store could not give a basis: the value is served, not stored. */
const NO_BASIS: unique symbol = Symbol('no basis');
const NO_BASIS_NEEDED: BasisRead = Promise.resolve(undefined);

/** One run of a factory: its outcome, and the write of its entry when there is one. */
export interface FactoryRun<T> {
  readonly outcome: Outcome<T>;
  /** Settles when the write is done (it never rejects: failures are reported). */
  readonly written: Promise<void>;
  /** Set when the store refused the value (it cannot carry it exactly). */
  readonly refused: EncodeError | undefined;
}

/**
 * The factory's outcome within the policy's timeouts, of which `spentMs` were already used (by
 * a wait for another process's lock). The factory itself is never cancelled.
 */
export function withTimeouts<T>(run: Promise<FactoryRun<T>>, policy: ComputePolicy, stale: Envelope<T> | undefined, spentMs: number): Promise<Outcome<T>> {
  const outcome = run.then((r) => r.outcome);
  const soft = stale === undefined ? undefined : policy.softTimeoutMs;
  const timeout = soft ?? policy.hardTimeoutMs;
  if (timeout === undefined) return outcome;
  const limit = Math.max(1, Math.ceil(timeout - spentMs));
  return new Promise<Outcome<T>>((resolve, reject) => {
    const timer = setTimeout(() => {
      // The factory goes on: its value is stored when it arrives. Its failure is reported there.
      run.catch(() => undefined);
      if (stale !== undefined) {
        resolve({ kind: 'stale', entry: stale });
      } else reject(new FactoryTimeoutError(timeout));
    }, limit);
    timer.unref?.();
    outcome.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** What a factory's write is based on: a store basis, or none where the store failed to give one. */
export type BasisRead = Promise<StoreBasis | undefined | typeof NO_BASIS>;

/**
 * Takes the store's basis for a computation (see `ScopeAccess.basis`); a failure (reported by
 * `basis()`) resolves `NO_BASIS`. Starts at once, so a caller can take it beside the lock.
 */
export function takeBasis(access: ScopeAccess): BasisRead {
  if (access.state.store.basis === undefined && access.state.pool === undefined) return NO_BASIS_NEEDED;
  return access.basis().catch(() => NO_BASIS);
}

/**
 * Runs the factory; on success starts the write (not awaited here). The basis (`takeBasis`, taken
 * here unless the caller took it already) settles before the factory starts: what the factory
 * computes is stored only if no invalidation of its tags or tenant came after it. Without a basis
 * (the store failed to give one) the value is served and not stored: when in doubt, do not store.
 */
export async function runFactory<T>(access: ScopeAccess, k: StorageKey, factory: Factory<T>, policy: ComputePolicy, stale: Envelope<T> | undefined, basisRead: BasisRead = takeBasis(access)): Promise<FactoryRun<T>> {
  const basis = await basisRead;
  const { ctx, verdict } = factoryContext(stale);
  const started = performance.now();
  let value: T;
  try {
    value = await access.metrics.inSpan('cache.compute', async () => factory(ctx));
    // `ctx.fail()` caught inside the factory still fails the run.
    if (verdict.failure !== undefined) throw verdict.failure;
  } catch (err) {
    // `ctx.fail()` keeps and serves the entry in grace whatever `staleIfError` says: the factory asked for it.
    if (stale !== undefined && (verdict.failure !== undefined || policy.staleIfError(err))) {
      return { outcome: { kind: 'stale', entry: stale }, written: Promise.resolve(), refused: undefined };
    }
    throw err;
  }
  const computeMs = Math.round(performance.now() - started);
  const override = verdict.override;
  if (value === undefined || verdict.skipped || basis === NO_BASIS) return { outcome: { kind: 'computed', value, entry: undefined, leader: true }, written: Promise.resolve(), refused: undefined };
  let env: Envelope<T>;
  try {
    env = access.envelope(value, override === undefined ? policy : { ...policy, ...override }, computeMs);
  } catch (err) {
    // A bad tag or TTL from the factory's context: the value is served, nothing is stored.
    access.reportError('cache entry', `An entry could not be built (${(err as Error).message}); the value was returned without caching it.`);
    return { outcome: { kind: 'computed', value, entry: undefined, leader: true }, written: Promise.resolve(), refused: undefined };
  }
  let refused: EncodeError | undefined;
  // A failed write is reported by `put`; the value is still served. A value the store cannot
  // carry exactly is refused: the caller that waits for the write learns it.
  const written = access.put(k, env, basis).catch((err: unknown) => {
    if (err instanceof EncodeError) refused = err;
  });
  return {
    outcome: { kind: 'computed', value, entry: env, leader: true },
    written,
    get refused() {
      return refused;
    },
  };
}
