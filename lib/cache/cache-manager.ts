import { assertTenantId, GLOBAL_SCOPE, KeyScope, type StorageKey } from '../keys/storage-key.js';
import { CacheClosedError, TenantRequiredError } from '../errors/cache.errors.js';
import type { CacheManagerOptions } from '../options/cache-options.interface.js';
import type { CacheStore, StoreHealth } from '../stores/cache-store.interface.js';
import { CircuitBreakerStore } from '../stores/circuit-breaker.store.js';
import { TieredStore } from '../stores/tiered.store.js';
import { assembleStore, assembleStoreSync, type StoreAssembly } from '../stores/store.factory.js';
import { CacheTelemetry } from '../observability/cache-telemetry.js';
import { ErrorReporter } from '../utils/error-reporter.js';
import type { SharedCacheState } from './shared-state.js';
import { MANAGER_DEFAULTS, resolveManagerOptions, type ResolvedManagerOptions } from '../options/manager-options.js';
import { ComputeEngine } from './compute.js';
import { InvalidationRetries } from './invalidation.js';
import { MetricsRecorder } from './metrics-recorder.js';
import { ScopeAccess } from './scope-access.js';
import type { CacheHealth, CacheHealthStatus, CacheStatsReport, TenantPurgeReport } from './cache-reports.interface.js';
import { TenantCache, type TenantStats } from './tenant-cache.js';
import { TenantContext } from '../tenant/tenant-context.js';
import { TenantStatsRegistry } from './tenant-stats.js';
import { TenantStorePool } from './tenant-store-pool.js';
import { GenerationalMap } from '../utils/generational-map.js';
import { ownString } from '../utils/own-string.js';

/** The default of `activeTenants`: tenants whose store access and facade are kept, per generation (see `GenerationalMap`). */
export const ACTIVE_TENANTS_KEPT = MANAGER_DEFAULTS.activeTenants;

/** What `create()`/`createSync()` make before the store, so the store's observer reports to the manager's own stats. */
interface Parts {
  readonly resolved: ResolvedManagerOptions;
  readonly stats: TenantStatsRegistry;
  readonly telemetry: CacheTelemetry;
  /** The manager's one reporter: the cache layer, the circuit breakers and the stores it builds log through it. */
  readonly reporter: ErrorReporter;
  readonly assembly: StoreAssembly;
  /** Set once the core exists: a circuit that closed lets every waiting invalidation retry run soon. */
  readonly circuitClosed: { notify: () => void };
}

export type { CacheHealth, CacheHealthStatus, CacheStatsReport, TenantPurgeReport } from './cache-reports.interface.js';

/**
 * Hands out caches bound to one tenant. A singleton: it never depends on the request, and
 * it holds no module-level state, so two managers (two apps) in one process share nothing.
 *
 * ```ts
 * const cache = await CacheManager.create({ store: { type: 'memory', maxEntries: 10_000 } });
 * const report = await cache.forTenant('acme').wrap('report:daily', build, { ttl: '1h' });
 * ```
 */
export class CacheManager {
  private readonly options: ResolvedManagerOptions;
  private readonly core: SharedCacheState;
  private readonly facades: GenerationalMap<string, TenantCache>;
  private readonly globalCache: TenantCache;
  private readonly globalAccess: ScopeAccess;
  /** Store access by tenant id, shared by the tenant's facade and the HTTP face. */
  private readonly accesses: GenerationalMap<string, ScopeAccess>;
  private closing: Promise<void> | undefined;
  /** The tenant of the running request (AsyncLocalStorage), set by the Nest integration or `runWithTenant`. */
  readonly context = new TenantContext();

