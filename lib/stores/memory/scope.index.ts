import type { KeyScope, StorageKey } from '../../keys/storage-key.js';
import type { MemoryStoreBounds } from '../memory-store-options.interface.js';

/**
 * What the indexes need about one held key when it leaves, kept in its scope's index (`keys`).
 * lru-cache holds the `Envelope` itself, not a wrapper: a hit then returns the value lru-cache
 * hands back without touching one more object (on a cache too big for the CPU caches, that
 * extra dependent load cost ~25% of a `getSync` of an HTTP response in the bench's micro case).
 */
export interface EntryMeta {
  /** Updated in place when the key is written again (no new object). */
  key: StorageKey;
  /** Full tag index keys this entry is listed under (deduplicated), or undefined. */
  tagKeys: readonly string[] | undefined;
  /** Estimated bytes (memory-entry.size.ts), as lru-cache counts it against `maxBytes`. */
  size: number;
}

/**
 * The indexes of one scope. `keys` is in write order (a rewrite moves its key to the end), or
 * in recency order while reads are tracked (`maxEntriesPerTenant`): either way its first key is
 * the one the scope gives up first.
 */
export interface ScopeIndex {
  /** Entry key (full) → what its removal must undo. */
  readonly keys: Map<string, EntryMeta>;
  /** Tag index key (full) → entry keys (full) written with that tag. */
  readonly tags: Map<string, Set<string>>;
  /** Sum of the sizes in `keys`. */
  bytes: number;
  /** Above its share (entries or bytes): listed in `ScopeIndexes.overShare`. */
  overShare: boolean;
}

/**
 * The memory store's per-scope indexes: which keys each (namespace, tenant) holds and their
 * bytes, which of them each tag lists, and which scopes are above their share. They make
 * `clearScope`, `invalidateTags`, `scopeSize` and the tenant share cost the scope's own entries,
 * not a walk over the whole store. The store keeps them in step with lru-cache: `list` after
 * every write, `unlist` from lru-cache's dispose.
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
  /** How many scopes have an index. */
  private count = 0;
  /**
   * The last index looked up, and the `KeyScope` object it was found for: callers reuse one
   * `KeyScope` per tenant, so consecutive writes of a scope skip both lookups. Cleared whenever
   * an index leaves `scopes` (`drop`, `clear`), so it never points at a detached index.
   */
  private lastScope: KeyScope | undefined;
  private lastIndex: ScopeIndex | undefined;

  /** `share`: what one scope keeps of a full store (`MemoryStoreBounds`); undefined = no share. */
  constructor(private readonly share: Pick<MemoryStoreBounds, 'tenantShareEntries' | 'tenantShareBytes'>) {}

  /** How many scopes hold entries (or tags). */
  get scopeCount(): number {
    return this.count;
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

  /** What the index holds about `key`, if it is listed. */
  entryMeta(key: StorageKey): EntryMeta | undefined {
    return this.find(key.scope)?.keys.get(key.full);
  }

  /** Whether a scope holding `entries` keys of `bytes` in all would be above its share. */
  aboveShare(entries: number, bytes: number): boolean {
    const { tenantShareEntries, tenantShareBytes } = this.share;
    return (tenantShareEntries !== undefined && entries > tenantShareEntries) || (tenantShareBytes !== undefined && bytes > tenantShareBytes);
  }

  /**
   * Lists a key just written (`previous`: its meta if it was listed already) under its scope and
   * its tags. A rewrite moves the key to the end of `keys` (most recently written, and used).
   */
  list(key: StorageKey, tagKeys: readonly string[] | undefined, size: number, previous: EntryMeta | undefined): void {
    const full = key.full;
    const index = this.ensure(key.scope);
    if (previous === undefined) {
      index.keys.set(full, { key, tagKeys, size });
      index.bytes += size;
    } else {
      if (previous.tagKeys !== undefined) unlistTags(index, previous.tagKeys, full);
      index.bytes += size - previous.size;
      previous.key = key;
      previous.tagKeys = tagKeys;
      previous.size = size;
      index.keys.delete(full);
      index.keys.set(full, previous);
    }
    if (tagKeys !== undefined) {
      for (const tag of tagKeys) {
        let members = index.tags.get(tag);
        if (members === undefined) index.tags.set(tag, (members = new Set()));
        members.add(full);
      }
    }
    this.updateShare(index);
  }

  /**
   * Removes a key that left the store from its scope and tags, and the scope's index once empty.
   * Resolves what was listed, or undefined if the key was not (the indexes out of step).
   */
  unlist(full: string): EntryMeta | undefined {
    const index = this.ofKey(full);
    const meta = index?.keys.get(full);
    if (index === undefined || meta === undefined) return undefined;
    if (meta.tagKeys !== undefined) unlistTags(index, meta.tagKeys, full);
    index.keys.delete(full);
    index.bytes -= meta.size;
    if (index.keys.size === 0 && index.tags.size === 0) this.drop(meta.key.scope);
    else this.updateShare(index);
    return meta;
  }

  /** Moves a listed key to the end of its scope's `keys` (reads are tracked only with `maxEntriesPerTenant`). */
  touch(key: StorageKey): void {
    const keys = this.find(key.scope)?.keys;
    const meta = keys?.get(key.full);
    if (meta !== undefined) {
      keys!.delete(key.full);
      keys!.set(key.full, meta);
    }
  }

  /** Removes a scope's index, whatever it still lists. */
  drop(scope: KeyScope): void {
    const byId = this.scopes.get(scope.namespace);
    const index = byId?.get(scope.id);
    if (byId === undefined || index === undefined) return;
    if (index === this.lastIndex) this.lastScope = this.lastIndex = undefined;
    this.overShare.delete(index);
    this.count--;
    byId.delete(scope.id);
    if (byId.size === 0) this.scopes.delete(scope.namespace);
  }

  /** Index sizes, for leak tests. */
  sizes(): { scopes: number; keys: number; tags: number; tagMembers: number; overShare: number } {
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
    return { scopes, keys, tags, tagMembers, overShare: this.overShare.size };
  }

  clear(): void {
    this.scopes.clear();
    this.overShare.clear();
    this.count = 0;
    this.lastScope = this.lastIndex = undefined;
  }

  /** Keeps `overShare` in step with a scope whose size just changed. */
  private updateShare(index: ScopeIndex): void {
    const over = this.aboveShare(index.keys.size, index.bytes);
    if (over === index.overShare) return;
    index.overShare = over;
    if (over) this.overShare.add(index);
    else this.overShare.delete(index);
  }

  /** The index of a scope, created if missing. */
  private ensure(scope: KeyScope): ScopeIndex {
    if (scope === this.lastScope) return this.lastIndex!;
    let byId = this.scopes.get(scope.namespace);
    if (byId === undefined) this.scopes.set(scope.namespace, (byId = new Map()));
    let index = byId.get(scope.id);
    if (index === undefined) {
      index = { keys: new Map(), tags: new Map(), bytes: 0, overShare: false };
      byId.set(scope.id, index);
      this.count++;
    }
    this.lastScope = scope;
    this.lastIndex = index;
    return index;
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
