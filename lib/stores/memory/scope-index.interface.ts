import type { StorageKey } from '../../keys/storage-key.js';
import type { ScopeVersions, TagVersion } from './scope-versions.js';

/**
 * What the indexes need about one held key when it leaves, kept in its scope's index. lru-cache
 * holds the entry itself (`HeldEntry`), not a wrapper: a hit then returns the object lru-cache
 * hands back without touching one more object (on a cache too big for the CPU caches, that
 * extra dependent load cost ~25% of a `getSync` of an HTTP response in the bench's micro case).
 */
export interface EntryMeta {
  /** Updated in place when the key is written again (no new object). */
  key: StorageKey;
  /** The records of the tags this entry carries (deduplicated), or undefined. */
  tagVersions: readonly TagVersion[] | undefined;
  /** Estimated bytes (memory-entry.size.ts), as lru-cache counts it against `maxBytes`. */
  size: number;
  /** The map of its scope's index that lists it: `keys`, or a retired one after a clear. */
  home: Map<string, EntryMeta>;
}

/**
 * The indexes of one scope, and its invalidation records. `keys` lists the entries written since
 * the scope's last clear, in write order (a rewrite moves its key to the end), or in recency
 * order while reads are tracked (`maxEntriesPerTenant`): either way its first key is the one the
 * scope gives up first. A clear retires `keys` whole (O(1)): the retired entries are unreadable
 * and reclaimed in bounded batches, and given up before any live one.
 */
export interface ScopeIndex extends ScopeVersions {
  /** The scope's namespace and id (`KeyScope`), where the index is found. */
  readonly namespace: string;
  readonly id: string;
  /** Entry key (full) → what its removal must undo, for entries written since the last clear. */
  keys: Map<string, EntryMeta>;
  /** The `keys` of earlier clears, oldest first, still holding entries to reclaim. */
  readonly retired: Map<string, EntryMeta>[];
  /** Entries held: `keys` and the retired maps. */
  held: number;
  /** Tag key (full) → its record, while an entry carries it or an invalidation is recent. */
  readonly tags: Map<string, TagVersion>;
  /** Sum of the sizes of the entries held. */
  bytes: number;
  /** Above its share (entries or bytes): listed in `ScopeIndexes.overShare`. */
  overShare: boolean;
  /** In the expiry queue (kept empty for a recent clear). */
  queued: boolean;
}
