import type { Envelope } from '../envelope/envelope.js';
import type { StorageKey } from '../keys/storage-key.js';
import { ownString } from '../utils/own-string.js';

/** An invalidation the store has not confirmed: of some tags, of one key, or of the whole scope. */
export type InvalidationChange = { readonly kind: 'tags'; readonly tags: readonly string[] } | { readonly kind: 'delete'; readonly key: StorageKey } | { readonly kind: 'clear' };

/**
 * One pending invalidation (or several of the same target, merged). It covers the entries of
 * its target created at or before `at`; every one of them has expired by `until` (ms since
 * the epoch, `Infinity` when unknown). `seq` orders it against store attempts: an attempt
 * that started after `seq` was issued applies it.
 */
export interface PendingItem {
  readonly at: number;
  readonly seq: number;
  readonly until: number;
}

/** A pending key delete keeps the key, to send the delete again. */
export interface PendingDelete extends PendingItem {
  readonly key: StorageKey;
}

/** What `add` had to do to stay within the bound, for the log line. */
export interface Overflow {
  /** Scopes whose pending items were folded into one pending clear, and how many items each had. */
  readonly folded: ReadonlyArray<{ readonly scopeId: string; readonly items: number }>;
  /** The new invalidation could not be kept: the instance-wide horizon covers it instead. */
  readonly horizon: boolean;
}

const NO_OVERFLOW: Overflow = Object.freeze({ folded: [], horizon: false });

/**
 * What is pending for one scope. Never shrunk in place: removing an item replaces the record,
 * so a read that captured it when it started still sees what was pending then (an
 * invalidation applied while the read was on its way must still hide what the read returns).
 */
export class ScopePending {
  constructor(
    readonly clear: PendingItem | undefined,
    readonly tags: Map<string, PendingItem>,
    readonly keys: Map<string, PendingDelete>,
  ) {}

  get size(): number {
    return (this.clear === undefined ? 0 : 1) + this.tags.size + this.keys.size;
  }

  /** Whether the entry stored under `fullKey` is one a pending invalidation removes. */
  covers(fullKey: string, env: Envelope): boolean {
    const created = env.createdAt;
    if (this.clear !== undefined && created <= this.clear.at) return true;
    if (this.keys.size !== 0) {
      const item = this.keys.get(fullKey);
      if (item !== undefined && created <= item.at) return true;
    }
    if (this.tags.size !== 0 && env.tags !== undefined) {
      for (const tag of env.tags) {
        const item = this.tags.get(tag);
        if (item !== undefined && created <= item.at) return true;
      }
    }
    return false;
  }
}

export interface PendingInvalidationsOptions {
  /** Most items kept (a tag, a key or a clear of one scope each). */
  readonly maxPending: number;
  /** The longest TTL + grace of any entry of the namespace; `undefined` = what this manager has written (at least `defaultTtlMs`); 0 = unbounded. */
  readonly maxEntryLifetimeMs: number | undefined;
  /** 0 = no expiry. */
  readonly defaultTtlMs: number;
}

/**
 * The invalidations of one manager that failed and are not applied yet, merged per scope and
 * target (a burst on one tag is one item), and what they cover: every read of the cache checks
 * them, so an entry they remove is never served by this instance while they wait.
 *
 * Bounded by `maxPending` items. Past it, the scope that grew is folded into one pending clear
 * (it covers everything its items covered, and more); when every scope already holds a single
 * item (more scopes pending than the bound), the new invalidation is not kept: an
 * instance-wide horizon hides every entry of every scope written before it, until all of them
 * have expired. No timers here: `InvalidationRetries` drives the retries.
 */
export class PendingInvalidations {
  /** Items pending, plus 1 while the horizon is up: the one field a read checks when nothing is pending. */
  size = 0;
  private items = 0;
  private readonly scopes = new Map<string, ScopePending>();
  private seq = 0;
  /** Latest retention end (`staleUntil ?? expiresAt`) of an entry this manager has written; `Infinity` once one never expires. */
  private longestWritten = 0;
  private horizonItem: PendingItem | undefined;

  /** Told when a scope's store answered while something is pending (the retries bring that scope's retry forward). */
  onAnswered: (scopeId: string) => void = () => undefined;

