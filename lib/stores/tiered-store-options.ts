import { CacheConfigError } from '../errors/cache.errors.js';
import { durationMs, expectOptionsObject, oneOf, rejectUnknownKeys } from '../utils/option-checks.js';
import type { MemoryStoreOptions } from './memory-store-options.interface.js';
import { resolveMemoryStoreOptions } from './memory-store-options.js';
import type { RedisStoreOptions } from './redis-store-options.interface.js';
import { resolveRedisStoreOptions, type ResolvedRedisStoreOptions } from './redis-store-options.js';
import type { TieredStoreOptions } from './tiered-store-options.interface.js';

/**
 * Defaults of `TieredStoreOptions`, stated once (`l1` takes `MEMORY_STORE_DEFAULTS`, `l2`
 * `REDIS_STORE_DEFAULTS`). Beside the store for the reason given at `MEMORY_STORE_DEFAULTS`; no
 * runtime import of ioredis here.
 */
export const TIERED_STORE_DEFAULTS = Object.freeze({
  l2Writes: 'await' as const,
  bus: Object.freeze({
    /** Milliseconds. */
    maxStaleness: 1_000,
  }),
});

/** Below this the heartbeat (a quarter of it) would be too tight for a loaded host. */
export const MIN_BUS_STALENESS_MS = 100;

const TIERED_KEYS: readonly (keyof TieredStoreOptions)[] = ['l1', 'l2', 'l2Writes', 'bus'];
const BUS_KEYS: readonly string[] = Object.keys(TIERED_STORE_DEFAULTS.bus);

const L2_HINT = "Redis options go under l2, as for { type: 'redis' }: store: { type: 'tiered', l2: { url: 'redis://localhost:6379' } }";
const L1_HINT = "memory options go under l1, as for { type: 'memory' }: store: { type: 'tiered', l1: { maxEntries: 10_000 }, l2: { url } }";
/** Names a user may carry over from a memory or Redis config, or from other tiered caches. */
const TIERED_HINTS: Readonly<Record<string, string>> = {
  url: L2_HINT,
  options: L2_HINT,
  cluster: L2_HINT,
  client: L2_HINT,
  commandTimeout: L2_HINT,
  codec: L2_HINT,
  redis: L2_HINT,
  remote: L2_HINT,
  maxEntries: L1_HINT,
  maxBytes: L1_HINT,
  maxTenantShare: L1_HINT,
  memory: L1_HINT,
  local: L1_HINT,
  maxStaleness: 'it is a bus option: bus: { maxStaleness: 1000 }',
};

/** `TieredStoreOptions` checked, with the defaults applied. */
export interface ResolvedTieredStoreOptions {
  readonly l1: MemoryStoreOptions;
  readonly l2: RedisStoreOptions;
  /** `l2` resolved: its connection and timeouts, which the bus's connections follow. */
  readonly l2Resolved: ResolvedRedisStoreOptions;
  readonly l2Writes: 'await' | 'background';
  readonly maxStalenessMs: number;
}

/**
 * Checks tiered store options, `l1` and `l2` at every nesting level with their own resolvers;
 * every error is a `CacheConfigError` naming `prefix` + the option (`store.l2.commandTimeout`).
 */
export function resolveTieredStoreOptions(options: TieredStoreOptions, prefix = ''): ResolvedTieredStoreOptions {
  expectOptionsObject(options as unknown, prefix === '' ? 'options' : prefix.slice(0, -1), "pass { l2: { url: 'redis://localhost:6379' } }");
  rejectUnknownKeys(options, TIERED_KEYS, prefix, TIERED_HINTS);
  const l1 = (options.l1 ?? {}) as MemoryStoreOptions;
  if (options.l1 !== undefined) expectOptionsObject(options.l1, `${prefix}l1`, 'pass memory store options such as { maxEntries: 10_000 }, or omit it');
  noType(l1, `${prefix}l1`, 'l1 is always a memory store: remove type and pass its options, e.g. l1: { maxEntries: 10_000 }');
  resolveMemoryStoreOptions(l1, `${prefix}l1.`);
  if (options.l2 === undefined) throw new CacheConfigError(`${prefix}l2`, 'missing', "add the Redis store's options, e.g. l2: { url: 'redis://localhost:6379' }");
  expectOptionsObject(options.l2, `${prefix}l2`, "pass Redis store options such as { url: 'redis://localhost:6379' }");
  noType(options.l2, `${prefix}l2`, "l2 is always a Redis store: remove type and pass its options, e.g. l2: { url: 'redis://localhost:6379' }");
  const l2Resolved = resolveRedisStoreOptions(options.l2, `${prefix}l2.`);
  const l2Writes = oneOf(options.l2Writes, ['await', 'background'], TIERED_STORE_DEFAULTS.l2Writes, `${prefix}l2Writes`, "use 'await' (a computation's write resolves once Redis took it, the default) or 'background' (once L1 holds it)");
  const bus = options.bus ?? {};
  expectOptionsObject(bus, `${prefix}bus`, "pass { maxStaleness: '1s' }, or omit it");
  rejectUnknownKeys(bus, BUS_KEYS, `${prefix}bus.`);
  const maxStalenessMs = durationMs(bus.maxStaleness, TIERED_STORE_DEFAULTS.bus.maxStaleness, `${prefix}bus.maxStaleness`);
  if (maxStalenessMs < MIN_BUS_STALENESS_MS) {
    throw new CacheConfigError(`${prefix}bus.maxStaleness`, `${maxStalenessMs} ms is below ${MIN_BUS_STALENESS_MS} ms`, `use at least '${MIN_BUS_STALENESS_MS}ms' (the bus PINGs every quarter of it), or omit it for the default (1 s)`);
  }
  return { l1, l2: options.l2, l2Resolved, l2Writes, maxStalenessMs };
}

function noType(tier: object, path: string, fix: string): void {
  if ((tier as { type?: unknown }).type !== undefined) throw new CacheConfigError(`${path}.type`, 'not an option here', fix);
}
