import { afterEach, describe, expect, it, vi } from 'vitest';
import { CacheManager } from '../../../lib/cache/cache-manager.js';
import { TenantStorePool } from '../../../lib/cache/tenant-store-pool.js';
import { CacheClosedError, CacheConnectionError } from '../../../lib/errors/cache.errors.js';
import type { CacheStore } from '../../../lib/interfaces/cache-store.interface.js';
import { MemoryStore } from '../../../lib/stores/memory.store.js';
import { ErrorReporter } from '../../../lib/utils/error-reporter.js';
import { ChaosStore } from '../../helpers/chaos.store.js';
import { ManualClock } from '../../helpers/manual-clock.js';

const managers: CacheManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

function withDedicatedStores(options: { maxOpen?: number; idleTimeout?: number; retryBackoff?: number; factory?: (id: string) => CacheStore | undefined | Promise<CacheStore | undefined> } = {}) {
  const clock = new ManualClock();
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
  const manager = new CacheManager({
    store: { type: 'memory', sweepInterval: 0 },
    clock,
    logger: false,
    tenantStores: { factory: spy, maxOpen: options.maxOpen, idleTimeout: options.idleTimeout ?? 0, retryBackoff: options.retryBackoff },
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
    const closed = async (s: CacheStore) => s.get({ full: 'x', kind: 'e', scope: undefined } as never).then(() => false, (e: unknown) => e instanceof CacheClosedError);
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
