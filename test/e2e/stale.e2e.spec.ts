import { Controller, Get, HttpException, NotFoundException } from '@nestjs/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { createTestApp, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX, InterceptorProbe } from './helpers/fast-path-probe.js';

/** `@Cached({ grace })`: X-Cache: STALE while one request recomputes, and instead of a server error. */
let version = 0;
let failWith: 'none' | '500' | '404' = 'none';
let gate: Promise<void> = Promise.resolve();

@Controller('price')
class PriceController {
  @Get()
  @Cached({ ttl: '10s', grace: '1m' })
  async price() {
    await gate;
    if (failWith === '500') throw new Error('pricing service down');
    if (failWith === '404') throw new NotFoundException('gone');
    return { version: ++version };
  }

  @Get('no-grace')
  @Cached({ ttl: '10s' })
  async noGrace() {
    if (failWith === '500') throw new HttpException('down', 503);
    return { version: ++version };
  }
}

const interceptor = InterceptorProbe.install();

describe.each(FAST_PATH_MATRIX)('stale responses (grace) on %s, fast path %s', (platform, mode) => {
  const fastPath = mode === 'on';
  let t: TestApp;
  let clock: ManualClock;
  const get = (path = '/price') => fetch(`${t.url}${path}`, { headers: { 'x-tenant-id': 'acme' } });

  beforeEach(async () => {
    version = 0;
    failWith = 'none';
    gate = Promise.resolve();
    clock = new ManualClock();
    t = await createTestApp(platform, {
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store: { type: 'memory' }, clock, logger: false, fastPath })],
      controllers: [PriceController],
    });
    expect((await get()).headers.get('x-cache')).toBe('MISS'); // version 1 stored
  });
  afterEach(async () => {
    await t.close();
  });

  it('while one request recomputes an expired response, the others get the stale one at once', async () => {
    clock.advance(10_000);
    let release!: () => void;
    gate = new Promise((r) => (release = r));
    const leader = get();
    // The leader is held in the handler; these do not wait for it.
    const others = await Promise.all([get(), get(), get()]);
    for (const r of others) {
      expect(r.headers.get('x-cache')).toBe('STALE');
      expect(await r.json()).toEqual({ version: 1 });
    }
    release();
    const fresh = await leader;
    expect(fresh.headers.get('x-cache')).toBe('MISS');
    expect(await fresh.json()).toEqual({ version: 2 });
    const seen = interceptor.count(t);
    const after = await get();
    expect(after.headers.get('x-cache')).toBe('HIT');
    expect(await after.json()).toEqual({ version: 2 });
    // The recomputed entry is fresh again: with the fast path on, its hit skips the interceptor.
    expect(interceptor.count(t) - seen).toBe(fastPath ? 0 : 1);
    expect((await t.app.get(CacheManager).stats()).staleServed).toBe(3);
  });

  it('serves the stale response instead of a server error, and not instead of a 4xx', async () => {
    clock.advance(10_000);
    failWith = '500';
    const stale = await get();
    expect(stale.status).toBe(200);
    expect(stale.headers.get('x-cache')).toBe('STALE');
    expect(await stale.json()).toEqual({ version: 1 });
    failWith = '404';
    expect((await get()).status).toBe(404);
  });

  it('serves a fresh hit before the expiry, then the stale one once it has expired', async () => {
    const seen = interceptor.count(t);
    const hit = await get();
    expect(hit.headers.get('x-cache')).toBe('HIT');
    expect(interceptor.count(t) - seen).toBe(fastPath ? 0 : 1);
    clock.advance(9_999);
    expect((await get()).headers.get('x-cache')).toBe('HIT');
    clock.advance(1);
    failWith = '500';
    const stale = await get();
    expect(stale.headers.get('x-cache')).toBe('STALE');
    expect(await stale.json()).toEqual({ version: 1 });
  });

  it('beyond the grace, or without one, the error goes through', async () => {
    clock.advance(10_000 + 60_000);
    failWith = '500';
    expect((await get()).status).toBe(500);
    failWith = 'none';
    expect((await get('/price/no-grace')).headers.get('x-cache')).toBe('MISS');
    clock.advance(10_000);
    failWith = '500';
    expect((await get('/price/no-grace')).status).toBe(503);
  });
});
