import type { Envelope } from '../envelope/envelope.js';
import type { StorageKey } from '../keys/storage-key.js';
import { FactoryTimeoutError } from '../errors/cache.errors.js';
import { LOCK_BUSY, tryLock, unlock, waitForEntry } from './compute-lock.js';
import type { ComputePolicy, Factory, Outcome } from './compute-policy.js';
import { runFactory, takeBasis, withTimeouts } from './factory-run.js';
import { EagerRefresher } from './eager-refresh.js';
import { answered, newFlight, type Flight } from './flight.js';
import { READ_FAILED, type ReadResult, type ScopeAccess } from './scope-access.js';

/**
 * Whether a stored entry answers this caller (HTTP: the request headers its response varies
 * on match). An entry it refuses reads as absent: no hit, never served stale, and a flight that
 * ends with it leaves this caller to compute its own.
 */
export type EntryFilter = (entry: Envelope) => boolean;

/**
 * The one get-or-compute of the library: `wrap()`, `@Cached()` routes and every other face call
 * it. Per key and process: one flight, opened before the store is read (so N concurrent
 * callers make one read and one factory run) and joinable until its entry is readable; across
 * processes: the store's lock, with the entry read again once the lock is held.
 */
export class ComputeEngine {
  private readonly flights = new Map<string, Flight>();
  /** Background refreshes of entries near their expiry (`eagerRefresh`). */
  readonly eager = new EagerRefresher();
  /** Store reads in flight, shared by lookups of the same key. */
  private readonly reads = new Map<string, Promise<ReadResult>>();

  /** Computations in flight (for tests and diagnostics). */
  get inFlight(): number {
    return this.flights.size;
  }

  /**
   * A synchronous lookup where the store answers without I/O: the fresh entry (a hit, counted),
   * or `undefined` (nothing counted: the caller goes on with `getOrCompute`, which counts).
   * Never while a computation of the key is in flight: that one must be joined.
   */
  peekSync(access: ScopeAccess, key: string, accept?: EntryFilter): Envelope | undefined {
    if (!access.readsSync) return undefined;
    const k = access.key(key);
    if (this.flights.size !== 0 && this.flights.has(k.full)) return undefined;
    const read = access.readSync(k);
    if (read === READ_FAILED || read === undefined || !access.isFresh(read) || (accept !== undefined && !accept(read))) return undefined;
    access.countHit();
    return read;
  }

  /**
   * An asynchronous lookup: the fresh entry (counted as a hit), or `undefined` with what was
   * read, to hand to `getOrCompute` as `first` (nothing counted). Concurrent lookups of a key
   * share one store read; while the key is being computed it reads nothing.
   */
  async lookup(access: ScopeAccess, key: string, accept?: EntryFilter): Promise<{ readonly fresh: Envelope | undefined; readonly first: FirstRead | undefined }> {
    const k = access.key(key);
    if (this.flights.has(k.full)) return { fresh: undefined, first: undefined };
    const read = await this.sharedRead(access, k);
    if (read !== READ_FAILED && read !== undefined && access.isFresh(read) && (accept === undefined || accept(read))) {
      access.countHit();
      return { fresh: read, first: { result: read } };
    }
    return { fresh: undefined, first: { result: read } };
  }

  /**
   * The entry of `k`, or the factory's value. `first` is a read already made for this request
   * (by `lookup`); it is used only when no computation is in flight.
   */
  getOrCompute<T>(access: ScopeAccess, key: string, factory: Factory<T>, policy: ComputePolicy, first?: FirstRead, accept?: EntryFilter): Promise<Outcome<T>> {
    let k: StorageKey;
    try {
      k = access.key(key);
    } catch (err) {
      return Promise.reject(err);
    }
    const flight = this.flights.get(k.full);
    if (flight !== undefined && policy.forceFresh === true && !flight.computing) {
      // Only reading: what it finds is what forceFresh replaces. Compute once it is done.
      return flight.answer.then(
        () => this.getOrCompute(access, key, factory, policy, undefined, accept),
        () => this.getOrCompute(access, key, factory, policy, undefined, accept),
      );
    }
    if (flight !== undefined) return this.join(flight, access, k, key, factory, policy, accept);
    return this.lead(access, k, key, factory, policy, policy.forceFresh === true ? undefined : first, accept);
  }

