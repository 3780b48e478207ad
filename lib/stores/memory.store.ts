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
 * Invalidation is O(1), as on Redis (memory/scope-versions.ts): a tag invalidation stores one
 * version per tag, a clear one epoch; a read checks the entry against them (one compare while
 * its scope changed nothing since its write) and deletes what it finds unreadable. A clear
 * retires the scope's entries at once; memory/retired.reclaimer.ts deletes them in bounded
 * batches, so their bytes and the tenant's share free up.
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
import type { KeyScope, StorageKey } from '../keys/storage-key.js';
import { systemClock, type Clock } from '../utils/clock.js';
import type { CacheStore, StoreBasis, StoreGetOrSetResult, StoreHealth, StoreObserver, StoreStats } from './cache-store.interface.js';
import type { MemoryStoreBounds, MemoryStoreOptions } from './memory-store-options.interface.js';
import { resolveMemoryStoreOptions } from './memory-store-options.js';
import { checkStoreTtl } from './store-ttl.js';
import { createEntryLru } from './memory/entry-lru.factory.js';
import { HeldEntry } from './memory/held-entry.js';
import { InvalidationClock } from './memory/invalidation.clock.js';
import { RetiredReclaimer } from './memory/retired.reclaimer.js';
import { handOut, heldValue } from './memory/held-value.copies.js';
import { estimateEntry } from './memory/memory-entry.size.js';
import { tagKeysOf } from './memory/tag-keys.js';
import { ScopeIndexes } from './memory/scope.index.js';
import { ScopeQuota } from './memory/scope.quota.js';
import { APPLIED, closedRejection, NOT_APPLIED, settled } from './memory/settled.js';

export class MemoryStore implements CacheStore {
  readonly kind = 'memory';
  /** `getSync` is the whole store: a miss there is a miss. */
  readonly getSyncIsComplete: boolean = true;
  /** The bounds in force, defaults applied (store-wide and per tenant). */
  readonly bounds: MemoryStoreBounds;

