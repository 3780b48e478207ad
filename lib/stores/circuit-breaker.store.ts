import type { Envelope } from '../envelope/envelope.js';
import type { KeyScope, StorageKey } from '../keys/storage-key.js';
import { CacheConnectionError, CacheOperationError, CacheTimeoutError, CircuitOpenError } from '../errors/cache.errors.js';
import type { CacheStore, StoreGetOrSetResult, StoreHealth, StoreStats } from './cache-store.interface.js';
import type { Clock } from '../utils/clock.js';

export type CircuitState = 'closed' | 'open' | 'half-open';

/**
 * An outage: the store could not be reached, or gave no reply in time. Only these count towards
 * opening the circuit. A store that answered with an error (full, a script error) works; a
 * caller's error (encode, payload size) says nothing about the store.
 */
function isOutage(err: unknown): err is CacheConnectionError | CacheTimeoutError {
  return err instanceof CacheConnectionError || err instanceof CacheTimeoutError;
}

/** The store answered, with an error: it is reachable, so the run of failures is over. */
function storeAnswered(err: unknown): boolean {
  return err instanceof CacheOperationError && !(err instanceof CacheTimeoutError);
}

/** Checked and defaulted by the cache's options (`circuitBreaker`, `CIRCUIT_BREAKER_DEFAULTS`). */
export interface CircuitBreakerOptions {
  /** Consecutive outage failures (unreachable, timed out) that open the circuit. */
  readonly failureThreshold: number;
  /** From opening to the first probe, and from the start of one probe to the next, in milliseconds. */
  readonly cooldownMs: number;
}

/**
 * Wraps a remote store so that, once it keeps failing, calls fail fast (`CircuitOpenError`)
 * instead of each waiting for its own timeout: during an outage every request is served by its
 * handler at once, and the store is not hammered while it recovers.
 *
 * While open, the breaker probes the store with its `health()` (a PING on Redis), never with a
 * caller's operation, and one probe at a time: when the store says its connection is ready
 * again (`onReconnect`), and otherwise when a call arrives `cooldownMs` after the last probe
 * started (a failed probe does not push the next one further away). A health check that finds
 * the store answering closes the circuit too, so health never says "up" while calls fail fast.
 * Only outages count (see `isOutage`): a full store or an error reply is not one.
 */
export class CircuitBreakerStore implements CacheStore {
  readonly kind: string;
  private state: CircuitState = 'closed';
  private failures = 0;
  /** When the circuit opened or the last probe started (on the cache's clock). */
  private probedAt = 0;
  private probing = false;
  /** Where the store is, from its last outage error (host:port); its kind until one names it. */
  private where: string;
  private readonly stopWatching: (() => void) | undefined;
  private readonly threshold: number;
  private readonly cooldownMs: number;

  readonly acquireLock?: (key: StorageKey, token: string, ttlMs: number) => Promise<boolean>;
  readonly releaseLock?: (key: StorageKey, token: string) => Promise<void>;

  constructor(
    readonly inner: CacheStore,
    options: CircuitBreakerOptions,
    private readonly clock: Clock,
    /** Told about every transition (and the state it left), with where the store is (for one log line per connection). */
    private readonly onStateChange: (state: CircuitState, where: string, from: CircuitState) => void = () => undefined,
  ) {
    this.kind = inner.kind;
    this.where = inner.kind;
    this.threshold = options.failureThreshold;
    this.cooldownMs = options.cooldownMs;
    // Locks pass through (guarded) only where the store has them.
    const { acquireLock, releaseLock } = inner;
    if (acquireLock !== undefined && releaseLock !== undefined) {
      this.acquireLock = (key, token, ttlMs) => this.guard('acquireLock', () => acquireLock.call(inner, key, token, ttlMs));
      this.releaseLock = (key, token) => this.guard('releaseLock', () => releaseLock.call(inner, key, token));
    }
    this.stopWatching = inner.onReconnect?.(() => this.probe());
  }

