import type { Envelope } from '../envelope/envelope.js';
import type { KeyScope, StorageKey } from '../keys/storage-key.js';
import type { CacheStore, StoreBasis, StoreGetOrSetResult, StoreHealth, StoreStats } from './cache-store.interface.js';
import type { Clock } from '../utils/clock.js';
import { Circuit, type CircuitSettings, type CircuitState } from './circuit.js';

export type { CircuitState } from './circuit.js';

/** Checked and defaulted by the cache's options (`circuitBreaker`, `CIRCUIT_BREAKER_DEFAULTS`). */
export interface CircuitBreakerOptions {
  /** Consecutive outage failures (unreachable, timed out) that open the circuit. */
  readonly failureThreshold: number;
  /** From opening to the first probe, and from the start of one probe to the next, in milliseconds. */
  readonly cooldownMs: number;
}

/**
 * Wraps a remote store so that, once it keeps failing, calls fail fast (`CircuitOpenError`)
 * instead of each waiting for its own timeout: during an outage every request is served by its
 * handler at once, and the store is not hammered while it recovers.
 *
 * One circuit per server (see `Circuit`): a store spread over several (a Redis Cluster, which
 * says where each scope's calls go: `routeOf`) gets one per node, so a failed shard fails fast
 * alone and the calls of the others go through; a probe of a node's circuit also refreshes the
 * routes, so once a replica is promoted its calls take the new route (a fresh circuit). Other
 * stores have one, store-wide. Circuits probe with the store's `health()` (a PING) or
 * `probeRoute`, never with a caller's operation, and at once when the store says its connection
 * is ready again (`onReconnect`). A health check that finds the store answering closes the
 * store-wide circuit and probes the open node circuits, so health never says "up" while calls
 * fail fast; nodes still failing make it `degraded`. Only outages count: a full store or an
 * error reply is not one.
 */
export class CircuitBreakerStore implements CacheStore {
  readonly kind: string;
  /** The store-wide circuit: every call of a store without routes, keyless calls of one with them. */
  private readonly whole: Circuit;
  /** One circuit per route (a Cluster primary, `host:port`), made on its first call. */
  private readonly routed = new Map<string, Circuit>();
  private readonly settings: CircuitSettings;
  private readonly stopWatching: (() => void) | undefined;

  readonly acquireLock?: (key: StorageKey, token: string, ttlMs: number) => Promise<boolean>;
  readonly releaseLock?: (key: StorageKey, token: string) => Promise<void>;
  readonly basis?: (scope: KeyScope) => StoreBasis | Promise<StoreBasis>;
  readonly getMany?: (keys: readonly StorageKey[]) => Promise<Array<Envelope | undefined>>;
  readonly deleteMany?: (keys: readonly StorageKey[]) => Promise<number>;
  readonly pull?: (key: StorageKey) => Promise<Envelope | undefined>;

  constructor(
    readonly inner: CacheStore,
    options: CircuitBreakerOptions,
    clock: Clock,
    /** Told about every transition (and the state it left), with where the server is (for one log line per connection). */
    onStateChange: (state: CircuitState, where: string, from: CircuitState) => void = () => undefined,
  ) {
    this.kind = inner.kind;
    this.settings = { threshold: options.failureThreshold, cooldownMs: options.cooldownMs, clock, onStateChange };
    // Where the store is, from its last outage error (host:port); its kind until one names it.
    this.whole = new Circuit(this.settings, () => inner.health().then((health) => health.ok), inner.kind, true);
    // Locks pass through (guarded) only where the store has them.
    const { acquireLock, releaseLock } = inner;
    if (acquireLock !== undefined && releaseLock !== undefined) {
      this.acquireLock = (key, token, ttlMs) => this.circuitOf(key.scope).guard('acquireLock', () => acquireLock.call(inner, key, token, ttlMs));
      this.releaseLock = (key, token) => this.circuitOf(key.scope).guard('releaseLock', () => releaseLock.call(inner, key, token));
    }
    const { basis } = inner;
    if (basis !== undefined) this.basis = (scope) => this.circuitOf(scope).guard('basis', async () => basis.call(inner, scope));
    // Bulk calls go through the circuit of their first key's scope (the cache's are of one scope).
    const { getMany, deleteMany, pull } = inner;
    if (getMany !== undefined) this.getMany = (keys) => this.circuitOf(keys[0]?.scope).guard('getMany', () => getMany.call(inner, keys));
    if (deleteMany !== undefined) this.deleteMany = (keys) => this.circuitOf(keys[0]?.scope).guard('deleteMany', () => deleteMany.call(inner, keys));
    if (pull !== undefined) this.pull = (key) => this.circuitOf(key.scope).guard('pull', () => pull.call(inner, key));
    this.stopWatching = inner.onReconnect?.(() => {
      void this.whole.probe();
      for (const circuit of this.routed.values()) void circuit.probe();
    });
  }

