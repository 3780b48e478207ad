import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Controller, Get, HttpException, Res } from '@nestjs/common';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { CACHE_CHANNELS } from '../../lib/observability/cache-channels.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';
import type { StoreConfig } from '../../lib/stores/store-config.interface.js';
import { createTestApp, type Platform, PLATFORMS, type TestApp } from './helpers/app-factory.js';

/**
 * Concurrent misses for one key run the handler once: the others wait for it and replay its
 * response. The handler is held until every other request has joined (counted on the
 * `stampede-wait` diagnostics channel), so the test does not depend on timing.
 */
let runs = 0;
let mode: 'ok' | 'cookie' | 'throw-first' = 'ok';
let gate: Promise<void> = Promise.resolve();
/** Called when a handler run starts (after `runs` is counted). */
let onRun: (() => void) | undefined;

@Controller('report')
class ReportController {
  @Get()
  @Cached({ ttl: '1m' })
  async report(@Res({ passthrough: true }) res: { header?: (n: string, v: string) => void; setHeader?: (n: string, v: string) => void }) {
    const run = ++runs;
    onRun?.();
    await gate;
    if (mode === 'cookie') (res.setHeader ?? res.header)!.call(res, 'set-cookie', 'session=abc');
    if (mode === 'throw-first' && run === 1) throw new HttpException('upstream failed', 503);
    return { report: 'daily', rows: 3 };
  }
}

function waitsFor(count: number): { reached: Promise<void>; stop(): void } {
  let seen = 0;
  let resolve!: () => void;
  const reached = new Promise<void>((r) => (resolve = r));
  const listener = () => {
    if (++seen === count) resolve();
  };
  subscribe(CACHE_CHANNELS.stampedeWait, listener);
  return { reached, stop: () => unsubscribe(CACHE_CHANNELS.stampedeWait, listener) };
}

/**
 * Holds the handler until `total` requests have either started it or joined a computation
 * (counted on the `stampede-wait` channel, which also counts a wait on another process's lock).
 */
function holdHandlerUntil(total: number): { joins(): number; stop(): void } {
  let release!: () => void;
  gate = new Promise((r) => (release = r));
  let joins = 0;
  const check = () => {
    if (joins + runs === total) release();
  };
  const listener = () => {
    joins++;
    check();
  };
  onRun = check;
  subscribe(CACHE_CHANNELS.stampedeWait, listener);
  return { joins: () => joins, stop: () => unsubscribe(CACHE_CHANNELS.stampedeWait, listener) };
}

/** A fresh app serving ReportController on `store`, with the handler counters reset. */
function bootReports(platform: Platform, store: StoreConfig): Promise<TestApp> {
  runs = 0;
  mode = 'ok';
  return createTestApp(platform, {
    imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store, logger: false })],
    controllers: [ReportController],
  });
}

