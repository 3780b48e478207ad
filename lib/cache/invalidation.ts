import { CacheClosedError, CacheError, InvalidKeyError } from '../errors/cache.errors.js';
import { storageKey } from '../keys/storage-key.js';
import type { Clock } from '../utils/clock.js';
import type { ErrorReporter } from '../utils/error-reporter.js';
import { PendingInvalidations, type InvalidationChange, type Overflow, type ScopePending } from './pending-invalidations.js';
import type { ScopeAccess } from './scope-access.js';

/** Tags sent in one `invalidateTags` call of a retry, so one call stays small. */
const TAGS_PER_CALL = 1000;
/** Longest a timer waits at once (setTimeout's limit); a longer wait is re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface InvalidationRetryPolicy {
  /** Delay ceiling of the first retry, doubled at each further one (full jitter: a random delay up to it), in ms. */
  readonly backoffMs: number;
  /** The ceiling never exceeds this, in ms. */
  readonly maxBackoffMs: number;
  /** Most pending items kept. */
  readonly maxPending: number;
  /** The longest TTL + grace of an entry; `undefined` = tracked; 0 = unbounded. In ms. */
  readonly maxEntryLifetimeMs: number | undefined;
  /** `[0, 1)`; the jitter's source. */
  readonly random: () => number;
}

/** The retry state of one scope with pending invalidations. */
interface ScopeRetry {
  /** The scope's access (its store: the shared one or its dedicated one). */
  access: ScopeAccess;
  /** Store attempts that failed, the first (the caller's own) included. */
  failures: number;
  /** When the first of them failed (the manager's clock). */
  readonly since: number;
  timer: NodeJS.Timeout | undefined;
  /** When the timer fires (`performance.now()`), to bring it forward when the store answers. */
  dueAt: number;
  running: boolean;
  /** The store answered (or its circuit closed) while an attempt was on its way: the next one runs soon. */
  nudged: boolean;
}

/**
 * Durable invalidation: an invalidation (`invalidateTags`, `delete`, `clear`) the store failed
 * is kept (`PendingInvalidations`, bounded, merged per target) and retried in the background,
 * past circuit openings, until it is applied or every entry it covers has expired; meanwhile no
 * read of this instance serves an entry it covers. Delays: exponential backoff with full jitter
 * (instances that failed together do not retry together), capped at `maxBackoffMs`; brought
 * forward when the scope's store answers a read, or another pending invalidation is applied
 * (the store is back). Log lines say what happened (once per burst): pending, still pending,
 * applied after N attempts, dropped because every covered entry has expired.
 */
