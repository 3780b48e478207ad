import type { KeyScope, StorageKey } from '../../keys/storage-key.js';

/**
 * What the indexes need about one held key when it leaves, kept in its scope's index (`keys`).
 * lru-cache holds the `Envelope` itself, not a wrapper: a hit then returns the value lru-cache
 * hands back without touching one more object (on a cache too big for the CPU caches, that
 * extra dependent load costs ~10% of a `getSync`).
 */
export interface EntryMeta {
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
export const UNSIZED = -1;

/** The indexes of one scope. `keys` is in per-scope recency order when a quota is set. */
export interface ScopeIndex {
  /** Entry key (full) → what its removal must undo. */
  readonly keys: Map<string, EntryMeta>;
  /** Tag index key (full) → entry keys (full) written with that tag. */
  readonly tags: Map<string, Set<string>>;
}

/**
 * The memory store's per-scope indexes: which keys each (namespace, tenant) holds, and which of
 * them each tag lists. They make `clearScope`, `invalidateTags`, `scopeSize` and the per-tenant
 * quota cost the scope's own entries, not a walk over the whole store. The store keeps them in
 * step with lru-cache: `list` after every write, `unlist` from lru-cache's dispose.
 */
export class ScopeIndexes {
  /**
   * One index per (namespace, tenant), so namespaces sharing a store stay apart: namespace →
   * scope id → index. Two lookups on strings the `KeyScope` already holds (their hashes are
   * cached) instead of building a `<namespace>:{<id>}` string on every write and dispose.
   */
  private readonly scopes = new Map<string, Map<string, ScopeIndex>>();
  /**
   * The last index looked up, and the `KeyScope` object it was found for: callers reuse one
   * `KeyScope` per tenant, so consecutive writes of a scope skip both lookups. Cleared whenever
   * an index leaves `scopes` (`drop`, `clear`), so it never points at a detached index.
   */
  private lastScope: KeyScope | undefined;
  private lastIndex: ScopeIndex | undefined;

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

  /**
   * Lists a key just written (`previous`: its meta if it was listed already) under its scope and
   * its tags. `inRecencyOrder`: keep `keys` in per-scope recency order (a quota is set).
   */
  list(key: StorageKey, tagKeys: readonly string[] | undefined, size: number, previous: EntryMeta | undefined, inRecencyOrder: boolean): void {
    const full = key.full;
    const index = this.ensure(key.scope);
    if (previous === undefined) {
      index.keys.set(full, { key, tagKeys, size });
    } else {
      if (previous.tagKeys !== undefined) unlistTags(index, previous.tagKeys, full);
      previous.key = key;
      previous.tagKeys = tagKeys;
      previous.size = size;
      if (inRecencyOrder) {
        // A rewrite moves the key to the most recent end.
        index.keys.delete(full);
        index.keys.set(full, previous);
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

  /**
   * Removes a key that left the store from its scope and tags, and the scope's index once empty.
   * Resolves what was listed, or undefined if the key was not (the indexes out of step).
   */
  unlist(full: string): EntryMeta | undefined {
    const index = this.ofKey(full);
    const meta = index?.keys.get(full);
    if (index === undefined || meta === undefined) return undefined;
    if (meta.tagKeys !== undefined) unlistTags(index, meta.tagKeys, full);
    if (index.keys.delete(full) && index.keys.size === 0 && index.tags.size === 0) this.drop(meta.key.scope);
    return meta;
  }

  /** Moves a listed key to the most recent end of its scope's `keys` (only kept up with a quota). */
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
    if (byId === undefined) return;
    if (byId.get(scope.id) === this.lastIndex) this.lastScope = this.lastIndex = undefined;
    if (byId.delete(scope.id) && byId.size === 0) this.scopes.delete(scope.namespace);
  }

  /** Calls `fn` for every listed key, every scope. */
  forEachEntry(fn: (full: string, meta: EntryMeta) => void): void {
    for (const byId of this.scopes.values()) {
      for (const index of byId.values()) {
        for (const [full, meta] of index.keys) fn(full, meta);
      }
    }
  }

  /** Index sizes, for leak tests. */
  sizes(): { scopes: number; keys: number; tags: number; tagMembers: number } {
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

  clear(): void {
    this.scopes.clear();
    this.lastScope = this.lastIndex = undefined;
  }

  /** The index of a scope, created if missing. */
  private ensure(scope: KeyScope): ScopeIndex {
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
