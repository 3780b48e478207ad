import {
  BadRequestException,
  Body,
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Header,
  Headers,
  HttpCode,
  Injectable,
  Module,
  Param,
  Post,
  Put,
  Query,
  Req,
  Res,
  ServiceUnavailableException,
  StreamableFile,
  UseGuards,
} from '@nestjs/common';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { InvalidateTags } from '../../lib/decorators/invalidate-tags.decorator.js';
import { NoCache } from '../../lib/decorators/no-cache.decorator.js';
import type { CacheRequest } from '../../lib/tenant/tenant-resolver.interface.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { createTestApp, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX, InterceptorProbe, PROBE_HEADER } from './helpers/fast-path-probe.js';

// Every handler counts its runs, so a test can tell a hit (no run) from a miss.
const runs = new Map<string, number>();
function run(name: string): number {
  const n = (runs.get(name) ?? 0) + 1;
  runs.set(name, n);
  return n;
}
let controllerSeq = 0;
let tenantSeq = 0;
/** A fresh tenant per test, so tests never see each other's entries. */
const freshTenant = (): string => `tenant-${++tenantSeq}`;

/** Sets req.user from `x-user`; rejects requests carrying `x-deny`. Guards run before interceptors. */
@Injectable()
class TestAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<CacheRequest>();
    if (req.headers['x-deny'] !== undefined) return false;
    const user = req.headers['x-user'];
    if (typeof user === 'string') (req as { user?: unknown }).user = { id: user };
    return true;
  }
}

interface PassthroughResponse {
  header(name: string, value: string): unknown;
  status(code: number): unknown;
}

/** The rules, on routes nothing but the cache runs before: with the fast path on, their hits skip Nest's pipeline. */
@Controller('h')
class HttpController {
  /** Which instance handled a request (one per app, never one per request). */
  readonly instance = ++controllerSeq;

  constructor(private readonly manager: CacheManager) {}

  @Get('json')
  @Cached()
  json(@Query() query: Record<string, unknown>) {
    return { n: run('json'), query, text: 'é — 🙂 "quoted" \u2028' };
  }

  @Get('text')
  @Cached()
  text() {
    return `<p>hello ${run('text')}</p>`;
  }

  @Get('empty')
  @Cached()
  empty() {
    run('empty');
    return null;
  }

  @Post('post')
  @Cached()
  post() {
    return { n: run('post') };
  }

  @Get('created')
  @Cached()
  @HttpCode(201)
  created(@Res({ passthrough: true }) res: PassthroughResponse) {
    res.header('x-thing', 'abc');
    res.header('content-language', 'fr');
    res.header('server-timing', 'db;dur=5'); // not in the allowlist
    return { n: run('created') };
  }

  @Get('dynamic-status')
  @Cached()
  dynamicStatus(@Res({ passthrough: true }) res: PassthroughResponse) {
    res.status(203);
    return { n: run('dynamic-status') };
  }

  @Get('not-found')
  @Cached()
  notFound(@Res({ passthrough: true }) res: PassthroughResponse) {
    res.status(404);
    return { n: run('not-found') };
  }

  @Get('throws')
  @Cached()
  throws() {
    run('throws');
    throw new ServiceUnavailableException('down');
  }

  @Get('cookie')
  @Cached()
  cookie(@Res({ passthrough: true }) res: PassthroughResponse) {
    res.header('set-cookie', 'sid=secret; HttpOnly');
    return { n: run('cookie') };
  }

  @Get('no-store')
  @Cached()
  @Header('Cache-Control', 'no-store')
  noStore() {
    return { n: run('no-store') };
  }

  @Get('private')
  @Cached()
  @Header('Cache-Control', 'private, max-age=60')
  privateResponse() {
    return { n: run('private') };
  }

  @Get('public')
  @Cached()
  @Header('Cache-Control', 'public, max-age=60')
  publicResponse() {
    return { n: run('public') };
  }

  @Get('vary-star')
  @Cached()
  @Header('Vary', '*')
  varyStar() {
    return { n: run('vary-star') };
  }

  @Get('file')
  @Cached()
  file() {
    run('file');
    return new StreamableFile(Buffer.from('file body'));
  }