export class InvalidationRetries {
  readonly pending: PendingInvalidations;
  private readonly retries = new Map<string, ScopeRetry>();
  private horizonTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly policy: InvalidationRetryPolicy,
    private readonly reporter: ErrorReporter,
    private readonly clock: Clock,
    defaultTtlMs: number,
  ) {
    this.pending = new PendingInvalidations({ maxPending: policy.maxPending, maxEntryLifetimeMs: policy.maxEntryLifetimeMs, defaultTtlMs });
    this.pending.onAnswered = (scopeId) => this.nudge(scopeId);
  }

  /**
   * Runs `attempt`, the store operation of `change` in the scope of `access`. A failure is
   * kept pending (retried until applied or expired) and rejects as it failed; a success also
   * settles what was pending for the same target before it.
   */
  async run<R>(access: ScopeAccess, change: InvalidationChange, attempt: () => Promise<R>): Promise<R> {
    const upTo = this.pending.sequence();
    let result: R;
    try {
      result = await attempt();
    } catch (err) {
      if (this.retryable(err)) this.failed(access, change, err);
      throw err;
    }
    if (this.pending.count !== 0) this.settledBy(access, change, upTo);
    return result;
  }

  private failed(access: ScopeAccess, change: InvalidationChange, err: unknown): void {
    const scopeId = access.scope.id;
    const overflow = this.pending.add(scopeId, change, this.clock.now());
    this.reporter.report(
      'invalidation pending',
      `${describe(change, access)} failed (${codeOf(err)}); pending (${this.pending.count} in all), retried in the background until it is applied or every entry it covers has expired. Until then this instance serves none of those entries.`,
    );
    this.reportOverflow(overflow);
    if (this.pending.forScope(scopeId) === undefined) return; // only the horizon holds it
    const retry = this.retries.get(scopeId);
    if (retry === undefined) {
      const fresh: ScopeRetry = { access, failures: 1, since: this.clock.now(), timer: undefined, dueAt: 0, running: false, nudged: false };
      this.retries.set(scopeId, fresh);
      this.schedule(fresh);
    } else {
      retry.access = access;
      retry.failures++;
      if (retry.timer === undefined && !retry.running) this.schedule(retry);
    }
  }

  private reportOverflow(overflow: Overflow): void {
    for (const { items } of overflow.folded) {
      this.reporter.report(
        'invalidation overflow',
        `Pending invalidations reached the bound (maxPending ${this.policy.maxPending}): a tenant's ${items} pending invalidations were merged into one pending clear of that tenant; it is retried like the others and, until applied, this instance serves none of that tenant's entries written before it.`,
        'similar lines',
      );
    }
    if (overflow.horizon) {
      this.reporter.report(
        'invalidation overflow',
        `Pending invalidations reached the bound (maxPending ${this.policy.maxPending}) with more tenants pending than that: a new one could not be kept for retry. Until every entry written before now has expired, this instance serves no entry of any tenant written before now; other instances may serve the entries it covered until they expire. Raise invalidationRetry.maxPending.`,
        'similar lines',
      );
      this.armHorizon();
    }
  }

  /** A success of `change` applies what was pending for its target before it started. */
  private settledBy(access: ScopeAccess, change: InvalidationChange, upTo: number): void {
    const scopeId = access.scope.id;
    const applied = change.kind === 'clear' ? { clear: true } : change.kind === 'tags' ? { tags: change.tags } : { keys: [change.key.full] };
    if (this.pending.resolve(scopeId, applied, upTo) === 0) return;
    this.afterProgress(scopeId, 'a later invalidation of the same target succeeded');
  }

  /** Arms the retry's timer; resolves its delay in ms. */
  private schedule(retry: ScopeRetry, ceilingMs = this.ceiling(retry.failures)): number {
    const delay = Math.max(1, Math.round(ceilingMs * this.policy.random()));
    retry.dueAt = performance.now() + delay;
    retry.timer = setTimeout(() => void this.tick(retry), delay);
    retry.timer.unref();
    return delay;
  }

  private ceiling(failures: number): number {
    return Math.min(this.policy.backoffMs * 2 ** Math.min(failures - 1, 40), this.policy.maxBackoffMs);
  }

  /** A store's circuit closed: every waiting retry that waits longer than the first backoff runs soon. */
  storeRecovered(): void {
    for (const retry of this.retries.values()) this.nudge(retry.access.scope.id);
  }

  /** The store of `scopeId` answered: its retry, if it waits longer than the first backoff, runs soon. */
  private nudge(scopeId: string): void {
    const retry = this.retries.get(scopeId);
    if (retry === undefined) return;
    if (retry.running) {
      retry.nudged = true; // its attempt may fail on what has just changed: try again soon
      return;
    }
    if (retry.timer === undefined) return;
    if (retry.dueAt - performance.now() <= this.policy.backoffMs) return;
    clearTimeout(retry.timer);
    this.schedule(retry, this.policy.backoffMs);
  }

  private async tick(retry: ScopeRetry): Promise<void> {
    retry.timer = undefined;
    if (this.closed) return;
    const scopeId = retry.access.scope.id;
    const expired = this.pending.dropExpired(scopeId, this.clock.now());
    if (expired > 0) this.reportDropped(expired, retry);
    const rec = this.pending.forScope(scopeId);
    if (rec === undefined) {
      this.retries.delete(scopeId);
      return;
    }
    retry.running = true;
    retry.nudged = false;
    let error: unknown;
    try {
      await this.apply(retry.access, rec);
    } catch (err) {
      error = err;
    } finally {
      retry.running = false;
    }
    if (this.closed) return;
    if (error !== undefined) {
      // Whatever the error, the invalidation is not applied: it stays pending and is retried.
      retry.failures++;
      const delay = retry.nudged ? this.schedule(retry, this.policy.backoffMs) : this.schedule(retry);
      this.reporter.report(
        'invalidation still pending',
        `Invalidations still pending (${this.pending.count}), retrying: attempt ${retry.failures} ${scopeText(retry.access)} failed (${codeOf(error)}); next attempt in ${delay} ms.`,
      );
      return;
    }
    this.afterProgress(scopeId, undefined);
  }

  /** Logs what was applied; retries what was merged meanwhile; lets every other waiting retry run soon (the store is back). */
  private afterProgress(scopeId: string, how: string | undefined): void {
    const retry = this.retries.get(scopeId);
    if (retry === undefined) return;
    if (this.pending.forScope(scopeId) !== undefined) {
      // Merged while the attempt was on its way (or only partly settled): one more, soon.
      if (retry.timer === undefined && !retry.running) this.schedule(retry, this.policy.backoffMs);
    } else {
      this.retries.delete(scopeId);
      if (retry.timer !== undefined) clearTimeout(retry.timer);
      const attempts = how === undefined ? retry.failures + 1 : retry.failures;
      this.reporter.report(
        'invalidation applied',
        `Pending invalidation applied after ${attempts} attempt(s)${how === undefined ? '' : ` (${how})`}, ${this.clock.now() - retry.since} ms after it first failed; ${this.pending.count} still pending.`,
        'similar lines (other invalidations applied)',
      );
    }
    for (const [other, waiting] of this.retries) if (other !== scopeId) this.nudge(waiting.access.scope.id);
  }

  private reportDropped(items: number, retry: ScopeRetry): void {
    this.reporter.report(
      'invalidation dropped',
      `${items} pending invalidation(s) dropped: every entry it covered has expired (${retry.failures} attempt(s) failed over ${this.clock.now() - retry.since} ms); ${this.pending.count} still pending.`,
      'similar lines (other invalidations dropped)',
    );
  }

  /**
   * One attempt at everything pending for a scope: its clear first (which settles everything
   * issued before it), then its tags, then its keys. What succeeds is settled even when a
   * later part fails; the first failure rejects.
   */
  private async apply(access: ScopeAccess, rec: ScopePending): Promise<void> {
    const scopeId = access.scope.id;
    const upTo = this.pending.sequence();
    if (rec.clear !== undefined) {
      await access.write('clear', undefined, (store) => store.clearScope(access.scope));
      this.pending.resolve(scopeId, { clear: true }, upTo);
      return;
    }
    const tags = [...rec.tags.keys()];
    for (let i = 0; i < tags.length; i += TAGS_PER_CALL) {
      const batch = tags.slice(i, i + TAGS_PER_CALL);
      const tagKeys = batch.map((tag) => storageKey(access.scope, 'tag', tag));
      await access.write('invalidateTags', undefined, (store) => store.invalidateTags(tagKeys));
      this.pending.resolve(scopeId, { tags: batch }, upTo);
    }
    const deletes = await Promise.allSettled([...rec.keys.values()].map(async ({ key }) => {
      await access.write('delete', key, (store) => store.delete(key));
      return key.full;
    }));
    const deleted = deletes.flatMap((d) => (d.status === 'fulfilled' ? [d.value] : []));
    if (deleted.length > 0) this.pending.resolve(scopeId, { keys: deleted }, upTo);
    const failed = deletes.find((d): d is PromiseRejectedResult => d.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  /** Drops the horizon when every entry it covers has expired, saying so. */
  private armHorizon(): void {
    if (this.horizonTimer !== undefined) clearTimeout(this.horizonTimer);
    const horizon = this.pending.horizon;
    if (horizon === undefined || horizon.until === Infinity) return;
    this.horizonTimer = setTimeout(() => {
      this.horizonTimer = undefined;
      if (this.closed) return;
      if (this.pending.dropExpiredHorizon(this.clock.now())) {
        this.reporter.report('invalidation dropped', `The overflow horizon was dropped: every entry written before it has expired; ${this.pending.count} invalidation(s) still pending.`, 'similar lines (other invalidations dropped)');
      } else this.armHorizon();
    }, Math.min(MAX_TIMER_MS, Math.max(1, horizon.until - this.clock.now())));
    this.horizonTimer.unref();
  }

  private retryable(err: unknown): boolean {
    return !this.closed && !(err instanceof InvalidKeyError) && !(err instanceof CacheClosedError);
  }

  /** Scopes with a retry scheduled or running (for tests and diagnostics). */
  get scopesRetrying(): number {
    return this.retries.size;
  }

  /** Stops every retry; says how many invalidations were still pending. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const retry of this.retries.values()) if (retry.timer !== undefined) clearTimeout(retry.timer);
    this.retries.clear();
    if (this.horizonTimer !== undefined) clearTimeout(this.horizonTimer);
    const left = this.pending.count;
    if (left > 0) {
      this.reporter.report('invalidation pending at close', `The cache closed with ${left} invalidation(s) still pending: they were not applied, so other instances may serve the entries they cover until those expire.`);
    }
    this.pending.clear();
  }
}

/** Names the scope without its tenant id (logs carry no tenant data). */
function scopeText(access: ScopeAccess): string {
  return access.scope.isGlobal ? 'of the global scope' : 'of a tenant';
}

function describe(change: InvalidationChange, access: ScopeAccess): string {
  if (change.kind === 'tags') return `Invalidating ${change.tags.length} tag(s) ${scopeText(access)}`;
  if (change.kind === 'delete') return `Deleting a key ${scopeText(access)}`;
  return `Clearing the entries ${scopeText(access)}`;
}

function codeOf(err: unknown): string {
  if (err instanceof CacheError) return err.code;
  return err instanceof Error ? err.name : typeof err;
}
