import type { Envelope } from '../../envelope/envelope.js';
import type { KeyScope, StorageKey } from '../../keys/storage-key.js';
import type { MemoryStoreBounds } from '../memory-store-options.interface.js';

/**
 * What the memory store holds for one key: the envelope and what its removal must undo. The
 * same object is lru-cache's value and the scope index's entry, so a hit finds the `used` flag
 * on the object it loads anyway (one flag write, no second lookup), and lru-cache's dispose
 * hands back the key and scope without parsing the key string. A rewrite makes a new one:
 * lru-cache only re-sizes an entry whose value object changed.
 */
export interface HeldEntry {
  /** Shared with callers, read-only. */
  readonly env: Envelope;
  readonly key: StorageKey;
  /** Full tag index keys this entry is listed under (deduplicated), or undefined. */
  readonly tagKeys: readonly string[] | undefined;
  /** Estimated bytes (memory-entry.size.ts), as lru-cache counts it against `maxBytes`. */
  readonly size: number;
  /** Read or rewritten since the scope's eviction pass last reached it: kept once more (second chance). */
  used: boolean;
}

/** The indexes of one scope. `keys` is in write order, which the eviction pass rotates. */
export interface ScopeIndex {
  /** Entry key (full) → the held entry. */
  readonly keys: Map<string, HeldEntry>;
  /** Tag index key (full) → entry keys (full) written with that tag. */
  readonly tags: Map<string, Set<string>>;
  /** Sum of the `size` of `keys`. */
  bytes: number;
  /** Above its share (entries or bytes), i.e. listed in `ScopeIndexes.overShare`. */
  overShare: boolean;
}

/**
 * The memory store's per-scope indexes: which keys each (namespace, tenant) holds, their bytes,
 * which of them each tag lists, and which scopes are above their share. They make `clearScope`,
 * `invalidateTags`, `scopeSize` and the tenant share cost the scope's own entries, not a walk
 * over the whole store. The store keeps them in step with lru-cache: `list` after every write,
 * `unlist` from lru-cache's dispose.
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
  /**
   * The last index looked up, and the `KeyScope` object it was found for: callers reuse one
   * `KeyScope` per tenant, so consecutive writes of a scope skip both lookups. Cleared whenever
   * an index leaves `scopes` (`drop`, `clear`), so it never points at a detached index.
   */
  private lastScope: KeyScope | undefined;
  private lastIndex: ScopeIndex | undefined;

  /** `share`: the store's per-tenant share (`tenantShareEntries`, `tenantShareBytes`). */
  constructor(private readonly share: Pick<MemoryStoreBounds, 'tenantShareEntries' | 'tenantShareBytes'>) {}

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

  /** Whether a scope holding `entries` keys of `bytes` in all would be above its share. */
  aboveShare(entries: number, bytes: number): boolean {
    const { tenantShareEntries, tenantShareBytes } = this.share;
    return (tenantShareEntries !== undefined && entries > tenantShareEntries) || (tenantShareBytes !== undefined && bytes > tenantShareBytes);
  }

  /**
   * Lists an entry just written under its scope and its tags; `previous` is what it replaced
   * under the same key (lru-cache disposed it with reason 'set', which the store ignores).
   */
  list(held: HeldEntry, previous: HeldEntry | undefined): void {
    const full = held.key.full;
    const index = this.ensure(held.key.scope);
    if (previous !== undefined) {
      if (previous.tagKeys !== undefined) unlistTags(index, previous.tagKeys, full);
      index.bytes -= previous.size;
      held.used = true; // a rewrite is a use
    }
    // A key already listed keeps its place in write order (Map.set on a present key).
    index.keys.set(full, held);
    index.bytes += held.size;
    const tagKeys = held.tagKeys;
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
   * Removes an entry that left the store from its scope and tags, and the scope's index once
   * empty. Returns false if that entry was not listed (the indexes out of step).
   */
  unlist(held: HeldEntry): boolean {
    const full = held.key.full;
    const index = this.find(held.key.scope);
    if (index === undefined || index.keys.get(full) !== held) return false;
    if (held.tagKeys !== undefined) unlistTags(index, held.tagKeys, full);
    index.keys.delete(full);
    index.bytes -= held.size;
    if (index.keys.size === 0 && index.tags.size === 0) this.drop(held.key.scope);
    else this.updateShare(index);
    return true;
  }

  /** Removes a scope's index, whatever it still lists. */
  drop(scope: KeyScope): void {
    const byId = this.scopes.get(scope.namespace);
    const index = byId?.get(scope.id);
    if (byId === undefined || index === undefined) return;
    if (index === this.lastIndex) this.lastScope = this.lastIndex = undefined;
    this.overShare.delete(index);
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
    }
    this.lastScope = scope;
    this.lastIndex = index;
    return index;
  }
}

/** Removes an entry key from the members of its tags, and tags left without members. */
function unlistTags(index: ScopeIndex, tagKeys: readonly string[], full: string): void {
  for (const tag of tagKeys) {
    const members = index.tags.get(tag);
    if (members !== undefined && members.delete(full) && members.size === 0) index.tags.delete(tag);
  }
}
