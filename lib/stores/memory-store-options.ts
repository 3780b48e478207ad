import { CacheConfigError } from '../errors/cache.errors.js';
import type { Clock } from '../utils/clock.js';
import { parseByteSize } from '../utils/byte-size.js';
import { durationMs, expectOptionsObject, kindOf, rejectUnknownKeys } from '../utils/option-checks.js';
import type { StoreObserver } from './cache-store.interface.js';
import type { MemoryStoreBounds, MemoryStoreOptions } from './memory-store-options.interface.js';

/**
 * Defaults of `MemoryStoreOptions`, stated once. They live beside the store (not in options/)
 * because `new MemoryStore()` is public and must check its options itself, and a store cannot
 * import the layer above it.
 */
export const MEMORY_STORE_DEFAULTS = Object.freeze({
  /** Entries, when `maxBytes` is not given either. */
  maxEntries: 4096,
  /** Bytes (64 MiB, as estimated), when not given: the byte bound always applies. */
  maxBytes: 64 * 1024 * 1024,
  /** The fraction of a full store (entries and bytes) beyond which a tenant evicts its own entries; 1 = no share. */
  maxTenantShare: 0.25,
  /** Milliseconds between sweeps of expired entries. */
  sweepInterval: 60_000,
});

const MEMORY_STORE_KEYS: readonly (keyof MemoryStoreOptions)[] = ['maxEntries', 'maxBytes', 'maxTenantShare', 'maxEntriesPerTenant', 'sweepInterval', 'clock', 'observer'];

/** Names from lru-cache and cache-manager's memory store, and what to write here instead. */
const MEMORY_STORE_HINTS: Readonly<Record<string, string>> = {
  max: 'use maxEntries (the most entries held, all tenants together)',
  maxSize: 'use maxBytes (the most bytes held, estimated from the values)',
  maxBytesPerTenant: 'use maxTenantShare (the fraction of maxBytes, and of maxEntries, one tenant keeps when the store is full), e.g. 0.25',
  tenantShare: 'use maxTenantShare (a fraction of the store, e.g. 0.25)',
  ttl: "TTLs are not a store option: set defaultTtl on the cache (milliseconds or a duration string such as '5m'), or ttl per write",
};

/** `MemoryStoreOptions` checked, with the defaults applied. */
export interface ResolvedMemoryStoreOptions {
  readonly bounds: MemoryStoreBounds;
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
  // The byte bound always applies (given, or the default). The entry bound applies when given,
  // or by default unless `maxBytes` alone is given (then nothing is preallocated). `null`
  // counts as not given for `maxEntries`.
  const maxEntriesGiven = given.maxEntries ?? undefined;
  if (maxEntriesGiven !== undefined) bound(maxEntriesGiven, `${prefix}maxEntries`, 'set it to the most entries this process may hold, e.g. 10_000; there is no unbounded memory cache');
  if (given.maxEntriesPerTenant !== undefined) bound(given.maxEntriesPerTenant, `${prefix}maxEntriesPerTenant`, 'set the most entries one tenant may hold, or omit it');
  const share = given.maxTenantShare ?? MEMORY_STORE_DEFAULTS.maxTenantShare;
  if (given.maxTenantShare !== undefined) fraction(given.maxTenantShare, `${prefix}maxTenantShare`);
  if (given.clock !== undefined && typeof given.clock?.now !== 'function') {
    throw new CacheConfigError(`${prefix}clock`, 'it has no now() method', 'pass an object with now(): number (ms since the epoch), or omit it');
  }
  if (given.observer !== undefined && (typeof given.observer !== 'object' || given.observer === null)) {
    throw new CacheConfigError(`${prefix}observer`, `expected an object, got ${kindOf(given.observer)}`, 'pass { evicted(key) {}, decodeFailed(key, error) {} }, or omit it');
  }
  const maxEntries = maxEntriesGiven ?? (given.maxBytes === undefined ? MEMORY_STORE_DEFAULTS.maxEntries : undefined);
  const maxBytes = given.maxBytes === undefined ? MEMORY_STORE_DEFAULTS.maxBytes : parseByteSize(given.maxBytes, `${prefix}maxBytes`);
  return {
    bounds: Object.freeze({
      maxEntries,
      maxBytes,
      maxEntriesPerTenant: given.maxEntriesPerTenant,
      // An explicit maxEntriesPerTenant replaces the entry part of the share.
      tenantShareEntries: share < 1 && given.maxEntriesPerTenant === undefined && maxEntries !== undefined ? shareOf(maxEntries, share) : undefined,
      tenantShareBytes: share < 1 ? shareOf(maxBytes, share) : undefined,
    }),
    sweepMs: durationMs(given.sweepInterval, MEMORY_STORE_DEFAULTS.sweepInterval, `${prefix}sweepInterval`),
    clock: given.clock,
    observer: given.observer,
  };
}

/** `share` of `total`, at least 1. */
function shareOf(total: number, share: number): number {
  return Math.max(1, Math.floor(total * share));
}

function fraction(value: unknown, option: string): void {
  if (typeof value === 'number' && value > 0 && value <= 1) return;
  const percent = typeof value === 'number' && Number.isInteger(value) && value > 1 && value <= 100;
  throw new CacheConfigError(
    option,
    `expected a fraction of the store, 0 < share <= 1, got ${typeof value === 'number' ? String(value) : kindOf(value)}`,
    percent ? `write a percentage as a fraction: ${value / 100} for ${value}%` : 'set the part of the store one tenant keeps when it is full, e.g. 0.25 (a quarter); 1 turns the share off',
  );
}

function bound(value: unknown, option: string, fix: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new CacheConfigError(option, `expected a positive integer, got ${typeof value === 'number' ? String(value) : kindOf(value)}`, fix);
  }
}
