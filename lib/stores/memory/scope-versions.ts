/**
 * The memory store's invalidation records, the same model as Redis's (redis/redis-entry.lua.ts)
 * with one clock for the whole store: every invalidation takes the next value of the store's
 * counter as its version, every entry records the counter value it is based on (its
 * computation's basis, or the counter at its write), and an entry is readable while its scope's
 * epoch and the version of each of its tags are <= its basis. A basis taken before an
 * invalidation is below its version; one taken after is at least it.
 */

/** One tag of one scope: its last invalidation, and how many held entries carry it. */
export interface TagVersion {
  /** The tag's full storage key (`kind: 'tag'`). */
  readonly key: string;
  /** The store's counter at the tag's last invalidation; 0 = never invalidated. */
  version: number;
  /** Held entries written with this tag (they point at this record, so it stays while they do). */
  count: number;
  /** When it was last invalidated (store clock, ms): the record is kept at least the computation bound after. */
  invalidatedAt: number;
  /** In the store's expiry queue (a record to drop once nothing needs it). */
  queued: boolean;
}

/** A scope's side of the check: what every entry of the scope compares its basis with. */
export interface ScopeVersions {
  /** The counter at the scope's last clear; 0 = never cleared. */
  epoch: number;
  /** The latest version the scope issued (its epoch or a tag's): an entry based at or after it needs no other check. */
  changed: number;
  /** When it was last cleared (store clock, ms). */
  clearedAt: number;
}
