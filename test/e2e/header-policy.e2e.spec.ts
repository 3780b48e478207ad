import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Controller, Get, Headers, Injectable, Module, Res, UseInterceptors, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { CACHE_CHANNELS, type CacheEvent } from '../../lib/observability/cache-channels.js';
import type { CacheModuleOptions } from '../../lib/options/cache-module-options.interface.js';
import { DEFAULT_CACHEABLE_HEADERS, DEFAULT_PER_REQUEST_HEADERS } from '../../lib/options/module-options.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, RecordingLogger, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX, InterceptorProbe, PROBE_HEADER } from './helpers/fast-path-probe.js';

/**
 * Which response headers a `@Cached()` hit replays. The figures: headers about one
 * request (`X-Request-User`, `X-RateLimit-Remaining`, set by an interceptor after the cache's)
 * were stored under the `x-*` wildcard and replayed to bob; the page's security and CORS
 * headers and `Retry-After`, set by the handler, were dropped from every hit without a word.
 */

const ALICE = 'https://alice.example';
const BOB = 'https://bob.example';
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'",
  'content-security-policy-report-only': "script-src 'self'",
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
  'referrer-policy': 'no-referrer',
  'permissions-policy': 'geolocation=()',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'etag',
  'retry-after': '120',
};
let runs = 0;
let remaining = 10;

interface HeaderSetter {
  header(name: string, value: string): unknown;
}
type Req = { headers: Record<string, string | undefined> };

/** What a rate limiter and a request logger add, after the cache's interceptor. */
@Injectable()
class PerRequestHeaders implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const res = http.getResponse<HeaderSetter>();
    res.header('X-Request-User', http.getRequest<Req>().headers['x-user'] ?? 'anonymous');
    res.header('X-RateLimit-Remaining', String(--remaining));
    return next.handle();
  }
}

@Controller('hp')
class HeaderPolicyController {
  @Get('per-user')
  @Cached()
  @UseInterceptors(PerRequestHeaders)
  perUser() {
    return { n: ++runs };
  }

  @Get('security')
  @Cached()
  security(@Res({ passthrough: true }) res: HeaderSetter) {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.header(name, value);
    return { n: ++runs };
  }

  /** Reflects the origin without saying the response varies on it. */
  @Get('cors-reflect')
  @Cached()
  corsReflect(@Res({ passthrough: true }) res: HeaderSetter, @Headers('origin') origin: string | undefined) {
    if (origin !== undefined) res.header('Access-Control-Allow-Origin', origin);
    return { n: ++runs };
  }

  /** Reflects the origin and says so (`Vary: Origin`). */
  @Get('cors-vary')
  @Cached()
  corsVary(@Res({ passthrough: true }) res: HeaderSetter, @Headers('origin') origin: string | undefined) {
    if (origin !== undefined) res.header('Access-Control-Allow-Origin', origin);
    res.header('Access-Control-Allow-Credentials', 'true');
    res.header('Vary', 'Origin');
    return { n: ++runs, origin: origin ?? null };
  }

  /** Reflects the origin; the route's key holds it (`@Cached({ vary: ['origin'] })`). */
  @Get('cors-key')
  @Cached({ vary: ['origin'] })
  corsKey(@Res({ passthrough: true }) res: HeaderSetter, @Headers('origin') origin: string | undefined) {
    if (origin !== undefined) res.header('Access-Control-Allow-Origin', origin);
    return { n: ++runs, origin: origin ?? null };
  }

  /** Headers of every kind the policy sorts: custom, per-request, never stored, always stored. */
  @Get('custom')
  @Cached()
  custom(@Res({ passthrough: true }) res: HeaderSetter) {
    res.header('X-Foo', 'secret-value-123');
    res.header('X-Request-Id', 'req-456');
    res.header('X-RateLimit-Limit', '100');
    res.header('ETag', '"own"');
    res.header('Content-Language', 'fr');
    res.header('Content-Type', 'application/json; charset=utf-8');
    return { n: ++runs };
  }

  /** What a request-scoped header of the handler's own looks like. */
  @Get('user-header')
  @Cached()
  userHeader(@Res({ passthrough: true }) res: HeaderSetter, @Headers('x-user') user: string | undefined) {
    res.header('X-Request-User', user ?? 'anonymous');
    res.header('X-Api-Version', '7');
    return { n: ++runs };
  }

  @Get('plain')
  @Cached()
  plain() {
    return { n: ++runs };
  }
}