  private join<T>(flight: Flight, access: ScopeAccess, k: StorageKey, key: string, factory: Factory<T>, policy: ComputePolicy, accept: EntryFilter | undefined): Promise<Outcome<T>> {
    // Joining a computation under way is a stampede wait, counted at once (so it can be seen
    // while the factory runs); a caller that joined a read is counted by what it got.
    // One that joins after the value is there (its write still on its way: `awaitWrite: false`)
    // waited for nothing: a hit, as HTTP replays it.
    const ready = flight.answered;
    const waits = flight.computing && !flight.servesStale && !ready;
    if (waits) access.count('stampedeWaits');
    return (flight.answer as Promise<Outcome<T>>).then(
      (outcome) => {
        // An entry this caller may not get (another variant, or one an invalidation that failed
        // meanwhile covers) reads as absent: it computes its own.
        if (outcome.entry !== undefined && ((accept !== undefined && !accept(outcome.entry)) || access.invalidated(k, outcome.entry))) return this.solo(access, k, factory, policy);
        // forceFresh asked for a new value: a flight that answered with the entry in grace does not give one.
        if (outcome.kind === 'stale' && policy.forceFresh === true) return this.solo(access, k, factory, policy);
        if (outcome.kind === 'stale') access.count('staleServed');
        else if (!waits) access.count(outcome.kind === 'hit' || (ready && outcome.entry !== undefined) ? 'hits' : 'stampedeWaits');
        if (outcome.kind !== 'computed') return outcome;
        if (outcome.entry === undefined && !policy.shareUnstored) return this.solo(access, k, factory, policy);
        return outcome.leader ? { ...outcome, leader: false } : outcome;
      },
      (err: unknown) => {
        if (!waits) access.count('stampedeWaits');
        // The leader went away before it had an answer (its request was abandoned): start again,
        // so one of the callers that joined leads the next computation.
        if (policy.isAbandoned(err)) return this.getOrCompute(access, key, factory, policy);
        throw err;
      },
    );
  }

  /** A computation outside any flight (a joiner whose leader's result may not be shared: it was not stored). */
  private async solo<T>(access: ScopeAccess, k: StorageKey, factory: Factory<T>, policy: ComputePolicy): Promise<Outcome<T>> {
    const run = await runFactory(access, k, factory, policy, undefined);
    await run.written;
    return run.outcome;
  }

  private lead<T>(access: ScopeAccess, k: StorageKey, key: string, factory: Factory<T>, policy: ComputePolicy, first: FirstRead | undefined, accept: EntryFilter | undefined): Promise<Outcome<T>> {
    const flight = newFlight();
    this.flights.set(k.full, flight);
    const endFlight = (): void => {
      if (this.flights.get(k.full) === flight) this.flights.delete(k.full);
    };
    const own = this.leadFlight(access, k, key, factory, policy, first, flight, endFlight, accept);
    // A leader that fails before answering: joiners get the same failure (or compute their own).
    own.catch((err: unknown) => {
      flight.failWith(err);
      // A timed-out factory still runs: its flight stays joinable until it settles (`refresh`).
      if (!(err instanceof FactoryTimeoutError)) endFlight();
    });
    return own;
  }

  private async leadFlight<T>(access: ScopeAccess, k: StorageKey, key: string, factory: Factory<T>, policy: ComputePolicy, first: FirstRead | undefined, flight: Flight, endFlight: () => void, accept: EntryFilter | undefined): Promise<Outcome<T>> {
    const read = first === undefined ? await this.sharedRead(access, k) : first.result;
    const found = read === READ_FAILED || read === undefined || (accept !== undefined && !accept(read)) ? undefined : read;
    const force = policy.forceFresh === true;
    if (found !== undefined && access.isFresh(found) && !force) {
      access.countHit();
      const hit: Outcome<T> = { kind: 'hit', entry: found as Envelope<T> };
      flight.answerWith(hit);
      endFlight();
      this.eager.consider(access, k, key, found as Envelope<T>, factory, policy, this.flights.has(k.full));
      return hit;
    }
    // forceFresh: the fresh entry is the fallback (stale-if-error, soft timeout) and never the answer,
    // nor is it once more when it is read again under the lock.
    const stale = found !== undefined && (access.isStaleUsable(found) || (force && access.isFresh(found))) ? (found as Envelope<T>) : undefined;
    if (force && found !== undefined) {
      const seen = found.stamp;
      const outer = accept;
      accept = (env) => env.stamp !== seen && (outer === undefined || outer(env));
    }
    flight.computing = true;
    if (stale !== undefined && policy.staleWhileRevalidate !== 'none' && !force) flight.answerWith({ kind: 'stale', entry: stale });
    const serveStale = stale !== undefined && policy.staleWhileRevalidate === 'all' && !force;
    if (!serveStale) access.count('misses');
    const refresh = this.refresh(access, k, key, factory, policy, stale, read !== READ_FAILED, flight, endFlight, accept);
    if (serveStale) {
      // The refresh goes on in the background; its failure is already reported.
      refresh.catch(() => undefined);
      access.count('staleServed');
      return { kind: 'stale', entry: stale };
    }
    // A stale entry served instead of the refresh's value (stale-if-error, a timeout) is counted
    // here, where it reaches the caller.
    return refresh.then((outcome) => {
      if (outcome.kind === 'stale') access.count('staleServed');
      return outcome;
    });
  }

