import type { LRUCache } from 'lru-cache';
import type { StorageKey } from '../../keys/storage-key.js';
import type { MemoryStoreBounds } from '../memory-store-options.interface.js';
import type { HeldEntry, ScopeIndex, ScopeIndexes } from './scope.index.js';

/**
 * Makes room for a write so that no tenant takes more than its part of a shared store:
 * - `maxEntriesPerTenant` (hard): a scope at its quota evicts its own entry for a new key, full
 *   store or not;
 * - `maxTenantShare` (soft): only when the store is full. Room comes first from the writer's own
 *   entries while the write would take it above its share, then from scopes above their share;
 *   whatever is still missing, lru-cache takes from the least recently used entries of the whole
 *   store (scopes within their share, since none is above it any more).
 *
 * Within a scope, the victim is its least recently used entry, approximately: `keys` is in write
 * order, and an entry read or rewritten since the pass last reached it (`used`) is moved to the
 * end once instead of evicted (second chance, as in CLOCK). A hit then only sets a flag; the
 * reordering happens here, on the write that evicts, at most once per use.
 */
export class ScopeQuota {
  constructor(
    private readonly bounds: MemoryStoreBounds,
    private readonly lru: LRUCache<string, HeldEntry>,
    private readonly indexes: ScopeIndexes,
    /** Called for each live entry evicted here (not for one found expired). */
    private readonly evicted: (key: StorageKey) => void,
  ) {}

  /** Whether a store with these bounds has any per-tenant limit at all. */
  static needed(bounds: MemoryStoreBounds): boolean {
    return bounds.maxEntriesPerTenant !== undefined || bounds.tenantShareEntries !== undefined || bounds.tenantShareBytes !== undefined;
  }

  /**
   * Makes room for `key` (`size` bytes; `previous`: the entry it replaces). Returns false if the
   * write must not be stored: it would take its tenant above its share of a full store with
   * nothing of its own left to evict.
   */
  makeRoom(key: StorageKey, size: number, previous: HeldEntry | undefined): boolean {
    const full = key.full;
    const { maxEntries, maxBytes, maxEntriesPerTenant: hard, tenantShareEntries, tenantShareBytes } = this.bounds;
    if (hard !== undefined && previous === undefined) {
      for (let index = this.indexes.find(key.scope); index !== undefined && index.keys.size >= hard; index = this.indexes.find(key.scope)) {
        if (!this.evictOne(index, full)) break;
      }
    }
    if (tenantShareEntries === undefined && tenantShareBytes === undefined) return true;
    const previousSize = previous?.size ?? 0;
    for (;;) {
      const needsEntry = maxEntries !== undefined && previous === undefined && this.lru.size >= maxEntries;
      if (!needsEntry && this.lru.calculatedSize - previousSize + size <= maxBytes) return true;
      const own = this.indexes.find(key.scope);
      const ownOver = this.indexes.aboveShare((own?.keys.size ?? 0) + (previous === undefined ? 1 : 0), (own?.bytes ?? 0) - previousSize + size);
      if (ownOver) {
        if (own !== undefined && this.evictOne(own, full)) continue;
        return false;
      }
      const other = this.firstOverShare(own);
      if (other === undefined) return true; // lru-cache evicts the least recently used entry itself
      this.evictOne(other, full);
    }
  }

  /** A scope above its share other than `except`, the one that went above it first. */
  private firstOverShare(except: ScopeIndex | undefined): ScopeIndex | undefined {
    for (const index of this.indexes.overShare) if (index !== except) return index;
    return undefined;
  }

  /**
   * Evicts one entry of `index` other than `keep` (the key being written), least recently used
   * first (second chance). False if it holds no other entry. Ends within two passes: the first
   * clears every `used` flag it moves past, and nothing sets one meanwhile.
   */
  private evictOne(index: ScopeIndex, keep: string): boolean {
    const keys = index.keys;
    if (keys.size === 0 || (keys.size === 1 && keys.has(keep))) return false;
    for (;;) {
      const [full, held] = keys.entries().next().value as [string, HeldEntry];
      if (full !== keep && !held.used) {
        const live = this.lru.peek(full) !== undefined; // an expired entry leaving is no eviction
        // lru-cache's dispose unlists it; if the two were out of step, unlist it here, or this loops.
        if (!this.lru.delete(full) && !this.indexes.unlist(held)) keys.delete(full);
        if (live) this.evicted(held.key);
        return true;
      }
      held.used = false;
      keys.delete(full);
      keys.set(full, held);
    }
  }
}
