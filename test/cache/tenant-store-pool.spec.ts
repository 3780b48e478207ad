import { afterEach, describe, expect, it, vi } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { TenantStorePool } from '../../lib/cache/tenant-store-pool.js';
import { CacheClosedError, CacheConnectionError, CircuitOpenError } from '../../lib/errors/cache.errors.js';
import type { CacheStore } from '../../lib/stores/cache-store.interface.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { ErrorReporter } from '../../lib/utils/error-reporter.js';
import { ChaosStore } from '../helpers/chaos.store.js';
import { ManualClock } from '../helpers/manual-clock.js';
import type { Duration } from '../../lib/utils/duration.js';

const managers: CacheManager[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

interface DedicatedOptions {
  maxOpen?: number;
  idleTimeout?: number;
  retryBackoff?: number;
  createTimeout?: Duration;
  circuitBreaker?: { failureThreshold?: number; cooldown?: Duration } | false;
  store?: CacheStore;
  clock?: ManualClock;
  factory?: (id: string) => CacheStore | undefined | Promise<CacheStore | undefined>;
}

function withDedicatedStores(options: DedicatedOptions = {}) {
  const clock = options.clock ?? new ManualClock();
  const created: Record<string, ChaosStore[]> = {};
  const factory =
    options.factory ??
    (async (tenantId: string) => {
      await new Promise((r) => setImmediate(r)); // creation takes a moment, like a real connection
      const store = new ChaosStore(new MemoryStore({ clock, sweepInterval: 0 }));
      (created[tenantId] ??= []).push(store);
      return store;
    });
  const spy = vi.fn(factory);
  const manager = CacheManager.createSync({
    store: options.store ?? { type: 'memory', sweepInterval: 0 },
    clock,
    logger: false,
    circuitBreaker: options.circuitBreaker,
    tenantStores: { factory: spy, maxOpen: options.maxOpen, idleTimeout: options.idleTimeout ?? 0, retryBackoff: options.retryBackoff, createTimeout: options.createTimeout },
  });
  managers.push(manager);
  return { manager, clock, created, factory: spy };
}

describe('dedicated tenant stores', () => {
  it('creates one store for 100 simultaneous first calls', async () => {
    const { manager, factory, created } = withDedicatedStores();
    const cache = manager.forTenant('acme');
    await Promise.all(Array.from({ length: 100 }, (_, i) => cache.set(`k${i}`, i)));
    expect(factory).toHaveBeenCalledTimes(1);
    expect(created.acme).toHaveLength(1);
    // The data lives in the tenant's own store, not the shared one.
    expect(manager.store.stats().entries).toBe(0);
    expect(created.acme![0]!.stats().entries).toBe(100);
  });

  it('keeps at most maxOpen stores, closing the least recently used', async () => {
    const { manager, created } = withDedicatedStores({ maxOpen: 2 });
    await manager.forTenant('a').set('k', 1);
    await manager.forTenant('b').set('k', 1);
    await manager.forTenant('a').get('k'); // a is now more recent than b
    await manager.forTenant('c').set('k', 1);
    const closed = async (s: CacheStore) => s.get({ full: 'x', kind: 'entry', scope: undefined } as never).then(() => false, (e: unknown) => e instanceof CacheClosedError);
    expect(await closed(created.b![0]!)).toBe(true);
    expect(await closed(created.a![0]!)).toBe(false);
    expect((await manager.health()).tenantStoresOpen).toBe(2);
  });

  it('retiring a store never fails its in-flight operations', async () => {
    const { manager, created } = withDedicatedStores({ maxOpen: 1 });
    const a = manager.forTenant('a');
    await a.set('k', 'v');
    const storeA = created.a![0]!;
    storeA.hold();
    const inFlight = [a.get('k'), a.set('k2', 'v2'), a.getOrSet('k3', 'v3')];
    await new Promise((r) => setImmediate(r));
    await manager.forTenant('b').set('k', 1); // retires a's store while three operations wait in it
    storeA.release();
    const [got, , gos] = await Promise.all(inFlight);
    expect(got).toBe('v');
    expect(gos).toEqual({ value: 'v3', set: true });
    // Now that they settled, the retired store is closed.
    await expect(storeA.get({ full: 'x' } as never)).rejects.toBeInstanceOf(CacheClosedError);
    // a's next call opens a fresh store.
    expect(await a.get('k')).toBeUndefined();
    expect(created.a).toHaveLength(2);
  });

  it('a failed creation fails fast during the backoff, then is retried (never cached for good)', async () => {
    let attempts = 0;
    const { manager, clock } = withDedicatedStores({
      retryBackoff: 5000,
      factory: async () => {
        attempts++;
        if (attempts === 1) throw new Error('tenant database unreachable');
        return new MemoryStore({ sweepInterval: 0 });
      },
    });
    const cache = manager.forTenant('acme');
    await expect(cache.set('k', 1)).rejects.toBeInstanceOf(CacheConnectionError);
    expect(await cache.get('k')).toBeUndefined(); // reads fail open
    await expect(cache.set('k', 1)).rejects.toBeInstanceOf(CacheConnectionError);
    expect(attempts).toBe(1);
    clock.advance(4999);
    await expect(cache.set('k', 1)).rejects.toBeInstanceOf(CacheConnectionError);
    clock.advance(1);
    await cache.set('k', 1);
    expect(await cache.get('k')).toBe(1);
    expect(attempts).toBe(2);
  });

  it('a factory returning undefined puts that tenant on the shared store', async () => {
    const { manager } = withDedicatedStores({ factory: () => undefined });
    await manager.forTenant('small').set('k', 1);
    expect(manager.store.stats().entries).toBe(1);
    expect(await manager.forTenant('small').get('k')).toBe(1);
  });

  it('closing the manager closes every dedicated store', async () => {
    const { manager, created } = withDedicatedStores();
    await manager.forTenant('a').set('k', 1);
    await manager.forTenant('b').set('k', 1);
    await manager.close();
    for (const store of [created.a![0]!, created.b![0]!]) await expect(store.get({ full: 'x' } as never)).rejects.toBeInstanceOf(CacheClosedError);
  });
});

const isClosed = (s: CacheStore) => s.get({ full: 'x', kind: 'entry', scope: undefined } as never).then(() => false, (e: unknown) => e instanceof CacheClosedError);

describe('dedicated tenant stores: creation timeout', () => {
  it('a hung factory fails after createTimeout (fail fast in the backoff, reads as misses), its late store is closed, then it is retried', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let resolveHung: ((store: CacheStore) => void) | undefined;
    const late = new MemoryStore({ sweepInterval: 0 });
    let attempts = 0;
    const { manager, clock } = withDedicatedStores({
      createTimeout: '1s',
      retryBackoff: 5000,
      factory: () => {
        attempts++;
        if (attempts === 1) return new Promise<CacheStore>((resolve) => (resolveHung = resolve));
        return new MemoryStore({ sweepInterval: 0 });
      },
    });
    const cache = manager.forTenant('acme');
    let settled = 0;
    const write = cache.set('k', 1).then(() => 'written', (e: unknown) => e).finally(() => settled++);
    const read = cache.get('k').finally(() => settled++);
    await vi.advanceTimersByTimeAsync(999);
    expect(settled).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBe(2);
    expect(await write).toBeInstanceOf(CacheConnectionError);
    expect(await read).toBeUndefined(); // reads fail open
    await expect(cache.set('k', 1)).rejects.toBeInstanceOf(CacheConnectionError); // fails fast during the backoff
    expect(attempts).toBe(1);
    // The hung creation resolves at last: its store is closed, never leaked.
    resolveHung!(late);
    await new Promise((r) => setImmediate(r));
    expect(await isClosed(late)).toBe(true);
    clock.advance(5000);
    await cache.set('k', 2);
    expect(await cache.get('k')).toBe(2);
    expect(attempts).toBe(2);
  });

  it('validates createTimeout like the other durations', () => {
    expect(() => CacheManager.createSync({ logger: false, tenantStores: { factory: () => undefined, createTimeout: 'soon' as Duration } })).toThrow(/tenantStores\.createTimeout/);
    expect(() => CacheManager.createSync({ logger: false, tenantStores: { factory: () => undefined, createTimeout: -1 } })).toThrow(/tenantStores\.createTimeout/);
  });
});