const interceptor = InterceptorProbe.install();
let tenantSeq = 0;
const freshTenant = (): string => `hp-${++tenantSeq}`;
let probeSeq = 0;

function boot(platform: 'express' | 'fastify', options: Partial<CacheModuleOptions>, beforeListen?: Parameters<typeof createTestApp>[2]): Promise<TestApp> {
  // These handlers read `x-user` and `origin` without keying them, which the unkeyed-input guard
  // refuses to store (test/e2e/poisoning.e2e.spec.ts): declared safe here, so what is tested is
  // the replay policy alone.
  @Module({ imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), safeHeaders: ['x-user', 'origin'], ...options })], controllers: [HeaderPolicyController] })
  class HeaderPolicyModule {}
  return createTestApp(platform, { imports: [HeaderPolicyModule] }, beforeListen);
}

/** The `bypass` events published while `run` runs. */
async function bypassesDuring(run: () => Promise<void>): Promise<CacheEvent[]> {
  const seen: CacheEvent[] = [];
  const listener = (event: unknown) => seen.push(event as CacheEvent);
  subscribe(CACHE_CHANNELS.bypass, listener);
  try {
    await run();
  } finally {
    unsubscribe(CACHE_CHANNELS.bypass, listener);
  }
  return seen;
}

describe.each(FAST_PATH_MATRIX)('the header policy of @Cached() hits on %s, fast path %s', (platform, mode) => {
  let t: TestApp;
  const logger = new RecordingLogger();
  beforeAll(async () => {
    t = await boot(platform, { logger, fastPath: mode === 'on' });
  });
  afterAll(() => t?.close());

  const get = (path: string, tenant: string, headers: Record<string, string> = {}) => t.http().get(path).set('x-tenant-id', tenant).set(headers);
  /** A request carrying a fresh probe, and whether the interceptor (not the fast path) served it. */
  const probed = async (path: string, tenant: string, headers: Record<string, string> = {}) => {
    const probe = `p${++probeSeq}`;
    const res = await get(path, tenant, { ...headers, [PROBE_HEADER]: probe });
    return { res, viaInterceptor: interceptor.sawProbe(t, probe) };
  };

  it("per-request headers an inner interceptor set (X-Request-User, X-RateLimit-Remaining) are not replayed to bob", async () => {
    const tenant = freshTenant();
    await get('/hp/per-user', 'learn-' + tenant, { 'x-user': 'nobody' }); // the route is learned by the fast path
    const alice = await get('/hp/per-user', tenant, { 'x-user': 'alice' });
    const bob = await probed('/hp/per-user', tenant, { 'x-user': 'bob' });
    console.log(
      `[header-policy] ${platform}/${mode}: alice ${alice.headers['x-cache']} x-request-user=${alice.headers['x-request-user']} x-ratelimit-remaining=${alice.headers['x-ratelimit-remaining']}; ` +
        `bob ${bob.res.headers['x-cache']} (${bob.viaInterceptor ? 'interceptor' : 'fast path'}) x-request-user=${bob.res.headers['x-request-user']} x-ratelimit-remaining=${bob.res.headers['x-ratelimit-remaining']}`,
    );
    expect(alice.headers['x-cache']).toBe('MISS');
    expect(alice.headers['x-request-user']).toBe('alice');
    expect(bob.res.headers['x-cache']).toBe('HIT');
    expect(bob.viaInterceptor).toBe(mode === 'off');
    expect(bob.res.body).toEqual(alice.body);
    expect(bob.res.headers['x-request-user']).toBeUndefined();
    expect(bob.res.headers['x-ratelimit-remaining']).toBeUndefined();
  });

  it('security, CORS and Retry-After headers the handler set are replayed on a hit', async () => {
    const tenant = freshTenant();
    await get('/hp/security', 'learn-' + tenant);
    const alice = await get('/hp/security', tenant);
    const bob = await probed('/hp/security', tenant);
    const replayed = Object.keys(SECURITY_HEADERS).filter((name) => bob.res.headers[name] === SECURITY_HEADERS[name]);
    const dropped = Object.keys(SECURITY_HEADERS).filter((name) => bob.res.headers[name] !== SECURITY_HEADERS[name]);
    console.log(`[header-policy] ${platform}/${mode}: bob's ${bob.res.headers['x-cache']} replayed ${replayed.length}/${Object.keys(SECURITY_HEADERS).length}, dropped ${JSON.stringify(dropped)}`);
    expect(alice.headers['x-cache']).toBe('MISS');
    expect(bob.res.headers['x-cache']).toBe('HIT');
    expect(bob.viaInterceptor).toBe(mode === 'off');
    expect(dropped).toEqual([]);
  });

  it("a response naming one origin in Access-Control-Allow-Origin without Vary: Origin is not stored, and said once", async () => {
    const tenant = freshTenant();
    const before = runs;
    let alice: Awaited<ReturnType<typeof get>> | undefined;
    let bob: Awaited<ReturnType<typeof get>> | undefined;
    const bypasses = await bypassesDuring(async () => {
      alice = await get('/hp/cors-reflect', tenant, { origin: ALICE });
      bob = await get('/hp/cors-reflect', tenant, { origin: BOB });
    });
    const warnings = logger.warnings.filter((w) => w.includes('HeaderPolicyController.corsReflect'));
    console.log(`[header-policy] ${platform}/${mode}: alice ${alice!.headers['x-cache']} acao=${alice!.headers['access-control-allow-origin']}; bob ${bob!.headers['x-cache']} acao=${bob!.headers['access-control-allow-origin']}; bypass reasons ${JSON.stringify(bypasses.map((b) => b.reason))}; ${warnings.length} warning(s)`);
    expect(bob!.headers['access-control-allow-origin']).toBe(BOB);
    expect(bob!.headers['x-cache']).toBe('BYPASS');
    expect(runs - before).toBe(2);
    expect(bypasses.map((b) => b.reason)).toEqual(['Access-Control-Allow-Origin names one origin without Vary: Origin', 'Access-Control-Allow-Origin names one origin without Vary: Origin']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/Vary: Origin.*vary: \['origin'\]/);
    expect(warnings[0]).not.toContain(ALICE);
  });

  it.each([
    ['Vary: Origin on the response', '/hp/cors-vary'],
    ["vary: ['origin'] on the route", '/hp/cors-key'],
  ])("%s: alice-origin's Access-Control-Allow-Origin is never replayed to bob-origin", async (_what, path) => {
    const tenant = freshTenant();
    await get(path, 'learn-' + tenant, { origin: ALICE });
    const alice = await get(path, tenant, { origin: ALICE });
    const aliceAgain = await probed(path, tenant, { origin: ALICE });
    const bob = await get(path, tenant, { origin: BOB });
    const bobAgain = await probed(path, tenant, { origin: BOB });
    console.log(
      `[header-policy] ${platform}/${mode} ${path}: alice ${alice.headers['x-cache']} then ${aliceAgain.res.headers['x-cache']} acao=${aliceAgain.res.headers['access-control-allow-origin']}; ` +
        `bob ${bob.headers['x-cache']} acao=${bob.headers['access-control-allow-origin']}, then ${bobAgain.res.headers['x-cache']} acao=${bobAgain.res.headers['access-control-allow-origin']}`,
    );
    expect(alice.headers['x-cache']).toBe('MISS');
    expect(aliceAgain.res.headers['x-cache']).toBe('HIT');
    expect(aliceAgain.viaInterceptor).toBe(mode === 'off');
    expect(aliceAgain.res.headers['access-control-allow-origin']).toBe(ALICE);
    expect(bob.headers['x-cache']).toBe('MISS');
    expect(bob.headers['access-control-allow-origin']).toBe(BOB);
    expect(bobAgain.res.headers['x-cache']).toBe('HIT');
    expect(bobAgain.res.headers['access-control-allow-origin']).toBe(BOB);
    expect(bobAgain.res.body.origin).toBe(BOB);
  });

  it('reports each dropped handler-set header once per route, by name only; never the ones stored or never stored by design', async () => {
    const tenant = freshTenant();
    const first = await get('/hp/custom', tenant);
    await get('/hp/custom', freshTenant()); // another miss of the same route: nothing new to say
    expect((await get('/hp/custom', tenant)).headers['x-cache']).toBe('HIT');
    const warnings = logger.warnings.filter((w) => w.includes('HeaderPolicyController.custom'));
    console.log(`[header-policy] ${platform}/${mode}: ${JSON.stringify(warnings)}`);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(warnings).toEqual([
      '@Cached() on HeaderPolicyController.custom: the response header x-foo is not replayed on hits (not in cacheableHeaders). Add it to cacheableHeaders if every user may see it, or to perRequestHeaders to silence this.',
    ]);
    for (const w of logger.warnings) {
      expect(w).not.toContain('secret-value-123');
      expect(w).not.toContain('req-456');
    }
  });

  it('a hit carries the ETag and always-stored headers, not the dropped ones', async () => {
    const tenant = freshTenant();
    await get('/hp/custom', tenant);
    const hit = await get('/hp/custom', tenant);
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.headers['etag']).toBe('"own"');
    expect(hit.headers['content-language']).toBe('fr');
    expect(hit.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(hit.headers['x-foo']).toBeUndefined();
    expect(hit.headers['x-request-id']).toBeUndefined();
    expect(hit.headers['x-ratelimit-limit']).toBeUndefined();
  });
});

