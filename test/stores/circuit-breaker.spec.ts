import { afterEach, describe, expect, it, vi } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheConnectionError, CacheOperationError, CacheStoreFullError, CacheTimeoutError, CircuitOpenError, PayloadTooLargeError } from '../../lib/errors/cache.errors.js';
import type { StoreHealth } from '../../lib/stores/cache-store.interface.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { ChaosStore } from '../helpers/chaos.store.js';
import { ManualClock } from '../helpers/manual-clock.js';
import type { Duration } from '../../lib/utils/duration.js';

const managers: CacheManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

/** A chaos store that can say its connection is ready again (as the Redis store does on ioredis `ready`), and whose health can be held. */
class ReconnectingChaos extends ChaosStore {
  readonly healthChecks: number[] = [];
  private readonly listeners = new Set<() => void>();
  private heldHealth: Promise<void> | undefined;
  private releaseHealth: (() => void) | undefined;

  onReconnect(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  reconnected(): void {
    for (const listener of this.listeners) listener();
  }
  /** Health checks wait until `answerHealth()`. */
  holdHealth(): void {
    this.heldHealth = new Promise((resolve) => (this.releaseHealth = resolve));
  }
  answerHealth(): void {
    this.releaseHealth?.();
    this.heldHealth = undefined;
  }
  override async health(): Promise<StoreHealth> {
    this.healthChecks.push(Date.now());
    if (this.heldHealth !== undefined) await this.heldHealth;
    return super.health();
  }
}

function setup(circuitBreaker?: { failureThreshold?: number; cooldown?: Duration } | false) {
  const clock = new ManualClock();
  const chaos = new ReconnectingChaos(new MemoryStore({ clock, sweepInterval: 0 })); // kind 'chaos(memory)': treated as remote
  const logger = { warn: vi.fn(), error: vi.fn() };
  const manager = CacheManager.createSync({ store: chaos, clock, logger, circuitBreaker });
  managers.push(manager);
  return { clock, chaos, logger, manager, cache: manager.forTenant('acme') };
}

/** Lets background probes (the store's health, a few promise steps) settle. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('circuit breaker around a remote store', () => {
  it('opens after consecutive failures, then fails fast without calling the store', async () => {
    const { chaos, cache, manager } = setup({ failureThreshold: 3, cooldown: '5s' });
    chaos.failAll();
    for (let i = 0; i < 3; i++) expect(await cache.wrap('k', () => i)).toBe(i);
    const callsWhenOpened = chaos.calls.get('get');
    expect((await manager.health()).circuit).toBe('open');
    for (let i = 0; i < 100; i++) expect(await cache.wrap('k', () => 'served')).toBe('served');
    expect(chaos.calls.get('get')).toBe(callsWhenOpened);
    await expect(cache.set('k', 1)).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(cache.set('k', 1)).rejects.toBeInstanceOf(CacheConnectionError);
    await expect(cache.set('k', 1)).rejects.toMatchObject({ code: 'ERR_CIRCUIT_OPEN', address: 'chaos:0' });
  });

  it('while open, probes with the store health (never a caller operation), one at a time; a failed probe does not push the next further away', async () => {
    const { chaos, cache, clock } = setup({ failureThreshold: 2, cooldown: 500 });
    chaos.failAll();
    await cache.get('k');
    await cache.get('k');
    const gets = chaos.calls.get('get');
    chaos.healthChecks.length = 0;

    clock.advance(499);
    await cache.get('k');
    await settle();
    expect(chaos.healthChecks).toHaveLength(0); // within the cooldown: no probe

    chaos.holdHealth();
    clock.advance(1);
    await cache.get('k'); // fails fast, starts a probe (held: still in flight)
    await cache.get('k');
    expect(chaos.healthChecks).toHaveLength(1); // one at a time
    clock.advance(400);
    chaos.answerHealth(); // the probe fails 400 ms after it started
    await settle();

    clock.advance(100); // 500 ms after the failed probe *started*, 100 ms after it failed
    await cache.get('k');
    await settle();
    expect(chaos.healthChecks).toHaveLength(2);
    expect(chaos.calls.get('get')).toBe(gets); // no caller's get ever reached the store
  });

  it('closes once a probe finds the store answering, and calls reach it again', async () => {
    const { chaos, cache, clock, manager } = setup({ failureThreshold: 2, cooldown: 500 });
    chaos.failAll();
    await cache.get('k');
    await cache.get('k');
    chaos.heal();
    clock.advance(500);
    await expect(cache.set('k', 'too early')).rejects.toBeInstanceOf(CircuitOpenError); // starts the probe
    await settle();
    await cache.set('k', 'back');
    expect(await cache.get('k')).toBe('back');
    expect((await manager.health()).circuit).toBe('closed');
  });

  it('probes at once when the store says its connection is ready again, whatever the cooldown', async () => {
    const { chaos, cache, manager } = setup({ failureThreshold: 2, cooldown: '1h' });
    chaos.failAll();
    await cache.get('k');
    await cache.get('k');
    chaos.heal();
    chaos.reconnected();
    await settle();
    expect((await manager.health()).circuit).toBe('closed');
    await cache.set('k', 'back');
    expect(await cache.get('k')).toBe('back');
  });

  it('health derives from the same state: never up while calls fail fast; a health check that finds the store answering closes the circuit', async () => {
    const { chaos, cache, manager } = setup({ failureThreshold: 2, cooldown: '1h' });
    chaos.failAll();
    await cache.get('k');
    await cache.get('k');
    const down = await manager.health();
    expect(down).toMatchObject({ ok: false, status: 'down', circuit: 'open' });
    expect(down.reason).toMatch(/circuit open/);

    chaos.heal();
    const up = await manager.health();
    expect(up).toMatchObject({ ok: true, status: 'up', circuit: 'closed' });
    await cache.set('k', 'served');
    expect(await cache.get('k')).toBe('served');
  });

  it('only outages count: timeouts open it; a full store, an error reply or a caller error never do, however many', async () => {
    const { cache, manager, chaos } = setup({ failureThreshold: 3 });
    const full = vi.spyOn(chaos.inner, 'set').mockRejectedValue(new CacheStoreFullError('set', 'h', 'chaos:0'));
    for (let i = 0; i < 20; i++) await expect(cache.set('k', 'x')).rejects.toBeInstanceOf(CacheStoreFullError);
    full.mockRejectedValue(new CacheOperationError('set', 'h', { cause: new Error('WRONGTYPE Operation against a key holding the wrong kind of value') }));
    for (let i = 0; i < 20; i++) await expect(cache.set('k', 'x')).rejects.toBeInstanceOf(CacheOperationError);
    full.mockRejectedValue(new PayloadTooLargeError(2_000_000, 1_048_576));
    for (let i = 0; i < 20; i++) await expect(cache.set('k', 'x')).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(full).toHaveBeenCalledTimes(60); // every one reached the store
    expect((await manager.health()).circuit).toBe('closed');

    full.mockRejectedValue(new CacheTimeoutError('set', 'h', 'chaos:0', 500));
    for (let i = 0; i < 3; i++) await expect(cache.set('k', 'x')).rejects.toBeInstanceOf(CacheTimeoutError);
    await expect(cache.set('k', 'x')).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it('a store that answers with an error ends a run of outage failures', async () => {
    const { cache, manager, chaos } = setup({ failureThreshold: 3 });
    const set = vi.spyOn(chaos.inner, 'set');
    for (let i = 0; i < 10; i++) {
      set.mockRejectedValueOnce(new CacheTimeoutError('set', 'h', 'chaos:0', 500)).mockRejectedValueOnce(new CacheTimeoutError('set', 'h', 'chaos:0', 500));
      set.mockRejectedValueOnce(new CacheStoreFullError('set', 'h', 'chaos:0'));
      for (let j = 0; j < 3; j++) await expect(cache.set('k', 'x')).rejects.not.toBeInstanceOf(CircuitOpenError);
    }
    expect((await manager.health()).circuit).toBe('closed');
  });

  it('logs its opening once, in the burst of the store connection; failed probes and closing add no line', async () => {
    const { chaos, cache, clock, logger } = setup({ failureThreshold: 2, cooldown: 500 });
    chaos.failAll();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 3; i++) await cache.get('k');
      clock.advance(500);
      await cache.get('k'); // a probe, which fails
      await settle();
    }
    chaos.heal();
    chaos.reconnected();
    await settle();
    chaos.failAll();
    for (let i = 0; i < 3; i++) await cache.get('k'); // opens again, within the same burst
    const messages = logger.warn.mock.calls.map(([m]) => String(m));
    expect(messages).toHaveLength(1); // the first failed get, which names the store: the outage's one line
    expect(messages[0]).toMatch(/chaos:0/);
  });

  it('is not put around the memory store, and can be disabled', async () => {
    const memory = CacheManager.createSync({ logger: false });
    managers.push(memory);
    expect((await memory.health()).circuit).toBeUndefined();
    const { manager } = setup(false);
    expect((await manager.health()).circuit).toBeUndefined();
  });
});