describe('dedicated tenant stores: ownership', () => {
  it('a store returned for several tenants is closed only when no open tenant holds it; the shared store never', async () => {
    const clock = new ManualClock();
    const shared = new ChaosStore(new MemoryStore({ clock, sweepInterval: 0 })); // remote-like: the manager wraps it in a circuit breaker
    const eu = new MemoryStore({ clock, sweepInterval: 0 });
    const { manager } = withDedicatedStores({
      clock,
      store: shared,
      maxOpen: 2,
      factory: (id) => (id.startsWith('eu-') ? eu : id === 'self' ? shared : new MemoryStore({ clock, sweepInterval: 0 })),
    });
    await manager.forTenant('self').set('k', 1);
    await manager.forTenant('eu-1').set('k', 1);
    await manager.forTenant('eu-2').set('k', 2);
    await manager.forTenant('us-1').set('k', 1); // retires eu-1: eu-2 still holds the regional store
    expect(await isClosed(eu)).toBe(false);
    expect(await manager.forTenant('eu-2').get('k')).toBe(2); // eu-2 is now the most recently used
    await manager.forTenant('us-2').set('k', 1); // retires us-1
    expect(await isClosed(eu)).toBe(false);
    await manager.forTenant('us-3').set('k', 1); // retires eu-2, the last holder
    expect(await isClosed(eu)).toBe(true);
    expect(await isClosed(shared)).toBe(false);
    expect(await manager.forTenant('self').get('k')).toBe(1);
    // A factory handing out the closed instance again fails the creation (not a tenant silently dead).
    await expect(manager.forTenant('eu-1').set('k', 1)).rejects.toMatchObject({ cause: { message: expect.stringMatching(/already closed/) } });
  });

  it('tenants on the shared store take no slot, so they never push dedicated stores out', async () => {
    const clock = new ManualClock();
    const big: Record<string, MemoryStore> = {};
    const { manager, factory } = withDedicatedStores({
      clock,
      maxOpen: 2,
      factory: (id) => (id.startsWith('big-') ? (big[id] = new MemoryStore({ clock, sweepInterval: 0 })) : undefined),
    });
    await manager.forTenant('big-a').set('k', 1);
    await manager.forTenant('big-b').set('k', 1);
    for (let i = 0; i < 50; i++) await manager.forTenant(`small-${i}`).set('k', i);
    for (let i = 0; i < 50; i++) expect(await manager.forTenant(`small-${i}`).get('k')).toBe(i);
    expect((await manager.health()).tenantStoresOpen).toBe(2);
    expect(await isClosed(big['big-a']!)).toBe(false);
    expect(await manager.forTenant('big-a').get('k')).toBe(1);
    expect(factory).toHaveBeenCalledTimes(52); // each tenant asked once
    expect(manager.store.stats().entries).toBe(50);
    const small = (await manager.stats()).tenants.find((t) => t.tenant === 'small-0');
    expect(small?.sizeEntries).toBe(1); // counted in the shared store
  });

  it('remembers a bounded number of shared-store tenants', async () => {
    const clock = new ManualClock();
    const factory = vi.fn((_id: string): CacheStore | undefined => undefined);
    const shared = new MemoryStore({ clock, sweepInterval: 0 });
    const pool = new TenantStorePool({ factory, shared, maxOpen: 10, idleMs: 0, retryBackoffMs: 1000, createTimeoutMs: 0, clock, reporter: new ErrorReporter(undefined), maxSharedTenants: 2 });
    for (const id of ['s1', 's2', 's3']) expect((await pool.acquire(id)).store).toBe(shared);
    expect(pool.size).toBe(0);
    (await pool.acquire('s3')).release();
    expect(factory).toHaveBeenCalledTimes(3);
    (await pool.acquire('s1')).release(); // forgotten (the least recently used of three), asked again
    expect(factory).toHaveBeenCalledTimes(4);
    await pool.close();
  });
});

