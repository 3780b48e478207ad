import type { Envelope } from '../envelope/envelope.js';
import type { EagerRefreshPolicy } from '../options/eager-refresh-option.js';
import type { Duration } from '../utils/duration.js';

export type { EagerRefreshPolicy } from '../options/eager-refresh-option.js';
import type { EntryPolicy } from './scope-access.js';

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
   * Whether callers that joined a computation share a result that was not stored (`wrap()`:
   * yes). When not (HTTP: a response that may not be stored may belong to its request only),
   * each such joiner computes its own. A failure is shared either way: it is the answer for the key.
   */
  readonly shareUnstored: boolean;
  /**
   * Whether a failure means the computing caller went away rather than the computation failed
   * (an abandoned HTTP request): the callers that joined then start again instead of failing.
   */
  readonly isAbandoned: (err: unknown) => boolean;
  /** Whether the computing caller waits for the write (the flight stays joinable until the entry is readable either way). */
  readonly awaitWrite: boolean;
  /**
   * Compute even if a fresh entry is there (it stays the fallback for stale-if-error and the
   * soft timeout, and is `ctx.gracedEntry`); a computation of the key under way is joined.
   * @default false
   */
  readonly forceFresh?: boolean;
  /** Refreshes a fresh entry in the background before it expires (see `EagerRefreshPolicy`). @default undefined: none */
  readonly eagerRefresh?: EagerRefreshPolicy;
}

/** What a factory may say about its own result (bentocache's and FusionCache's factory context). */
export interface FactoryContext<T = unknown> {
  /**
   * The entry this run refreshes while it is still servable: expired but within its grace, or
   * (with `forceFresh`, or an eager refresh) the current fresh one; `undefined` on a plain miss.
   * Read it to refresh incrementally (an ETag, a cursor) or to keep it (`return ctx.gracedEntry.value`).
   */
  readonly gracedEntry: Envelope<T> | undefined;
  /** The same as `gracedEntry` (its first name). */
  readonly stale: Envelope<T> | undefined;
  /** Do not store what this run returns: callers (those that joined it too) still get it. */
  skip(): void;
  /**
   * Fails this run without caching anything: the entry in grace (`gracedEntry`), if there is
   * one, is served and kept (whatever `staleIfError` says); otherwise callers get `reason` (an
   * `Error`) or a `FactoryFailedError` carrying it. Throws: code after it does not run.
   */
  fail(reason?: unknown): never;
  /** The TTL of the entry from what was computed (adaptive caching: a not-found cached 10 s, a good answer 1 h). Milliseconds or a duration string; 0 = no expiry. */
  setTtl(ttl: Duration): void;
  /** The tags of the entry, replacing the call's `tags`. */
  setTags(tags: readonly string[]): void;
  /** The grace of the entry, replacing the call's `grace`. Milliseconds or a duration string. */
  setGrace(grace: Duration): void;
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