  private readonly lru: LRUCache<string, HeldEntry>;
  private readonly clock: Clock;
  private readonly observer: StoreObserver | undefined;
  private readonly indexes: ScopeIndexes;
  /** Unless `maxTenantShare: 1` without `maxEntriesPerTenant`. */
  private readonly quota: ScopeQuota | undefined;
  /** With `maxEntriesPerTenant`: reads move their key to the end of its scope's keys, so the quota evicts the exact LRU. */
  private readonly tracksReads: boolean;
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private readonly versions: InvalidationClock;
  private readonly reclaimer: RetiredReclaimer;
  private evictions = 0;
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    const { bounds, sweepMs, clock, observer } = resolveMemoryStoreOptions(options);
    this.bounds = bounds;
    this.clock = clock ?? systemClock;
    this.observer = observer;
    this.indexes = new ScopeIndexes(bounds, () => this.clock.now());
    this.lru = createEntryLru({ maxEntries: bounds.maxEntries, maxBytes: bounds.maxBytes, clock, dispose: (full, reason) => this.onDispose(full, reason) });
    this.tracksReads = bounds.maxEntriesPerTenant !== undefined;
    this.versions = new InvalidationClock(this.indexes, () => this.clock.now());
    this.reclaimer = new RetiredReclaimer(this.indexes, this.lru, () => this.closed);
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
    const held = this.lru.get(key.full);
    if (held === undefined) return undefined;
    if (!held.readable()) return this.reclaim(key);
    if (this.tracksReads) this.indexes.touch(key);
    return handOut(held);
  }

  get(key: StorageKey): Promise<Envelope | undefined> {
    if (this.closed) return closedRejection();
    const held = this.lru.get(key.full);
    if (held === undefined) return Promise.resolve(undefined);
    if (!held.readable()) return Promise.resolve(this.reclaim(key));
    if (this.tracksReads) this.indexes.touch(key);
    return Promise.resolve(handOut(held));
  }

  /** The store's invalidation counter now and the time: a computation's basis (synchronous). */
  basis(_scope: KeyScope): StoreBasis {
    if (this.closed) throw new CacheClosedError('memory store');
    return this.versions.basis();
  }

  /**
   * With the `basis` of its computation (this store's; another's counts as none), the write is
   * not applied if the scope was cleared or one of the entry's tags invalidated since, or if the
   * basis is older than the computation bound (`MAX_COMPUTATION_MS`); it resolves all the same.
   */
  set(key: StorageKey, envelope: Envelope, ttlMs: number, basis?: StoreBasis): Promise<boolean> {
    if (this.closed) return closedRejection();
    try {
      const value = heldValue(envelope);
      const ttl = checkStoreTtl(ttlMs);
      const based = this.versions.writeBasis(key, envelope.tags, basis);
      if (based === undefined) return NOT_APPLIED;
      this.write(key, envelope, value, ttl, based);
      return APPLIED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Resolves whether the key held an entry a read would have returned (an invalidated one is deleted too, and does not count). */
  delete(key: StorageKey): Promise<boolean> {
    return settled(this.closed, () => this.deleteNow(key));
  }

  getMany(keys: readonly StorageKey[]): Promise<Array<Envelope | undefined>> {
    return settled(this.closed, () => keys.map((key) => this.getSync(key)));
  }

  deleteMany(keys: readonly StorageKey[]): Promise<number> {
    return settled(this.closed, () => keys.filter((key) => this.deleteNow(key)).length);
  }

  /** Read and delete in one synchronous step: atomic within the process. */
  pull(key: StorageKey): Promise<Envelope | undefined> {
    return settled(this.closed, () => {
      const env = this.getSync(key);
      this.lru.delete(key.full);
      return env;
    });
  }

  getOrSet(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<StoreGetOrSetResult> {
    return settled(this.closed, () => {
      // Checked even when an entry is present, as a remote store encodes before it knows.
      const value = heldValue(envelope);
      const ttl = checkStoreTtl(ttlMs);
      const existing = this.present(key);
      if (existing !== undefined) return { envelope: handOut(existing), set: false };
      this.write(key, envelope, value, ttl, this.versions.current);
      return { envelope, set: true };
    });
  }

  compareAndSet(key: StorageKey, expectedStamp: string | null, envelope: Envelope, ttlMs: number): Promise<boolean> {
    return settled(this.closed, () => {
      const value = heldValue(envelope);
      const ttl = checkStoreTtl(ttlMs);
      const existing = this.present(key);
      if (expectedStamp === null ? existing !== undefined : existing?.stamp !== expectedStamp) return false;
      this.write(key, envelope, value, ttl, this.versions.current);
      return true;
    });
  }

  /** O(1): a new epoch for the scope; its entries are retired at once and reclaimed in batches. */
  clearScope(scope: KeyScope): Promise<void> {
    return settled(this.closed, () => {
      this.indexes.prune();
      this.indexes.clearScope(scope, this.versions.next());
      this.reclaimer.schedule();
    });
  }

  /**
   * A clear, then every entry of the scope deleted now (resolves how many) and its tag records
   * dropped; its epoch stays until the computation bound has passed, so computations that started
   * before are still refused.
   */
  purgeScope(scope: KeyScope): Promise<number> {
    return settled(this.closed, () => {
      const index = this.indexes.clearScope(scope, this.versions.next());
      const deleted = this.reclaimer.reclaimAll(index);
      this.indexes.dropIdleTags(index);
      return deleted;
    });
  }

  /** O(1) per tag: the tags' versions move (one version per scope); the entries carrying them read as absent. */
  invalidateTags(tagKeys: readonly StorageKey[]): Promise<void> {
    return settled(this.closed, () => {
      if (tagKeys.length === 0) return;
      this.indexes.prune();
      const byScope = new Map<KeyScope, Set<string>>();
      for (const tagKey of tagKeys) {
        let keys = byScope.get(tagKey.scope);
        if (keys === undefined) byScope.set(tagKey.scope, (keys = new Set()));
        keys.add(tagKey.full);
      }
      for (const [scope, keys] of byScope) this.indexes.invalidateTags(scope, keys, this.versions.next());
    });
  }

  /** Entries written since the scope's last clear (expired ones and ones of invalidated tags not yet read or swept included). */
  scopeSize(scope: KeyScope): number | undefined {
    if (this.closed) throw new CacheClosedError('memory store');
    return this.indexes.find(scope)?.keys.size ?? 0;
  }

  /** Estimated bytes a scope holds (expired and retired entries not yet removed included): what its share is measured by. */
  scopeBytes(scope: KeyScope): number {
    if (this.closed) throw new CacheClosedError('memory store');
    return this.indexes.find(scope)?.bytes ?? 0;
  }

  /**
   * Deletes every expired entry and every entry of a cleared scope not reclaimed yet, and drops
   * the invalidation records nothing needs any more; resolves how many entries. The background
   * sweep calls this.
   */
  sweep(): number {
    if (this.closed) return 0;
    const before = this.lru.size;
    this.lru.purgeStale();
    this.reclaimer.reclaimAll();
    this.indexes.prune();
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
  indexSizes(): { scopes: number; keys: number; tags: number; tagMembers: number; retired: number; overShare: number } {
    return this.indexes.sizes();
  }

  private deleteNow(key: StorageKey): boolean {
    const held = this.lru.peek(key.full, { allowStale: true });
    return this.lru.delete(key.full) && held !== undefined && held.readable();
  }

  /** The entry if present in the contract's sense: kept, readable, and not past its logical expiry. */
  private present(key: StorageKey): HeldEntry | undefined {
    const held = this.lru.get(key.full);
    if (held === undefined) return undefined;
    if (!held.readable()) return this.reclaim(key);
    if (this.tracksReads) this.indexes.touch(key);
    const { expiresAt } = held;
    return expiresAt === 0 || expiresAt > this.clock.now() ? held : undefined;
  }

  /** An entry a read found unreadable (cleared, or a tag invalidated): deleted now, a miss. */
  private reclaim(key: StorageKey): undefined {
    this.lru.delete(key.full);
    return undefined;
  }

  /** Writes an entry based on `basis` (`value`: what to hold of its value, already checked). */
  private write(key: StorageKey, env: Envelope, value: unknown, ttl: number, basis: number): void {
    const full = key.full;
    const tagKeys = tagKeysOf(key, env.tags);
    const size = estimateEntry(full, env);
    // What it replaces, expired or not (every key lru-cache holds is listed).
    const previous = this.indexes.entryMeta(key);
    if (size > this.bounds.maxBytes || (this.quota !== undefined && !this.quota.makeRoom(key, size, previous))) {
      // Not stored (larger than the store, or than its tenant's share of a full store), and an
      // older value must not keep being served.
      this.lru.delete(full);
      return;
    }
    // Listed before lru-cache takes it: adding may evict other entries (reason 'evict'), possibly
    // the rest of this scope, and the index and tag records the entry points at must stay. A key
    // already listed is never evicted by its own update (lru-cache moves it to the most recent
    // end first, and it fits alone). Replacing an entry is handled in `list`, not in onDispose
    // (lru-cache disposes the replaced entry with reason 'set').
    const index = this.indexes.ensure(key.scope);
    const tagVersions = tagKeys === undefined ? undefined : this.indexes.tagVersions(index, tagKeys);
    this.indexes.list(index, key, tagVersions, size, previous);
    this.lru.set(full, new HeldEntry(env, value, basis, index, tagVersions), { ttl, size });
  }

  private onDispose(full: string, reason: LRUCache.DisposeReason): void {
    // 'set' = replaced under the same key by write(), which updates the index itself. (lru-cache
    // also says 'set' when it refuses an entry over maxEntrySize, which write() never hands it.)
    if (reason === 'set') return;
    // Every held key is listed in its scope's index (write lists it just before lru.set takes
    // it); an unlisted one would mean they are out of step.
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