  @Get('auth')
  @Cached()
  auth() {
    return { n: run('auth') };
  }

  @Get('auth-scoped')
  @Cached({ scope: 'tenant' })
  authScoped() {
    return { n: run('auth-scoped') };
  }

  @Get('vary')
  @Cached({ vary: ['X-Flavour'] })
  vary(@Headers('x-flavour') flavour: string | undefined) {
    return { flavour: flavour ?? null, n: run('vary') };
  }

  @Get('files/:name')
  @Cached()
  files(@Param('name') name: string) {
    return { name, n: run('files') };
  }

  @Get('context')
  @Cached()
  context() {
    return { current: this.manager.currentTenantId(), cache: this.manager.current().tenantId, n: run('context') };
  }

  @Get('instance')
  @Cached()
  instanceOf() {
    return { instance: this.instance, n: run('instance') };
  }

  @Get('uncached-context')
  uncachedContext() {
    return { current: this.manager.currentTenantId() ?? null };
  }

  @Get('global')
  @Cached({ scope: 'global' })
  global() {
    return { n: run('global') };
  }

  @Get('cond')
  @Cached({ condition: (req) => req.query?.preview === undefined })
  cond() {
    return { n: run('cond') };
  }

  @Get('custom-key')
  @Cached({ key: (req) => String(req.headers['x-k'] ?? 'none') })
  customKey() {
    return { n: run('custom-key') };
  }

  @Get('constant')
  @Cached()
  constant() {
    return { constant: true };
  }

  @Post('search')
  @Cached({ methods: ['POST'] })
  search(@Body() body: unknown) {
    return { body, n: run('search') };
  }

  @Get('global-tagged')
  @Cached({ scope: 'global', tags: ['catalogue'] })
  globalTagged() {
    return { n: run('global-tagged') };
  }

  @Put('global-tagged')
  @InvalidateTags(['catalogue'], { scope: 'global' })
  updateGlobal() {
    return { ok: true };
  }

  @Get('ttl')
  @Cached({ ttl: '10s' })
  ttl() {
    return { n: run('ttl') };
  }
}

/** Rules that need `req.user` or a guard: the fast path runs the guard before every hit. */
@Controller('g')
@UseGuards(TestAuthGuard)
class GuardedController {
  @Get('me')
  @Cached({ scope: 'user' })
  me(@Res({ passthrough: true }) _res: unknown, @Req() req: { user?: { id: string } }) {
    // The user the guard set (keyed by scope: 'user'), not the header it came from (unkeyed).
    return { user: req.user?.id ?? null, n: run('g-me') };
  }

  @Get('guarded')
  @Cached()
  guarded() {
    return { n: run('g-guarded') };
  }
}

@Controller('cls')
@Cached({ vary: ['x-cls'] })
class ClassLevelController {
  @Get('a')
  a(@Headers('x-cls') cls: string | undefined) {
    return { cls: cls ?? null, n: run('cls-a') };
  }

  @Get('b')
  @NoCache()
  b() {
    return { n: run('cls-b') };
  }

  @Get('c')
  @Cached({ vary: [] })
  c() {
    return { n: run('cls-c') };
  }
}

@Controller('inv')
class InvalidateController {
  @Get(':id')
  @Cached({ tags: (req) => [`item:${req.params.id}`] })
  get(@Param('id') id: string) {
    return { id, n: run(`inv-${id}`) };
  }

  @Put(':id')
  @InvalidateTags((req) => [`item:${req.params.id}`])
  put(@Param('id') id: string) {
    return { updated: id };
  }

  @Put(':id/fail')
  @InvalidateTags((req) => [`item:${req.params.id}`])
  putFail() {
    throw new BadRequestException('invalid');
  }
}

const interceptor = InterceptorProbe.install();

function rulesModule(fastPath: boolean, clock: ManualClock) {
  @Module({
    imports: [
      CacheModule.forRoot({
        tenant: fromHeader('x-tenant-id'),
        logger: false,
        clock,
        fastPath,
        defaultTtl: '1h',
        cacheableHeaders: ['content-type', 'content-language', 'cache-control', 'x-*', 'set-cookie'],
      }),
    ],
    controllers: [HttpController, GuardedController, ClassLevelController, InvalidateController],
    providers: [TestAuthGuard],
  })
  class HttpRulesModule {}
  return HttpRulesModule;
}

