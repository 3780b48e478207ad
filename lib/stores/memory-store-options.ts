import { CacheConfigError } from '../errors/cache.errors.js';
import type { Clock } from '../utils/clock.js';
import { durationMs, expectOptionsObject, kindOf, rejectUnknownKeys } from '../utils/option-checks.js';
import type { StoreObserver } from './cache-store.interface.js';
import type { MemoryStoreOptions } from './memory-store-options.interface.js';

/**
 * Defaults of `MemoryStoreOptions`, stated once. They live beside the store (not in options/)
 * because `new MemoryStore()` is public and must check its options itself, and a store cannot
 * import the layer above it.
 */
export const MEMORY_STORE_DEFAULTS = Object.freeze({
  /** Entries, when `maxBytes` is not given either. */
  maxEntries: 4096,
  /** Milliseconds between sweeps of expired entries. */
  sweepInterval: 60_000,
});

const MEMORY_STORE_KEYS: readonly (keyof MemoryStoreOptions)[] = ['maxEntries', 'maxBytes', 'maxEntriesPerTenant', 'sweepInterval', 'clock', 'observer'];

/** Names from lru-cache and cache-manager's memory store, and what to write here instead. */
const MEMORY_STORE_HINTS: Readonly<Record<string, string>> = {
  max: 'use maxEntries (the most entries held, all tenants together)',
  maxSize: 'use maxBytes (the most bytes held, estimated from the values)',
  ttl: "TTLs are not a store option: set defaultTtl on the cache (milliseconds or a duration string such as '5m'), or ttl per write",
};

/** `MemoryStoreOptions` checked, with the defaults applied. */
export interface ResolvedMemoryStoreOptions {
  /** `undefined` only when `maxBytes` alone bounds the store. */
  readonly maxEntries: number | undefined;
  readonly maxBytes: number | undefined;
  readonly maxEntriesPerTenant: number | undefined;
  readonly sweepMs: number;
  readonly clock: Clock | undefined;
  readonly observer: StoreObserver | undefined;
}

/**
 * Checks memory store options (unknown keys, types, bounds); every error is a `CacheConfigError`
 * naming `prefix` + the option (`store.maxEntries` when called for the cache's `store`).
 */
export function resolveMemoryStoreOptions(options: MemoryStoreOptions | undefined, prefix = ''): ResolvedMemoryStoreOptions {
  const given: MemoryStoreOptions = options ?? {};
  expectOptionsObject(given as unknown, prefix === '' ? 'options' : prefix.slice(0, -1), "pass { maxEntries: 10_000 } or omit it");
  rejectUnknownKeys(given, MEMORY_STORE_KEYS, prefix, MEMORY_STORE_HINTS);
  // At least one bound, always: `maxEntries` if given; else `maxBytes` alone if given (then
  // nothing is preallocated); else the default entry bound. `null` counts as not given.
  const maxEntriesGiven = given.maxEntries ?? undefined;
  if (maxEntriesGiven !== undefined) bound(maxEntriesGiven, `${prefix}maxEntries`, 'set it to the most entries this process may hold, e.g. 10_000; there is no unbounded memory cache');
  if (given.maxBytes !== undefined) bound(given.maxBytes, `${prefix}maxBytes`, 'set a byte budget such as 64 * 1024 * 1024, or omit it');
  if (given.maxEntriesPerTenant !== undefined) bound(given.maxEntriesPerTenant, `${prefix}maxEntriesPerTenant`, 'set the most entries one tenant may hold, or omit it');
  if (given.clock !== undefined && typeof given.clock?.now !== 'function') {
    throw new CacheConfigError(`${prefix}clock`, 'it has no now() method', 'pass an object with now(): number (ms since the epoch), or omit it');
  }
  if (given.observer !== undefined && (typeof given.observer !== 'object' || given.observer === null)) {
    throw new CacheConfigError(`${prefix}observer`, `expected an object, got ${kindOf(given.observer)}`, 'pass { evicted(key) {}, decodeFailed(key, error) {} }, or omit it');
  }
  return {
    maxEntries: maxEntriesGiven ?? (given.maxBytes === undefined ? MEMORY_STORE_DEFAULTS.maxEntries : undefined),
    maxBytes: given.maxBytes,
    maxEntriesPerTenant: given.maxEntriesPerTenant,
    sweepMs: durationMs(given.sweepInterval, MEMORY_STORE_DEFAULTS.sweepInterval, `${prefix}sweepInterval`),
    clock: given.clock,
    observer: given.observer,
  };
}

function bound(value: unknown, option: string, fix: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new CacheConfigError(option, `expected a positive integer, got ${typeof value === 'number' ? String(value) : kindOf(value)}`, fix);
  }
}