  /** `closed` (normal), `open` (failing fast) or `half-open` (failing fast, one probe in flight). */
  get circuitState(): CircuitState {
    return this.state;
  }

  private guard<T>(op: string, call: () => Promise<T>): Promise<T> {
    // Closed (the normal case): no async wrapper, no closure per call.
    if (this.state === 'closed') {
      let pending: Promise<T>;
      try {
        pending = call();
      } catch (err) {
        return Promise.reject(err);
      }
      return pending.then(this.succeeded as (value: T) => T, this.failedWhileClosed);
    }
    const waited = this.clock.now() - this.probedAt;
    if (!this.probing && waited >= this.cooldownMs) this.probe();
    return Promise.reject(new CircuitOpenError(op, this.where, this.probing ? this.cooldownMs : this.cooldownMs - waited));
  }

  private readonly succeeded = <T>(value: T): T => {
    this.failures = 0;
    return value;
  };

  private readonly failedWhileClosed = (err: unknown): never => {
    if (isOutage(err)) {
      this.where = err.address;
      this.failures++;
      if (this.failures >= this.threshold && this.state === 'closed') {
        this.probedAt = this.clock.now();
        this.transition('open');
      }
    } else if (storeAnswered(err)) {
      this.failures = 0;
    }
    throw err;
  };

  /** One probe at a time, in the background: the store's health decides. */
  private probe(): void {
    if (this.state === 'closed' || this.probing) return;
    this.probing = true;
    this.probedAt = this.clock.now();
    this.transition('half-open');
    let answered: Promise<boolean>;
    try {
      answered = this.inner.health().then(
        (health) => health.ok,
        () => false,
      );
    } catch {
      answered = Promise.resolve(false);
    }
    void answered.then((ok) => {
      this.probing = false;
      // Closed meanwhile by a health check (see `health()`): nothing left to decide.
      if (this.state === 'closed') return;
      if (ok) this.closeCircuit();
      else this.transition('open');
    });
  }

  private closeCircuit(): void {
    this.failures = 0;
    this.transition('closed');
  }

  private transition(state: CircuitState): void {
    const from = this.state;
    this.state = state;
    this.onStateChange(state, this.where, from);
  }

  get(key: StorageKey): Promise<Envelope | undefined> {
    return this.guard('get', () => this.inner.get(key));
  }
  set(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<void> {
    return this.guard('set', () => this.inner.set(key, envelope, ttlMs));
  }
  delete(key: StorageKey): Promise<boolean> {
    return this.guard('delete', () => this.inner.delete(key));
  }
  getOrSet(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<StoreGetOrSetResult> {
    return this.guard('getOrSet', () => this.inner.getOrSet(key, envelope, ttlMs));
  }
  compareAndSet(key: StorageKey, expectedStamp: string | null, envelope: Envelope, ttlMs: number): Promise<boolean> {
    return this.guard('compareAndSet', () => this.inner.compareAndSet(key, expectedStamp, envelope, ttlMs));
  }
  clearScope(scope: KeyScope): Promise<number> {
    return this.guard('clearScope', () => this.inner.clearScope(scope));
  }
  invalidateTags(tagKeys: readonly StorageKey[]): Promise<number> {
    return this.guard('invalidateTags', () => this.inner.invalidateTags(tagKeys));
  }
  scopeSize(scope: KeyScope): number | undefined {
    return this.inner.scopeSize(scope);
  }
  /**
   * Asks the store itself. While the circuit is not closed, a store that answers closes it (the
   * check was a successful probe), so "ok" always means calls reach the store; one that does not
   * says the circuit is open.
   */
  async health(): Promise<StoreHealth> {
    const health = await this.inner.health();
    if (this.state === 'closed') return health;
    if (health.ok) {
      this.closeCircuit();
      return health;
    }
    return { ...health, detail: `${health.detail ?? 'the store is failing'}; circuit ${this.state}` };
  }
  stats(): StoreStats {
    return this.inner.stats();
  }
  close(): Promise<void> {
    this.stopWatching?.();
    return this.inner.close();
  }
}
