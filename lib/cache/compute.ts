import type { Envelope } from '../envelope/envelope.js';
import { EncodeError, FactoryTimeoutError } from '../errors/cache.errors.js';
import type { StorageKey } from '../keys/storage-key.js';
import { LOCK_BUSY, tryLock, unlock, waitForEntry } from './compute-lock.js';
import { READ_FAILED, type EntryPolicy, type ReadResult, type ScopeAccess } from './scope-access.js';

/**
 * How one get-or-compute behaves. `wrap()` and the HTTP face fill it from their own options;
 * every rule lives here, once.
 */
export interface ComputePolicy extends EntryPolicy {
  /**
   * What callers get while an entry in grace is refreshed: `'all'` (every caller, the one that
   * refreshes included, gets the stale value at once; the refresh runs in the background),
   * `'joiners'` (the caller that refreshes waits for it, every other caller gets the stale
   * value at once: HTTP, where the refreshing request must send what its handler produced),
   * `'none'` (everyone waits for the refresh).
   */
  readonly staleWhileRevalidate: 'all' | 'joiners' | 'none';
  /** Whether a failed refresh serves the entry in grace instead of failing. */
  readonly staleIfError: (err: unknown) => boolean;
  /** With an entry in grace: after this many ms the caller gets it, and the factory goes on to store its value. */
  readonly softTimeoutMs: number | undefined;
  /** After this many ms the caller gets the entry in grace or a `FactoryTimeoutError`; the factory goes on to store its value. */
  readonly hardTimeoutMs: number | undefined;
  /** Whether to take the store's cross-process lock (stores without locks ignore it). */
  readonly lock: boolean;
  readonly lockTtlMs: number;
  /**
   * Whether callers that joined a computation share a result that was not stored, or its
   * error (`wrap()`: yes). When not (HTTP: a response that may not be stored may belong to its
   * request only), each such joiner computes its own.
   */
  readonly shareUnstored: boolean;
  /** Whether the computing caller waits for the write (the flight stays joinable until the entry is readable either way). */
  readonly awaitWrite: boolean;
}

/** What a factory may say about its own result. */
export interface FactoryContext<T = unknown> {
  /** The expired entry being refreshed, while it is still in grace. */
  readonly stale: Envelope<T> | undefined;
  /** Do not store what this run returns. */
  skip(): void;
  /** Changes how the result is stored (TTL, grace, tags, HTTP metadata), from what was computed. */
  setEntry(policy: EntryPolicy): void;
}

export type Factory<T> = (ctx: FactoryContext<T>) => T | Promise<T>;

/**
 * How a get-or-compute ended: `hit` (a fresh entry, read or written by another process), `stale`
 * (an entry in grace was served), `computed` (a factory ran: this caller's when `leader`,
 * otherwise the one it joined; `entry` is what was stored, `undefined` when nothing was).
 */
export type Outcome<T> =
  | { readonly kind: 'hit' | 'stale'; readonly entry: Envelope<T> }
  | { readonly kind: 'computed'; readonly value: T; readonly entry: Envelope<T> | undefined; readonly leader: boolean };

/** One computation of a key in this process, joinable from its first read until its entry is readable. */
interface Flight {
  /** Settles with what a joiner gets: the stale entry as soon as one is found (unless `'none'`), else the leader's outcome. */
  readonly answer: Promise<Outcome<unknown>>;
  answerWith(outcome: Outcome<unknown>): void;
  /** Rejects the joiners with `err`, unless they were answered already (a stale entry). */
  failWith(err: unknown): void;
  answered: boolean;
  /** Whether joiners get an entry in grace (the answer is a stale outcome). */
  servesStale: boolean;
}


/**
 * The one get-or-compute of the library: `wrap()`, `@Cached()` routes and every other face call
 * it. Per key and process: one flight, opened before the store is read (so N concurrent
 * callers make one read and one factory run) and joinable until its entry is readable; across
 * processes: the store's lock, with the entry read again once the lock is held.
 */
export class ComputeEngine {
  private readonly flights = new Map<string, Flight>();
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
  peekSync(access: ScopeAccess, key: string): Envelope | undefined {
    if (!access.readsSync) return undefined;
    const k = access.key(key);
    if (this.flights.has(k.full)) return undefined;
    const read = access.readSync(k);
    if (read === READ_FAILED || read === undefined || !access.isFresh(read)) return undefined;
    access.count('hits');
    return read;
  }

  /**
   * An asynchronous lookup: the fresh entry (counted as a hit), or `undefined` with what was
   * read, to hand to `getOrCompute` as `first` (nothing counted). Concurrent lookups of a key
   * share one store read; while the key is being computed it reads nothing.
   */
  async lookup(access: ScopeAccess, key: string): Promise<{ readonly fresh: Envelope | undefined; readonly read: ReadResult | undefined }> {
    const k = access.key(key);
    if (this.flights.has(k.full)) return { fresh: undefined, read: undefined };
    const read = await this.sharedRead(access, k);
    if (read !== READ_FAILED && read !== undefined && access.isFresh(read)) {
      access.count('hits');
      return { fresh: read, read };
    }
    return { fresh: undefined, read };
  }

