import { storageKey, type KeyScope, type StorageKey } from '../../keys/storage-key.js';
import type { StoreBasis } from '../cache-store.interface.js';
import { MAX_COMPUTATION_MS } from '../computation-bound.js';
import type { ScopeIndexes } from './scope.index.js';

/** A memory store's basis: its counter when the computation started, and when (store clock, ms). */
interface MemoryBasis {
  /** The clock it came from: a basis of another memory store is none here. */
  readonly owner: object;
  readonly counter: number;
  readonly at: number;
}

/**
 * The memory store's invalidation clock (memory/scope-versions.ts): one counter for the whole
 * store, so a version never repeats whatever records are dropped; the bases it hands out, and
 * which writes they refuse.
 */
export class InvalidationClock {
  /** The last version issued. */
  private counter = 0;
  /** Identifies this clock's bases. */
  private readonly owner = {};

  constructor(
    private readonly indexes: ScopeIndexes,
    /** The store's clock (ms). */
    private readonly now: () => number,
  ) {}

  /** What a write without a basis is based on: the counter now. */
  get current(): number {
    return this.counter;
  }

  /** The next version, for one invalidation of one scope. */
  next(): number {
    return ++this.counter;
  }

  basis(): StoreBasis {
    const value: MemoryBasis = { owner: this.owner, counter: this.counter, at: this.now() };
    return { store: 'memory', value };
  }

  /**
   * What a write of `key` (with `tags`) given `basis` is based on, or undefined when it must not
   * be applied: its basis is older than the computation bound, or its scope was cleared or one of
   * `tags` invalidated after it, or it is not this clock's (another store's, or a store replaced
   * since: when in doubt, do not store). Without a basis (a plain write): the counter now.
   */
  writeBasis(key: StorageKey, tags: readonly string[] | undefined, basis: StoreBasis | undefined): number | undefined {
    if (basis === undefined) return this.counter;
    const given = this.own(basis);
    if (given === undefined) return undefined;
    if (this.now() - given.at > MAX_COMPUTATION_MS || this.invalidatedSince(key.scope, tags, given.counter)) return undefined;
    return given.counter;
  }

  private own(basis: StoreBasis | undefined): MemoryBasis | undefined {
    if (basis === undefined || basis.store !== 'memory') return undefined;
    const value = basis.value as Partial<MemoryBasis> | null;
    return value !== null && typeof value === 'object' && value.owner === this.owner ? (value as MemoryBasis) : undefined;
  }

  /** Whether `scope` was cleared, or one of `tags` invalidated, after `counter`. */
  private invalidatedSince(scope: KeyScope, tags: readonly string[] | undefined, counter: number): boolean {
    const index = this.indexes.find(scope);
    if (index === undefined || index.changed <= counter) return false;
    if (index.epoch > counter) return true;
    if (tags !== undefined) for (const tag of tags) if ((index.tags.get(storageKey(scope, 'tag', tag).full)?.version ?? 0) > counter) return true;
    return false;
  }
}
