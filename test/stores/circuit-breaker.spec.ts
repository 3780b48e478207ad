import { afterEach, describe, expect, it, vi } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheConnectionError, CircuitOpenError, PayloadTooLargeError } from '../../lib/errors/cache.errors.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { ChaosStore } from '../helpers/chaos.store.js';
import { ManualClock } from '../helpers/manual-clock.js';

const managers: CacheManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

function setup(circuitBreaker?: { failureThreshold?: number; cooldown?: string } | false) {
  const clock = new ManualClock();
  const chaos = new ChaosStore(new MemoryStore({ clock, sweepInterval: 0 })); // kind 'chaos(memory)': treated as remote
  const logger = { warn: vi.fn(), error: vi.fn() };
  const manager = CacheManager.createSync({ store: chaos, clock, logger, circuitBreaker });
  managers.push(manager);
  return { clock, chaos, logger, manager, cache: manager.forTenant('acme') };
}

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
    await expect(cache.set('k', 1)).rejects.toMatchObject({ code: 'ERR_CIRCUIT_OPEN' });
  });

  it('after the cooldown one probe decides: failure re-opens, success closes', async () => {
    const { chaos, cache, clock, manager, logger } = setup({ failureThreshold: 2, cooldown: '5s' });
    chaos.failAll();
    await cache.get('k');
    await cache.get('k');
    expect((await manager.health()).circuit).toBe('open');
    clock.advance(5000);
    const before = chaos.calls.get('get')!;
    await cache.get('k'); // the probe reaches the store, fails: open again
    expect(chaos.calls.get('get')).toBe(before + 1);
    await cache.get('k'); // fails fast
    expect(chaos.calls.get('get')).toBe(before + 1);
    chaos.heal();
    clock.advance(5000);
    await cache.set('k', 'back');
    expect((await manager.health()).circuit).toBe('closed');
    expect(await cache.get('k')).toBe('back');
    const messages = logger.warn.mock.calls.map(([m]) => m as string);
    expect(messages.some((m) => /Circuit to the chaos\(memory\) store opened/.test(m))).toBe(true);
    expect(messages.some((m) => /Circuit to the chaos\(memory\) store closed/.test(m))).toBe(true);
  });

  it("a caller's own error (an entry over maxPayloadBytes) does not count as a store failure", async () => {
    const { cache, manager, chaos } = setup({ failureThreshold: 1 });
    const tooLarge = vi.spyOn(chaos.inner, 'set').mockRejectedValue(new PayloadTooLargeError(2_000_000, 1_048_576));
    await expect(cache.set('k', 'x')).rejects.toBeInstanceOf(PayloadTooLargeError);
    await expect(cache.set('k', 'x')).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(tooLarge).toHaveBeenCalledTimes(2); // both reached the store: the circuit stayed closed
    expect((await manager.health()).circuit).toBe('closed');
  });

  it('is not put around the memory store, and can be disabled', async () => {
    const memory = CacheManager.createSync({ logger: false });
    managers.push(memory);
    expect((await memory.health()).circuit).toBeUndefined();
    const { manager } = setup(false);
    expect((await manager.health()).circuit).toBeUndefined();
  });
});
