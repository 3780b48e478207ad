import { Controller, Get, Headers, type MiddlewareConsumer, Module, type NestModule, NotFoundException, Query, Res } from '@nestjs/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { createTestApp, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX, InterceptorProbe } from './helpers/fast-path-probe.js';

/**
 * The rows of the issue "HTTP response caching that follows RFC 9111 and cannot be poisoned"
 * that no other e2e file proves as stated, and the rows of the README's "RFC 9111: what we
 * store" table that had no test. Each test prints its figure.
 */
const clock = new ManualClock();
let seq = 0;
let failing = false;
const FULL = 'abcdefghij';
interface PassthroughResponse {
  header(name: string, value: string): unknown;
  status(code: number): unknown;
}

@Controller('o')
class ObservationsController {
  /**
   * A byte-range server: `Range: bytes=0-4` gets 206 with the first five bytes, anything else the
   * whole 200. It reads `Range`, so the key holds it (the unkeyed-input guard would refuse to
   * store its responses otherwise).
   */
  @Get('range')
  @Cached({ ttl: '1m', vary: ['range'] })
  range(@Res({ passthrough: true }) res: PassthroughResponse, @Headers('range') range?: string) {
    const full = `${String(++seq).padStart(4, '0')}${FULL}`;
    if (range === 'bytes=0-4') {
      res.status(206);
      res.header('content-range', `bytes 0-4/${full.length}`);
      return full.slice(0, 5);
    }
    return full;
  }

  @Get('missing')
  @Cached({ ttl: '1m' })
  missing() {
    seq++;
    throw new NotFoundException('no such item');
  }

  /** Sends `Cache-Control: <cc>`, `Expires: <now + expires ms>`, a `Date` `date` ms from now; `fail=1` throws while `failing`. */
  @Get('fresh')
  @Cached({ grace: '1m' })
  fresh(@Res({ passthrough: true }) res: PassthroughResponse, @Query('cc') cc?: string, @Query('expires') expires?: string) {
    if (failing) throw new Error('origin down');
    if (cc !== undefined) res.header('cache-control', cc);
    if (expires !== undefined) res.header('expires', new Date(clock.now() + Number(expires)).toUTCString());
    return { n: ++seq };
  }

  /** No route TTL (0: no expiry): the response's own `max-age` decides. */
  @Get('no-ttl')
  @Cached({ ttl: 0 })
  noTtl(@Res({ passthrough: true }) res: PassthroughResponse) {
    res.header('cache-control', 'max-age=5');
    return { n: ++seq };
  }

  /** Answers with the `X-Foo` it was sent; a middleware said `Vary: X-Foo` before it ran. */
  @Get('vary-by-middleware')
  @Cached()
  varyByMiddleware(@Headers('x-foo') foo?: string) {
    return { n: ++seq, foo: foo ?? null };
  }

  /** A route TTL of 10 s under an `Expires` an hour away. */
  @Get('expires-10s')
  @Cached({ ttl: '10s' })
  expires10s(@Res({ passthrough: true }) res: PassthroughResponse) {
    res.header('expires', new Date(clock.now() + 3_600_000).toUTCString());
    return { n: ++seq };
  }
}

const interceptor = InterceptorProbe.install();