  private constructor(parts: Parts, store: CacheStore) {
    this.options = parts.resolved;
    // Keyed by each tenant's kept id (`keptId`), also when a tenant moves back from the old generation.
    this.facades = new GenerationalMap(parts.resolved.activeTenants, (facade) => facade.tenantId!);
    this.accesses = new GenerationalMap(parts.resolved.activeTenants, (access) => access.scope.tenant!);
    this.core = this.makeCore(parts, store);
    this.globalAccess = this.accessFor(KeyScope.of(parts.resolved.namespace, GLOBAL_SCOPE));
    this.globalCache = new TenantCache(this.globalAccess, this.core);
  }

  /** Creates a manager with any store: a config (Redis loaded on demand) or a `CacheStore` instance. */
  static async create(options: CacheManagerOptions = {}): Promise<CacheManager> {
    const parts = CacheManager.prepare(options);
    return new CacheManager(parts, await assembleStore(parts.resolved.store, parts.assembly));
  }

  /**
   * Creates a manager at once, for stores built synchronously: a memory config (or none) or a
   * `CacheStore` instance. A `{ type: 'redis' }` config throws `CacheConfigError`: use `create()`.
   */
  static createSync(options: CacheManagerOptions = {}): CacheManager {
    const parts = CacheManager.prepare(options);
    return new CacheManager(parts, assembleStoreSync(parts.resolved.store, parts.assembly));
  }

  /** Checks every option before anything is built (a bad option never leaves a connection open). */
  private static prepare(options: CacheManagerOptions): Parts {
    const resolved = resolveManagerOptions(options);
    const stats = new TenantStatsRegistry(resolved.maxTrackedTenants);
    const telemetry = new CacheTelemetry(resolved.telemetry);
    const reporter = new ErrorReporter(resolved.logger, resolved.errorBurstMs, resolved.clock);
    const bump = (key: StorageKey, field: 'evictions' | 'errors'): void => {
      stats.lookup(key.scope.id)[field]++;
      stats.total[field]++;
      telemetry.record(field === 'evictions' ? 'eviction' : 'error', telemetry.attributesFor(key.scope), () => ({ tenant: key.scope.tenant ?? null, op: field === 'errors' ? 'decode' : 'evict' }));
    };
    const assembly: StoreAssembly = {
      clock: resolved.clock,
      observer: { evicted: (key) => bump(key, 'evictions'), decodeFailed: (key) => bump(key, 'errors') },
      reporter,
      circuitBreaker: resolved.circuitBreaker,
      onCircuitChange: (state, kind) => {
        telemetry.recordCircuit(state, kind);
        if (state === 'closed') circuitClosed.notify();
      },
    };
    const circuitClosed = { notify: (): void => undefined };
    return { resolved, stats, telemetry, reporter, assembly, circuitClosed };
  }

  private makeCore(parts: Parts, store: CacheStore): SharedCacheState {
    const { resolved: options, reporter, assembly } = parts;
    let pool: TenantStorePool | undefined;
    if (options.tenantStores !== undefined) {
      // Dedicated stores go through the same assembler as the shared one (a remote one gets its
      // own circuit breaker); the pool counts references to, and closes, the factory's instance.
      pool = new TenantStorePool({
        factory: options.tenantStores.factory,
        shared: store,
        maxOpen: options.tenantStores.maxOpen,
        idleMs: options.tenantStores.idleMs,
        retryBackoffMs: options.tenantStores.retryBackoffMs,
        createTimeoutMs: options.tenantStores.createTimeoutMs,
        clock: options.clock,
        reporter,
        wrap: (dedicated) => assembleStoreSync(dedicated, assembly, 'a dedicated tenant'),
      });
    }
    const invalidations = new InvalidationRetries(options.invalidationRetry, reporter, options.clock, options.defaultTtlMs);
    // The store is back (a probe or a health check closed its circuit): pending invalidations need not wait their backoff.
    parts.circuitClosed.notify = () => invalidations.storeRecovered();
    return {
      store,
      pool,
      clock: options.clock,
      defaultTtlMs: options.defaultTtlMs,
      defaultGraceMs: options.defaultGraceMs,
      ttlJitter: options.ttlJitter,
      random: Math.random,
      engine: new ComputeEngine(),
      metrics: new MetricsRecorder(parts.stats, parts.telemetry),
      reporter,
      invalidations,
      pending: invalidations.pending,
      isClosed: () => this.closing !== undefined,
    };
  }