  /**
   * The entry of `k`, or the factory's value. `first` is a read already made for this request
   * (by `lookup`); it is used only when no computation is in flight.
   */
  getOrCompute<T>(access: ScopeAccess, key: string, factory: Factory<T>, policy: ComputePolicy, first?: ReadResult): Promise<Outcome<T>> {
    let k: StorageKey;
    try {
      k = access.key(key);
    } catch (err) {
      return Promise.reject(err);
    }
    const flight = this.flights.get(k.full);
    if (flight !== undefined) return this.join(flight, access, k, factory, policy);
    return this.lead(access, k, key, factory, policy, first);
  }

  private join<T>(flight: Flight, access: ScopeAccess, k: StorageKey, factory: Factory<T>, policy: ComputePolicy): Promise<Outcome<T>> {
    // Counted when joining (a stampede wait), or as a stale entry served when that is the answer.
    if (!flight.servesStale) access.count('stampedeWaits');
    return (flight.answer as Promise<Outcome<T>>).then(
      (outcome) => {
        if (outcome.kind === 'stale') access.count('staleServed');
        if (outcome.kind !== 'computed') return outcome;
        if (outcome.entry === undefined && !policy.shareUnstored) return this.solo(access, k, factory, policy);
        return outcome.leader ? { ...outcome, leader: false } : outcome;
      },
      (err: unknown) => {
        if (policy.shareUnstored) throw err;
        return this.solo(access, k, factory, policy);
      },
    );
  }

  /** A computation outside any flight (a joiner whose leader's result was not for sharing). */
  private async solo<T>(access: ScopeAccess, k: StorageKey, factory: Factory<T>, policy: ComputePolicy): Promise<Outcome<T>> {
    const run = await this.runFactory(access, k, factory, policy, undefined);
    await run.written;
    return run.outcome;
  }

  private lead<T>(access: ScopeAccess, k: StorageKey, key: string, factory: Factory<T>, policy: ComputePolicy, first: ReadResult | undefined): Promise<Outcome<T>> {
    const flight = newFlight();
    this.flights.set(k.full, flight);
    const endFlight = (): void => {
      if (this.flights.get(k.full) === flight) this.flights.delete(k.full);
    };
    const own = this.leadFlight(access, k, key, factory, policy, first, flight, endFlight);
    // A leader that fails before answering: joiners get the same failure (or compute their own).
    own.catch((err: unknown) => {
      flight.failWith(err);
      endFlight();
    });
    return own;
  }

  private async leadFlight<T>(access: ScopeAccess, k: StorageKey, key: string, factory: Factory<T>, policy: ComputePolicy, first: ReadResult | undefined, flight: Flight, endFlight: () => void): Promise<Outcome<T>> {
    const read = first ?? (await this.sharedRead(access, k));
    const found = read === READ_FAILED ? undefined : read;
    if (found !== undefined && access.isFresh(found)) {
      access.count('hits');
      const hit: Outcome<T> = { kind: 'hit', entry: found as Envelope<T> };
      flight.answerWith(hit);
      endFlight();
      return hit;
    }
    const stale = found !== undefined && access.isStaleUsable(found) ? (found as Envelope<T>) : undefined;
    if (stale !== undefined && policy.staleWhileRevalidate !== 'none') flight.answerWith({ kind: 'stale', entry: stale });
    const serveStale = stale !== undefined && policy.staleWhileRevalidate === 'all';
    if (!serveStale) access.count('misses');
    const refresh = this.refresh(access, k, key, factory, policy, stale, read !== READ_FAILED, flight, endFlight);
    if (serveStale) {
      // The refresh goes on in the background; its failure is already reported.
      refresh.catch(() => undefined);
      access.count('staleServed');
      return { kind: 'stale', entry: stale };
    }
    return refresh;
  }

