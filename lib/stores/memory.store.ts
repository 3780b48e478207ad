/**
 * The embedded, in-process store.
 *
 * Built on lru-cache rather than a home-made map because lru-cache already gives exactly what
 * this store needs, tested and fast: LRU order in preallocated typed arrays (a hit costs a Map
 * lookup and a few array writes), per-entry TTL with lazy expiry on read and `purgeStale()` for
 * the sweep, size accounting with eviction against a byte budget (`maxSize` + per-entry `size`,
 * always on: every write is estimated, memory/memory-entry.size.ts),
 * a `dispose` hook that says *why* an entry left (`evict`, `expire`, `delete`, `set`) so the
 * tenant and tag indexes stay consistent and only real evictions are reported, and an injectable
 * time source (`perf`) so TTLs follow the cache clock in tests.
 *
 * Values follow the rules of every other store (`checkCacheable`): what Redis would refuse is
 * refused here too, with the same `EncodeError`. An object value is copied on write and on every
 * read, so no caller can change what the cache holds through a reference it was given or gave;
 * a primitive value (a string, as HTTP responses are) is immutable and costs no copy at all.
 * Envelopes themselves are shared: callers treat them as read-only.
 *
 * No tenant takes more than its part of a full store (`maxTenantShare`, `maxEntriesPerTenant`):
 * memory/scope.quota.ts makes room before each write. A hit pays nothing for the share; only
 * `maxEntriesPerTenant` makes every hit also reorder its scope's keys (exact LRU per tenant).
 *
 * Everything below runs synchronously inside each call, so `getOrSet` and `compareAndSet` are
 * atomic within the process without locks.
 */
import type { LRUCache } from 'lru-cache';
import type { Envelope } from '../envelope/envelope.js';
import { CacheClosedError } from '../errors/cache.errors.js';
import { storageKey, type KeyScope, type StorageKey } from '../keys/storage-key.js';
import { systemClock, type Clock } from '../utils/clock.js';
import type { CacheStore, StoreGetOrSetResult, StoreHealth, StoreObserver, StoreStats } from './cache-store.interface.js';
import type { MemoryStoreBounds, MemoryStoreOptions } from './memory-store-options.interface.js';
import { resolveMemoryStoreOptions } from './memory-store-options.js';
import { checkStoreTtl } from './store-ttl.js';
import { createEntryLru } from './memory/entry-lru.factory.js';
import { handOut, toHold } from './memory/held-value.copies.js';
import { estimateEntry } from './memory/memory-entry.size.js';
import { ScopeIndexes } from './memory/scope.index.js';
import { ScopeQuota } from './memory/scope.quota.js';

/** One settled promise for every successful write: callers only await it. */
const RESOLVED: Promise<void> = Promise.resolve();

export class MemoryStore implements CacheStore {
  readonly kind = 'memory';
  /** The bounds in force, defaults applied (store-wide and per tenant). */
  readonly bounds: MemoryStoreBounds;

  private readonly lru: LRUCache<string, Envelope>;
  private readonly clock: Clock;
  private readonly observer: StoreObserver | undefined;
  private readonly indexes: ScopeIndexes;
  /** Unless `maxTenantShare: 1` without `maxEntriesPerTenant`. */
  private readonly quota: ScopeQuota | undefined;
  /** With `maxEntriesPerTenant`: reads move their key to the end of its scope's keys, so the quota evicts the exact LRU. */
  private readonly tracksReads: boolean;
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private evictions = 0;
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    const { bounds, sweepMs, clock, observer } = resolveMemoryStoreOptions(options);
    this.bounds = bounds;
    this.clock = clock ?? systemClock;
    this.observer = observer;
    this.indexes = new ScopeIndexes(bounds);
    this.lru = createEntryLru({ maxEntries: bounds.maxEntries, maxBytes: bounds.maxBytes, clock, dispose: (full, reason) => this.onDispose(full, reason) });
    this.tracksReads = bounds.maxEntriesPerTenant !== undefined;
    if (ScopeQuota.needed(bounds)) this.quota = new ScopeQuota(bounds, this.lru, this.indexes, (key) => this.noteEviction(key));

