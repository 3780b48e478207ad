import { CacheClosedError, CacheError, InvalidKeyError } from '../errors/cache.errors.js';
import type { ErrorReporter } from '../utils/error-reporter.js';

/** Longest delay between two invalidation retries. */
const MAX_RETRY_DELAY_MS = 30_000;

export interface InvalidationRetryPolicy {
  /** Retries after the first failure; 0 = none. */
  readonly retries: number;
  /** Base delay, doubled at each retry (full jitter: a random delay up to it). */
  readonly backoffMs: number;
}

/**
 * Background retries of failed tag invalidations, for every caller of `invalidateTags()`
 * (services as well as `@InvalidateTags()` routes). Delays use exponential backoff with full
 * jitter, so many instances that failed together do not retry together. A bad tag is never
 * retried (it fails the same way every time); nothing is retried once the manager closes.
 */
export class InvalidationRetries {
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly policy: InvalidationRetryPolicy,
    private readonly reporter: ErrorReporter,
    private readonly random: () => number = Math.random,
  ) {}

  /** Retries `attempt` (which just failed with `err`) in the background, if it may be retried. */
  schedule(tags: readonly string[], attempt: () => Promise<unknown>, err: unknown): void {
    if (!this.retryable(err) || this.policy.retries === 0) return;
    this.reporter.report('invalidate tags', `Invalidating ${tags.length} tag(s) failed (${codeOf(err)}); retrying in the background up to ${this.policy.retries} time(s).`);
    this.retry(tags, attempt, 1);
  }

  private retry(tags: readonly string[], attempt: () => Promise<unknown>, n: number): void {
    const ceiling = Math.min(this.policy.backoffMs * 2 ** (n - 1), MAX_RETRY_DELAY_MS);
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        attempt().then(
          () => this.reporter.report('invalidate tags retried', `Invalidating ${tags.length} tag(s) succeeded on retry ${n}.`),
          (err: unknown) => {
            if (!this.retryable(err)) return;
            if (n >= this.policy.retries) {
              this.reporter.report('invalidate tags gave up', `Invalidating ${tags.length} tag(s) still failed after ${this.policy.retries} retries (${codeOf(err)}); entries with those tags stay until they expire.`);
              return;
            }
            this.retry(tags, attempt, n + 1);
          },
        );
      },
      Math.max(1, Math.round(ceiling * this.random())),
    );
    timer.unref();
    this.timers.add(timer);
  }

  private retryable(err: unknown): boolean {
    return !this.closed && !(err instanceof InvalidKeyError) && !(err instanceof CacheClosedError);
  }

  /** Retries waiting for their turn (for tests and diagnostics). */
  get pending(): number {
    return this.timers.size;
  }

  /** Stops every retry. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

function codeOf(err: unknown): string {
  if (err instanceof CacheError) return err.code;
  return err instanceof Error ? err.name : typeof err;
}
