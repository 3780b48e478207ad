import type { LRUCache } from 'lru-cache';
import type { HeldEntry } from './held-entry.js';
import type { StorageKey } from '../../keys/storage-key.js';
import type { MemoryStoreBounds } from '../memory-store-options.interface.js';
import type { EntryMeta, ScopeIndex } from './scope-index.interface.js';
import type { ScopeIndexes } from './scope.index.js';

/**
 * Makes room for a write so that no tenant takes more than its part of a shared store:
 * - `maxEntriesPerTenant` (hard): a scope at its quota gives up one of its own entries for a new
 *   key, full store or not;
 * - `maxTenantShare` (soft), only when the store is full: room comes first from the writer's own
 *   entries while the write would take it above its share, then from scopes above their share;
 *   whatever is still missing, lru-cache takes from the least recently used entries of the whole
 *   store, which then belong to scopes within their share.
 *
 * A scope gives up its entries retired by a clear first, then the first key of its `keys`: its
 * least recently written entry, or its least recently used one when reads are tracked (`maxEntriesPerTenant`, which costs every hit a Map
 * reorder). A writer alone in the store leaves the eviction to lru-cache, which then evicts its
 * least recently used entry exactly: a single-tenant store stays plain LRU, and a hit pays
 * nothing for the share.
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
   * write must not be stored: it would leave its tenant above its share of a full store with
   * nothing of its own left to evict.
   */
  makeRoom(key: StorageKey, size: number, previous: EntryMeta | undefined): boolean {
    const full = key.full;
    const { maxEntries, maxBytes, maxEntriesPerTenant: hard, tenantShareEntries, tenantShareBytes } = this.bounds;
    if (hard !== undefined && previous === undefined) {
      for (let index = this.indexes.find(key.scope); index !== undefined && index.held >= hard; index = this.indexes.find(key.scope)) {
        if (!this.evictFirst(index, full)) break;
      }
    }
    if (tenantShareEntries === undefined && tenantShareBytes === undefined) return true;
    const previousSize = previous?.size ?? 0;
    for (;;) {
      const needsEntry = maxEntries !== undefined && previous === undefined && this.lru.size >= maxEntries;
      if (!needsEntry && this.lru.calculatedSize - previousSize + size <= maxBytes) return true;
      const own = this.indexes.find(key.scope);
      if (this.indexes.aboveShare((own?.held ?? 0) + (previous === undefined ? 1 : 0), (own?.bytes ?? 0) - previousSize + size)) {
        // Alone in the store, whatever lru-cache evicts is the writer's own: its exact LRU.
        if (own !== undefined && this.indexes.scopeCount === 1) return true;
        if (own !== undefined && this.evictFirst(own, full)) continue;
        return false;
      }
      const other = this.firstOverShare(own);
      if (other === undefined) return true; // lru-cache evicts the least recently used entry itself
      this.evictFirst(other, full);
    }
  }

  /** A scope above its share other than `except`, the one that went above it first. */
  private firstOverShare(except: ScopeIndex | undefined): ScopeIndex | undefined {
    for (const index of this.indexes.overShare) if (index !== except) return index;
    return undefined;
  }

  /**
   * Evicts the first entry of `index` other than `keep` (the key being written): a retired one
   * (of a clear, unreadable already) before any live one; false if it holds no other.
   */
  private evictFirst(index: ScopeIndex, keep: string): boolean {
    for (const map of [...index.retired, index.keys]) {
      for (const [victim, meta] of map) {
        if (victim === keep) continue;
        // An expired entry leaving is no eviction, nor is a retired one (it was cleared).
        const live = map === index.keys && this.lru.peek(victim) !== undefined;
        // lru-cache's dispose unlists it; if the two were out of step, unlist it here, or callers loop.
        if (!this.lru.delete(victim) && this.indexes.unlist(victim) === undefined) map.delete(victim);
        if (live) this.evicted(meta.key);
        return true;
      }
    }
    return false;
  }
}
