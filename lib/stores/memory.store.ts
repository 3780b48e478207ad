/**
 * The embedded, in-process store.
 *
 * Built on lru-cache rather than a home-made map because lru-cache already gives exactly what
 * this store needs, tested and fast: LRU order in preallocated typed arrays (a hit costs a Map
 * lookup and a few array writes), per-entry TTL with lazy expiry on read and `purgeStale()` for
 * the sweep, size accounting with eviction against a byte budget (`maxSize` + per-entry `size`),
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
 * Everything below runs synchronously inside each call, so `getOrSet` and `compareAndSet` are
 * atomic within the process without locks.
 */
import { LRUCache } from 'lru-cache';
import { checkCacheable, copyCacheable } from '../envelope/cacheable.js';
import type { Envelope } from '../envelope/envelope.js';
import { estimateEntry } from './memory-entry.size.js';
import { storageKey, type KeyScope, type StorageKey } from '../keys/storage-key.js';
import { CacheClosedError, InvalidTtlError } from '../errors/cache.errors.js';
import type { CacheStore, StoreGetOrSetResult, StoreHealth, StoreObserver, StoreStats } from './cache-store.interface.js';
import type { MemoryStoreOptions } from './memory-store-options.interface.js';
import { resolveMemoryStoreOptions } from './memory-store-options.js';
import { systemClock, type Clock } from '../utils/clock.js';

/**
 * What the indexes need about one held key when it leaves, kept in its scope's index (`keys`).
 * lru-cache holds the `Envelope` itself, not a wrapper: a hit then returns the value lru-cache
 * hands back without touching one more object (on a cache too big for the CPU caches, that
 * extra dependent load was ~10% of a `getSync`).
 */
interface EntryMeta {
  /** Updated in place when the key is written again (no new object, no second Map write). */
  key: StorageKey;
  /** Full tag index keys this entry is listed under (deduplicated), or undefined. */
  tagKeys: readonly string[] | undefined;
  /**
   * Estimated bytes. With `maxBytes` it is estimated on write (lru-cache needs it to evict);
   * without, it is `UNSIZED` until `stats()` asks for the byte total, which estimates it once.
   */
  size: number;
}

/** `EntryMeta.size` of an entry not estimated yet (only without `maxBytes`). */
const UNSIZED = -1;
/** One settled promise for every successful write: callers only await it. */
const RESOLVED: Promise<void> = Promise.resolve();

/** The indexes of one scope. `keys` is in per-scope recency order when a quota is set. */
interface ScopeIndex {
  /** Entry key (full) → what its removal must undo. */
  readonly keys: Map<string, EntryMeta>;
  /** Tag index key (full) → entry keys (full) written with that tag. */
  readonly tags: Map<string, Set<string>>;
}

export class MemoryStore implements CacheStore {
  readonly kind = 'memory';

  private readonly lru: LRUCache<string, Envelope>;
  private readonly clock: Clock;
  private readonly observer: StoreObserver | undefined;
  private readonly maxBytes: number | undefined;
  private readonly quota: number | undefined;
  /**
   * One index per (namespace, tenant), so namespaces sharing a store stay apart: namespace →
   * scope id → index. Two lookups on strings the `KeyScope` already holds (their hashes are
   * cached) instead of building a `<namespace>:{<id>}` string on every write and dispose.
   */
  private readonly scopes = new Map<string, Map<string, ScopeIndex>>();
  /**
   * The last index looked up, and the `KeyScope` object it was found for: callers reuse one
   * `KeyScope` per tenant, so consecutive writes of a scope skip both lookups. Cleared whenever
   * an index leaves `scopes` (`dropIndex`, `close`), so it never points at a detached index.
   */
  private lastScope: KeyScope | undefined;
  private lastIndex: ScopeIndex | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private evictions = 0;
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    const { maxEntries, maxBytes, maxEntriesPerTenant, sweepMs, clock: givenClock, observer } = resolveMemoryStoreOptions(options);
    this.clock = givenClock ?? systemClock;
    this.observer = observer;
    this.maxBytes = maxBytes;
    this.quota = maxEntriesPerTenant;