  /** @internal See `internalsOf`. */
  private readonly internals: ManagerInternals = ((manager: CacheManager): ManagerInternals => ({
    get state(): SharedCacheState {
      return manager.core;
    },
    access: (tenantId) => manager.tenantAccess(tenantId),
  }))(this);

  /** The key namespace of this manager. */
  get namespace(): string {
    return this.options.namespace;
  }

  /** Default TTL in milliseconds. */
  get defaultTtlMs(): number {
    return this.options.defaultTtlMs;
  }

  /** Whether `close()` was called: every call is refused from then on. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** The shared store. */
  get store(): CacheStore {
    return this.core.store;
  }

  /**
   * The cache of one tenant. Throws `InvalidKeyError` for an id that is not a string, empty or over-long (> 256).
   * Cheap to call per request: facades are reused.
   */
  forTenant(tenantId: string): TenantCache {
    let facade = this.facades.get(tenantId);
    if (facade !== undefined) return facade;
    // From JavaScript, `undefined` would otherwise be handed the global scope's access.
    assertTenantId(tenantId);
    facade = new TenantCache(this.tenantAccess(tenantId), this.core);
    // Under the id its access keeps (its own copy, see `keptId`).
    this.facades.set(facade.tenantId!, facade);
    return facade;
  }

  /** The store access of a tenant (validated id), or of the global scope for `undefined`. */
  private tenantAccess(tenantId: string | undefined): ScopeAccess {
    if (tenantId === undefined) return this.globalAccess;
    let access = this.accesses.get(tenantId);
    if (access !== undefined) return access;
    const kept = keptId(tenantId);
    access = this.accessFor(KeyScope.of(this.options.namespace, kept));
    this.accesses.set(kept, access);
    return access;
  }

  private accessFor(scope: KeyScope): ScopeAccess {
    return new ScopeAccess(this.core, scope, this.core.metrics.forScope(scope));
  }

  /** The cache shared by all tenants (its keys can never equal any tenant's). */
  global(): TenantCache {
    return this.globalCache;
  }

  /** The cache of the current request's tenant. Throws `TenantRequiredError` outside one. */
  current(): TenantCache {
    const tenantId = this.context.get();
    if (tenantId === undefined) throw new TenantRequiredError(this.context.offReason);
    return this.forTenant(tenantId);
  }

  /**
   * The current request's tenant id, or `undefined`. Where the integration runs handlers without
   * a context (`tenantContext` off), it is always `undefined` outside `runWithTenant`; that is
   * logged (once per burst) with why and how to turn the context on.
   */
  currentTenantId(): string | undefined {
    const tenantId = this.context.get();
    if (tenantId === undefined && this.context.offReason !== undefined) this.core.reporter.report('tenant context', `currentTenantId() found no tenant. ${this.context.offReason}`);
    return tenantId;
  }

  /**
   * Offboarding: deletes every stored key of `tenantId` (entries, tag versions, locks) from the
   * store (every primary of a Cluster), in bounded batches, and says how many. Reads of the
   * tenant miss from the moment it starts, and computations of it that began before are not
   * stored: its clock and epoch stay as a tombstone for the computation bound (1 h). Unlike
   * `forTenant(id).clear()` (one operation, old entries left to expire) it costs a scan of the
   * keyspace: for removing a tenant's data, not for invalidating it. A failure rejects with a
   * `CacheError`; run it again to finish.
   */
  async purgeTenant(tenantId: string): Promise<TenantPurgeReport> {
    const access = this.tenantAccess(tenantId);
    access.assertOpen();
    const started = performance.now();
    const upTo = this.core.pending.sequence();
    const deletedKeys = await access.write('purgeTenant', undefined, (store) => store.purgeScope(access.scope));
    // Everything pending for the tenant is settled: nothing of it is left to invalidate.
    this.core.pending.resolve(access.scope.id, { clear: true }, upTo);
    return { tenant: tenantId, deletedKeys, durationMs: performance.now() - started };
  }

