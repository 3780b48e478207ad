import { LRUCache } from 'lru-cache';
import type { Envelope } from '../../envelope/envelope.js';
import { systemClock, type Clock } from '../../utils/clock.js';

/** The bounds and time source of the memory store's lru-cache, as resolved from its options. */
export interface EntryLruOptions {
  readonly maxEntries: number | undefined;
  /** Given whenever `maxEntries` is not (resolveMemoryStoreOptions refuses an unbounded store). */
  readonly maxBytes: number | undefined;
  readonly clock: Clock | undefined;
  /** Told of every entry that leaves, and why (lru-cache's `dispose`). */
  readonly dispose: (full: string, reason: LRUCache.DisposeReason) => void;
}

/**
 * The lru-cache that holds the memory store's envelopes by full storage key. It never serves a
 * stale entry (`allowStale: false`), and a read does not renew its TTL.
 */
export function createEntryLru({ maxEntries, maxBytes, clock: givenClock, dispose }: EntryLruOptions): LRUCache<string, Envelope> {
  // The system clock passed explicitly (as factories do) is no injection: keep lru-cache's own.
  const clock = givenClock === systemClock ? undefined : givenClock;
  // Without `max`, lru-cache bounds by `maxSize` alone and allocates its arrays as entries
  // come, instead of typed arrays for `max` slots up front.
  const bounds: { max: number; maxSize?: number } | { maxSize: number } =
    maxEntries !== undefined
      ? { max: maxEntries, ...(maxBytes !== undefined ? { maxSize: maxBytes } : {}) }
      : { maxSize: maxBytes as number }; // no maxEntries means maxBytes was given (see resolveMemoryStoreOptions)
  return new LRUCache<string, Envelope>({
    ...bounds,
    // With an injected clock, TTLs follow it, and every staleness check reads it (no 1 ms
    // caching, which a manual clock would defeat). Without one, lru-cache keeps its monotonic
    // performance.now() and its cheap debounced reads.
    ...(clock !== undefined ? { perf: { now: () => clock.now() }, ttlResolution: 0 } : {}),
    allowStale: false,
    updateAgeOnGet: false,
    dispose: (_env, full, reason) => dispose(full, reason),
  });
}