  /**
   * Takes the lock (re-reading once it is held), runs the factory, answers the joiners, and
   * keeps the flight open until the entry is readable; the lock is released only then, so the
   * next holder finds the entry.
   */
  private async refresh<T>(access: ScopeAccess, k: StorageKey, key: string, factory: Factory<T>, policy: ComputePolicy, stale: Envelope<T> | undefined, storeUp: boolean, flight: Flight, endFlight: () => void, accept: EntryFilter | undefined): Promise<Outcome<T>> {
    const started = performance.now();
    /** Time spent waiting for another process's computation, which counts against this call's timeouts. */
    let waitedMs = 0;
    // The basis is read beside the lock (one round trip for both on Redis); it is older than
    // anything the factory reads, which is all it must be.
    const basis = takeBasis(access);
    let lock = storeUp && policy.lock ? await tryLock(access, key, policy.lockTtlMs) : undefined;
    const release = (): void => {
      if (lock !== undefined && lock !== LOCK_BUSY) unlock(access, lock);
    };
    try {
      if (lock === LOCK_BUSY) {
        // Another process computes: wait for its entry rather than compute it again, for at most
        // the lock's TTL, and never past this call's own timeouts.
        access.count('stampedeWaits');
        const wait = await waitForEntry(access, k, key, waitLimitMs(policy, stale !== undefined), accept);
        waitedMs = performance.now() - started;
        if (wait.entry !== undefined) return answered(flight, endFlight, { kind: 'hit', entry: wait.entry as Envelope<T> });
        if (wait.lock !== undefined) lock = wait.lock; // the holder released it without an entry: compute here, holding it
        else if (stale !== undefined && policy.softTimeoutMs !== undefined && performance.now() - started >= policy.softTimeoutMs) return answered(flight, endFlight, { kind: 'stale', entry: stale });
        else if (policy.hardTimeoutMs !== undefined && performance.now() - started >= policy.hardTimeoutMs) {
          if (stale !== undefined) return answered(flight, endFlight, { kind: 'stale', entry: stale });
          throw new FactoryTimeoutError(policy.hardTimeoutMs);
        }
        // Otherwise the holder took too long (or died): compute here rather than wait longer.
      }
      if (lock !== undefined && lock !== LOCK_BUSY) {
        const again = await access.read(k);
        if (again !== READ_FAILED && again !== undefined && access.isFresh(again) && (accept === undefined || accept(again))) {
          release();
          return answered(flight, endFlight, { kind: 'hit', entry: again as Envelope<T> });
        }
      }
    } catch (err) {
      release();
      throw err;
    }
    const run = runFactory(access, k, factory, policy, stale, basis);
    const tail = run.then(
      (r) => r.written,
      () => undefined,
    );
    void tail.then(() => {
      endFlight();
      release();
    });
    let outcome: Outcome<T>;
    try {
      outcome = await withTimeouts(run, policy, stale, waitedMs);
    } catch (err) {
      // Failed: later callers start afresh. Timed out with nothing to serve: the factory goes on
      // and stores its value; until then its flight answers later callers with the same error.
      if (!(err instanceof FactoryTimeoutError)) endFlight();
      throw err;
    }
    if (outcome.kind === 'stale' || outcome.entry === undefined || !policy.awaitWrite) {
      flight.answerWith(outcome);
      return outcome;
    }
    await tail;
    const refused = (await run).refused;
    if (refused !== undefined) throw refused;
    flight.answerWith(outcome);
    return outcome;
  }

  private sharedRead(access: ScopeAccess, k: StorageKey): Promise<ReadResult> {
    const pending = this.reads.get(k.full);
    if (pending !== undefined) return pending;
    const read = access.read(k).finally(() => this.reads.delete(k.full));
    this.reads.set(k.full, read);
    return read;
  }
}


/** A store read already made for this caller (by `lookup`); its `result` may be a miss (`undefined`). */
export interface FirstRead {
  readonly result: ReadResult;
}

/** How long a caller waits for another process's entry: the lock's TTL, bounded by its own timeouts. */
function waitLimitMs(policy: ComputePolicy, hasStale: boolean): number {
  let limit = policy.lockTtlMs;
  if (policy.hardTimeoutMs !== undefined) limit = Math.min(limit, policy.hardTimeoutMs);
  if (hasStale && policy.softTimeoutMs !== undefined) limit = Math.min(limit, policy.softTimeoutMs);
  return limit;
}