describe.each(PLATFORMS)('stampede protection on %s', (platform) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await bootReports(platform, { type: 'memory' });
  });
  afterEach(async () => {
    await t.close();
  });

  async function burst(n: number, tenant = 'acme'): Promise<Response[]> {
    return Promise.all(Array.from({ length: n }, () => fetch(`${t.url}/report`, { headers: { 'x-tenant-id': tenant } })));
  }

  /** Holds the handler, sends the requests, releases it once `joins` requests have joined a flight. */
  async function heldBurst<T>(joins: number, send: () => Promise<T>): Promise<T> {
    let release!: () => void;
    gate = new Promise((r) => (release = r));
    const joined = waitsFor(joins);
    try {
      const pending = send();
      await joined.reached;
      release();
      return await pending;
    } finally {
      joined.stop();
    }
  }

  it('runs the handler once for 200 concurrent requests to a cold key; all get its response', async () => {
    const responses = await heldBurst(199, () => burst(200));
    expect(runs).toBe(1);
    const bodies = await Promise.all(responses.map((r) => r.text()));
    expect(new Set(bodies)).toEqual(new Set([JSON.stringify({ report: 'daily', rows: 3 })]));
    const xCache = responses.map((r) => r.headers.get('x-cache'));
    expect(xCache.filter((v) => v === 'MISS')).toHaveLength(1);
    expect(xCache.filter((v) => v === 'HIT')).toHaveLength(199);
    expect(new Set(responses.map((r) => r.headers.get('etag'))).size).toBe(1);
    const manager = t.app.get(CacheManager);
    expect((await manager.stats()).stampedeWaits).toBe(199);
  });

  it('keeps tenants apart: a burst per tenant runs the handler once per tenant', async () => {
    await heldBurst(38, () => Promise.all([burst(20, 'acme'), burst(20, 'globex')]));
    expect(runs).toBe(2);
  });

  it('when the first response is not cacheable (Set-Cookie), the waiters run their own handler', async () => {
    mode = 'cookie';
    const responses = await heldBurst(19, () => burst(20));
    expect(runs).toBe(20);
    for (const r of responses) {
      expect(r.status).toBe(200);
      expect(r.headers.get('x-cache')).toBe('BYPASS');
    }
  });

  it('when the first handler throws, the waiters get its error (one run against a failing backend), nothing is stored, and the next request computes', async () => {
    mode = 'throw-first';
    const responses = await heldBurst(19, () => burst(20));
    console.log(`a failing leader: ${runs} handler run(s) for 20 concurrent requests, statuses ${[...new Set(responses.map((r) => r.status))].join(',')}`);
    expect(runs).toBe(1);
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(503));
    const next = await fetch(`${t.url}/report`, { headers: { 'x-tenant-id': 'acme' } });
    expect(next.status).toBe(200);
    expect(next.headers.get('x-cache')).toBe('MISS');
    expect(runs).toBe(2);
    const after = await fetch(`${t.url}/report`, { headers: { 'x-tenant-id': 'acme' } });
    expect(after.headers.get('x-cache')).toBe('HIT');
  });
});

/**
 * With Redis the lookups of a burst resolve together (the store batches concurrent gets into one
 * MGET), so every request decides between "lead" and "wait" in one go: the flight must be
 * registered at that decision. The handler is held until every request has either joined a
 * flight or started a handler run, then the runs are counted.
 */
describeWithRedis('stampede protection with a Redis store', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describe.each(PLATFORMS)('on %s', (platform) => {
    let t: TestApp;
    beforeEach(async () => {
      t = await bootReports(platform, { type: 'redis', url: server.url });
      // Learn the route (the first request of a route takes the interceptor), on another tenant.
      await fetch(`${t.url}/report`, { headers: { 'x-tenant-id': 'warm-up' } });
      runs = 0;
    });
    afterEach(async () => {
      onRun = undefined;
      await t.close();
    });

    it('runs the handler once for 200 concurrent requests to a cold key', async () => {
      const held = holdHandlerUntil(200);
      try {
        // A tenant of its own: the server outlives each app.
        const tenant = `acme-${platform}`;
        const responses = await Promise.all(Array.from({ length: 200 }, () => fetch(`${t.url}/report`, { headers: { 'x-tenant-id': tenant } })));
        expect(runs).toBe(1);
        expect(held.joins()).toBe(199);
        expect(responses.every((r) => r.status === 200)).toBe(true);
        expect((await fetch(`${t.url}/report`, { headers: { 'x-tenant-id': tenant } })).headers.get('x-cache')).toBe('HIT');
      } finally {
        held.stop();
      }
    });

    it('runs the handler once for 200 concurrent requests to a cold key split across two apps on one Redis', async () => {
      // Two instances share nothing but Redis: the second waits on the store's lock, its other requests on its own flight.
      const other = await createTestApp(platform, { imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store: { type: 'redis', url: server.url }, logger: false })], controllers: [ReportController] });
      try {
        await fetch(`${other.url}/report`, { headers: { 'x-tenant-id': 'warm-up' } });
        runs = 0;
        const held = holdHandlerUntil(200);
        try {
          const tenant = `acme-two-${platform}`;
          const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => fetch(`${(i % 2 === 0 ? t : other).url}/report`, { headers: { 'x-tenant-id': tenant } })));
          const bodies = new Set(await Promise.all(responses.map((r) => r.text())));
          console.log(`[stampede] ${platform}, 2 apps on one Redis, 200 concurrent cold requests (100 each): ${runs} handler run(s), ${held.joins()} waits`);
          expect(runs).toBe(1);
          expect(responses.every((r) => r.status === 200)).toBe(true);
          expect(bodies.size).toBe(1);
        } finally {
          held.stop();
        }
      } finally {
        await other.close();
      }
    });
  });
});