describe('dedicated tenant stores: circuit breaker', () => {
  it('wraps a remote dedicated store in one circuit breaker per instance (unless circuitBreaker: false); close() closes the instance', async () => {
    const clock = new ManualClock();
    const regional = new ChaosStore(new MemoryStore({ clock, sweepInterval: 0 }));
    const { manager } = withDedicatedStores({ clock, circuitBreaker: { failureThreshold: 2, cooldown: '5s' }, factory: () => regional });
    regional.failAll();
    await expect(manager.forTenant('a').set('k', 1)).rejects.toBeInstanceOf(CacheConnectionError);
    await expect(manager.forTenant('b').set('k', 1)).rejects.toBeInstanceOf(CacheConnectionError);
    const calls = regional.calls.get('set');
    await expect(manager.forTenant('a').set('k', 1)).rejects.toBeInstanceOf(CircuitOpenError); // opened by a's and b's failures together
    await expect(manager.forTenant('b').set('k', 1)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(regional.calls.get('set')).toBe(calls);
    regional.heal();
    clock.advance(5000);
    // The first call after the cooldown still fails fast; it starts a probe (the store's health), which closes the circuit.
    await expect(manager.forTenant('a').set('k', 1)).rejects.toBeInstanceOf(CircuitOpenError);
    await vi.waitFor(() => expect(manager.forTenant('a').set('k', 1)).resolves.toBeUndefined());
    expect(await manager.forTenant('b').get('k')).toBeUndefined();
    await manager.close();
    expect(await isClosed(regional)).toBe(true);

    const unguarded = new ChaosStore(new MemoryStore({ clock, sweepInterval: 0 }));
    const off = withDedicatedStores({ clock, circuitBreaker: false, factory: () => unguarded });
    unguarded.failAll();
    for (let i = 0; i < 5; i++) await expect(off.manager.forTenant('a').set('k', 1)).rejects.not.toBeInstanceOf(CircuitOpenError);
    expect(unguarded.calls.get('set')).toBe(5);
  });
});

describe('TenantStorePool idle close', () => {
  it('closes stores unused for idleMs, keeps busy and recent ones', async () => {
    const clock = new ManualClock();
    const shared = new MemoryStore({ clock, sweepInterval: 0 });
    const stores: Record<string, MemoryStore> = {};
    const pool = new TenantStorePool({
      factory: (id) => (stores[id] = new MemoryStore({ clock, sweepInterval: 0 })),
      shared,
      maxOpen: 10,
      idleMs: 60_000,
      retryBackoffMs: 1000,
      createTimeoutMs: 0,
      clock,
      reporter: new ErrorReporter(undefined),
    });
    (await pool.acquire('idle')).release();
    const busy = await pool.acquire('busy');
    clock.advance(30_000);
    (await pool.acquire('recent')).release();
    clock.advance(30_000);
    await pool.sweep();
    expect(pool.has('idle')).toBe(false);
    expect(pool.has('busy')).toBe(true);
    expect(pool.has('recent')).toBe(true);
    await expect(stores.idle!.get({ full: 'x' } as never)).rejects.toBeInstanceOf(CacheClosedError);
    busy.release();
    await pool.close();
    await pool.close();
    await expect(pool.acquire('x')).rejects.toBeInstanceOf(CacheClosedError);
  });
});
