import type { Envelope } from '../envelope/envelope.js';
import { CacheClosedError, FactoryFailedError } from '../errors/cache.errors.js';
import { keyHash, type StorageKey } from '../keys/storage-key.js';
import { LOCK_BUSY, tryLock, unlock } from './compute-lock.js';
import type { ComputePolicy, EagerRefreshPolicy, Factory } from './compute-policy.js';
import { runFactory, takeBasis, withTimeouts } from './factory-run.js';
import { READ_FAILED, type ScopeAccess } from './scope-access.js';

/**
 * Whether a hit on `entry` at `now` starts an eager refresh: past `threshold` of its TTL, or by
 * XFetch (Vattani, Chierichetti, Lowenstein, VLDB 2015): `now - delta * beta * ln(random()) >=
 * expiresAt`, with `delta` the duration of the computation that produced it (at least 1 ms:
 * an entry of unknown cost is refreshed only very near its expiry).
 */
export function refreshDue(policy: EagerRefreshPolicy, entry: Envelope, now: number, random: () => number): boolean {
  if (entry.expiresAt === 0 || now >= entry.expiresAt) return false;
  if (policy.threshold !== undefined) return now >= entry.createdAt + policy.threshold * (entry.expiresAt - entry.createdAt);
  const delta = Math.max(1, entry.computeMs ?? 0);
  return now - delta * policy.beta * Math.log(1 - random()) >= entry.expiresAt;
}

/**
 * Background refreshes of fresh entries near their expiry (the `eagerRefresh` option): started
 * by a hit, which is served at once; one per key in this process, and across processes the
 * stampede lock of a miss (a process that finds it taken leaves the refresh to its holder). The
 * holder reads the entry again once it has the lock and refreshes only if it is still the one
 * that was due, then keeps the lock until the new entry is written, so the next process finds it.
 * The refresh writes with the basis taken before its factory runs, like every computation: an
 * invalidation during it wins. Its failure keeps the entry (reported, never thrown: nobody waits).
 */
export class EagerRefresher {
  /** Keys refreshing in this process. */
  private readonly running = new Set<string>();
  /** Refreshes whose factory this process ran (for tests and diagnostics). */
  started = 0;

  constructor(private readonly random: () => number = Math.random) {}

  /** Refreshes in this process now (for tests and diagnostics). */
  get inFlight(): number {
    return this.running.size;
  }

  /** Starts a refresh of `entry` (just served as a hit) if it is due and none of its key is under way here. */
  consider<T>(access: ScopeAccess, k: StorageKey, key: string, entry: Envelope<T>, factory: Factory<T>, policy: ComputePolicy, computing: boolean): void {
    const eager = policy.eagerRefresh;
    if (eager === undefined || computing || this.running.has(k.full) || !refreshDue(eager, entry, access.now(), this.random)) return;
    this.running.add(k.full);
    void this.refresh(access, k, key, entry, factory, policy).finally(() => this.running.delete(k.full));
  }

  private async refresh<T>(access: ScopeAccess, k: StorageKey, key: string, entry: Envelope<T>, factory: Factory<T>, policy: ComputePolicy): Promise<void> {
    const basis = takeBasis(access);
    const lock = policy.lock ? await tryLock(access, key, policy.lockTtlMs) : undefined;
    if (lock === LOCK_BUSY) return; // another process refreshes (or computes) it
    try {
      if (lock !== undefined) {
        const again = await access.read(k);
        // Refreshed (or invalidated) since it was served: nothing left to do.
        if (again === READ_FAILED || again === undefined || again.stamp !== entry.stamp) return;
      }
      this.started++;
      // A failure must be seen, not answered with the entry it refreshes (staleIfError is for
      // callers, and nobody waits here); bounded by the hard timeout, else the lock's lifetime,
      // so a factory that hangs does not end eager refreshes of its key in this process.
      const refreshing = { ...policy, staleIfError: () => false, softTimeoutMs: undefined, hardTimeoutMs: policy.hardTimeoutMs ?? policy.lockTtlMs };
      const started = runFactory(access, k, factory, refreshing, entry, basis);
      const outcome = await withTimeouts(started, refreshing, undefined, 0);
      // `ctx.fail()`: the factory kept the entry on purpose, but the refresh failed all the same.
      if (outcome.kind === 'stale') throw new FactoryFailedError('ctx.fail()');
      const run = await started;
      await run.written;
      // Nobody waits for this write to learn that the store refused the value: say it here.
      if (run.refused !== undefined) throw run.refused;
    } catch (err) {
      if (err instanceof CacheClosedError) return; // the manager closed meanwhile: nothing to report
      // The entry stays until it expires; the name only, never the message (it may carry data).
      access.reportError('eager refresh', `An eager refresh of key #${keyHash(k)} failed (${(err as Error)?.name ?? 'Error'}); the entry is served until it expires.`);
    } finally {
      if (lock !== undefined) unlock(access, lock);
    }
  }
}
