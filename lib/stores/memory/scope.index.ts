import type { KeyScope, StorageKey } from '../../keys/storage-key.js';
import { MAX_COMPUTATION_MS } from '../computation-bound.js';
import type { MemoryStoreBounds } from '../memory-store-options.interface.js';
import { RecordExpiry } from './record.expiry.js';
import type { EntryMeta, ScopeIndex } from './scope-index.interface.js';
import type { TagVersion } from './scope-versions.js';


/**
 * The memory store's per-scope indexes: which keys each (namespace, tenant) holds and their
 * bytes, the records of its tags and clears, and which scopes are above their share. They make
 * `scopeSize` and the tenant share cost the scope's own entries, and invalidations O(1), not a
 * walk over the whole store. The store keeps them in step with lru-cache: `list` before every
 * write, `unlist` from lru-cache's dispose.
 *
 * A record is dropped only once nothing can need it: an index when it holds no entry, no tag
 * record and no clear younger than the computation bound; a tag record when no entry carries
 * it and its last invalidation is older than the bound (a computation older than that is not
 * stored, so none is left to refuse).
 */
export class ScopeIndexes {
  /**
   * One index per (namespace, tenant), so namespaces sharing a store stay apart: namespace →
   * scope id → index. Two lookups on strings the `KeyScope` already holds (their hashes are
   * cached) instead of building a `<namespace>:{<id>}` string on every write and dispose.
   */
  private readonly scopes = new Map<string, Map<string, ScopeIndex>>();
  /** Scopes above their share, in the order they went above it. */
  readonly overShare = new Set<ScopeIndex>();
  /** Scopes with retired entries to reclaim, in the order they were cleared. */
  private readonly reclaiming = new Set<ScopeIndex>();
  /** Records to drop once the bound has passed (and nothing else needs them). */
  private readonly expiry = new RecordExpiry();
  /** How many scopes have an index. */
  private count = 0;
  /**
   * The last index looked up, and the `KeyScope` object it was found for: callers reuse one
   * `KeyScope` per tenant, so consecutive writes of a scope skip both lookups. Cleared whenever
   * an index leaves `scopes` (`drop`, `clear`), so it never points at a detached index.
   */
  private lastScope: KeyScope | undefined;
  private lastIndex: ScopeIndex | undefined;

  constructor(
    /** `share`: what one scope keeps of a full store (`MemoryStoreBounds`); undefined = no share. */
    private readonly share: Pick<MemoryStoreBounds, 'tenantShareEntries' | 'tenantShareBytes'>,
    /** The store's clock (ms). */
    private readonly now: () => number,
  ) {}

  /** How many scopes hold entries (or records). */
  get scopeCount(): number {
    return this.count;
  }

  /** Whether some cleared scope still holds entries to reclaim. */
  get hasRetired(): boolean {
    return this.reclaiming.size > 0;
  }

  /** The index of a scope, if it has one. */
  find(scope: KeyScope): ScopeIndex | undefined {
    if (scope === this.lastScope) return this.lastIndex;
    const index = this.scopes.get(scope.namespace)?.get(scope.id);
    if (index !== undefined) {
      this.lastScope = scope;
      this.lastIndex = index;
    }
    return index;
  }

  /** The index of a scope, created if missing. */
  ensure(scope: KeyScope): ScopeIndex {
    if (scope === this.lastScope) return this.lastIndex!;
    let byId = this.scopes.get(scope.namespace);
    if (byId === undefined) this.scopes.set(scope.namespace, (byId = new Map()));
    let index = byId.get(scope.id);
    if (index === undefined) {
      index = { namespace: scope.namespace, id: scope.id, keys: new Map(), retired: [], held: 0, tags: new Map(), bytes: 0, overShare: false, queued: false, epoch: 0, changed: 0, clearedAt: 0 };
      byId.set(scope.id, index);
      this.count++;
    }
    this.lastScope = scope;
    this.lastIndex = index;
    return index;
  }

  /** What the index holds about `key`, if it is listed (live or retired). */
  entryMeta(key: StorageKey): EntryMeta | undefined {
    const index = this.find(key.scope);
    return index === undefined ? undefined : metaIn(index, key.full);
  }

  /** Whether a scope holding `entries` keys of `bytes` in all would be above its share. */
  aboveShare(entries: number, bytes: number): boolean {
    const { tenantShareEntries, tenantShareBytes } = this.share;
    return (tenantShareEntries !== undefined && entries > tenantShareEntries) || (tenantShareBytes !== undefined && bytes > tenantShareBytes);
  }

