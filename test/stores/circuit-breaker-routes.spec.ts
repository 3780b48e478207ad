import { describe, expect, it } from 'vitest';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { CacheConnectionError, CircuitOpenError } from '../../lib/errors/cache.errors.js';
import { KeyScope, storageKey, type StorageKey } from '../../lib/keys/storage-key.js';
import { CircuitBreakerStore } from '../../lib/stores/circuit-breaker.store.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { ChaosStore } from '../helpers/chaos.store.js';
import { ManualClock } from '../helpers/manual-clock.js';

/**
 * A store spread over nodes, as a Redis Cluster is: each tenant's calls go to one node
 * (`routeOf`), and calls to a node that is down fail as a connection failure would.
 */
class ShardedChaos extends ChaosStore {
  readonly nodeOf = new Map<string, string>();
  readonly down = new Set<string>();
  readonly probes: string[] = [];

  routeOf(scope: KeyScope): string | undefined {
    return scope.tenant === undefined ? undefined : this.nodeOf.get(scope.tenant);
  }
  async probeRoute(route: string): Promise<boolean> {
    this.probes.push(route);
    return !this.down.has(route) || !this.liveRoutes().has(route);
  }
  liveRoutes(): ReadonlySet<string> {
    return new Set(this.nodeOf.values());
  }
  override get(key: StorageKey): Promise<Envelope | undefined> {
    const node = this.routeOf(key.scope);
    if (node !== undefined && this.down.has(node)) return Promise.reject(new CacheConnectionError('get', node));
    return super.get(key);
  }
}

function setup() {
  const clock = new ManualClock();
  const inner = new ShardedChaos(new MemoryStore({ clock, sweepInterval: 0 }));
  inner.nodeOf.set('a', 'node-a:7000').set('b', 'node-b:7001').set('c', 'node-c:7002');
  const changes: Array<[string, string]> = [];
  const store = new CircuitBreakerStore(inner, { failureThreshold: 3, cooldownMs: 500 }, clock, (state, where) => changes.push([state, where]));
  const key = (tenant: string): StorageKey => storageKey(KeyScope.of('routes', tenant), 'entry', 'k');
  return { clock, inner, store, changes, key };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('circuit breaker over a store with routes (one circuit per node)', () => {
  it('a failing node opens its own circuit only: the calls of the other nodes still reach the store', async () => {
    const { inner, store, changes, key } = setup();
    const env: Envelope = { value: 1, createdAt: 0, expiresAt: 0, stamp: newStamp(), scope: key('b').scope.id };
    await store.set(key('b'), env, 60_000);
    inner.down.add('node-a:7000');
    for (let i = 0; i < 3; i++) await expect(store.get(key('a'))).rejects.toBeInstanceOf(CacheConnectionError);
    await expect(store.get(key('a'))).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(store.get(key('a'))).rejects.toMatchObject({ address: 'node-a:7000' });
    const gets = inner.calls.get('get');
    for (let i = 0; i < 20; i++) expect((await store.get(key('b')))?.value).toBe(1);
    expect(inner.calls.get('get')).toBe((gets ?? 0) + 20);
    expect(changes).toEqual([['open', 'node-a:7000']]);
    // One node of three failing: the store is degraded, not down (its circuit says closed).
    expect(store.circuitState).toBe('closed');
    const health = await store.health();
    expect(health.ok).toBe(true);
    expect(health.degraded).toMatch(/circuit open to node-a:7000/);
  });

  it('a failed-over node: its scopes take the new route at once, and the old circuit is forgotten', async () => {
    const { clock, inner, store, key } = setup();
    inner.down.add('node-a:7000');
    for (let i = 0; i < 3; i++) await expect(store.get(key('a'))).rejects.toBeInstanceOf(CacheConnectionError);
    await expect(store.get(key('a'))).rejects.toBeInstanceOf(CircuitOpenError);
    // The replica is promoted: the route map now sends tenant a to node-d.
    inner.nodeOf.set('a', 'node-d:7003');
    expect(await store.get(key('a'))).toBeUndefined();
    clock.advance(500);
    const health = await store.health();
    expect(health).toMatchObject({ ok: true });
    expect(health.degraded).toBeUndefined();
  });

  it('probes an open node circuit with probeRoute after the cooldown, and closes it when the node answers', async () => {
    const { clock, inner, store, key, changes } = setup();
    inner.down.add('node-c:7002');
    for (let i = 0; i < 3; i++) await expect(store.get(key('c'))).rejects.toBeInstanceOf(CacheConnectionError);
    clock.advance(499);
    await expect(store.get(key('c'))).rejects.toBeInstanceOf(CircuitOpenError);
    await settle();
    expect(inner.probes).toEqual([]);
    inner.down.delete('node-c:7002');
    clock.advance(1);
    await expect(store.get(key('c'))).rejects.toBeInstanceOf(CircuitOpenError); // this call starts the probe
    await settle();
    expect(inner.probes).toEqual(['node-c:7002']);
    expect(await store.get(key('c'))).toBeUndefined();
    expect(changes.map(([state]) => state)).toEqual(['open', 'half-open', 'closed']);
  });

  it('every node failing: the store is down and its circuit open', async () => {
    const { inner, store, key } = setup();
    for (const tenant of ['a', 'b', 'c']) {
      inner.down.add(inner.nodeOf.get(tenant)!);
      for (let i = 0; i < 3; i++) await expect(store.get(key(tenant))).rejects.toBeInstanceOf(CacheConnectionError);
    }
    expect(store.circuitState).toBe('open');
    expect((await store.health()).ok).toBe(false);
  });
});