describe.each(FAST_PATH_MATRIX)('cacheableHeaders with x-* and perRequestHeaders of your own on %s, fast path %s', (platform, mode) => {
  let t: TestApp;
  const logger = new RecordingLogger();
  beforeAll(async () => {
    t = await boot(platform, {
      logger,
      fastPath: mode === 'on',
      cacheableHeaders: [...DEFAULT_CACHEABLE_HEADERS, 'x-*'],
      perRequestHeaders: [...DEFAULT_PER_REQUEST_HEADERS, 'x-request-user'],
    });
  });
  afterAll(() => t?.close());
  const get = (path: string, tenant: string, headers: Record<string, string> = {}) => t.http().get(path).set('x-tenant-id', tenant).set(headers);

  it('replays x-* headers except the per-request ones (the default list and your additions), and says so once per route', async () => {
    const tenant = freshTenant();
    await get('/hp/user-header', tenant, { 'x-user': 'alice' });
    await get('/hp/custom', tenant);
    const bob = await get('/hp/user-header', tenant, { 'x-user': 'bob' });
    const custom = await get('/hp/custom', tenant);
    console.log(`[header-policy] ${platform}/${mode} x-*: bob ${bob.headers['x-cache']} x-request-user=${bob.headers['x-request-user']} x-api-version=${bob.headers['x-api-version']}; custom ${custom.headers['x-cache']} x-foo=${custom.headers['x-foo']} x-request-id=${custom.headers['x-request-id']} x-ratelimit-limit=${custom.headers['x-ratelimit-limit']}`);
    expect(bob.headers['x-cache']).toBe('HIT');
    expect(bob.headers['x-request-user']).toBeUndefined();
    expect(bob.headers['x-api-version']).toBe('7');
    expect(custom.headers['x-cache']).toBe('HIT');
    expect(custom.headers['x-foo']).toBe('secret-value-123');
    expect(custom.headers['x-request-id']).toBeUndefined();
    expect(custom.headers['x-ratelimit-limit']).toBeUndefined();
    const said = logger.warnings.filter((w) => w.includes('HeaderPolicyController.')).sort();
    expect(said).toEqual([
      '@Cached() on HeaderPolicyController.custom: the response header x-ratelimit-limit is per-request (in perRequestHeaders) and is not replayed on hits, although cacheableHeaders matches it.',
      '@Cached() on HeaderPolicyController.custom: the response header x-request-id is per-request (in perRequestHeaders) and is not replayed on hits, although cacheableHeaders matches it.',
      '@Cached() on HeaderPolicyController.userHeader: the response header x-request-user is per-request (in perRequestHeaders) and is not replayed on hits, although cacheableHeaders matches it.',
    ]);
  });
});

