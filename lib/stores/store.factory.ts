import { randomBytes } from 'node:crypto';
import { CacheConfigError } from '../errors/cache.errors.js';
import type { Clock } from '../utils/clock.js';
import { connectionBurst, consoleLogger, ErrorReporter } from '../utils/error-reporter.js';
import type { CacheStore, StoreObserver } from './cache-store.interface.js';
import { CircuitBreakerStore, type CircuitBreakerOptions, type CircuitState } from './circuit-breaker.store.js';
import { MemoryStore } from './memory.store.js';
import type { MemoryStoreConfig, RedisStoreConfig, StoreConfig, TieredStoreConfig } from './store-config.interface.js';
import { resolveTieredStoreOptions } from './tiered-store-options.js';

/** True for a `CacheStore` instance (rather than a config object). */
export function isCacheStore(value: unknown): value is CacheStore {
  return typeof value === 'object' && value !== null && typeof (value as CacheStore).get === 'function' && typeof (value as CacheStore).getOrSet === 'function';
}

/** What a cache hands to every store it assembles: the shared one and each dedicated tenant store. */
export interface StoreAssembly {
  /** The cache's clock: entries' expiresAt are computed with it, so stores must follow it too. */
  readonly clock: Clock;
  /** The cache's own observer (evictions, decode failures); a config's observer is called alongside. */
  readonly observer: StoreObserver;
  /** The cache's one reporter: a store logs through it, in the same burst windows. */
  readonly reporter: ErrorReporter;
  /** Around remote stores, or `false`. */
  readonly circuitBreaker: Required<CircuitBreakerOptions> | false;
  /** Told about every circuit transition (metrics). */
  readonly onCircuitChange?: (state: CircuitState, kind: string) => void;
}

/**
 * The one assembler of stores: builds a store from its config (the Redis and tiered stores
 * imported lazily, so an app on the memory store never loads ioredis, an optional peer) or takes
 * an instance, then wraps a remote one in the circuit breaker (a tiered store's L2, not its L1).
 * `which` names the store in log lines ("the", "a dedicated tenant"). The config must have been
 * checked (`resolveStoreOption`).
 */
export async function assembleStore(source: CacheStore | StoreConfig, assembly: StoreAssembly, which = 'the'): Promise<CacheStore> {
  if (isCacheStore(source) || source.type === 'memory') return assembleStoreSync(source, assembly, which);
  if (source.type === 'tiered') return buildTieredStore(source, assembly, which);
  return withCircuitBreaker(await buildRedisStore(source, assembly), assembly, which);
}

/** `assembleStore` for what can be built synchronously: an instance or a memory config. */
export function assembleStoreSync(source: CacheStore | StoreConfig, assembly: StoreAssembly, which = 'the'): CacheStore {
  if (isCacheStore(source)) {
    // An instance built without a logger of its own logs through the cache's (so `logger: false` silences it).
    source.adoptReporter?.(assembly.reporter);
    return withCircuitBreaker(source, assembly, which);
  }
  if (source.type === 'memory') return buildMemoryStore(source, assembly);
  throw new CacheConfigError('store', `a '${String(source.type)}' store is created asynchronously`, 'use `await CacheManager.create(options)` (CacheModule does this for you)');
}

function buildMemoryStore(config: MemoryStoreConfig, assembly: StoreAssembly): MemoryStore {
  const { type: _type, ...options } = config;
  // The cache's clock wins over a config's (see StoreAssembly.clock).
  return new MemoryStore({ ...options, clock: assembly.clock, observer: combineObservers(assembly.observer, options.observer) });
}

async function buildRedisStore(config: RedisStoreConfig, assembly: StoreAssembly, internals: import('./redis.store.js').RedisStoreInternals = {}): Promise<CacheStore> {
  let redisModule: typeof import('./redis.store.js');
  try {
    redisModule = await import('./redis.store.js');
  } catch (err) {
    throw new CacheConfigError('store.type', "'redis' needs the ioredis package, which could not be loaded", 'npm install ioredis', { cause: err });
  }
  const { type: _type, ...options } = config;
  // A config naming its own logger or reporter keeps it; otherwise the store logs through the
  // cache's reporter (so `logger: false` on the cache silences the store too).
  const ownLogging = options.logger !== undefined || options.reporter !== undefined;
  return new redisModule.RedisStore({ ...options, ...(ownLogging ? {} : { reporter: assembly.reporter }), observer: combineObservers(assembly.observer, options.observer) }, internals);
}