  /**
   * Takes the lock (re-reading once it is held), runs the factory, answers the joiners, and
   * keeps the flight open until the entry is readable; the lock is released only then, so the
   * next holder finds the entry.
   */
  private async refresh<T>(access: ScopeAccess, k: StorageKey, key: string, factory: Factory<T>, policy: ComputePolicy, stale: Envelope<T> | undefined, storeUp: boolean, flight: Flight, endFlight: () => void): Promise<Outcome<T>> {
    const lock = storeUp && policy.lock ? await tryLock(access, key, policy.lockTtlMs) : undefined;
    const release = (): void => {
      if (lock !== undefined && lock !== LOCK_BUSY) unlock(access, lock);
    };
    try {
      if (lock === LOCK_BUSY) {
        // Another process computes: wait for its entry rather than compute it again.
        access.count('stampedeWaits');
        const shared = await waitForEntry(access, k, policy.lockTtlMs);
        if (shared !== undefined) return answered(flight, endFlight, { kind: 'hit', entry: shared as Envelope<T> });
        // The holder took too long (or died): compute here rather than wait longer.
      } else if (lock !== undefined) {
        const again = await access.read(k);
        if (again !== READ_FAILED && again !== undefined && access.isFresh(again)) {
          release();
          return answered(flight, endFlight, { kind: 'hit', entry: again as Envelope<T> });
        }
      }
    } catch (err) {
      release();
      throw err;
    }
    const run = this.runFactory(access, k, factory, policy, stale);
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
      outcome = await this.withTimeouts(run, policy, stale, access);
    } catch (err) {
      // Failed, or timed out with nothing to serve: later callers start afresh (the factory of a
      // timed-out run goes on and stores its value when it arrives).
      endFlight();
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

  /** The factory's outcome within the policy's timeouts (the factory itself is never cancelled). */
  private withTimeouts<T>(run: Promise<FactoryRun<T>>, policy: ComputePolicy, stale: Envelope<T> | undefined, access: ScopeAccess): Promise<Outcome<T>> {
    const outcome = run.then((r) => r.outcome);
    const soft = stale === undefined ? undefined : policy.softTimeoutMs;
    const limit = soft ?? policy.hardTimeoutMs;
    if (limit === undefined) return outcome;
    return new Promise<Outcome<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The factory goes on: its value is stored when it arrives. Its failure is reported there.
        run.catch(() => undefined);
        if (stale !== undefined) {
          access.count('staleServed');
          resolve({ kind: 'stale', entry: stale });
        } else reject(new FactoryTimeoutError(limit));
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

  /** Runs the factory; on success starts the write (not awaited here). */
  private async runFactory<T>(access: ScopeAccess, k: StorageKey, factory: Factory<T>, policy: ComputePolicy, stale: Envelope<T> | undefined): Promise<FactoryRun<T>> {
    let skipped = false;
    let override: EntryPolicy | undefined;
    const ctx: FactoryContext<T> = {
      stale,
      skip: () => {
        skipped = true;
      },
      setEntry: (entry) => {
        override = { ...override, ...entry };
      },
    };
    let value: T;
    try {
      value = await access.metrics.inSpan('cache.compute', async () => factory(ctx));
    } catch (err) {
      if (stale !== undefined && policy.staleIfError(err)) {
        access.count('staleServed');
        return { outcome: { kind: 'stale', entry: stale }, written: Promise.resolve(), refused: undefined };
      }
      throw err;
    }
    if (value === undefined || skipped) return { outcome: { kind: 'computed', value, entry: undefined, leader: true }, written: Promise.resolve(), refused: undefined };
    let env: Envelope<T>;
    try {
      env = access.envelope(value, override === undefined ? policy : { ...policy, ...override });
    } catch (err) {
      // A bad tag or TTL from the factory's context: the value is served, nothing is stored.
      access.reportError('cache entry', `An entry could not be built (${(err as Error).message}); the value was returned without caching it.`);
      return { outcome: { kind: 'computed', value, entry: undefined, leader: true }, written: Promise.resolve(), refused: undefined };
    }
    let refused: EncodeError | undefined;
    // A failed write is reported by `put`; the value is still served. A value the store cannot
    // carry exactly is refused: the caller that waits for the write learns it.
    const written = access.put(k, env).catch((err: unknown) => {
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

  private sharedRead(access: ScopeAccess, k: StorageKey): Promise<ReadResult> {
    const pending = this.reads.get(k.full);
    if (pending !== undefined) return pending;
    const read = access.read(k).finally(() => this.reads.delete(k.full));
    this.reads.set(k.full, read);
    return read;
  }
}

interface FactoryRun<T> {
  readonly outcome: Outcome<T>;
  /** Settles when the write is done (it never rejects: failures are reported). */
  readonly written: Promise<void>;
  /** Set when the store refused the value (it cannot carry it exactly). */
  readonly refused: EncodeError | undefined;
}

function answered<T>(flight: Flight, endFlight: () => void, outcome: Outcome<T>): Outcome<T> {
  flight.answerWith(outcome);
  endFlight();
  return outcome;
}

function newFlight(): Flight {
  let settle!: (outcome: Outcome<unknown>) => void;
  let fail!: (err: unknown) => void;
  const answer = new Promise<Outcome<unknown>>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  // A flight nobody joined must not report an unhandled rejection.
  answer.catch(() => undefined);
  const flight: Flight = {
    answer,
    answered: false,
    servesStale: false,
    answerWith(outcome) {
      if (flight.answered) return;
      flight.answered = true;
      flight.servesStale = outcome.kind === 'stale';
      settle(outcome);
    },
    failWith(err) {
      if (flight.answered) return;
      flight.answered = true;
      fail(err);
    },
  };
  return flight;
}