  /** The records of the tag keys `tagKeys` of `index`, created (version 0) where missing. */
  tagVersions(index: ScopeIndex, tagKeys: readonly string[]): TagVersion[] {
    return tagKeys.map((key) => {
      let tag = index.tags.get(key);
      if (tag === undefined) index.tags.set(key, (tag = { key, version: 0, count: 0, invalidatedAt: 0, queued: false }));
      return tag;
    });
  }

  /**
   * Lists a key about to be written under `index` (`previous`: its meta if it is listed already),
   * counting it on its tags' records. Listed before lru-cache takes the entry, so an eviction
   * that write makes cannot drop the index the entry points at. A rewrite moves the key to the
   * end of `keys` (most recently written, and used).
   */
  list(index: ScopeIndex, key: StorageKey, tagVersions: readonly TagVersion[] | undefined, size: number, previous: EntryMeta | undefined): void {
    const full = key.full;
    if (tagVersions !== undefined) for (const tag of tagVersions) tag.count++;
    if (previous === undefined) {
      index.keys.set(full, { key, tagVersions, size, home: index.keys });
      index.held++;
      index.bytes += size;
    } else {
      this.uncount(index, previous.tagVersions);
      index.bytes += size - previous.size;
      previous.key = key;
      previous.tagVersions = tagVersions;
      previous.size = size;
      this.removeFrom(index, previous, full);
      index.keys.set(full, previous);
      previous.home = index.keys;
      index.held++;
    }
    this.updateShare(index);
  }

  /**
   * Removes a key that left the store from its scope and tags, and the scope's index once nothing
   * needs it. Resolves what was listed, or undefined if the key was not (the indexes out of step).
   */
  unlist(full: string): EntryMeta | undefined {
    const index = this.ofKey(full);
    const meta = index === undefined ? undefined : metaIn(index, full);
    if (index === undefined || meta === undefined) return undefined;
    this.uncount(index, meta.tagVersions);
    this.removeFrom(index, meta, full);
    index.bytes -= meta.size;
    if (!this.dropIfIdle(index)) this.updateShare(index);
    return meta;
  }

  /** Moves a live key to the end of its scope's `keys` (reads are tracked only with `maxEntriesPerTenant`). */
  touch(key: StorageKey): void {
    const keys = this.find(key.scope)?.keys;
    const meta = keys?.get(key.full);
    if (meta !== undefined) {
      keys!.delete(key.full);
      keys!.set(key.full, meta);
    }
  }

  /**
   * A clear of `scope` at `version`: its epoch moves, and the entries it held are retired (one
   * map moved, whatever their number) for `takeRetired` to reclaim.
   */
  clearScope(scope: KeyScope, version: number): ScopeIndex {
    const index = this.ensure(scope);
    index.epoch = index.changed = version;
    index.clearedAt = this.now();
    if (index.keys.size > 0) {
      index.retired.push(index.keys);
      index.keys = new Map();
      this.reclaiming.add(index);
    }
    this.dropIfIdle(index);
    return index;
  }

  /** An invalidation of tags of `scope` at `version`: one record each, found or created. */
  invalidateTags(scope: KeyScope, tagKeys: Iterable<string>, version: number): void {
    const index = this.ensure(scope);
    const now = this.now();
    for (const key of tagKeys) {
      const [tag] = this.tagVersions(index, [key]);
      tag!.version = version;
      tag!.invalidatedAt = now;
      if (tag!.count === 0) this.expiry.queueTag(index, tag!);
    }
    index.changed = version;
  }

  /** Forgets every tag record of a scope that no entry carries (a purge: its epoch refuses what they would). */
  dropIdleTags(index: ScopeIndex): void {
    for (const [key, tag] of index.tags) if (tag.count === 0) index.tags.delete(key);
    this.dropIfIdle(index);
  }

  /** Up to `limit` retired keys (full) of `only` (or of any scope), oldest clear first, for the store to delete. */
  takeRetired(limit: number, only?: ScopeIndex): string[] {
    const out: string[] = [];
    for (const index of only === undefined ? this.reclaiming : [only]) {
      for (const map of index.retired) {
        for (const full of map.keys()) {
          out.push(full);
          if (out.length >= limit) return out;
        }
      }
    }
    return out;
  }

  /** Drops the records whose bound has passed and that nothing needs any more. */
  prune(): void {
    const now = this.now();
    this.expiry.due(now, (index, tag) => {
      if (tag !== undefined && tag.count === 0 && index.tags.get(tag.key) === tag) {
        // Invalidated again since it was queued: looked at again later.
        if (now - tag.invalidatedAt >= MAX_COMPUTATION_MS) index.tags.delete(tag.key);
        else this.expiry.queueTag(index, tag);
      }
      this.dropIfIdle(index);
    });
  }

