import { Controller, Get, Header, Module, Query, Res } from '@nestjs/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { createTestApp, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX } from './helpers/fast-path-probe.js';

/** RFC 9111 §5.2.2 and §5.3: the response's own freshness wins when stricter than the route's TTL. */
const clock = new ManualClock();
let seq = 0;
let failing = false;
interface PassthroughResponse {
  header(name: string, value: string): unknown;
}

@Controller('f')
class FreshnessController {
  /** Sends `Cache-Control: <cc>` and/or `Expires: <now + expires ms>` (`expires=invalid`: `Expires: 0`). */
  @Get()
  @Cached({ grace: '1m' })
  respond(@Res({ passthrough: true }) res: PassthroughResponse, @Query('cc') cc?: string, @Query('expires') expires?: string) {
    if (failing) throw new Error('origin down');
    if (cc !== undefined) res.header('cache-control', cc);
    if (expires !== undefined) res.header('expires', expires === 'invalid' ? '0' : new Date(clock.now() + Number(expires)).toUTCString());
    return { n: ++seq };
  }

  @Get('partial')
  @Cached()
  partial(@Res({ passthrough: true }) res: PassthroughResponse & { status(code: number): unknown }) {
    res.status(206);
    res.header('content-range', 'bytes 0-4/10');
    return `part${++seq % 10}`;
  }

  @Get('ttl-10s')
  @Cached({ ttl: '10s' })
  @Header('Cache-Control', 'public, max-age=60')
  shortRoute() {
    return { n: ++seq };
  }
}