describe.each(FAST_PATH_MATRIX)('app.enableCors() in front of a cached route on %s, fast path %s', (platform, mode) => {
  let reflecting: TestApp;
  let wildcard: TestApp;
  beforeAll(async () => {
    reflecting = await boot(platform, { logger: false, fastPath: mode === 'on' }, (app) => app.enableCors({ origin: true, credentials: true }));
    wildcard = await boot(platform, { logger: false, fastPath: mode === 'on' }, (app) => app.enableCors());
  });
  afterAll(() => Promise.all([reflecting?.close(), wildcard?.close()]));

  const probed = async (t: TestApp, tenant: string, origin: string | undefined) => {
    const probe = `p${++probeSeq}`;
    const res = await t
      .http()
      .get('/hp/plain')
      .set({ 'x-tenant-id': tenant, [PROBE_HEADER]: probe, ...(origin === undefined ? {} : { origin }) });
    return { res, viaInterceptor: interceptor.sawProbe(t, probe) };
  };

  it("{ origin: true }: a hit carries the CORS headers of its own request's origin, never the stored one", async () => {
    const tenant = freshTenant();
    await probed(reflecting, 'learn-' + tenant, ALICE);
    const alice = await probed(reflecting, tenant, ALICE);
    const aliceAgain = await probed(reflecting, tenant, ALICE);
    const bob = await probed(reflecting, tenant, BOB);
    const bobAgain = await probed(reflecting, tenant, BOB);
    const none = await probed(reflecting, tenant, undefined);
    const row = (name: string, r: Awaited<ReturnType<typeof probed>>) =>
      `${name} ${r.res.headers['x-cache']}${r.viaInterceptor ? '' : ' (fast path)'} acao=${r.res.headers['access-control-allow-origin']} vary=${r.res.headers['vary']}`;
    console.log(`[header-policy] ${platform}/${mode} enableCors({ origin: true }): ${[row('alice', alice), row('alice', aliceAgain), row('bob', bob), row('bob', bobAgain), row('no origin', none)].join('; ')}`);
    expect(alice.res.headers['access-control-allow-origin']).toBe(ALICE);
    expect(aliceAgain.res.headers['x-cache']).toBe('HIT');
    expect(aliceAgain.viaInterceptor).toBe(mode === 'off');
    expect(aliceAgain.res.headers['access-control-allow-origin']).toBe(ALICE);
    expect(aliceAgain.res.headers['access-control-allow-credentials']).toBe('true');
    for (const r of [bob, bobAgain]) {
      expect(r.res.headers['access-control-allow-origin']).toBe(BOB);
      expect(r.res.headers['access-control-allow-credentials']).toBe('true');
    }
    expect(bobAgain.res.headers['x-cache']).toBe('HIT');
    expect(bobAgain.viaInterceptor).toBe(mode === 'off');
    expect(none.res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('enableCors() (any origin): one shared entry, every hit says *', async () => {
    const tenant = freshTenant();
    await probed(wildcard, 'learn-' + tenant, ALICE);
    const alice = await probed(wildcard, tenant, ALICE);
    const bob = await probed(wildcard, tenant, BOB);
    console.log(`[header-policy] ${platform}/${mode} enableCors(): alice ${alice.res.headers['x-cache']} acao=${alice.res.headers['access-control-allow-origin']}; bob ${bob.res.headers['x-cache']} acao=${bob.res.headers['access-control-allow-origin']}`);
    expect(alice.res.headers['x-cache']).toBe('MISS');
    expect(bob.res.headers['x-cache']).toBe('HIT');
    expect(bob.viaInterceptor).toBe(mode === 'off');
    expect(bob.res.headers['access-control-allow-origin']).toBe('*');
  });
});

describe.each(FAST_PATH_MATRIX)('an entry stored under another header policy on %s, fast path %s', (platform, mode) => {
  let older: TestApp;
  let current: TestApp;
  beforeAll(async () => {
    // Two apps on one store: the first as an older release (x-* stored, nothing per-request) wrote it.
    const store = new MemoryStore();
    older = await boot(platform, { logger: false, store, fastPath: mode === 'on', cacheableHeaders: ['content-type', 'x-*'], perRequestHeaders: [] });
    current = await boot(platform, { logger: false, store, fastPath: mode === 'on' });
  });
  afterAll(async () => {
    await current?.close();
    await older?.close();
  });

  it('replays only what the current policy allows', async () => {
    const tenant = freshTenant();
    const get = (t: TestApp, user: string) => t.http().get('/hp/user-header').set({ 'x-tenant-id': tenant, 'x-user': user });
    const written = await get(older, 'alice');
    const replayedByOlder = await get(older, 'carol');
    const bob = await get(current, 'bob');
    console.log(`[header-policy] ${platform}/${mode} older entry: older app's hit x-request-user=${replayedByOlder.headers['x-request-user']}; current app's ${bob.headers['x-cache']} x-request-user=${bob.headers['x-request-user']} x-api-version=${bob.headers['x-api-version']}`);
    expect(written.headers['x-cache']).toBe('MISS');
    expect(replayedByOlder.headers['x-request-user']).toBe('alice');
    expect(bob.headers['x-cache']).toBe('HIT');
    expect(bob.body).toEqual(written.body);
    expect(bob.headers['x-request-user']).toBeUndefined();
    expect(bob.headers['x-api-version']).toBeUndefined();
  });
});