  /**
   * The store-wide state: `closed` (normal), `open` (failing fast) or `half-open` (failing fast,
   * one probe in flight). With node circuits, `open` also when every node's circuit is open;
   * some of them open is `degraded` health, not an open store.
   */
  get circuitState(): CircuitState {
    if (this.whole.state !== 'closed' || this.routed.size === 0) return this.whole.state;
    const failing = this.failingRoutes();
    const live = this.inner.liveRoutes?.();
    return live !== undefined && live.size > 0 && failing.length >= live.size ? 'open' : 'closed';
  }

  /** The circuit the calls for `scope` go through: their route's, or the store-wide one. */
  private circuitOf(scope: KeyScope | undefined): Circuit {
    const route = scope === undefined ? undefined : this.inner.routeOf?.(scope);
    if (route === undefined) return this.whole;
    let circuit = this.routed.get(route);
    if (circuit === undefined) {
      circuit = new Circuit(this.settings, () => this.inner.probeRoute?.(route) ?? this.inner.health().then((h) => h.ok), route, false);
      this.routed.set(route, circuit);
    }
    return circuit;
  }

  /** Routes whose circuit is not closed; circuits of routes the store no longer has are forgotten. */
  private failingRoutes(): string[] {
    const live = this.inner.liveRoutes?.();
    const failing: string[] = [];
    for (const [route, circuit] of this.routed) {
      if (live !== undefined && !live.has(route)) this.routed.delete(route);
      else if (circuit.state !== 'closed') failing.push(route);
    }
    return failing;
  }

  get(key: StorageKey): Promise<Envelope | undefined> {
    return this.circuitOf(key.scope).guard('get', () => this.inner.get(key));
  }
  set(key: StorageKey, envelope: Envelope, ttlMs: number, basis?: StoreBasis): Promise<boolean | void> {
    return this.circuitOf(key.scope).guard('set', () => this.inner.set(key, envelope, ttlMs, basis));
  }
  delete(key: StorageKey): Promise<boolean> {
    return this.circuitOf(key.scope).guard('delete', () => this.inner.delete(key));
  }
  getOrSet(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<StoreGetOrSetResult> {
    return this.circuitOf(key.scope).guard('getOrSet', () => this.inner.getOrSet(key, envelope, ttlMs));
  }
  compareAndSet(key: StorageKey, expectedStamp: string | null, envelope: Envelope, ttlMs: number): Promise<boolean> {
    return this.circuitOf(key.scope).guard('compareAndSet', () => this.inner.compareAndSet(key, expectedStamp, envelope, ttlMs));
  }
  clearScope(scope: KeyScope): Promise<void> {
    return this.circuitOf(scope).guard('clearScope', () => this.inner.clearScope(scope));
  }
  purgeScope(scope: KeyScope): Promise<number> {
    return this.circuitOf(scope).guard('purgeScope', () => this.inner.purgeScope(scope));
  }
  invalidateTags(tagKeys: readonly StorageKey[]): Promise<void> {
    return this.circuitOf(tagKeys[0]?.scope).guard('invalidateTags', () => this.inner.invalidateTags(tagKeys));
  }
  scopeSize(scope: KeyScope): number | undefined {
    return this.inner.scopeSize(scope);
  }
  /**
   * Asks the store itself. While the store-wide circuit is not closed, a store that answers
   * closes it (the check was a successful probe), so "ok" always means calls reach the store;
   * one that does not says the circuit is open. Open node circuits are probed (each refreshes
   * the routes); nodes still failing after that make the health `degraded`, or not ok if every
   * node is failing.
   */
  async health(): Promise<StoreHealth> {
    const [health] = await Promise.all([this.inner.health(), ...[...this.routed.values()].map((circuit) => circuit.probe())]);
    if (this.whole.state !== 'closed') {
      if (!health.ok) return { ...health, detail: `${health.detail ?? 'the store is failing'}; circuit ${this.whole.state}` };
      this.whole.close();
    }
    const failing = this.failingRoutes();
    if (!health.ok || failing.length === 0) return health;
    const live = this.inner.liveRoutes?.();
    if (live !== undefined && failing.length >= live.size) return { ok: false, detail: `every node is failing; circuits open to ${failing.join(', ')}` };
    const open = `circuit open to ${failing.join(', ')}: calls for keys on ${failing.length === 1 ? 'its' : 'their'} slots are served without the cache until ${failing.length === 1 ? 'it answers or is' : 'they answer or are'} failed over`;
    return { ...health, degraded: health.degraded === undefined ? open : `${health.degraded}; ${open}` };
  }
  stats(): StoreStats {
    return this.inner.stats();
  }
  close(): Promise<void> {
    this.stopWatching?.();
    return this.inner.close();
  }
}
