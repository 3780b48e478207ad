import type { LRUCache } from 'lru-cache';
import type { HeldEntry } from './held-entry.js';
import type { ScopeIndex } from './scope-index.interface.js';
import type { ScopeIndexes } from './scope.index.js';

/** Retired entries (of cleared scopes) deleted per event-loop turn: bounded work, bytes freed soon. */
export const RECLAIM_BATCH = 1_000;

/**
 * Deletes the entries a clear retired (they are unreadable already), so their bytes and their
 * tenant's share free up: `RECLAIM_BATCH` per event-loop turn in the background, everything at
 * a sweep, one scope at once for a purge. Deleting goes through lru-cache, whose dispose unlists.
 */
export class RetiredReclaimer {
  private scheduled = false;

  constructor(
    private readonly indexes: ScopeIndexes,
    private readonly lru: LRUCache<string, HeldEntry>,
    private readonly closed: () => boolean,
  ) {}

  /** Reclaims in the background, a batch per turn (setImmediate), until nothing is retired. */
  schedule(): void {
    if (this.scheduled || !this.indexes.hasRetired) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.closed()) return;
      this.reclaim(RECLAIM_BATCH);
      this.schedule();
    });
  }

  /** Deletes up to `limit` retired entries (of `only`, or of any scope); resolves how many were still held. */
  reclaim(limit: number, only?: ScopeIndex): number {
    let deleted = 0;
    // A key lru-cache no longer holds (out of step) is unlisted here, or the loops would not end.
    for (const full of this.indexes.takeRetired(limit, only)) {
      if (this.lru.delete(full)) deleted++;
      else this.indexes.unlist(full);
    }
    return deleted;
  }

  /** Deletes every retired entry (of `only`, or of every scope) now; resolves how many were still held. */
  reclaimAll(only?: ScopeIndex): number {
    let deleted = 0;
    while (only === undefined ? this.indexes.hasRetired : only.retired.length > 0) deleted += this.reclaim(RECLAIM_BATCH, only);
    return deleted;
  }
}