    // The system clock passed explicitly (as factories do) is no injection: keep lru-cache's own.
    const clock = givenClock === systemClock ? undefined : givenClock;
    // Without `max`, lru-cache bounds by `maxSize` alone and allocates its arrays as entries
    // come, instead of typed arrays for `max` slots up front.
    const bounds: { max: number; maxSize?: number } | { maxSize: number } =
      maxEntries !== undefined
        ? { max: maxEntries, ...(maxBytes !== undefined ? { maxSize: maxBytes } : {}) }
        : { maxSize: maxBytes as number }; // no maxEntries means maxBytes was given (see resolveMemoryStoreOptions)
    this.lru = new LRUCache<string, Envelope>({
      ...bounds,
      // With an injected clock, TTLs follow it, and every staleness check reads it (no 1 ms
      // caching, which a manual clock would defeat). Without one, lru-cache keeps its monotonic
      // performance.now() and its cheap debounced reads.
      ...(clock !== undefined ? { perf: { now: () => clock.now() }, ttlResolution: 0 } : {}),
      allowStale: false,
      updateAgeOnGet: false,
      dispose: (_env, full, reason) => this.onDispose(full, reason),
    });

    if (sweepMs > 0) {
      this.timer = setInterval(() => this.sweep(), sweepMs);
      this.timer.unref();
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
    if (this.quota !== undefined) this.touch(key);
    return handOut(env);
  }

  get(key: StorageKey): Promise<Envelope | undefined> {
    if (this.closed) return closedRejection();
    const env = this.lru.get(key.full);
    if (env === undefined) return Promise.resolve(undefined);
    if (this.quota !== undefined) this.touch(key);
    return Promise.resolve(handOut(env));
  }