  /** Index sizes, for leak tests: `tagMembers` is how many (entry, tag) pairs the records count, `retired` how many entries wait for reclaim. */
  sizes(): { scopes: number; keys: number; tags: number; tagMembers: number; retired: number; overShare: number } {
    let scopes = 0;
    let keys = 0;
    let tags = 0;
    let tagMembers = 0;
    let retired = 0;
    for (const byId of this.scopes.values()) {
      for (const index of byId.values()) {
        scopes++;
        keys += index.held;
        tags += index.tags.size;
        for (const tag of index.tags.values()) tagMembers += tag.count;
        for (const map of index.retired) retired += map.size;
      }
    }
    return { scopes, keys, tags, tagMembers, retired, overShare: this.overShare.size };
  }

  clear(): void {
    this.scopes.clear();
    this.overShare.clear();
    this.reclaiming.clear();
    this.expiry.clear();
    this.count = 0;
    this.lastScope = this.lastIndex = undefined;
  }

  /** Takes `meta` out of the map that lists it (a retired map left empty goes). */
  private removeFrom(index: ScopeIndex, meta: EntryMeta, full: string): void {
    const home = meta.home;
    home.delete(full);
    index.held--;
    if (home !== index.keys && home.size === 0) {
      index.retired.splice(index.retired.indexOf(home), 1);
      if (index.retired.length === 0) this.reclaiming.delete(index);
    }
  }

  /** One entry fewer on each of these tag records; a record nothing needs any more goes (or waits for the bound). */
  private uncount(index: ScopeIndex, tagVersions: readonly TagVersion[] | undefined): void {
    if (tagVersions === undefined) return;
    for (const tag of tagVersions) {
      if (--tag.count > 0 || index.tags.get(tag.key) !== tag) continue;
      if (tag.version === 0 || this.now() - tag.invalidatedAt >= MAX_COMPUTATION_MS) index.tags.delete(tag.key);
      else this.expiry.queueTag(index, tag);
    }
  }

  /** Drops an index that holds nothing and no record anything needs; true if it did. An index kept only for a recent clear is queued. */
  private dropIfIdle(index: ScopeIndex): boolean {
    if (index.held > 0 || index.tags.size > 0) return false;
    if (index.epoch > 0 && this.now() - index.clearedAt < MAX_COMPUTATION_MS) {
      this.expiry.queueScope(index);
      return false;
    }
    this.drop(index);
    return true;
  }

  /** Removes a scope's index (it holds nothing). */
  private drop(index: ScopeIndex): void {
    const byId = this.scopes.get(index.namespace);
    if (byId?.get(index.id) !== index) return;
    if (index === this.lastIndex) this.lastScope = this.lastIndex = undefined;
    this.overShare.delete(index);
    this.reclaiming.delete(index);
    this.count--;
    byId.delete(index.id);
    if (byId.size === 0) this.scopes.delete(index.namespace);
  }

  /** Keeps `overShare` in step with a scope whose size just changed. */
  private updateShare(index: ScopeIndex): void {
    const over = this.aboveShare(index.held, index.bytes);
    if (over === index.overShare) return;
    index.overShare = over;
    if (over) this.overShare.add(index);
    else this.overShare.delete(index);
  }

  /**
   * The index of the scope a full storage key belongs to, read from the key itself (lru-cache
   * hands dispose the key string, not our `StorageKey`). The layout `<namespace>:{<id>}:...`
   * splits exactly: a namespace holds no `:` and a scope id no `}` (keys/storage-key.ts).
   */
  private ofKey(full: string): ScopeIndex | undefined {
    const last = this.lastScope;
    if (last !== undefined && inScope(full, last)) return this.lastIndex;
    const colon = full.indexOf(':');
    const close = full.indexOf('}', colon + 2);
    if (colon <= 0 || close < 0) return undefined;
    return this.scopes.get(full.slice(0, colon))?.get(full.slice(colon + 2, close));
  }
}

/** `full`'s meta in `index`: among the live keys, else in a retired map. */
function metaIn(index: ScopeIndex, full: string): EntryMeta | undefined {
  const live = index.keys.get(full);
  if (live !== undefined || index.retired.length === 0) return live;
  for (const map of index.retired) {
    const meta = map.get(full);
    if (meta !== undefined) return meta;
  }
  return undefined;
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
