import { describe, expect, it, vi } from 'vitest';
import { CacheManager, internalsOf } from '../../lib/cache/cache-manager.js';
import { refreshDue } from '../../lib/cache/eager-refresh.js';
import type { Envelope } from '../../lib/envelope/envelope.js';
import { engineFixture, type StoreKind } from '../helpers/engine-fixture.js';
import type { ManualClock } from '../helpers/manual-clock.js';
import { describeWithRedis } from '../helpers/redis-server.js';

/**
 * Issue 16, point 2 (eager refresh) and point 3 (TTL jitter), on memory and on a real Redis with
 * the manual clock. Reads are sequential, so a caller that waited for the refresh would block
 * the loop while its factory is held: every read that resolved while it was held did not wait.
 */
const TTL = 10_000;
const KEY = 'dashboard';

interface Phase {
  readonly refreshes: number;
  readonly heldReads: number;
  readonly oldValues: number;
  readonly newValues: number;
  readonly slowestReadMs: number;
}

/** 1,000 reads spread over the entry's last 20% of life, alternating over `managers`; the refresh's factory is held until read 500. */
async function lastFifthOfLife(managers: readonly CacheManager[], clock: ManualClock): Promise<Phase> {
  let runs = 0;
  let held: Promise<void> | undefined;
  let release!: () => void;
  const factory = async (): Promise<string> => {
    runs++;
    if (held !== undefined) await held;
    return `v${runs}`;
  };
  const options = { ttl: TTL, eagerRefresh: 0.8 } as const;
  const first = await managers[0]!.forTenant('acme').wrap(KEY, factory, options);
  expect(first).toBe('v1');
  held = new Promise<void>((resolve) => (release = resolve));
  const start = clock.now();
  clock.advance(8_000 + 1);
  let heldReads = 0;
  let oldValues = 0;
  let newValues = 0;
  let slowest = 0;
  let lastReadAt = 0;
  for (let i = 0; i < 1_000; i++) {
    if (i === 500) release();
    lastReadAt = clock.now();
    const t0 = performance.now();
    const value = await managers[i % managers.length]!.forTenant('acme').wrap(KEY, factory, options);
    slowest = Math.max(slowest, performance.now() - t0);
    if (i < 500) heldReads++;
    if (value === 'v1') oldValues++;
    else newValues++;
    clock.advance(2); // 1,000 reads 2 ms apart: the last one 1 ms before the expiry
  }
  expect(lastReadAt).toBeLessThan(start + TTL);
  return { refreshes: runs - 1, heldReads, oldValues, newValues, slowestReadMs: slowest };
}

function suite(kind: StoreKind): void {
  const { managersOn } = engineFixture(kind);
  const managerCount = kind === 'redis' ? 2 : 1;

  it(`1,000 reads over the last 20% of an entry's life (${managerCount} manager(s)): exactly 1 refresh, no caller waits for it`, async () => {
    const { clock, all } = await managersOn(managerCount);
    const phase = await lastFifthOfLife(all, clock);
    console.log(
      `[eager-refresh] ${kind}, ${managerCount} manager(s): ${phase.refreshes} refresh(es) over 1,000 reads; ${phase.heldReads} reads resolved while the refresh's factory was held; ` +
        `values served: ${phase.oldValues} old, ${phase.newValues} new; slowest read ${phase.slowestReadMs.toFixed(1)} ms (printed, not asserted)`,
    );
    expect(phase.refreshes).toBe(1);
    expect(phase.heldReads).toBe(500); // each resolved with the factory held: none waited for it
    expect(phase.oldValues).toBeGreaterThanOrEqual(500);
    expect(phase.newValues).toBeGreaterThan(0);
  });

  it('under steady reads the entry never expires: 5 TTLs of reads, every one a hit, a refresh every 80% of the TTL', async () => {
    const { clock, all } = await managersOn(managerCount);
    let runs = 0;
    const factory = (): string => `v${++runs}`;
    const options = { ttl: TTL, eagerRefresh: 0.8 } as const;
    await all[0]!.forTenant('acme').wrap(KEY, factory, options);
    const misses = async (): Promise<number> => (await Promise.all(all.map((m) => m.stats()))).reduce((sum, report) => sum + report.misses, 0);
    const missesBefore = await misses();
    const reads = (5 * TTL) / 100;
    for (let i = 0; i < reads; i++) {
      clock.advance(100);
      const cache = all[i % all.length]!.forTenant('acme');
      const before = runs;
      await cache.wrap(KEY, factory, options);
      // A refresh started: let it land (real time, Redis round trips) before time moves on.
      if (runs !== before || internalsOf(all[i % all.length]!).state.engine.eager.inFlight > 0) {
        await vi.waitFor(async () => expect((await cache.getEntry(KEY))?.value).toBe(`v${runs}`));
      }
    }
    const expiredMisses = (await misses()) - missesBefore;
    console.log(`[eager-refresh] ${kind}: ${reads} reads over 5 TTLs: ${runs - 1} refreshes, ${expiredMisses} misses`);
    expect(expiredMisses).toBe(0);
    expect(runs - 1).toBeGreaterThanOrEqual(5);
    expect(runs - 1).toBeLessThanOrEqual(7);
  });

  it('10,000 entries written at once with ±10% jitter expire over a spread of at least 15% of the TTL', async () => {
    const room = kind === 'memory' ? { store: { type: 'memory', maxEntries: 20_000, maxTenantShare: 1, sweepInterval: 0 } as const } : {};
    const { all } = await managersOn(1, { ttlJitter: 0.1, ...room });
    const cache = all[0]!.forTenant('acme');
    const keys = Array.from({ length: 10_000 }, (_, i) => `item:${i}`);
    await cache.setMany(keys.map((key) => ({ key, value: 1, options: { ttl: TTL } })));
    const lives: number[] = [];
    for (let i = 0; i < keys.length; i += 1_000) {
      const entries = await Promise.all(keys.slice(i, i + 1_000).map((key) => cache.getEntry(key)));
      for (const env of entries) lives.push(env!.expiresAt - env!.createdAt);
    }
    const spread = (Math.max(...lives) - Math.min(...lives)) / TTL;
    console.log(`[jitter] ${kind}: 10,000 entries, TTL ${TTL} ms ±10%: lifetimes ${Math.min(...lives)}-${Math.max(...lives)} ms, spread ${(spread * 100).toFixed(1)}% of the TTL`);
    expect(spread).toBeGreaterThanOrEqual(0.15);
    expect(Math.min(...lives)).toBeGreaterThanOrEqual(TTL * 0.9);
    expect(Math.max(...lives)).toBeLessThanOrEqual(TTL * 1.1);
  });
}

