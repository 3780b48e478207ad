import { MAX_COMPUTATION_MS } from '../computation-bound.js';
import type { ScopeIndex } from './scope-index.interface.js';
import type { TagVersion } from './scope-versions.js';

/** A record to look at again once the computation bound has passed since `at`. */
interface Expiring {
  readonly at: number;
  readonly index: ScopeIndex;
  readonly tag: TagVersion | undefined;
}

/**
 * Records the memory store keeps only for the computation bound after an invalidation (a tag
 * record no entry carries, an index kept for a recent clear), in the order they were queued,
 * which is the order of their time (the bound is the same for all). Each is queued once
 * (`queued` flags); the store looks at the ones whose time has come and drops what nothing
 * needs any more.
 */
export class RecordExpiry {
  private queue: Expiring[] = [];
  private head = 0;

  /** Looks at `tag` again once the bound has passed since its last invalidation. */
  queueTag(index: ScopeIndex, tag: TagVersion): void {
    if (tag.queued) return;
    tag.queued = true;
    this.queue.push({ at: tag.invalidatedAt + MAX_COMPUTATION_MS, index, tag });
  }

  /** Looks at `index` again once the bound has passed since its last clear. */
  queueScope(index: ScopeIndex): void {
    if (index.queued) return;
    index.queued = true;
    this.queue.push({ at: index.clearedAt + MAX_COMPUTATION_MS, index, tag: undefined });
  }

  /** Calls `visit` for every record whose time has come (`now`), oldest first, no longer queued. */
  due(now: number, visit: (index: ScopeIndex, tag: TagVersion | undefined) => void): void {
    const queue = this.queue;
    while (this.head < queue.length && queue[this.head]!.at <= now) {
      const { index, tag } = queue[this.head++]!;
      if (tag !== undefined) tag.queued = false;
      else index.queued = false;
      visit(index, tag);
    }
    // Compact now and then, so the array does not keep what was consumed.
    if (this.head > 1024 && this.head * 2 > queue.length) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.queue = [];
    this.head = 0;
  }
}