    if (sweepMs > 0) {
      this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
      this.sweepTimer.unref();
    }
  }

  /**
   * The synchronous hit path: the entry (its envelope shared, read-only; an object value a copy
   * of its own) or `undefined`. For callers that can use a value without a promise (the HTTP hit
   * path, an L1 in front of a remote store).
   */
  getSync(key: StorageKey): Envelope | undefined {
    if (this.closed) throw new CacheClosedError('memory store');
    const env = this.lru.get(key.full);
    if (env === undefined) return undefined;
    if (this.tracksReads) this.indexes.touch(key);
    return handOut(env);
  }

  get(key: StorageKey): Promise<Envelope | undefined> {
    if (this.closed) return closedRejection();
    const env = this.lru.get(key.full);
    if (env === undefined) return Promise.resolve(undefined);
    if (this.tracksReads) this.indexes.touch(key);
    return Promise.resolve(handOut(env));
  }

  set(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<void> {
    if (this.closed) return closedRejection();
    try {
      this.write(key, toHold(envelope), checkStoreTtl(ttlMs));
      return RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  delete(key: StorageKey): Promise<boolean> {
    return this.settle(() => this.lru.delete(key.full));
  }

  getOrSet(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<StoreGetOrSetResult> {
    return this.settle(() => {
      // Checked even when an entry is present, as a remote store encodes before it knows.
      const held = toHold(envelope);
      const ttl = checkStoreTtl(ttlMs);
      const existing = this.present(key);
      if (existing !== undefined) return { envelope: handOut(existing), set: false };
      this.write(key, held, ttl);
      return { envelope, set: true };
    });
  }

  compareAndSet(key: StorageKey, expectedStamp: string | null, envelope: Envelope, ttlMs: number): Promise<boolean> {
    return this.settle(() => {
      const held = toHold(envelope);
      const ttl = checkStoreTtl(ttlMs);
      const existing = this.present(key);
      if (expectedStamp === null ? existing !== undefined : existing?.stamp !== expectedStamp) return false;
      this.write(key, held, ttl);
      return true;
    });
  }

  clearScope(scope: KeyScope): Promise<void> {
    return this.settle(() => {
      this.deleteScope(scope);
    });
  }

  /** The memory store holds nothing of a scope but its entries: the same as `clearScope`, counting them. */
  purgeScope(scope: KeyScope): Promise<number> {
    return this.settle(() => this.deleteScope(scope));
  }

  private deleteScope(scope: KeyScope): number {
    const index = this.indexes.find(scope);
    if (index === undefined) return 0;
    // Copy: each delete shrinks the set through dispose.
    let deleted = 0;
    for (const full of [...index.keys.keys()]) if (this.lru.delete(full)) deleted++;
    // Anything left (only possible if a dispose failed half-way) must not outlive the clear.
    this.indexes.drop(scope);
    return deleted;
  }

  invalidateTags(tagKeys: readonly StorageKey[]): Promise<void> {
    return this.settle(() => {
      for (const tagKey of tagKeys) {
        const members = this.indexes.find(tagKey.scope)?.tags.get(tagKey.full);
        if (members === undefined) continue;
        for (const full of [...members]) this.lru.delete(full);
      }
    });
  }

  scopeSize(scope: KeyScope): number | undefined {
    if (this.closed) throw new CacheClosedError('memory store');
    // May include expired entries not yet swept or read.
    return this.indexes.find(scope)?.keys.size ?? 0;
  }

  /** Estimated bytes a scope holds (expired entries not yet removed included): what its share is measured by. */
  scopeBytes(scope: KeyScope): number {
    if (this.closed) throw new CacheClosedError('memory store');
    return this.indexes.find(scope)?.bytes ?? 0;
  }

  /** Deletes every expired entry now; resolves how many. The background sweep calls this. */
  sweep(): number {
    if (this.closed) return 0;
    const before = this.lru.size;
    this.lru.purgeStale();
    return before - this.lru.size;
  }

  health(): Promise<StoreHealth> {
    return Promise.resolve(this.closed ? { ok: false, detail: 'closed' } : { ok: true, latencyMs: 0 });
  }

  /** `bytes` is the estimated size of every entry held (expired ones not yet removed included). */
  stats(): StoreStats {
    // lru-cache sums the sizes we give it: exactly the estimated bytes of what it holds.
    return { entries: this.lru.size, bytes: this.lru.calculatedSize, evictions: this.evictions, decodeErrors: 0, errors: 0 };
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.lru.clear();
    this.indexes.clear();
    return Promise.resolve();
  }

  /** Index sizes, for leak tests only. @internal */
  indexSizes(): { scopes: number; keys: number; tags: number; tagMembers: number; overShare: number } {
    return this.indexes.sizes();
  }

  /** Runs `fn` as a store call: rejected once closed, and a throw becomes a rejection. */
  private settle<T>(fn: () => T): Promise<T> {
    if (this.closed) return closedRejection();
    try {
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The entry if present in the contract's sense: kept, and not past its logical expiry. */
  private present(key: StorageKey): Envelope | undefined {
    const env = this.lru.get(key.full);
    if (env === undefined) return undefined;
    if (this.tracksReads) this.indexes.touch(key);
    const { expiresAt } = env;
    return expiresAt === 0 || expiresAt > this.clock.now() ? env : undefined;
  }

  private write(key: StorageKey, env: Envelope, ttl: number): void {
    const full = key.full;
    const size = estimateEntry(full, env);
    // What it replaces, expired or not (every key lru-cache holds is listed).
    const previous = this.indexes.entryMeta(key);
    if (size > this.bounds.maxBytes || (this.quota !== undefined && !this.quota.makeRoom(key, size, previous))) {
      // Not stored (larger than the store, or than its tenant's share of a full store), and an
      // older value must not keep being served.
      this.lru.delete(full);
      return;
    }
    // Adding may evict other entries (reason 'evict'), possibly the last of this scope, so the
    // key is listed only afterwards (the scope's index may be gone and made anew). A key already
    // listed keeps its index: it is never evicted by its own update (lru-cache moves it to the
    // most recent end first, and it fits alone). Replacing an entry is handled here, not in
    // onDispose: lru-cache disposes a replaced envelope with reason 'set', but renews the very
    // same envelope without dispose (and without re-sizing it: `size` is the same then, as the
    // envelope is).
    this.lru.set(full, env, { ttl, size });
    this.indexes.list(key, tagKeysOf(key, env.tags), size, previous);
  }

  private onDispose(full: string, reason: LRUCache.DisposeReason): void {
    // 'set' = replaced under the same key by write(), which updates the index itself. (lru-cache
    // also says 'set' when it refuses an entry over maxEntrySize, which write() never hands it.)
    if (reason === 'set') return;
    // Every held key is listed in its scope's index (write lists it right after lru.set, and
    // nothing runs in between); an unlisted one would mean they are out of step.
    const meta = this.indexes.unlist(full);
    if (reason !== 'evict') return;
    if (meta === undefined) this.evictions++;
    else this.noteEviction(meta.key);
  }

  private noteEviction(key: StorageKey): void {
    this.evictions++;
    const observer = this.observer;
    if (observer?.evicted === undefined) return;
    try {
      observer.evicted(key);
    } catch {
      // Observers must not throw; one that does must not corrupt the LRU bookkeeping.
    }
  }
}

function closedRejection(): Promise<never> {
  return Promise.reject(new CacheClosedError('memory store'));
}

function tagKeysOf(key: StorageKey, tags: readonly string[] | undefined): string[] | undefined {
  if (tags === undefined || tags.length === 0) return undefined;
  const out = new Set<string>();
  for (const tag of tags) out.add(storageKey(key.scope, 'tag', tag).full);
  return [...out];
}
