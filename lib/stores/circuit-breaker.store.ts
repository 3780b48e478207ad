import type { Envelope } from '../envelope/envelope.js';
import type { KeyScope, StorageKey } from '../keys/storage-key.js';
import { CacheConnectionError, CacheOperationError, CircuitOpenError } from '../errors/cache.errors.js';
import type { CacheStore, StoreGetOrSetResult, StoreHealth, StoreStats } from './cache-store.interface.js';
import type { Clock } from '../utils/clock.js';

export type CircuitState = 'closed' | 'open' | 'half-open';

/** Infrastructure failures (unreachable, timed out) count; a caller's error (encode, payload size) does not. */
function isStoreFailure(err: unknown): boolean {
  return err instanceof CacheConnectionError || err instanceof CacheOperationError;
}

/** Checked and defaulted by the cache's options (`circuitBreaker`, `CIRCUIT_BREAKER_DEFAULTS`). */
export interface CircuitBreakerOptions {
  /** Consecutive store failures (connection errors, timeouts) that open the circuit. */
  readonly failureThreshold: number;
  /** How long the circuit stays open before one probe call is let through, in milliseconds. */
  readonly cooldownMs: number;
}

/**
 * Wraps a remote store so that, once it keeps failing, calls fail fast (`CircuitOpenError`)
 * instead of each waiting for its own timeout: during an outage every request is served by its
 * handler at once, and the store is not hammered while it recovers. After `cooldownMs`, one
 * call probes the store (half-open); success closes the circuit, failure opens it again.
 * Only infrastructure failures count: a value that cannot be encoded is the caller's error.
 */
export class CircuitBreakerStore implements CacheStore {
  readonly kind: string;
  private state: CircuitState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private readonly threshold: number;
  private readonly cooldownMs: number;

  readonly acquireLock?: (key: StorageKey, token: string, ttlMs: number) => Promise<boolean>;
  readonly releaseLock?: (key: StorageKey, token: string) => Promise<void>;

  constructor(
    readonly inner: CacheStore,
    options: CircuitBreakerOptions,
    private readonly clock: Clock,
    private readonly onStateChange: (state: CircuitState) => void = () => undefined,
  ) {
    this.kind = inner.kind;
    this.threshold = options.failureThreshold;
    this.cooldownMs = options.cooldownMs;
    // Locks pass through (guarded) only where the store has them.
    const { acquireLock, releaseLock } = inner;
    if (acquireLock !== undefined && releaseLock !== undefined) {
      this.acquireLock = (key, token, ttlMs) => this.guard('acquireLock', () => acquireLock.call(inner, key, token, ttlMs));
      this.releaseLock = (key, token) => this.guard('releaseLock', () => releaseLock.call(inner, key, token));
    }
  }

  /** `closed` (normal), `open` (failing fast) or `half-open` (one probe in flight). */
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
    return this.guardOpen(op, call);
  }

  private readonly succeeded = <T>(value: T): T => {
    this.failures = 0;
    return value;
  };

  private readonly failedWhileClosed = (err: unknown): never => {
    if (isStoreFailure(err)) {
      this.failures++;
      if (this.failures >= this.threshold && this.state === 'closed') {
        this.openedAt = this.clock.now();
        this.transition('open');
      }
    }
    throw err;
  };

  private async guardOpen<T>(op: string, call: () => Promise<T>): Promise<T> {
    const waited = this.clock.now() - this.openedAt;
    if (this.probing || waited < this.cooldownMs) throw new CircuitOpenError(op, this.kind, this.probing ? this.cooldownMs : this.cooldownMs - waited);
    this.probing = true;
    this.transition('half-open');
    try {
      const result = await call();
      this.failures = 0;
      this.transition('closed');
      return result;
    } catch (err) {
      if (isStoreFailure(err)) {
        this.failures++;
        this.openedAt = this.clock.now();
        this.transition('open');
      } else {
        // The store answered (with a caller's error): it is reachable again.
        this.failures = 0;
        this.transition('closed');
      }
      throw err;
    } finally {
      this.probing = false;
    }
  }

  private transition(state: CircuitState): void {
    this.state = state;
    this.onStateChange(state);
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
  /** Always asks the store itself, so health shows recovery even while the circuit is open. */
  async health(): Promise<StoreHealth> {
    const health = await this.inner.health();
    return this.state === 'closed' ? health : { ...health, detail: `${health.detail ?? 'store answered'}; circuit ${this.state}` };
  }
  stats(): StoreStats {
    return this.inner.stats();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