  constructor(private readonly options: PendingInvalidationsOptions) {}

  /** Pending items (tags, keys and clears of every scope; the horizon not included). */
  get count(): number {
    return this.items;
  }

  /** Scopes with a pending item. */
  get scopeCount(): number {
    return this.scopes.size;
  }

  /** The instance-wide horizon, while one is up. */
  get horizon(): PendingItem | undefined {
    return this.horizonItem;
  }

  /** The sequence number an attempt captures before it goes to the store. */
  sequence(): number {
    return this.seq;
  }

  /** Records the lifetime of an entry being written (for when its invalidations may be dropped). */
  noteWritten(env: Pick<Envelope, 'expiresAt' | 'staleUntil'>): void {
    const until = env.staleUntil ?? env.expiresAt;
    const end = until === 0 ? Infinity : until;
    if (end > this.longestWritten) this.longestWritten = end;
  }

  /** When every entry created by `now` has expired. */
  private coverUntil(now: number): number {
    const { maxEntryLifetimeMs, defaultTtlMs } = this.options;
    if (maxEntryLifetimeMs !== undefined) return maxEntryLifetimeMs === 0 ? Infinity : now + maxEntryLifetimeMs;
    return Math.max(this.longestWritten, defaultTtlMs === 0 ? Infinity : now + defaultTtlMs);
  }

  forScope(scopeId: string): ScopePending | undefined {
    return this.scopes.get(scopeId);
  }

  scopeIds(): IterableIterator<string> {
    return this.scopes.keys();
  }

  /**
   * Whether a pending invalidation hides the entry `env` read under `fullKey` in `scopeId`.
   * `captured` is the scope's record when the read started (see `ScopePending`).
   */
  covers(scopeId: string, fullKey: string, env: Envelope, now: number, captured?: ScopePending): boolean {
    const horizon = this.horizonItem;
    if (horizon !== undefined && env.createdAt <= horizon.at && now < horizon.until) return true;
    const current = this.scopes.get(scopeId);
    if (current !== undefined && current.covers(fullKey, env)) return true;
    return captured !== undefined && captured !== current && captured.covers(fullKey, env);
  }

  /** Keeps a failed invalidation issued at `now`, merged with what is pending for its target. */
  add(scopeId: string, change: InvalidationChange, now: number): Overflow {
    const item: PendingItem = { at: now, seq: ++this.seq, until: this.coverUntil(now) };
    const rec = this.scopes.get(scopeId);
    if (change.kind === 'clear') {
      // A clear covers every item of the scope issued before it.
      this.replace(scopeId, new ScopePending(merge(rec?.clear, item), new Map(), new Map()), rec);
    } else {
      const target = rec ?? new ScopePending(undefined, new Map(), new Map());
      const before = rec === undefined ? 0 : target.size;
      if (change.kind === 'tags') {
        for (const tag of change.tags) {
          const known = target.tags.get(tag);
          // A new tag as its own copy: kept through an outage, one cut from a longer string would keep that alive.
          target.tags.set(known === undefined ? ownString(tag) : tag, merge(known, item));
        }
      } else {
        const { full } = change.key;
        target.keys.set(full, { ...merge(target.keys.get(full), item), key: change.key });
      }
      // Growing a record in place is safe for reads that captured it: they only see more.
      if (rec === undefined) this.scopes.set(scopeId, target);
      this.items += target.size - before;
      this.sync();
    }
    return this.items > this.options.maxPending ? this.overflow(scopeId, item) : NO_OVERFLOW;
  }

  private overflow(grown: string, item: PendingItem): Overflow {
    const folded: { scopeId: string; items: number }[] = [];
    while (this.items > this.options.maxPending) {
      let id = grown;
      let victim = this.scopes.get(grown);
      if (victim === undefined || victim.size <= 1) {
        // The scope that grew holds one item: fold the largest other one (a scan, only past the bound).
        victim = undefined;
        for (const [other, rec] of this.scopes) {
          if (rec.size > 1 && (victim === undefined || rec.size > victim.size)) {
            victim = rec;
            id = other;
          }
        }
      }
      if (victim === undefined) {
        // Every scope holds one item: the new invalidation cannot be kept, so the horizon covers
        // what it covered, and what its scope had pending (all issued before it).
        this.replace(grown, undefined, this.scopes.get(grown));
        this.horizonItem = merge(this.horizonItem, item);
        this.sync();
        return { folded, horizon: true };
      }
      folded.push({ scopeId: id, items: victim.size });
      this.fold(id, victim);
    }
    return { folded, horizon: false };
  }

