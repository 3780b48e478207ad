import { LRUCache } from 'lru-cache';
import type { HeldEntry } from './held-entry.js';
import { systemClock, type Clock } from '../../utils/clock.js';

/** The bounds and time source of the memory store's lru-cache, as resolved from its options. */
export interface EntryLruOptions {
  /** Undefined when `maxBytes` alone bounds the store. */
  readonly maxEntries: number | undefined;
  readonly maxBytes: number;
  readonly clock: Clock | undefined;
  /** Told of every entry that leaves, and why (lru-cache's `dispose`). */
  readonly dispose: (full: string, reason: LRUCache.DisposeReason) => void;
}

/**
 * The lru-cache that holds the memory store's entries by full storage key, each with the size
 * the store estimated (`set(k, v, { size })`). It never serves a stale entry (`allowStale:
 * false`), and a read does not renew its TTL.
 */
export function createEntryLru({ maxEntries, maxBytes, clock: givenClock, dispose }: EntryLruOptions): LRUCache<string, HeldEntry> {
  // The system clock passed explicitly (as factories do) is no injection: keep lru-cache's own.
  const clock = givenClock === systemClock ? undefined : givenClock;
  return new LRUCache<string, HeldEntry>({
    // Without `max`, lru-cache bounds by `maxSize` alone and allocates its arrays as entries
    // come, instead of typed arrays for `max` slots up front.
    ...(maxEntries !== undefined ? { max: maxEntries } : {}),
    maxSize: maxBytes,
    // With an injected clock, TTLs follow it, and every staleness check reads it (no 1 ms
    // caching, which a manual clock would defeat). Without one, lru-cache keeps its monotonic
    // performance.now() and its cheap debounced reads.
    ...(clock !== undefined ? { perf: { now: () => clock.now() }, ttlResolution: 0 } : {}),
    allowStale: false,
    updateAgeOnGet: false,
    dispose: (_env, full, reason) => dispose(full, reason),
  });
}
