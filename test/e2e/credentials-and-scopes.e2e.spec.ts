import { Controller, Get, Put, Req } from '@nestjs/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { InvalidateTags } from '../../lib/decorators/invalidate-tags.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, RecordingLogger, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX, InterceptorProbe } from './helpers/fast-path-probe.js';

let badTags: unknown = [];

/** The credential headers of `MODULE_DEFAULTS.credentialHeaders`. */
const CREDENTIALS = ['authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'x-auth-token'] as const;

@Controller()
class ScopesController {
  constructor(private readonly cache: CacheManager) {}

  @Get('cart')
  @Cached({ ttl: '1m' })
  cart() {
    return { items: 1 };
  }

  @Get('whoami')
  @Cached({ ttl: '1m' })
  whoami(@Req() req: { headers: Record<string, unknown> }) {
    // A response built from the caller's credential: whoever else gets it gets theirs.
    return { caller: CREDENTIALS.map((name) => req.headers[name] ?? null) };
  }

  @Get('catalogue')
  @Cached({ ttl: '1m', scope: 'tenant' })
  catalogue() {
    return { products: 3 };
  }

  @Get('shared')
  @Cached({ ttl: '1m', scope: 'global' })
  shared() {
    // A response shared by all tenants must not be built from one tenant's context.
    return { tenantSeen: this.cache.currentTenantId() ?? null };
  }

  @Get('tagged')
  @Cached({ ttl: '1m', tags: () => badTags as string[] })
  tagged() {
    return { tagged: true };
  }

  @Put('tagged')
  @InvalidateTags(() => badTags as string[])
  update() {
    return { updated: true };
  }
}

const interceptor = InterceptorProbe.install();

describe.each(FAST_PATH_MATRIX)('credentials, scopes and tags on %s, fast path %s', (platform, mode) => {
  const fastPath = mode === 'on';
  let t: TestApp;
  let logger: RecordingLogger;
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${t.url}${path}`, { headers: { 'x-tenant-id': 'acme', ...headers } });

  beforeEach(async () => {
    logger = new RecordingLogger();
    badTags = [];
    t = await createTestApp(platform, {
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store: { type: 'memory' }, logger, fastPath })],
      controllers: [ScopesController],
    });
  });
  afterEach(async () => {
    await t.close();
  });

  it('a request with a Cookie is cached only on a route with an explicit scope', async () => {
    const cookie = { cookie: 'session=user-a' };
    expect((await get('/cart', cookie)).headers.get('x-cache')).toBe('BYPASS');
    expect((await get('/cart', cookie)).headers.get('x-cache')).toBe('BYPASS');
    expect((await get('/catalogue', cookie)).headers.get('x-cache')).toBe('MISS');
    let seen = interceptor.count(t);
    expect((await get('/catalogue', { cookie: 'session=user-b' })).headers.get('x-cache')).toBe('HIT');
    expect(interceptor.count(t) - seen).toBe(fastPath ? 0 : 1);
    expect((await get('/cart')).headers.get('x-cache')).toBe('MISS'); // without credentials: cached as before
    seen = interceptor.count(t);
    expect((await get('/cart')).headers.get('x-cache')).toBe('HIT');
    expect(interceptor.count(t) - seen).toBe(fastPath ? 0 : 1);
    // The entry is there and the route learned: a request with a Cookie still bypasses it.
    expect((await get('/cart', cookie)).headers.get('x-cache')).toBe('BYPASS');
  });

  it.each(CREDENTIALS)('a request with %s and one without never share a response on an implicit-scope route', async (name) => {
    const credential = { [name]: 'secret-of-a' };
    const own = CREDENTIALS.map((n) => (n === name ? 'secret-of-a' : null));
    const none = CREDENTIALS.map(() => null);
    // The credentialed request first: it would be the entry every other caller gets.
    const first = await get('/whoami', credential);
    expect(await first.json()).toEqual({ caller: own });
    const victim = await get('/whoami');
    const victimBody = (await victim.json()) as { caller: unknown[] };
    console.log(`${platform} fastPath=${mode}: ${name} request then a bare one: ${first.headers.get('x-cache')} then ${victim.headers.get('x-cache')}, bare caller saw ${JSON.stringify(victimBody.caller)}`);
    expect(first.headers.get('x-cache')).toBe('BYPASS');
    expect(victimBody).toEqual({ caller: none });
    // And the other way round: the bare response is stored now, the credentialed caller never gets it.
    expect((await get('/whoami')).headers.get('x-cache')).toBe('HIT');
    const again = await get('/whoami', credential);
    expect(again.headers.get('x-cache')).toBe('BYPASS');
    expect(await again.json()).toEqual({ caller: own });
  });

  it('credentialHeaders replaces the list: a listed custom header bypasses, an unlisted default no longer does', async () => {
    await t.close();
    t = await createTestApp(platform, {
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store: { type: 'memory' }, logger, fastPath, credentialHeaders: ['X-Session-Token'] })],
      controllers: [ScopesController],
    });
    expect((await get('/cart', { 'x-session-token': 's' })).headers.get('x-cache')).toBe('BYPASS');
    expect((await get('/cart', { 'x-api-key': 'k' })).headers.get('x-cache')).toBe('MISS');
    expect((await get('/cart', { 'x-api-key': 'k' })).headers.get('x-cache')).toBe('HIT');
  });

  it("a scope: 'global' handler runs without the request's tenant context", async () => {
    const first = await get('/shared');
    expect(await first.json()).toEqual({ tenantSeen: null });
    const seen = interceptor.count(t);
    const other = await fetch(`${t.url}/shared`, { headers: { 'x-tenant-id': 'globex' } });
    expect(other.headers.get('x-cache')).toBe('HIT');
    expect(await other.json()).toEqual({ tenantSeen: null });
    expect(interceptor.count(t) - seen).toBe(fastPath ? 0 : 1);
  });

  it.each([
    ['an empty tag', ['']],
    ['a string instead of an array', 'product:1'],
  ])('%s from a tags function: the response is served, not cached, and the error is reported', async (_what, tags) => {
    badTags = tags;
    const manager = t.app.get(CacheManager);
    const response = await get('/tagged');
    expect(response.status).toBe(200);
    expect(response.headers.get('x-cache')).toBe('BYPASS');
    expect((await get('/tagged')).headers.get('x-cache')).toBe('BYPASS');
    expect((await manager.stats()).errors).toBeGreaterThanOrEqual(1);
    expect(logger.warnings.some((m) => m.includes('@Cached() tags'))).toBe(true);
  });

  it('@InvalidateTags with a bad tag reports it once and does not retry', async () => {
    badTags = [''];
    expect((await fetch(`${t.url}/tagged`, { method: 'PUT', headers: { 'x-tenant-id': 'acme' } })).status).toBe(200);
    await logger.waitFor('tag was invalid');
    expect(logger.warnings.some((m) => m.includes('retrying'))).toBe(false);
    badTags = 'not-an-array';
    expect((await fetch(`${t.url}/tagged`, { method: 'PUT', headers: { 'x-tenant-id': 'acme' } })).status).toBe(200);
    await logger.waitFor('not an array');
  });
});