type Method = 'get' | 'head' | 'post' | 'put';
interface Sent {
  readonly probe: string;
  readonly method: Method;
  readonly path: string;
  readonly response: { readonly headers: Record<string, string | string[] | undefined> };
}
let probeSeq = 0;

// One app per platform and fast-path mode, shared by the describe's tests; each test keeps to
// its own tenants (freshTenant()), so any one of them passes alone.
describe.each(FAST_PATH_MATRIX)('HTTP rules of @Cached() on %s, fast path %s', (platform, mode) => {
  const fastPath = mode === 'on';
  let t: TestApp;
  const clock = new ManualClock();
  /** What this test sent, and the response, for the fast-path check after it. */
  const sent: Sent[] = [];
  const send = (method: Method, path: string, tenant: string | undefined) => {
    const probe = String(++probeSeq);
    const req = t.http()[method](path).set(PROBE_HEADER, probe);
    req.on('response', (response: Sent['response']) => sent.push({ probe, method, path, response }));
    return tenant === undefined ? req : req.set('x-tenant-id', tenant);
  };
  const get = (path: string, tenant: string | undefined) => send('get', path, tenant);

  beforeAll(async () => {
    t = await createTestApp(platform, { imports: [rulesModule(fastPath, clock)] });
  });
  afterAll(() => t?.close());
  beforeEach(() => {
    sent.length = 0;
  });
  // The proof that these rules hold on the fast path: with it on, every hit (guarded routes
  // included) was served before Nest's pipeline (the miss that stored the entry taught the fast
  // path its route), so the interceptor never saw it; with it off, every hit went through the
  // interceptor.
  afterEach(() => {
    for (const { probe, method, path, response } of sent.splice(0)) {
      if (response.headers['x-cache'] !== 'HIT') continue;
      // Fastify gives HEAD a route of its own, learned at its first HEAD request: maybe this hit.
      if (fastPath && method === 'head' && platform === 'fastify') continue;
      const fast = fastPath;
      expect(interceptor.sawProbe(t, probe), `${method.toUpperCase()} ${path}: a hit served by ${fast ? 'the fast path' : 'the interceptor'}`).toBe(!fast);
    }
  });

  const whereHitsGo = fastPath ? "serves hits before Nest's pipeline: the interceptor sees the miss, not the hits" : 'serves every hit through the interceptor';
  it(`${whereHitsGo}`, async () => {
    const tenant = freshTenant();
    const before = interceptor.count(t);
    const miss = await get('/h/json?path=1', tenant);
    const hits = [await get('/h/json?path=1', tenant), await get('/h/json?path=1', tenant)];
    expect(miss.headers['x-cache']).toBe('MISS');
    for (const hit of hits) {
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(hit.body).toEqual(miss.body);
    }
    expect(interceptor.count(t) - before).toBe(fastPath ? 1 : 3);
  });

  describe('what is cached', () => {
    it('caches a GET: the first request is a MISS and runs the handler, the second a HIT that does not', async () => {
      const tenant = freshTenant();
      const before = runs.get('json') ?? 0;
      const miss = await get('/h/json', tenant);
      const hit = await get('/h/json', tenant);
      expect(miss.status).toBe(200);
      expect(miss.headers['x-cache']).toBe('MISS');
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(runs.get('json')).toBe(before + 1);
      expect(hit.body).toEqual(miss.body);
    });

    it('HEAD shares the entry of GET', async () => {
      const tenant = freshTenant();
      const before = runs.get('json') ?? 0;
      await get('/h/json?head=1', tenant);
      const head = await send('head', '/h/json?head=1', tenant);
      expect(head.status).toBe(200);
      expect(head.headers['x-cache']).toBe('HIT');
      expect(head.text ?? '').toBe('');
      expect(runs.get('json')).toBe(before + 1);

      const tenant2 = freshTenant();
      const headFirst = await send('head', '/h/json?head=2', tenant2);
      expect(headFirst.headers['x-cache']).toBe('MISS');
      const getAfter = await get('/h/json?head=2', tenant2);
      expect(getAfter.headers['x-cache']).toBe('HIT');
      expect(getAfter.body.query).toEqual({ head: '2' });
    });

    it('does not cache POST by default', async () => {
      const tenant = freshTenant();
      const a = await send('post', '/h/post', tenant);
      const b = await send('post', '/h/post', tenant);
      expect(a.status).toBe(201);
      expect(a.headers['x-cache']).toBe('BYPASS');
      expect(b.headers['x-cache']).toBe('BYPASS');
      expect(b.body.n).toBe(a.body.n + 1);
    });

    it('does not cache a non-2xx response', async () => {
      const tenant = freshTenant();
      const a = await get('/h/not-found', tenant);
      const b = await get('/h/not-found', tenant);
      expect(a.status).toBe(404);
      expect(a.headers['x-cache']).toBe('BYPASS');
      expect(b.status).toBe(404);
      expect(b.body.n).toBe(a.body.n + 1);
    });

    it('does not cache a thrown exception', async () => {
      const tenant = freshTenant();
      const before = runs.get('throws') ?? 0;
      const a = await get('/h/throws', tenant);
      const b = await get('/h/throws', tenant);
      expect(a.status).toBe(503);
      expect(b.status).toBe(503);
      // Not stored, so not a MISS either.
      console.log(`${platform} fastPath=${mode}: a thrown 503 says X-Cache: ${a.headers['x-cache']}, then ${b.headers['x-cache']}`);
      expect([a.headers['x-cache'], b.headers['x-cache']]).toEqual(['BYPASS', 'BYPASS']);
      expect(runs.get('throws')).toBe(before + 2);
    });

    it('does not cache a response that sets a cookie (even with set-cookie in cacheableHeaders)', async () => {
      const tenant = freshTenant();
      const a = await get('/h/cookie', tenant);
      const b = await get('/h/cookie', tenant);
      expect(a.headers['set-cookie']).toEqual(['sid=secret; HttpOnly']);
      expect(a.headers['x-cache']).toBe('BYPASS');
      expect(b.headers['x-cache']).toBe('BYPASS');
      expect(b.body.n).toBe(a.body.n + 1);
    });

    it.each([
      ['no-store', '/h/no-store'],
      ['private', '/h/private'],
      ['Vary: *', '/h/vary-star'],
    ])('does not cache a response with %s', async (_what, path) => {
      const tenant = freshTenant();
      const a = await get(path, tenant);
      const b = await get(path, tenant);
      expect(a.status).toBe(200);
      expect(a.headers['x-cache']).toBe('BYPASS');
      expect(b.headers['x-cache']).toBe('BYPASS');
      expect(b.body.n).toBe(a.body.n + 1);
    });

    it('caches a response with Cache-Control: public and replays the header', async () => {
      const tenant = freshTenant();
      await get('/h/public', tenant);
      const hit = await get('/h/public', tenant);
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(hit.headers['cache-control']).toBe('public, max-age=60');
    });

    it('does not cache a StreamableFile', async () => {
      const tenant = freshTenant();
      const before = runs.get('file') ?? 0;
      const a = await get('/h/file', tenant).buffer(true);
      const b = await get('/h/file', tenant).buffer(true);
      expect(Buffer.from(a.body as Buffer).toString()).toBe('file body');
      expect(a.headers['x-cache']).toBe('BYPASS');
      expect(b.headers['x-cache']).toBe('BYPASS');
      expect(runs.get('file')).toBe(before + 2);
    });

    it('bypasses a request carrying Authorization unless the route names a scope', async () => {
      const tenant = freshTenant();
      const a = await get('/h/auth', tenant).set('authorization', 'Bearer a');
      const b = await get('/h/auth', tenant).set('authorization', 'Bearer a');
      expect(a.headers['x-cache']).toBe('BYPASS');
      expect(b.body.n).toBe(a.body.n + 1);
      const c = await get('/h/auth-scoped', tenant).set('authorization', 'Bearer a');
      const d = await get('/h/auth-scoped', tenant).set('authorization', 'Bearer b');
      expect(c.headers['x-cache']).toBe('MISS');
      expect(d.headers['x-cache']).toBe('HIT');
      // An entry stored without credentials (its route learned by the fast path) is not served to a request with them.
      const anonymous = await get('/h/auth', tenant);
      expect(anonymous.headers['x-cache']).toBe('MISS');
      expect((await get('/h/auth', tenant)).headers['x-cache']).toBe('HIT');
      const credentialed = await get('/h/auth', tenant).set('authorization', 'Bearer a');
      expect(credentialed.headers['x-cache']).toBe('BYPASS');
      expect(credentialed.body.n).toBe(anonymous.body.n + 1);
    });

    it("shares scope: 'global' entries across tenants and serves them without a tenant", async () => {
      const a = await get('/h/global', freshTenant());
      const b = await get('/h/global', freshTenant());
      const c = await get('/h/global', undefined);
      expect(a.headers['x-cache']).toBe('MISS');
      expect(b.headers['x-cache']).toBe('HIT');
      expect(b.body).toEqual(a.body);
      expect(c.headers['x-cache']).toBe('HIT');
    });

    it('caches a POST when the route lists it, keyed by the canonical JSON body', async () => {
      const tenant = freshTenant();
      const post = (body: object) => send('post', '/h/search', tenant).send(body);
      const a = await post({ q: 'shoes', page: 1 });
      const b = await post({ page: 1, q: 'shoes' });
      const c = await post({ q: 'hats', page: 1 });
      expect(a.status).toBe(201);
      expect(a.headers['x-cache']).toBe('MISS');
      expect(b.status).toBe(201);
      expect(b.headers['x-cache']).toBe('HIT');
      expect(b.body).toEqual(a.body);
      expect(c.headers['x-cache']).toBe('MISS');
      expect(c.body.body).toEqual({ q: 'hats', page: 1 });
    });

    it("@InvalidateTags(…, { scope: 'global' }) invalidates the entries shared by all tenants", async () => {
      await get('/h/global-tagged', freshTenant());
      expect((await get('/h/global-tagged', freshTenant())).headers['x-cache']).toBe('HIT');
      expect((await send('put', '/h/global-tagged', freshTenant())).status).toBe(200);
      expect((await get('/h/global-tagged', freshTenant())).headers['x-cache']).toBe('MISS');
    });

    it('bypasses when the condition is false', async () => {
      const tenant = freshTenant();
      const a = await get('/h/cond?preview=1', tenant);
      const b = await get('/h/cond?preview=1', tenant);
      expect(a.headers['x-cache']).toBe('BYPASS');
      expect(b.body.n).toBe(a.body.n + 1);
      await get('/h/cond', tenant);
      expect((await get('/h/cond', tenant)).headers['x-cache']).toBe('HIT');
    });

    it('adds the custom key part to the key', async () => {
      const tenant = freshTenant();
      const a = await get('/h/custom-key', tenant).set('x-k', 'one');
      const b = await get('/h/custom-key', tenant).set('x-k', 'two');
      const c = await get('/h/custom-key', tenant).set('x-k', 'one');
      expect(a.headers['x-cache']).toBe('MISS');
      expect(b.headers['x-cache']).toBe('MISS');
      expect(c.headers['x-cache']).toBe('HIT');
      expect(c.body).toEqual(a.body);
    });

    it('expires an entry after its ttl (manual clock)', async () => {
      const tenant = freshTenant();
      const a = await get('/h/ttl', tenant);
      clock.advance(9_000);
      expect((await get('/h/ttl', tenant)).headers['x-cache']).toBe('HIT');
      clock.advance(2_000);
      const c = await get('/h/ttl', tenant);
      expect(c.headers['x-cache']).toBe('MISS');
      expect(c.body.n).toBe(a.body.n + 1);
    });
  });

  describe('what a hit replays', () => {
    it('the status code of @HttpCode(), the allowlisted headers the handler set, and the exact body', async () => {
      const tenant = freshTenant();
      const miss = await get('/h/created', tenant);
      const hit = await get('/h/created', tenant);
      expect(miss.status).toBe(201);
      expect(hit.status).toBe(201);
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(hit.headers['x-thing']).toBe('abc');
      expect(hit.headers['content-language']).toBe('fr');
      expect(hit.headers['server-timing']).toBeUndefined();
      expect(hit.headers['set-cookie']).toBeUndefined();
      expect(hit.text).toBe(miss.text);
    });

    it('a status code the handler set itself', async () => {
      const tenant = freshTenant();
      const miss = await get('/h/dynamic-status', tenant);
      const hit = await get('/h/dynamic-status', tenant);
      expect(miss.status).toBe(203);
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(hit.status).toBe(203);
    });

    it('the exact bytes and content type of a JSON body with non-ASCII text', async () => {
      const tenant = freshTenant();
      const miss = await get('/h/json?q=bytes', tenant).buffer(true);
      const hit = await get('/h/json?q=bytes', tenant).buffer(true);
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(hit.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(hit.headers['content-type']).toBe(miss.headers['content-type']);
      expect(hit.text).toBe(miss.text);
      expect(hit.headers['content-length']).toBe(miss.headers['content-length']);
      expect(JSON.parse(hit.text).text).toBe('é — 🙂 "quoted" \u2028');
    });

    it('a string body with the platform content type', async () => {
      const tenant = freshTenant();
      const miss = await get('/h/text', tenant);
      const hit = await get('/h/text', tenant);
      expect(miss.headers['content-type']).toBe(platform === 'express' ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8');
      expect(hit.headers['content-type']).toBe(miss.headers['content-type']);
      expect(hit.text).toBe(miss.text);
      expect(hit.text).toMatch(/^<p>hello \d+<\/p>$/);
    });

    it('an empty body (a handler returning null) as empty, without re-running the handler', async () => {
      const tenant = freshTenant();
      const before = runs.get('empty') ?? 0;
      const miss = await get('/h/empty', tenant);
      const hit = await get('/h/empty', tenant);
      expect(miss.status).toBe(200);
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(hit.text).toBe(miss.text);
      expect(runs.get('empty')).toBe(before + 1);
    });

    it('Age in seconds since the entry was stored', async () => {
      const tenant = freshTenant();
      const miss = await get('/h/json?age=1', tenant);
      expect(miss.headers.age).toBeUndefined();
      clock.advance(5_400);
      const hit = await get('/h/json?age=1', tenant);
      expect(hit.headers.age).toBe('5');
    });

    it('a strong ETag, the same on the miss and the hit, and 304 without a body for If-None-Match', async () => {
      const tenant = freshTenant();
      const miss = await get('/h/json?etag=1', tenant);
      const etag = miss.headers.etag as string;
      expect(etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
      const hit = await get('/h/json?etag=1', tenant);
      expect(hit.headers.etag).toBe(etag);
      const notModified = await get('/h/json?etag=1', tenant).set('if-none-match', `"other", ${etag}`);
      expect(notModified.status).toBe(304);
      expect(notModified.text ?? '').toBe('');
      expect(notModified.headers['x-cache']).toBe('HIT');
      const modified = await get('/h/json?etag=1', tenant).set('if-none-match', '"other"');
      expect(modified.status).toBe(200);
      expect(modified.body).toEqual(miss.body);
    });

    it('answers If-None-Match with 304 on the miss too (the ETag depends only on the body)', async () => {
      const first = await get('/h/constant', freshTenant());
      const etag = first.headers.etag as string;
      const miss = await get('/h/constant', freshTenant()).set('if-none-match', etag.replace(/^"/, 'W/"'));
      expect(miss.headers['x-cache']).toBe('MISS');
      expect(miss.status).toBe(304);
      expect(miss.text ?? '').toBe('');
      const other = await get('/h/constant', freshTenant()).set('if-none-match', '"nope"');
      expect(other.status).toBe(200);
      expect(other.body).toEqual({ constant: true });
    });
  });

  describe('what the key depends on', () => {
    it('query order does not matter; every query parameter and value does', async () => {
      const tenant = freshTenant();
      const a = await get('/h/json?a=1&b=2', tenant);
      const b = await get('/h/json?b=2&a=1', tenant);
      expect(b.headers['x-cache']).toBe('HIT');
      expect(b.body).toEqual(a.body);
      for (const variant of ['/h/json?a=1&b=3', '/h/json?a=1', '/h/json?a=1&b=2&c=', '/h/json?a=1&b=2&b=2', '/h/json?a=1&b']) {
        const res = await get(variant, tenant);
        expect(res.headers['x-cache'], variant).toBe('MISS');
      }
    });

    it('repeated parameters keep their order', async () => {
      const tenant = freshTenant();
      await get('/h/json?x=1&x=2', tenant);
      const swapped = await get('/h/json?x=2&x=1', tenant);
      expect(swapped.headers['x-cache']).toBe('MISS');
    });

    it('every vary header counts: the module defaults (accept, accept-language) and the route ones', async () => {
      const tenant = freshTenant();
      await get('/h/vary', tenant).set('x-flavour', 'vanilla');
      const same = await get('/h/vary', tenant).set('X-FLAVOUR', 'vanilla');
      expect(same.headers['x-cache']).toBe('HIT');
      const other = await get('/h/vary', tenant).set('x-flavour', 'chocolate');
      expect(other.headers['x-cache']).toBe('MISS');
      expect(other.body.flavour).toBe('chocolate');
      const none = await get('/h/vary', tenant);
      expect(none.headers['x-cache']).toBe('MISS');
      const lang = await get('/h/vary', tenant).set('x-flavour', 'vanilla').set('accept-language', 'de');
      expect(lang.headers['x-cache']).toBe('MISS');
      const accept = await get('/h/vary', tenant).set('x-flavour', 'vanilla').set('accept', 'text/csv');
      expect(accept.headers['x-cache']).toBe('MISS');
    });

    it('two tenants requesting the same URL get separate entries and bodies', async () => {
      const acme = freshTenant();
      const globex = freshTenant();
      const a = await get('/h/context', acme);
      const b = await get('/h/context', globex);
      expect(a.headers['x-cache']).toBe('MISS');
      expect(b.headers['x-cache']).toBe('MISS');
      expect(a.body.current).toBe(acme);
      expect(b.body.current).toBe(globex);
      const a2 = await get('/h/context', acme);
      const b2 = await get('/h/context', globex);
      expect(a2.body).toEqual(a.body);
      expect(b2.body).toEqual(b.body);
    });

    it('path variants never share an entry', async () => {
      const tenant = freshTenant();
      const variants = ['/h/files/b', '/h/files/b.css', '/h/files/b;x', '/h/files/B', '/h/files/a%2Fb', '/h/files/a%2fb', '/h/files/b%20', '/h/files/b%2520'];
      const bodies = new Set<number>();
      for (const path of variants) {
        const res = await get(path, tenant);
        expect(res.status, path).toBe(200);
        expect(res.headers['x-cache'], path).toBe('MISS');
        bodies.add(res.body.n);
      }
      expect(bodies.size).toBe(variants.length);
      for (const path of variants) expect((await get(path, tenant)).headers['x-cache'], path).toBe('HIT');
    });
  });

  describe('tenants, guards and the handler', () => {
    it('bypasses the cache for a request without a tenant (never a shared namespace)', async () => {
      const a = await get('/h/json?nt=1', undefined);
      const b = await get('/h/json?nt=1', undefined);
      expect(a.status).toBe(200);
      expect(a.headers['x-cache']).toBe('BYPASS');
      expect(b.headers['x-cache']).toBe('BYPASS');
      expect(b.body.n).toBe(a.body.n + 1);
    });

    it('treats an invalid tenant id (over 256 characters) as no tenant', async () => {
      const res = await get('/h/json?long=1', 'x'.repeat(257));
      expect(res.status).toBe(200);
      expect(res.headers['x-cache']).toBe('BYPASS');
    });

    it('makes the tenant current during the handler (CacheManager.current()), on cached and other routes', async () => {
      const tenant = freshTenant();
      const res = await get('/h/context', tenant);
      expect(res.body.current).toBe(tenant);
      expect(res.body.cache).toBe(tenant);
      const plain = await get('/h/uncached-context', tenant);
      expect(plain.body.current).toBe(tenant);
      expect(plain.headers['x-cache']).toBeUndefined();
    });

    it('instantiates a controller using @Cached() once, not per request', async () => {
      const tenant = freshTenant();
      const instances = new Set<number>();
      for (let i = 0; i < 3; i++) {
        const res = await get(`/h/instance?i=${i}`, tenant);
        expect(res.headers['x-cache']).toBe('MISS');
        instances.add(res.body.instance);
      }
      expect([...instances]).toEqual([t.app.get(HttpController).instance]);
    });
  });

  describe('class-level @Cached()', () => {
    it('applies to every handler of the class, with the class options', async () => {
      const tenant = freshTenant();
      await get('/cls/a', tenant).set('x-cls', '1');
      expect((await get('/cls/a', tenant).set('x-cls', '1')).headers['x-cache']).toBe('HIT');
      expect((await get('/cls/a', tenant).set('x-cls', '2')).headers['x-cache']).toBe('MISS');
    });

    it('@NoCache() opts a handler out', async () => {
      const tenant = freshTenant();
      const a = await get('/cls/b', tenant);
      const b = await get('/cls/b', tenant);
      expect(a.headers['x-cache']).toBeUndefined();
      expect(b.body.n).toBe(a.body.n + 1);
    });

    it('handler options override the class options', async () => {
      const tenant = freshTenant();
      await get('/cls/c', tenant).set('x-cls', '1');
      expect((await get('/cls/c', tenant).set('x-cls', '2')).headers['x-cache']).toBe('HIT');
    });
  });

  describe('@InvalidateTags()', () => {
    it("invalidates the request tenant's entries with the tags before the response is sent", async () => {
      const acme = freshTenant();
      const globex = freshTenant();
      await get('/inv/1', acme);
      await get('/inv/2', acme);
      await get('/inv/1', globex);
      const put = await send('put', '/inv/1', acme);
      expect(put.status).toBe(200);
      expect((await get('/inv/1', acme)).headers['x-cache']).toBe('MISS');
      expect((await get('/inv/2', acme)).headers['x-cache']).toBe('HIT');
      expect((await get('/inv/1', globex)).headers['x-cache']).toBe('HIT');
    });

    it('does not invalidate after the handler throws', async () => {
      const tenant = freshTenant();
      await get('/inv/3', tenant);
      const put = await send('put', '/inv/3/fail', tenant);
      expect(put.status).toBe(400);
      expect((await get('/inv/3', tenant)).headers['x-cache']).toBe('HIT');
    });
  });

  describe('behind a guard (run before every hit, on the fast path too)', () => {
    it("keeps scope: 'user' entries apart per user, and bypasses requests without a user", async () => {
      const tenant = freshTenant();
      const alice = await get('/g/me', tenant).set('x-user', 'alice');
      const bob = await get('/g/me', tenant).set('x-user', 'bob');
      const alice2 = await get('/g/me', tenant).set('x-user', 'alice');
      expect(alice.headers['x-cache']).toBe('MISS');
      expect(bob.headers['x-cache']).toBe('MISS');
      expect(bob.body.user).toBe('bob');
      expect(alice2.headers['x-cache']).toBe('HIT');
      expect(alice2.body.user).toBe('alice');
      const anonymous = await get('/g/me', tenant);
      expect(anonymous.headers['x-cache']).toBe('BYPASS');
      expect(anonymous.body.user).toBeNull();
    });

    it('runs guards before a hit: a guard rejecting the second request gets 403', async () => {
      const tenant = freshTenant();
      const first = await get('/g/guarded', tenant);
      expect(first.headers['x-cache']).toBe('MISS');
      expect((await get('/g/guarded', tenant)).headers['x-cache']).toBe('HIT');
      const denied = await get('/g/guarded', tenant).set('x-deny', '1');
      expect(denied.status).toBe(403);
      expect(denied.headers['x-cache']).toBeUndefined();
      expect(denied.text).not.toContain('"n"');
    });
  });
});