describe.each(FAST_PATH_MATRIX)('response freshness (RFC 9111 §5.2.2, §5.3) on %s, fast path %s', (platform, mode) => {
  let t: TestApp;
  let tenantSeq = 0;
  beforeAll(async () => {
    @Module({
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, clock, fastPath: mode === 'on', defaultTtl: '1h' })],
      controllers: [FreshnessController],
    })
    class FreshnessModule {}
    t = await createTestApp(platform, { imports: [FreshnessModule] });
  });
  afterAll(() => t?.close());
  beforeEach(() => {
    failing = false;
  });
  const get = (path: string, tenant: string) => t.http().get(path).set('x-tenant-id', tenant);
  const freshTenant = () => `${platform}-${mode}-${++tenantSeq}`;

  it.each([
    ['Cache-Control: no-cache', '?cc=no-cache'],
    ['Cache-Control: no-cache="x-thing"', `?cc=${encodeURIComponent('public, no-cache="x-thing, x-other", max-age=60')}`],
    ['Cache-Control: max-age=0', '?cc=max-age%3D0'],
    ['Cache-Control: must-revalidate, max-age=0', `?cc=${encodeURIComponent('must-revalidate, max-age=0')}`],
    ['Cache-Control: must-revalidate (no freshness)', '?cc=must-revalidate'],
    ['Cache-Control: proxy-revalidate (no freshness)', '?cc=proxy-revalidate'],
    ['Cache-Control: max-age=60, s-maxage=0', `?cc=${encodeURIComponent('public, max-age=60, s-maxage=0')}`],
    ['Cache-Control: max-age=abc', '?cc=max-age%3Dabc'],
    ['a past Expires', '?expires=-1000'],
    ['an invalid Expires (0)', '?expires=invalid'],
  ])('does not store a response with %s (X-Cache: BYPASS, the handler runs every time)', async (what, query) => {
    const tenant = freshTenant();
    const a = await get(`/f${query}`, tenant);
    const b = await get(`/f${query}`, tenant);
    console.log(`[freshness] ${platform}/${mode} ${what}: X-Cache ${a.headers['x-cache']}, ${b.headers['x-cache']}; handler runs ${b.body.n - a.body.n + 1}/2`);
    expect(a.status).toBe(200);
    expect(a.headers['x-cache']).toBe('BYPASS');
    expect(b.headers['x-cache']).toBe('BYPASS');
    expect(b.body.n).toBe(a.body.n + 1);
  });

  it('max-age=1 lives 1 s, not the route TTL: hits at Age 0 until then, a miss after', async () => {
    const tenant = freshTenant();
    const miss = await get('/f?cc=max-age%3D1', tenant);
    clock.advance(999);
    const hit = await get('/f?cc=max-age%3D1', tenant);
    clock.advance(1);
    const after = await get('/f?cc=max-age%3D1', tenant);
    console.log(`[freshness] ${platform}/${mode} max-age=1: at 999 ms ${hit.headers['x-cache']} Age ${hit.headers.age} (${hit.headers['cache-control']}); at 1000 ms ${after.headers['x-cache']}`);
    expect(miss.headers['x-cache']).toBe('MISS');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.headers.age).toBe('0');
    expect(hit.headers['cache-control']).toBe('max-age=0');
    expect(after.headers['x-cache']).toBe('MISS');
    expect(after.body.n).toBe(miss.body.n + 1);
  });

  it('s-maxage wins over max-age; max-age over Expires; Expires minus now without them', async () => {
    const cases: [string, string, number][] = [
      ['s-maxage=5 over max-age=600', `?cc=${encodeURIComponent('max-age=600, s-maxage=5')}`, 5_000],
      ['max-age=7 over Expires in 1 h', `?cc=max-age%3D7&expires=3600000`, 7_000],
      ['Expires in 30 s', '?expires=30000', 30_000],
    ];
    for (const [what, query, lifetime] of cases) {
      const tenant = freshTenant();
      const miss = await get(`/f${query}`, tenant);
      clock.advance(lifetime - 1);
      const hit = await get(`/f${query}`, tenant);
      clock.advance(1);
      const after = await get(`/f${query}`, tenant);
      console.log(`[freshness] ${platform}/${mode} ${what}: ${hit.headers['x-cache']} at ${lifetime - 1} ms (Age ${hit.headers.age}), ${after.headers['x-cache']} at ${lifetime} ms`);
      expect(miss.headers['x-cache'], what).toBe('MISS');
      expect(hit.headers['x-cache'], what).toBe('HIT');
      expect(after.headers['x-cache'], what).toBe('MISS');
    }
  });

  it('a replayed max-age, less the Age sent with it, is what the entry has left (never more)', async () => {
    const tenant = freshTenant();
    await get('/f?cc=max-age%3D60', tenant);
    clock.advance(20_000);
    const hit = await get('/f?cc=max-age%3D60', tenant);
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.headers.age).toBe('20');
    // 40 s left, plus the Age of 20 a downstream cache takes off: the original max-age=60.
    expect(hit.headers['cache-control']).toBe('max-age=60');
    // A route TTL of 10 s under max-age=60 (set by @Header()): what is left is the route's.
    await get('/f/ttl-10s', tenant);
    clock.advance(4_000);
    const short = await get('/f/ttl-10s', tenant);
    console.log(`[freshness] ${platform}/${mode} replayed Cache-Control: max-age=60 at Age 20 -> "${hit.headers['cache-control']}"; route ttl 10s at Age 4 -> "${short.headers['cache-control']}"`);
    expect(short.headers['x-cache']).toBe('HIT');
    // 6 s left, plus Age 4: max-age=10, so a downstream cache keeps it 6 s more, not 56.
    expect(short.headers.age).toBe('4');
    expect(short.headers['cache-control']).toBe('public, max-age=10');
  });

  it('grace never serves stale a response with must-revalidate (nor s-maxage); without it, it does', async () => {
    const strict = freshTenant();
    const lax = freshTenant();
    await get(`/f?cc=${encodeURIComponent('max-age=10, must-revalidate')}`, strict);
    await get('/f?cc=max-age%3D10', lax);
    clock.advance(10_000);
    failing = true;
    const refused = await get(`/f?cc=${encodeURIComponent('max-age=10, must-revalidate')}`, strict);
    const stale = await get('/f?cc=max-age%3D10', lax);
    console.log(`[freshness] ${platform}/${mode} origin down 10 s after max-age=10: must-revalidate -> ${refused.status}, plain -> ${stale.status} ${stale.headers['x-cache']}`);
    expect(refused.status).toBe(500);
    expect(stale.status).toBe(200);
    expect(stale.headers['x-cache']).toBe('STALE');
  });

  it('never stores a 206 (a hit would replay it without its Content-Range)', async () => {
    const tenant = freshTenant();
    const a = await get('/f/partial', tenant);
    const b = await get('/f/partial', tenant);
    console.log(`[freshness] ${platform}/${mode} 206: X-Cache ${a.headers['x-cache']}, ${b.headers['x-cache']}; second Content-Range ${b.headers['content-range']}`);
    expect(a.status).toBe(206);
    expect(a.headers['x-cache']).toBe('BYPASS');
    expect(b.status).toBe(206);
    expect(b.headers['x-cache']).toBe('BYPASS');
    expect(b.headers['content-range']).toBe('bytes 0-4/10');
  });
});
