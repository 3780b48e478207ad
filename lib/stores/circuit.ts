import { CacheConnectionError, CacheOperationError, CacheTimeoutError, CircuitOpenError } from '../errors/cache.errors.js';
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

/** What every circuit of one breaker shares. */
export interface CircuitSettings {
  /** Consecutive outage failures (unreachable, timed out) that open the circuit. */
  readonly threshold: number;
  /** From opening to the first probe, and from the start of one probe to the next, in milliseconds. */
  readonly cooldownMs: number;
  readonly clock: Clock;
  /** Told about every transition (and the state it left), with where the server is. */
  readonly onStateChange: (state: CircuitState, where: string, from: CircuitState) => void;
}

/**
 * One circuit: the calls to one server (the whole store, or one node of a Redis Cluster). Once
 * `threshold` calls in a row failed for an outage, it opens and calls fail fast
 * (`CircuitOpenError`); it probes the server with `answers` (never a caller's operation), one
 * probe at a time, when asked (`probe()`: the store reconnected, a health check) and when a call
 * arrives `cooldownMs` after the last probe started (a failed probe does not push the next one
 * further away); a probe that succeeds closes it.
 */
export class Circuit {
  private current: CircuitState = 'closed';
  private failures = 0;
  /** When the circuit opened or the last probe started (on the settings' clock). */
  private probedAt = 0;
  private probing: Promise<void> | undefined;

  constructor(
    private readonly settings: CircuitSettings,
    /** Whether the server answers now (a PING). */
    private readonly answers: () => Promise<boolean>,
    /** Where the server is (host:port), for messages; a store-wide circuit learns it from its outage errors. */
    private where: string,
    private readonly learnsWhere: boolean,
  ) {}

  /** `closed` (normal), `open` (failing fast) or `half-open` (failing fast, one probe in flight). */
  get state(): CircuitState {
    return this.current;
  }

  get address(): string {
    return this.where;
  }

  guard<T>(op: string, call: () => Promise<T>): Promise<T> {
    // Closed (the normal case): no async wrapper, no closure per call.
    if (this.current === 'closed') {
      let pending: Promise<T>;
      try {
        pending = call();
      } catch (err) {
        return Promise.reject(err);
      }
      return pending.then(this.succeeded as (value: T) => T, this.failedWhileClosed);
    }
    const waited = this.settings.clock.now() - this.probedAt;
    const { cooldownMs } = this.settings;
    if (this.probing === undefined && waited >= cooldownMs) void this.probe();
    return Promise.reject(new CircuitOpenError(op, this.where, this.probing !== undefined ? cooldownMs : cooldownMs - waited));
  }

  private readonly succeeded = <T>(value: T): T => {
    this.failures = 0;
    return value;
  };

  private readonly failedWhileClosed = (err: unknown): never => {
    if (isOutage(err)) {
      if (this.learnsWhere) this.where = err.address;
      this.failures++;
      if (this.failures >= this.settings.threshold && this.current === 'closed') {
        this.probedAt = this.settings.clock.now();
        this.transition('open');
      }
    } else if (storeAnswered(err)) {
      this.failures = 0;
    }
    throw err;
  };

  /** One probe at a time, in the background; resolves once it (or the one in flight) is decided. Nothing to do while closed. */
  probe(): Promise<void> {
    if (this.current === 'closed') return Promise.resolve();
    if (this.probing !== undefined) return this.probing;
    this.probedAt = this.settings.clock.now();
    this.transition('half-open');
    let answered: Promise<boolean>;
    try {
      answered = this.answers().catch(() => false);
    } catch {
      answered = Promise.resolve(false);
    }
    this.probing = this.decide(answered);
    return this.probing;
  }

  private async decide(answered: Promise<boolean>): Promise<void> {
    const ok = await answered;
    this.probing = undefined;
    // Closed meanwhile (a health check that found the store answering): nothing left to decide.
    if (this.current === 'closed') return;
    if (ok) this.close();
    else this.transition('open');
  }

  close(): void {
    this.failures = 0;
    if (this.current !== 'closed') this.transition('closed');
  }

  private transition(state: CircuitState): void {
    const from = this.current;
    this.current = state;
    this.settings.onStateChange(state, this.where, from);
  }
}
