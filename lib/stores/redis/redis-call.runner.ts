import { CacheClosedError, CacheConnectionError, CacheOperationError, CacheStoreFullError, CacheTimeoutError, type CacheError } from '../../errors/cache.errors.js';
import { keyHash, type StorageKey } from '../../keys/storage-key.js';
import type { ClusterRoutes } from './cluster-routes.js';
import { invoke, withDeadline } from './redis-command.deadline.js';
import type { RedisClientLifecycle } from './redis-client.lifecycle.js';
import { COMMAND_TIMED_OUT, isOutOfMemory, isTimeout } from './redis.failures.js';

/**
 * How a `RedisStore` runs each client call: refused after close, waiting for the first
 * connection at most `commandTimeout`, bounded by `commandTimeout` from its issue, and its
 * failure typed and counted (the one place that decides what a Redis failure is).
 */
export class RedisCallRunner {
  /** Calls that failed (`stats().errors`). */
  errors = 0;
  /** When Redis last refused a write for memory (`performance.now()`); a write that succeeds resets it. */
  fullAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly lifecycle: RedisClientLifecycle,
    /** On a Cluster: which primary each scope's calls go to. */
    private readonly routes: ClusterRoutes | undefined,
    private readonly commandTimeout: number,
    /** Whether the store is closed (its calls are refused). */
    private readonly closed: () => boolean,
  ) {}

  assertOpen(): void {
    if (this.closed()) throw new CacheClosedError('Redis store');
  }

  /**
   * Runs one client call: rejects after close, lets the first calls wait for the first
   * connection, bounds the call by `commandTimeout` from now (see `withDeadline`; `whole: false`
   * for calls of many commands that bound each one), and turns failures into typed errors,
   * counted (see `fail`). `key` (any key of the scope the call is for) names the node and the
   * key hash in errors.
   */
  async run<T>(op: string, key: StorageKey | undefined, call: () => Promise<T>, whole = true): Promise<T> {
    this.assertOpen();
    const issuedAt = performance.now();
    try {
      // Once connected (the usual case) there is nothing to wait for.
      if (!this.lifecycle.connected()) {
        await withDeadline(this.lifecycle.firstConnection(), this.commandTimeout, () => this.notConnected());
        this.assertOpen();
      }
      const work = invoke(call);
      return await (whole ? withDeadline(work, this.commandTimeout - (performance.now() - issuedAt), commandTimedOut) : work);
    } catch (err) {
      if (err instanceof CacheClosedError && this.closed()) throw err;
      throw this.fail(op, key, err);
    }
  }

  /**
   * Counts a failed call and types its error: unreachable, timed out, full, or another error
   * reply. Not logged: the caller gets the rejection and reports it (the cache layer, once per
   * burst); logging here too would make each failure two lines. The client's own 'error' events
   * (the connection going down) are logged by the lifecycle.
   */
  fail(op: string, key: StorageKey | undefined, err: unknown): CacheError {
    this.errors++;
    // On a Cluster: the node the call went to, and a slot-map refresh (it may have failed over).
    const address = (key !== undefined ? this.routes?.nodeOf(key.scope) : undefined) ?? this.lifecycle.address;
    const timedOut = isTimeout(err);
    const unreachable = !timedOut && this.lifecycle.isConnectionError(err);
    if (unreachable || timedOut) this.routes?.failed();
    if (unreachable) return new CacheConnectionError(op, address, { cause: err });
    const hash = key === undefined ? undefined : keyHash(key);
    if (timedOut) return new CacheTimeoutError(`redis ${op}`, hash, address, this.commandTimeout, { cause: err });
    if (isOutOfMemory(err)) {
      this.fullAt = performance.now();
      return new CacheStoreFullError(`redis ${op}`, hash, address, { cause: err });
    }
    return new CacheOperationError(`redis ${op}`, hash, { cause: err });
  }

  /** A call waited its whole timeout for the first connection; later ones fail fast until it is up. */
  private notConnected(): Error {
    this.lifecycle.giveUpInitialWait();
    return new Error(`Redis at ${this.lifecycle.address} isn't ready: no connection within the command timeout of ${this.commandTimeout} ms`);
  }
}

export function commandTimedOut(): Error {
  return new Error(COMMAND_TIMED_OUT);
}