/**
 * L1 (a memory store, rebuilt at every drop, on the cache's clock and observer) in front of L2
 * (the Redis store, behind its own circuit breaker), with the bus. Resolves once the bus is
 * subscribed, or after L2's `commandTimeout`: an instance then starts coherent, and never waits
 * long for a Redis that is down (its L1 lives by `maxStaleness` until the bus is up).
 */
async function buildTieredStore(config: TieredStoreConfig, assembly: StoreAssembly, which: string): Promise<CacheStore> {
  let setup: typeof import('./tiered/tiered-store.setup.js');
  try {
    setup = await import('./tiered/tiered-store.setup.js');
  } catch (err) {
    throw new CacheConfigError('store.type', "'tiered' needs the ioredis package, which could not be loaded", 'npm install ioredis', { cause: err });
  }
  const { type: _type, ...options } = config;
  const resolved = resolveTieredStoreOptions(options);
  // L2's scripts publish each change on the bus, atomically with it, naming this instance.
  const origin = randomBytes(9).toString('base64url');
  const inner = await buildRedisStore({ type: 'redis', ...resolved.l2 } as RedisStoreConfig, assembly, { bus: { origin } });
  const l2 = withCircuitBreaker(inner, assembly, which);
  const l2Logs = resolved.l2Resolved;
  const ownLogging = l2Logs.logger !== undefined || l2Logs.reporter !== undefined;
  const reporter = l2Logs.reporter ?? (ownLogging ? new ErrorReporter(l2Logs.logger === false ? undefined : (l2Logs.logger ?? consoleLogger)) : assembly.reporter);
  const l1: MemoryStoreConfig = { type: 'memory', ...resolved.l1 };
  let store: import('./tiered.store.js').TieredStore;
  try {
    store = setup.setUpTieredStore(resolved, { makeL1: () => buildMemoryStore(l1, assembly), l2, l2Inner: inner, origin, clock: assembly.clock, reporter, ownLogging });
  } catch (err) {
    await l2.close();
    throw err;
  }
  await store.whenBusUp(l2Logs.commandTimeout);
  return store;
}

/**
 * Wraps a remote store in a circuit breaker (unless disabled or already wrapped): while it keeps
 * failing, calls fail fast (served by the handler at once) instead of each waiting for its own
 * timeout. Its opening is logged in the burst of the store's connection (`connectionBurst`), so
 * an outage is one line however it shows; its probes and closing are only counted (metrics and
 * the `circuit` diagnostics channel), never a line each.
 */
function withCircuitBreaker(store: CacheStore, assembly: StoreAssembly, which: string): CacheStore {
  const options = assembly.circuitBreaker;
  // A tiered store guards its L2 itself: around it all, a breaker would hide L1's synchronous hits.
  if (store.kind === 'memory' || store.kind === 'tiered' || options === false || store instanceof CircuitBreakerStore) return store;
  const kind = store.kind;
  return new CircuitBreakerStore(store, options, assembly.clock, (state, where, from) => {
    assembly.onCircuitChange?.(state, kind);
    // Only the outage's start: a failed probe (half-open to open) is not news.
    if (state !== 'open' || from !== 'closed') return;
    assembly.reporter.report(connectionBurst(where), `Circuit to ${which} ${kind} store at ${where} opened after repeated failures; serving without the cache until a probe succeeds.`);
  });
}

/** Calls both observers; a throwing user observer never breaks the store's bookkeeping. */
export function combineObservers(ours: StoreObserver, theirs: StoreObserver | undefined): StoreObserver {
  if (theirs === undefined) return ours;
  return {
    evicted: (key) => {
      ours.evicted?.(key);
      try {
        theirs.evicted?.(key);
      } catch {
        // An observer must not throw; ignore it if it does.
      }
    },
    decodeFailed: (key, error) => {
      ours.decodeFailed?.(key, error);
      try {
        theirs.decodeFailed?.(key, error);
      } catch {
        // As above.
      }
    },
  };
}