describe('eager refresh and jitter on the memory store', () => {
  suite('memory');
});
describeWithRedis('eager refresh and jitter on Redis (2 managers, one Redis)', () => {
  suite('redis');
});

describe('refreshDue', () => {
  const entry = (computeMs?: number): Envelope => ({ value: 1, createdAt: 0, expiresAt: 10_000, stamp: 's', scope: 'x', ...(computeMs === undefined ? {} : { computeMs }) });

  it('threshold: due from that fraction of the TTL on, never once expired', () => {
    expect(refreshDue({ threshold: 0.8 }, entry(), 7_999, Math.random)).toBe(false);
    expect(refreshDue({ threshold: 0.8 }, entry(), 8_000, Math.random)).toBe(true);
    expect(refreshDue({ threshold: 0.8 }, entry(), 10_000, Math.random)).toBe(false);
    expect(refreshDue({ threshold: 0.8 }, { ...entry(), expiresAt: 0 }, 8_000, Math.random)).toBe(false);
  });

  it('XFetch: the chance of a refresh at d ms before the expiry is exp(-d / (delta * beta))', () => {
    let seed = 1;
    const random = (): number => ((seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647);
    const figures: string[] = [];
    for (const [d, beta] of [
      [500, 1],
      [1_000, 1],
      [2_000, 1],
      [1_000, 2],
    ] as const) {
      let due = 0;
      for (let i = 0; i < 10_000; i++) if (refreshDue({ beta }, entry(1_000), 10_000 - d, random)) due++;
      const expected = Math.exp(-d / (1_000 * beta));
      figures.push(`d=${d} beta=${beta}: ${(due / 100).toFixed(1)}% (exp: ${(expected * 100).toFixed(1)}%)`);
      expect(Math.abs(due / 10_000 - expected)).toBeLessThan(0.03);
    }
    console.log(`[eager-refresh] XFetch over 10,000 draws, delta 1000 ms: ${figures.join('; ')}`);
  });
});

describe('ttlJitter and HTTP responses', () => {
  it('a response cached by @Cached() is never jittered (it must not outlive its own max-age); other writes are', async () => {
    const manager = CacheManager.createSync({ ttlJitter: 0.1, logger: false });
    try {
      const access = internalsOf(manager).access('acme');
      const http = { status: 200, headers: [], etag: '"e"' } as const;
      const lives = Array.from({ length: 100 }, () => access.envelope('body', { ttl: 60_000, http })).map((env) => env.expiresAt - env.createdAt);
      const plain = Array.from({ length: 100 }, () => access.envelope('v', { ttl: 60_000 })).map((env) => env.expiresAt - env.createdAt);
      expect(new Set(lives)).toEqual(new Set([60_000]));
      expect(new Set(plain).size).toBeGreaterThan(1);
    } finally {
      await manager.close();
    }
  });
});