  set(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<void> {
    if (this.closed) return closedRejection();
    try {
      this.write(key, toHold(envelope), checkTtl(ttlMs));
      return RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  delete(key: StorageKey): Promise<boolean> {
    return this.run(() => this.lru.delete(key.full));
  }

  getOrSet(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<StoreGetOrSetResult> {
    return this.run(() => {
      // Checked even when an entry is present, as a remote store encodes before it knows.
      const held = toHold(envelope);
      const ttl = checkTtl(ttlMs);
      const existing = this.present(key);
      if (existing !== undefined) return { envelope: handOut(existing), set: false };
      this.write(key, held, ttl);
      return { envelope, set: true };
    });
  }

  compareAndSet(key: StorageKey, expectedStamp: string | null, envelope: Envelope, ttlMs: number): Promise<boolean> {
    return this.run(() => {
      const held = toHold(envelope);
      const ttl = checkTtl(ttlMs);
      const existing = this.present(key);
      if (expectedStamp === null ? existing !== undefined : existing?.stamp !== expectedStamp) return false;
      this.write(key, held, ttl);
      return true;
    });
  }

  clearScope(scope: KeyScope): Promise<number> {
    return this.run(() => {
      const index = this.indexFor(scope);
      if (index === undefined) return 0;
      // Copy: each delete shrinks the set through dispose.
      let deleted = 0;
      for (const full of [...index.keys.keys()]) if (this.lru.delete(full)) deleted++;
      // Anything left (only possible if a dispose failed half-way) must not outlive the clear.
      this.dropIndex(scope.namespace, scope.id);
      return deleted;
    });
  }

  invalidateTags(tagKeys: readonly StorageKey[]): Promise<number> {
    return this.run(() => {
      let deleted = 0;
      for (const tagKey of tagKeys) {
        const members = this.indexFor(tagKey.scope)?.tags.get(tagKey.full);
        if (members === undefined) continue;
        for (const full of [...members]) if (this.lru.delete(full)) deleted++;
      }
      return deleted;
    });
  }

  scopeSize(scope: KeyScope): number | undefined {
    if (this.closed) throw new CacheClosedError('memory store');
    // May include expired entries not yet swept or read.
    return this.indexFor(scope)?.keys.size ?? 0;
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

  /**
   * `bytes` is the estimated size of every entry held (expired ones not yet removed included).
   * With `maxBytes` it is kept up to date on every write; without, writes do not estimate, and
   * this call estimates the entries not estimated yet (each once) and sums all: O(entries).
   */
  stats(): StoreStats {
    // With maxBytes, lru-cache sums the sizes we give it: exactly the bytes of what it holds.
    return { entries: this.lru.size, bytes: this.maxBytes !== undefined ? this.lru.calculatedSize : this.sumUnbudgetedBytes(), evictions: this.evictions, decodeErrors: 0, errors: 0 };
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.lru.clear();
    this.scopes.clear();
    this.lastScope = this.lastIndex = undefined;
    return Promise.resolve();
  }

  /** Index sizes, for leak tests only. @internal */
  indexSizes(): { scopes: number; keys: number; tags: number; tagMembers: number } {
    let scopes = 0;
    let keys = 0;
    let tags = 0;
    let tagMembers = 0;
    for (const byId of this.scopes.values()) {
      for (const index of byId.values()) {
        scopes++;
        keys += index.keys.size;
        tags += index.tags.size;
        for (const members of index.tags.values()) tagMembers += members.size;
      }
    }
    return { scopes, keys, tags, tagMembers };
  }

  private run<T>(fn: () => T): Promise<T> {
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
    if (this.quota !== undefined) this.touch(key);
    const { expiresAt } = env;
    return expiresAt === 0 || expiresAt > this.clock.now() ? env : undefined;
  }

  private write(key: StorageKey, env: Envelope, ttl: number): void {
    const full = key.full;
    const scope = key.scope;
    const maxBytes = this.maxBytes;
    let size = UNSIZED;
    if (maxBytes !== undefined) {
      size = estimateEntry(full, env);
      if (size > maxBytes) {
        // Cannot fit even alone: not stored, and an older value must not keep being served.
        this.lru.delete(full);
        return;
      }
    }
    const tagKeys = tagKeysOf(key, env.tags);
    const old = this.indexFor(scope)?.keys.get(full);
    if (old === undefined && this.quota !== undefined) this.enforceQuota(scope, this.quota);

    // Adding may evict other entries (reason 'evict'), possibly the last of this scope, so the
    // scope's index is looked up only afterwards. A key already listed keeps its index: it is
    // never evicted by its own update (lru-cache moves it to the most recent end first, and it
    // fits alone). Replacing an entry is handled here, not in onDispose: lru-cache disposes a
    // replaced envelope with reason 'set', but renews the very same envelope without dispose.
    this.lru.set(full, env, maxBytes !== undefined ? { ttl, size } : { ttl });
    const index = this.indexOf(scope);
    if (old === undefined) {
      index.keys.set(full, { key, tagKeys, size });
    } else {
      if (old.tagKeys !== undefined) unlistTags(index, old.tagKeys, full);
      old.key = key;
      old.tagKeys = tagKeys;
      old.size = size;
      if (this.quota !== undefined) {
        // With a quota, `keys` is in recency order: a rewrite moves the key to the end.
        index.keys.delete(full);
        index.keys.set(full, old);
      }
    }
    if (tagKeys !== undefined) {
      for (const tag of tagKeys) {
        let members = index.tags.get(tag);
        if (members === undefined) index.tags.set(tag, (members = new Set()));
        members.add(full);
      }
    }
  }

  /** Makes room for one more key in a scope at its quota, by evicting that scope's own LRU entries. */
  private enforceQuota(scope: KeyScope, quota: number): void {
    let index = this.indexFor(scope);
    // `keys` is kept in per-scope recency order while a quota is set: the first is the LRU.
    while (index !== undefined && index.keys.size >= quota) {
      const [victim, meta] = index.keys.entries().next().value as [string, EntryMeta];
      const live = this.lru.peek(victim); // undefined if already expired: that is no eviction
      if (!this.lru.delete(victim)) index.keys.delete(victim); // index out of step; never loop forever
      else if (live !== undefined) this.noteEviction(meta.key);
      index = this.indexFor(scope);
    }
  }

  private touch(key: StorageKey): void {
    const keys = this.indexFor(key.scope)?.keys;
    const meta = keys?.get(key.full);
    if (meta !== undefined) {
      keys!.delete(key.full);
      keys!.set(key.full, meta);
    }
  }

  /** The index of a scope, if it has one. */
  private indexFor(scope: KeyScope): ScopeIndex | undefined {
    if (scope === this.lastScope) return this.lastIndex;
    const index = this.scopes.get(scope.namespace)?.get(scope.id);
    if (index !== undefined) {
      this.lastScope = scope;
      this.lastIndex = index;
    }
    return index;
  }

  /** The index of a scope, created if missing. */
  private indexOf(scope: KeyScope): ScopeIndex {
    if (scope === this.lastScope) return this.lastIndex!;
    let byId = this.scopes.get(scope.namespace);
    if (byId === undefined) this.scopes.set(scope.namespace, (byId = new Map()));
    let index = byId.get(scope.id);
    if (index === undefined) {
      index = { keys: new Map(), tags: new Map() };
      byId.set(scope.id, index);
    }
    this.lastScope = scope;
    this.lastIndex = index;
    return index;
  }

  private dropIndex(namespace: string, id: string): void {
    const byId = this.scopes.get(namespace);
    if (byId === undefined) return;
    if (byId.get(id) === this.lastIndex) this.lastScope = this.lastIndex = undefined;
    if (byId.delete(id) && byId.size === 0) this.scopes.delete(namespace);
  }

  /** Without `maxBytes`: the byte total for `stats()`, estimating each entry at most once. */
  private sumUnbudgetedBytes(): number {
    let total = 0;
    // Every key lru-cache holds, expired ones included, is listed in its scope's index.
    for (const byId of this.scopes.values()) {
      for (const index of byId.values()) {
        for (const [full, meta] of index.keys) {
          const env = this.lru.peek(full, { allowStale: true });
          if (env === undefined) continue;
          if (meta.size === UNSIZED) meta.size = estimateEntry(full, env);
          total += meta.size;
        }
      }
    }
    return total;
  }

  private onDispose(full: string, reason: LRUCache.DisposeReason): void {
    // 'set' = replaced under the same key by write(), which updates the index itself. (lru-cache
    // also says 'set' when it refuses an entry over maxEntrySize, which write() never hands it.)
    if (reason === 'set') return;
    const index = this.indexOfKey(full);
    const meta = index?.keys.get(full);
    // Every held key is listed in its scope's index (write lists it right after lru.set, and
    // nothing runs in between); no index or no entry would mean they are out of step.
    if (index === undefined || meta === undefined) {
      if (reason === 'evict') this.evictions++;
      return;
    }
    if (meta.tagKeys !== undefined) unlistTags(index, meta.tagKeys, full);
    if (index.keys.delete(full) && index.keys.size === 0 && index.tags.size === 0) {
      this.dropIndex(meta.key.scope.namespace, meta.key.scope.id);
    }
    if (reason === 'evict') this.noteEviction(meta.key);
  }

  /**
   * The index of the scope a full storage key belongs to, read from the key itself (lru-cache
   * hands dispose the key string, not our `StorageKey`). The layout `<namespace>:{<id>}:...`
   * splits exactly: a namespace holds no `:` and a scope id no `}` (keys.ts).
   */
  private indexOfKey(full: string): ScopeIndex | undefined {
    const last = this.lastScope;
    if (last !== undefined && inScope(full, last)) return this.lastIndex;
    const colon = full.indexOf(':');
    const close = full.indexOf('}', colon + 2);
    if (colon <= 0 || close < 0) return undefined;
    return this.scopes.get(full.slice(0, colon))?.get(full.slice(colon + 2, close));
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

/** Removes an entry key from the members of its tags, and tags left without members. */
function unlistTags(index: ScopeIndex, tagKeys: readonly string[], full: string): void {
  for (const tag of tagKeys) {
    const members = index.tags.get(tag);
    if (members !== undefined && members.delete(full) && members.size === 0) index.tags.delete(tag);
  }
}

/** Whether `full` starts with `<scope.namespace>:{<scope.id>}`, without building that string. */
function inScope(full: string, scope: KeyScope): boolean {
  const ns = scope.namespace;
  const id = scope.id;
  const at = ns.length + 2;
  return (
    full.startsWith(ns) &&
    full.charCodeAt(ns.length) === 0x3a /* : */ &&
    full.charCodeAt(ns.length + 1) === 0x7b /* { */ &&
    full.startsWith(id, at) &&
    full.charCodeAt(at + id.length) === 0x7d /* } */
  );
}

/**
 * The envelope to hold for a write: the caller's own if its value is a primitive (immutable),
 * else a copy with a deep copy of the value, after the checks every store applies.
 */
function toHold(env: Envelope): Envelope {
  const value = env.value;
  if (typeof value !== 'object' || value === null) {
    if (typeof value === 'function' || typeof value === 'symbol') checkCacheable(value);
    return env;
  }
  checkCacheable(value);
  return { ...env, value: copyCacheable(value) };
}

/** What a read hands out: the held envelope if its value is a primitive, else one with a fresh copy of the value. */
function handOut(env: Envelope): Envelope {
  const value = env.value;
  return typeof value !== 'object' || value === null ? env : { ...env, value: copyCacheable(value) };
}

function closedRejection(): Promise<never> {
  return Promise.reject(new CacheClosedError('memory store'));
}

/** ttlMs: 0 = no TTL; otherwise a positive finite number of milliseconds. */
function checkTtl(ttlMs: number): number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < 0) throw new InvalidTtlError(ttlMs, 'ttlMs');
  return ttlMs;
}

function tagKeysOf(key: StorageKey, tags: readonly string[] | undefined): string[] | undefined {
  if (tags === undefined || tags.length === 0) return undefined;
  const out = new Set<string>();
  for (const tag of tags) out.add(storageKey(key.scope, 'tag', tag).full);
  return [...out];
}