describe.each(FAST_PATH_MATRIX)('RFC 9111 observations on %s, fast path %s', (platform, mode) => {
  const fastPath = mode === 'on';
  const cell = `(${platform}, fastPath ${mode})`;
  let t: TestApp;
  let tenantSeq = 0;
  beforeAll(async () => {
    @Module({
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, clock, fastPath, defaultTtl: '1h' })],
      controllers: [ObservationsController],
    })
    class ObservationsModule implements NestModule {
      configure(consumer: MiddlewareConsumer): void {
        consumer
          .apply((_req: unknown, res: { setHeader(name: string, value: string): void }, next: () => void) => {
            res.setHeader('vary', 'X-Foo');
            next();
          })
          .forRoutes('o/vary-by-middleware');
      }
    }
    t = await createTestApp(platform, { imports: [ObservationsModule] });
  });
  afterAll(() => t?.close());
  beforeEach(() => {
    failing = false;
  });
  const freshTenant = () => `obs-${platform}-${mode}-${++tenantSeq}`;
  const get = (path: string, tenant: string, headers: Record<string, string> = {}) => t.http().get(path).set('x-tenant-id', tenant).set(headers);
  /** Whether a hit was served where it should be: before Nest's pipeline with the fast path on, by the interceptor with it off. */
  const servedBy = async <R>(send: () => PromiseLike<R>): Promise<{ res: R; interceptorRuns: number }> => {
    const before = interceptor.count(t);
    const res = await send();
    return { res, interceptorRuns: interceptor.count(t) - before };
  };

  it(`obs 8: a 206 to a Range request is never replayed to a request without Range ${cell}`, async () => {
    const tenant = freshTenant();
    const attack = await get('/o/range', tenant, { range: 'bytes=0-4' });
    const victim = await get('/o/range', tenant);
    const { res: again, interceptorRuns } = await servedBy(() => get('/o/range', tenant));
    const ranged = await get('/o/range', tenant, { range: 'bytes=0-4' });
    console.log(
      `[obs 8] ${platform}/${mode}: Range request ${attack.status} ${attack.headers['x-cache']} "${attack.text}" (${attack.headers['content-range']}); ` +
        `the victim without Range ${victim.status} ${victim.headers['x-cache']} "${victim.text}" Content-Range ${String(victim.headers['content-range'])}; ` +
        `again ${again.status} ${again.headers['x-cache']}; a Range request again: ${ranged.status} ${ranged.headers['x-cache']}`,
    );
    expect(attack.status).toBe(206);
    expect(attack.headers['x-cache']).toBe('BYPASS');
    expect(victim.status).toBe(200);
    expect(victim.headers['x-cache']).toBe('MISS');
    expect(victim.text).toMatch(new RegExp(`^\\d{4}${FULL}$`));
    expect(victim.headers['content-range']).toBeUndefined();
    expect(again.status).toBe(200);
    expect(again.headers['x-cache']).toBe('HIT');
    expect(again.text).toBe(victim.text);
    expect(again.headers['content-range']).toBeUndefined();
    expect(interceptorRuns).toBe(fastPath ? 0 : 1);
    // A Range request again: its own 206 from the handler, never stored, never the stored 200's bytes as a part.
    expect(ranged.status).toBe(206);
    expect(ranged.headers['x-cache']).toBe('BYPASS');
    expect(ranged.headers['content-range']).toMatch(/^bytes 0-4\//);
  });

  it(`obs 11: a thrown 404 says X-Cache: BYPASS, never MISS, and is not stored ${cell}`, async () => {
    const tenant = freshTenant();
    const before = seq;
    const a = await get('/o/missing', tenant);
    const b = await get('/o/missing', tenant);
    console.log(`[obs 11] ${platform}/${mode}: a thrown NotFoundException: ${a.status} X-Cache ${a.headers['x-cache']}, then ${b.status} ${b.headers['x-cache']}; handler runs ${seq - before}/2`);
    expect([a.status, b.status]).toEqual([404, 404]);
    expect([a.headers['x-cache'], b.headers['x-cache']]).toEqual(['BYPASS', 'BYPASS']);
    expect(a.headers.age).toBeUndefined();
    expect(seq - before).toBe(2);
  });

  it.each([
    ['private="x-user"', 'private="x-user", max-age=60'],
    ['no-store with a max-age', 'no-store, max-age=60'],
    ['max-age=-1', 'max-age=-1'],
    ['max-age= (no value)', 'max-age='],
    ['max-age=1.5', 'max-age=1.5'],
    ['an unreadable Cache-Control', 'max-age="60'],
  ])(`RFC 9111 §5.2.2: a response with %s is not stored ${cell}`, async (what, cc) => {
    const tenant = freshTenant();
    const path = `/o/fresh?cc=${encodeURIComponent(cc)}`;
    const a = await get(path, tenant);
    const b = await get(path, tenant);
    console.log(`[rfc9111] ${platform}/${mode} Cache-Control: ${cc}: X-Cache ${a.headers['x-cache']}, ${b.headers['x-cache']}; handler runs ${b.body.n - a.body.n + 1}/2`);
    expect(a.status).toBe(200);
    expect([a.headers['x-cache'], b.headers['x-cache']], what).toEqual(['BYPASS', 'BYPASS']);
    expect(b.body.n).toBe(a.body.n + 1);
  });

  it.each([
    ['max-age="60" (quoted)', 'max-age="60"', 60_000],
    ['max-age=60, max-age=5 (repeated: the smaller)', 'max-age=60, max-age=5', 5_000],
    ['max-age=1, s-maxage=30 (s-maxage wins for a shared cache, even when larger)', 'max-age=1, s-maxage=30', 30_000],
    ['public, immutable, stale-while-revalidate=600, stale-if-error=600, max-age=5 (the other directives change nothing)', 'public, immutable, stale-while-revalidate=600, stale-if-error=600, max-age=5', 5_000],
  ])(`RFC 9111 §5.2.2: %s sets the entry's lifetime ${cell}`, async (what, cc, lifetime) => {
    const tenant = freshTenant();
    const path = `/o/fresh?cc=${encodeURIComponent(cc)}`;
    const miss = await get(path, tenant);
    clock.advance(lifetime - 1);
    const hit = await get(path, tenant);
    clock.advance(1);
    const after = await get(path, tenant);
    console.log(`[rfc9111] ${platform}/${mode} ${what}: ${hit.headers['x-cache']} at ${lifetime - 1} ms (Cache-Control "${hit.headers['cache-control']}"), ${after.headers['x-cache']} at ${lifetime} ms`);
    expect(miss.headers['x-cache']).toBe('MISS');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.body).toEqual(miss.body);
    expect(after.headers['x-cache']).toBe('MISS');
    expect(after.body.n).toBeGreaterThan(miss.body.n);
  });

  it(`RFC 9111 §5.2.2.1: max-age=5 on a route whose ttl is 0 (no expiry) lives 5 s ${cell}`, async () => {
    const tenant = freshTenant();
    const miss = await get('/o/no-ttl', tenant);
    clock.advance(4_999);
    const hit = await get('/o/no-ttl', tenant);
    clock.advance(1);
    const after = await get('/o/no-ttl', tenant);
    console.log(`[rfc9111] ${platform}/${mode} ttl 0 and max-age=5: ${hit.headers['x-cache']} at 4999 ms, ${after.headers['x-cache']} at 5000 ms`);
    expect(miss.headers['x-cache']).toBe('MISS');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(after.headers['x-cache']).toBe('MISS');
  });

  it(`RFC 9111 §4.1: a Vary set by middleware before the handler ran is honoured ${cell}`, async () => {
    const tenant = freshTenant();
    const alice = await get('/o/vary-by-middleware', tenant, { 'x-foo': 'alice' });
    const aliceAgain = await get('/o/vary-by-middleware', tenant, { 'x-foo': 'alice' });
    const bob = await get('/o/vary-by-middleware', tenant, { 'x-foo': 'bob' });
    console.log(`[rfc9111] ${platform}/${mode} Vary: X-Foo from middleware: alice ${alice.headers['x-cache']}, ${aliceAgain.headers['x-cache']}; bob ${bob.headers['x-cache']} sees ${JSON.stringify(bob.body.foo)}`);
    expect(alice.headers.vary).toMatch(/x-foo/i);
    expect([alice.headers['x-cache'], aliceAgain.headers['x-cache']]).toEqual(['MISS', 'HIT']);
    expect(bob.headers['x-cache']).toBe('MISS');
    expect(bob.body.foo).toBe('bob');
  });

  it(`RFC 9111 §5.2.2.10: s-maxage=30 under max-age=1 is replayed as what is left plus the Age sent ${cell}`, async () => {
    const tenant = freshTenant();
    const path = `/o/fresh?cc=${encodeURIComponent('max-age=1, s-maxage=30')}`;
    await get(path, tenant);
    clock.advance(20_000);
    const hit = await get(path, tenant);
    console.log(`[rfc9111] ${platform}/${mode} max-age=1, s-maxage=30 at Age ${hit.headers.age}: "${hit.headers['cache-control']}"`);
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.headers.age).toBe('20');
    // 10 s left plus Age 20: a shared cache downstream keeps it the same 10 s more.
    expect(hit.headers['cache-control']).toBe('max-age=1, s-maxage=30');
  });

  it.each([
    ['proxy-revalidate, max-age=10', 'proxy-revalidate, max-age=10'],
    ['s-maxage=10', 's-maxage=10'],
  ])(`RFC 9111 §5.2.2.8, §5.2.2.10: %s is never served stale, whatever the route's grace ${cell}`, async (what, cc) => {
    const strict = freshTenant();
    const lax = freshTenant();
    await get(`/o/fresh?cc=${encodeURIComponent(cc)}`, strict);
    await get('/o/fresh?cc=max-age%3D10', lax);
    clock.advance(10_000);
    failing = true;
    const refused = await get(`/o/fresh?cc=${encodeURIComponent(cc)}`, strict);
    const stale = await get('/o/fresh?cc=max-age%3D10', lax);
    console.log(`[rfc9111] ${platform}/${mode} origin down 10 s after ${what}: ${refused.status} ${refused.headers['x-cache']}; plain max-age=10: ${stale.status} ${stale.headers['x-cache']}`);
    expect(refused.status).toBe(500);
    expect(refused.headers['x-cache']).toBe('BYPASS');
    expect(stale.status).toBe(200);
    expect(stale.headers['x-cache']).toBe('STALE');
  });

  it(`RFC 9111 §5.3: a replayed Expires, less the Age sent with it, says when the entry expires, never later ${cell}`, async () => {
    const tenant = freshTenant();
    const storedAt = clock.now();
    const miss = await get('/o/expires-10s', tenant);
    clock.advance(4_000);
    const hit = await get('/o/expires-10s', tenant);
    console.log(`[rfc9111] ${platform}/${mode} Expires in 1 h under a route ttl of 10 s: miss "${miss.headers.expires}", hit at Age ${hit.headers.age} "${hit.headers.expires}"`);
    expect(miss.headers.expires).toBe(new Date(storedAt + 3_600_000).toUTCString());
    expect(hit.headers['x-cache']).toBe('HIT');
    // Against the hit's own Date (now): 6 s left plus Age 4.
    expect(hit.headers.age).toBe('4');
    expect(hit.headers.expires).toBe(new Date(storedAt + 4_000 + 10_000).toUTCString());
  });

  it.each([
    ['public, s-maxage=60', 'public, s-maxage=60'],
    ['must-revalidate, max-age=60', 'must-revalidate, max-age=60'],
  ])(`RFC 9111 §3.5: a request with Authorization bypasses an implicit-scope route even when the response says %s ${cell}`, async (what, cc) => {
    const tenant = freshTenant();
    const path = `/o/fresh?cc=${encodeURIComponent(cc)}`;
    const a = await get(path, tenant, { authorization: 'Bearer alice' });
    const b = await get(path, tenant, { authorization: 'Bearer bob' });
    const bare = await get(path, tenant);
    console.log(`[rfc9111] ${platform}/${mode} Authorization, response ${what}: ${a.headers['x-cache']}, ${b.headers['x-cache']}; then without credentials ${bare.headers['x-cache']}; handler runs ${bare.body.n - a.body.n + 1}/3`);
    expect([a.headers['x-cache'], b.headers['x-cache']]).toEqual(['BYPASS', 'BYPASS']);
    expect(b.body.n).toBe(a.body.n + 1);
    expect(bare.headers['x-cache']).toBe('MISS');
    expect(bare.body.n).toBe(b.body.n + 1);
  });

  it(`RFC 9110 §13.1.2: If-None-Match: * gets 304 on a hit ${cell}`, async () => {
    const tenant = freshTenant();
    const miss = await get('/o/fresh?inm=1', tenant);
    const star = await get('/o/fresh?inm=1', tenant, { 'if-none-match': '*' });
    console.log(`[rfc9111] ${platform}/${mode} If-None-Match: *: ${star.status} ${star.headers['x-cache']} ETag ${star.headers.etag}`);
    expect(star.status).toBe(304);
    expect(star.headers['x-cache']).toBe('HIT');
    expect(star.headers.etag).toBe(miss.headers.etag);
    expect(star.text ?? '').toBe('');
  });

  it(`RFC 9110 §13.1.3: If-Modified-Since on a response without Last-Modified gets the whole 200 ${cell}`, async () => {
    const tenant = freshTenant();
    const miss = await get('/o/fresh?ims=1', tenant);
    const since = await get('/o/fresh?ims=1', tenant, { 'if-modified-since': new Date(clock.now() + 86_400_000).toUTCString() });
    console.log(`[rfc9111] ${platform}/${mode} If-Modified-Since (tomorrow), no Last-Modified: ${since.status} ${since.headers['x-cache']}`);
    expect(since.status).toBe(200);
    expect(since.headers['x-cache']).toBe('HIT');
    expect(since.body).toEqual(miss.body);
  });

  it.each([
    ['Cache-Control: no-cache', { 'cache-control': 'no-cache' }],
    ['Cache-Control: no-store', { 'cache-control': 'no-store' }],
    ['Cache-Control: max-age=0', { 'cache-control': 'max-age=0' }],
    ['Pragma: no-cache', { pragma: 'no-cache' }],
  ])(`RFC 9111 §5.2.1: a request's %s is ignored by default: it still gets the HIT ${cell}`, async (what, headers) => {
    const tenant = freshTenant();
    const miss = await get('/o/fresh?req-cc=1', tenant);
    const { res: hit, interceptorRuns } = await servedBy(() => get('/o/fresh?req-cc=1', tenant, headers));
    console.log(`[rfc9111] ${platform}/${mode} request ${what}: ${hit.headers['x-cache']}, handler runs 1, interceptor runs for the hit ${interceptorRuns}`);
    expect(miss.headers['x-cache']).toBe('MISS');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.body).toEqual(miss.body);
    expect(interceptorRuns).toBe(fastPath ? 0 : 1);
  });
});
