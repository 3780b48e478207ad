import type { Envelope } from '../envelope/envelope.js';
import type { KeyScope, StorageKey } from '../envelope/keys.js';
import { CacheConnectionError, CacheOperationError, CircuitOpenError } from '../errors/cache.errors.js';
import type { CacheStore, StoreGetOrSetResult, StoreHealth, StoreStats } from '../interfaces/cache-store.interface.js';
import type { Clock } from '../utils/clock.js';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive store failures (connection errors, timeouts) that open the circuit. Default 5. */
  failureThreshold?: number;
  /** How long the circuit stays open before one probe call is let through, in milliseconds. Default 5,000. */
  cooldownMs?: number;
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

  constructor(
    readonly inner: CacheStore,
    options: CircuitBreakerOptions,
    private readonly clock: Clock,
    private readonly onStateChange: (state: CircuitState) => void = () => undefined,
  ) {
    this.kind = inner.kind;
    this.threshold = options.failureThreshold ?? 5;
    this.cooldownMs = options.cooldownMs ?? 5_000;
  }

  /** `closed` (normal), `open` (failing fast) or `half-open` (one probe in flight). */
  get circuitState(): CircuitState {
    return this.state;
  }

  private async guard<T>(op: string, call: () => Promise<T>): Promise<T> {
    let probe = false;
    if (this.state !== 'closed') {
      const waited = this.clock.now() - this.openedAt;
      if (this.probing || waited < this.cooldownMs) throw new CircuitOpenError(op, this.kind, this.probing ? this.cooldownMs : this.cooldownMs - waited);
      probe = true;
      this.probing = true;
      this.transition('half-open');
    }
    try {
      const result = await call();
      this.failures = 0;
      if (this.state !== 'closed') this.transition('closed');
      return result;
    } catch (err) {
      if (err instanceof CacheConnectionError || err instanceof CacheOperationError) {
        this.failures++;
        if (probe || this.failures >= this.threshold) {
          this.openedAt = this.clock.now();
          if (this.state !== 'open') this.transition('open');
        }
      }
      throw err;
    } finally {
      if (probe) this.probing = false;
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