  /** Replaces every item of a scope by one clear that covers them all. */
  private fold(scopeId: string, rec: ScopePending): void {
    let clear = rec.clear;
    for (const item of rec.tags.values()) clear = merge(clear, item);
    for (const item of rec.keys.values()) clear = merge(clear, item);
    this.replace(scopeId, new ScopePending(clear, new Map(), new Map()), rec);
  }

  /**
   * Removes what an attempt that started at sequence `upTo` applied: a clear removes every item
   * of the scope issued before the attempt; `tags` and `keys` (full keys) those targets. Items
   * merged after the attempt started stay. Resolves how many items were removed.
   */
  resolve(scopeId: string, applied: { readonly clear?: boolean; readonly tags?: readonly string[]; readonly keys?: readonly string[] }, upTo: number): number {
    const rec = this.scopes.get(scopeId);
    if (rec === undefined) return 0;
    const done = (item: PendingItem | undefined): boolean => item !== undefined && item.seq <= upTo;
    const clear = applied.clear === true && done(rec.clear) ? undefined : rec.clear;
    const tags = new Map(rec.tags);
    const keys = new Map(rec.keys);
    if (applied.clear === true) {
      for (const [tag, item] of tags) if (done(item)) tags.delete(tag);
      for (const [full, item] of keys) if (done(item)) keys.delete(full);
    }
    for (const tag of applied.tags ?? []) if (done(tags.get(tag))) tags.delete(tag);
    for (const full of applied.keys ?? []) if (done(keys.get(full))) keys.delete(full);
    return this.shrink(scopeId, rec, new ScopePending(clear, tags, keys));
  }

  /** Removes the items of a scope whose every covered entry has expired by `now`; resolves how many. */
  dropExpired(scopeId: string, now: number): number {
    const rec = this.scopes.get(scopeId);
    if (rec === undefined) return 0;
    const live = (item: PendingItem): boolean => item.until > now;
    const clear = rec.clear !== undefined && live(rec.clear) ? rec.clear : undefined;
    const tags = new Map([...rec.tags].filter(([, item]) => live(item)));
    const keys = new Map([...rec.keys].filter(([, item]) => live(item)));
    return this.shrink(scopeId, rec, new ScopePending(clear, tags, keys));
  }

  /** Drops the horizon once every entry it covers has expired; resolves whether it did. */
  dropExpiredHorizon(now: number): boolean {
    if (this.horizonItem === undefined || this.horizonItem.until > now) return false;
    this.horizonItem = undefined;
    this.sync();
    return true;
  }

  /** Forgets everything (the manager closed). */
  clear(): void {
    this.scopes.clear();
    this.items = 0;
    this.horizonItem = undefined;
    this.sync();
  }

  private shrink(scopeId: string, rec: ScopePending, next: ScopePending): number {
    const removed = rec.size - next.size;
    if (removed > 0) this.replace(scopeId, next.size === 0 ? undefined : next, rec);
    return removed;
  }

  private replace(scopeId: string, next: ScopePending | undefined, rec: ScopePending | undefined): void {
    this.items += (next?.size ?? 0) - (rec?.size ?? 0);
    if (next === undefined) this.scopes.delete(scopeId);
    else this.scopes.set(scopeId, next);
    this.sync();
  }

  private sync(): void {
    this.size = this.items + (this.horizonItem === undefined ? 0 : 1);
  }
}

/** One item for two invalidations of one target: it covers what either covers. */
function merge(existing: PendingItem | undefined, item: PendingItem): PendingItem {
  if (existing === undefined) return item;
  return { at: Math.max(existing.at, item.at), seq: Math.max(existing.seq, item.seq), until: Math.max(existing.until, item.until) };
}
