import type { StoreHealth } from '../cache-store.interface.js';

/**
 * A tiered store's health: L2's, with what the invalidation bus being down means for L1 (its
 * entries then live at most `maxStalenessMs`): `degraded` while only the bus is down.
 */
export function tieredHealth(l2: StoreHealth, busOutage: { why: string; forMs: number } | undefined, maxStalenessMs: number): StoreHealth {
  const bound = `${maxStalenessMs} ms`;
  if (!l2.ok) return { ...l2, detail: `L2: ${l2.detail ?? 'not answering'}${busOutage === undefined ? '' : `; the invalidation bus is down too: L1 serves what it holds for at most ${bound}`}` };
  if (busOutage === undefined) return l2;
  const bus = `the invalidation bus has been down for ${(busOutage.forMs / 1000).toFixed(1)} s (${busOutage.why}): L1 entries live at most ${bound} until it is subscribed again`;
  return { ...l2, degraded: l2.degraded === undefined ? bus : `${l2.degraded}; ${bus}` };
}
