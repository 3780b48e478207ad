import type { LRUCache } from 'lru-cache';
import type { Envelope } from '../../envelope/envelope.js';
import type { KeyScope, StorageKey } from '../../keys/storage-key.js';
import type { EntryMeta, ScopeIndexes } from './scope.index.js';

/**
 * `maxEntriesPerTenant`: a scope at its quota makes room for a new key by evicting its own least
 * recently used entry, so one busy tenant cannot push every other tenant out of a shared store.
 * The store keeps each scope's `keys` in recency order while a quota is set (`ScopeIndexes.touch`
 * on reads, `list` on writes): the first key of a scope is its least recently used.
 */
export class ScopeQuota {
  constructor(
    /** Keys per scope at most. */
    readonly limit: number,
    private readonly lru: LRUCache<string, Envelope>,
    private readonly indexes: ScopeIndexes,
    /** Called for each live entry evicted for the quota (not for one found expired). */
    private readonly evicted: (key: StorageKey) => void,
  ) {}

  /** Makes room for one more key in `scope`, by evicting that scope's own LRU entries. */
  makeRoom(scope: KeyScope): void {
    let index = this.indexes.find(scope);
    while (index !== undefined && index.keys.size >= this.limit) {
      const [victim, meta] = index.keys.entries().next().value as [string, EntryMeta];
      const live = this.lru.peek(victim); // undefined if already expired: that is no eviction
      if (!this.lru.delete(victim)) index.keys.delete(victim); // index out of step; never loop forever
      else if (live !== undefined) this.evicted(meta.key);
      index = this.indexes.find(scope);
    }
  }
}