  /** Runs `fn` with `tenantId` as the current tenant (for jobs and tests outside a request). */
  runWithTenant<R>(tenantId: string, fn: () => R): R {
    KeyScope.of(this.options.namespace, tenantId); // validate early, with a clear error
    return this.context.run(tenantId, fn);
  }

  /**
   * The shared store's health, from the same state that decides whether calls reach it: with a
   * circuit breaker, a store that answers closes the circuit (so `'up'` means hits are served)
   * and one that does not reports the circuit open. Settles within the store's own timeout.
   */
  async health(): Promise<CacheHealth> {
    if (this.closing !== undefined) return { ok: false, status: 'down', reason: 'closed', store: { ok: false, detail: 'closed' }, pendingInvalidations: 0 };
    let store: StoreHealth;
    try {
      store = await this.core.store.health();
    } catch (err) {
      store = { ok: false, detail: (err as Error)?.message ?? 'health check failed' };
    }
    // A tiered store's circuit is its L2's (L1 has none).
    const circuit = this.core.store instanceof CircuitBreakerStore || this.core.store instanceof TieredStore ? this.core.store.circuitState : undefined;
    const status: CacheHealthStatus = !store.ok || (circuit !== undefined && circuit !== 'closed') ? 'down' : store.degraded !== undefined ? 'degraded' : 'up';
    const reason = status === 'up' ? undefined : status === 'degraded' ? store.degraded : (store.detail ?? `circuit ${circuit}`);
    return {
      ok: status === 'up',
      status,
      ...(reason === undefined ? {} : { reason }),
      store,
      ...(this.core.pool === undefined ? {} : { tenantStoresOpen: this.core.pool.size }),
      ...(circuit === undefined ? {} : { circuit }),
      pendingInvalidations: this.core.pending.count,
    };
  }

  async stats(): Promise<CacheStatsReport> {
    if (this.closing !== undefined) throw new CacheClosedError('cache manager');
    const store = this.core.store.stats();
    const tenants: TenantStats[] = [];
    const stats = this.core.metrics.stats;
    for (const { scope, counters } of stats.tracked()) {
      const dedicated = this.core.pool !== undefined && scope.tenant !== undefined && this.core.pool.has(scope.tenant);
      const pendingInvalidations = this.core.pending.forScope(scope.id)?.size ?? 0;
      tenants.push({ tenant: scope.tenant ?? null, ...counters, sizeEntries: dedicated ? undefined : this.core.store.scopeSize(scope), pendingInvalidations });
    }
    return { ...stats.total, sizeEntries: store.entries, store, tenants, otherTenants: { ...stats.other }, pendingInvalidations: this.core.pending.count };
  }

  /** Closes the tenant stores and the shared store. Idempotent; later calls reject with `CacheClosedError`. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.core.invalidations.close();
      await this.core.pool?.close();
      await this.core.store.close();
    })();
    return this.closing;
  }
}

/**
 * What the faces of this package (HTTP, methods) use of a manager: the engine and the store
 * access of a scope. Not exported from the package.
 */
export interface ManagerInternals {
  readonly state: SharedCacheState;
  /** The access of a tenant (throws `InvalidKeyError` for a bad id), or of the global scope for `undefined`. */
  access(tenantId: string | undefined): ScopeAccess;
}

export function internalsOf(manager: CacheManager): ManagerInternals {
  return (manager as unknown as { internals: ManagerInternals }).internals;
}

/** A tenant id as kept beyond its request (a map key, a scope): its own copy (see `ownString`); anything but a string is left for validation to refuse. */
function keptId(tenantId: string): string {
  return typeof tenantId === 'string' ? ownString(tenantId) : tenantId;
}
