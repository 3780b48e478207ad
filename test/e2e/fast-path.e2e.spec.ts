import {
  Controller,
  Get,
  Header,
  HttpCode,
  Injectable,
  Module,
  Res,
  Scope,
  UseGuards,
  UseInterceptors,
  VersioningType,
  type CallHandler,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  type MiddlewareConsumer,
  type NestInterceptor,
  type NestMiddleware,
  type NestModule,
  type OnModuleInit,
} from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { CachedInterceptor } from '../../lib/http/cached.interceptor.js';
import type { CacheModuleOptions } from '../../lib/options/cache-module-options.interface.js';
import { DEFAULT_CACHEABLE_HEADERS } from '../../lib/options/module-options.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { createTestApp, PLATFORMS, RecordingLogger, type Platform, type TestApp } from './helpers/app-factory.js';
import { FlakyStore } from './helpers/flaky-store.js';

/**
 * The fast path (HitFastPath): hits served before Nest's pipeline on routes where nothing else
 * would run first. What it must never change: guards still run before every hit, middleware and
 * the platform's earlier hooks still run, an interceptor ahead of ours keeps hits in the
 * pipeline, and a hit is the one the interceptor would have sent.
 */

let runs = 0;
let allow = true;
let guardCalls = 0;
let outerCalls = 0;
let headerCalls = 0;

@Injectable()
class Gate implements CanActivate {
  canActivate(): boolean {
    guardCalls++;
    return allow;
  }
}

@Injectable()
class Outer implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    outerCalls++;
    return next.handle();
  }
}

@Injectable()
class BlockMiddleware implements NestMiddleware {
  use(req: { headers: Record<string, string | undefined> }, res: { statusCode: number; end(body?: string): void }, next: () => void): void {
    if (req.headers['x-block'] === '1') {
      res.statusCode = 401;
      res.end('blocked by middleware');
      return;
    }
    next();
  }
}

type HookRequest = { headers: Record<string, unknown> };
type HookReply = { code(n: number): { send(b: string): void } };
function blockUnlessKey(req: HookRequest, reply: HookReply, done: () => void): void {
  if (req.headers['x-hook-pass'] === 'ok') done();
  else reply.code(401).send('no key');
}

/** Adds an instance-wide preHandler in onModuleInit of the root module (after the cache module's). */
@Injectable()
class HookInstaller implements OnModuleInit {
  constructor(private readonly host: HttpAdapterHost) {}
  onModuleInit(): void {
    const fastify = this.host.httpAdapter.getInstance() as { addHook(name: 'preHandler', hook: typeof blockUnlessKey): void };
    fastify.addHook('preHandler', blockUnlessKey);
  }
}

interface HeaderSetter {
  header(name: string, value: string): unknown;
}

@Controller('f')
class FastController {
  @Get('json')
  @Cached()
  json() {
    return { n: ++runs, list: [1, 2, 3] };
  }

  @Get('text')
  @Cached()
  text() {
    return `text ${++runs}`;
  }

  @Get('num')
  @Cached()
  num() {
    return ++runs;
  }

  @Get('empty')
  @Cached()
  empty() {
    runs++;
    return null;
  }

  @Get('decorated')
  @Cached()
  @HttpCode(203)
  @Header('x-route', 'static')
  @Header('cache-control', 'public, max-age=60')
  decorated(@Res({ passthrough: true }) res: HeaderSetter) {
    res.header('x-from-handler', `run ${++runs}`);
    return { decorated: runs };
  }

  @Get('header-fn')
  @Cached()
  @Header('x-generated', () => `call ${++headerCalls}`)
  headerFn() {
    return { n: ++runs };
  }

  @Get('guarded')
  @Cached()
  @UseGuards(Gate)
  guarded() {
    return { guarded: ++runs };
  }

  @Get('inner')
  @Cached()
  @UseInterceptors(Outer)
  inner() {
    return { inner: ++runs };
  }
}

@UseGuards(Gate)
@Controller('g')
class GuardedController {
  @Get('item')
  @Cached()
  item() {
    return { item: ++runs };
  }
}

@Controller({ path: 'h', host: 'tenant-a.test' })
class HostController {
  @Get('item')
  @Cached()
  item() {
    return { host: 'a', n: ++runs };
  }
}

@Injectable({ scope: Scope.REQUEST })
class PerRequest {
  static built = 0;
  constructor() {
    PerRequest.built++;
  }
}

@Controller('rs')
class RequestScopedController {
  constructor(private readonly perRequest: PerRequest) {}

  @Get('item')
  @Cached()
  item() {
    return { n: ++runs, scoped: this.perRequest instanceof PerRequest };
  }
}

@Controller({ path: 'v', version: '1' })
class V1Controller {
  @Get('item')
  @Cached()
  item() {
    return { v: 1, n: ++runs };
  }
}

@Controller({ path: 'v', version: '2' })
class V2Controller {
  @Get('item')
  @Cached()
  item() {
    return { v: 2, n: ++runs };
  }
}

const ROUTES = ['/f/json', '/f/text', '/f/num', '/f/empty', '/f/decorated'];

interface Boot {
  options?: Partial<CacheModuleOptions>;
  providers?: unknown[];
  beforeListen?: (app: INestApplication) => void;
  middleware?: boolean;
  controllers?: unknown[];
}

function boot(platform: Platform, { options = {}, providers = [], beforeListen, middleware = false, controllers = [FastController, GuardedController] }: Boot = {}): Promise<TestApp> {
  @Module({
    imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), ...options })],
    controllers: controllers as never[],
    providers: providers as never[],
  })
  class FastModule implements NestModule {
    configure(consumer: MiddlewareConsumer): void {
      if (middleware) consumer.apply(BlockMiddleware).forRoutes('*path');
    }
  }
  return createTestApp(platform, { imports: [FastModule] }, beforeListen);
}

const get = (t: TestApp, path: string, tenant = 'acme') => t.http().get(path).set('x-tenant-id', tenant);

describe.each(PLATFORMS)('fast path on %s', (platform) => {
  const apps: TestApp[] = [];
  let intercepts: ReturnType<typeof vi.spyOn>;
  const start = async (b?: Boot) => {
    const t = await boot(platform, b);
    apps.push(t);
    return t;
  };

  beforeEach(() => {
    runs = 0;
    allow = true;
    guardCalls = 0;
    outerCalls = 0;
    intercepts = vi.spyOn(CachedInterceptor.prototype, 'intercept');
  });
  afterEach(async () => {
    intercepts.mockRestore();
    await Promise.all(apps.splice(0).map((t) => t.close()));
  });

  it("serves a hit without entering Nest's pipeline; the first request of a route takes the interceptor", async () => {
    const t = await start();
    const miss = await get(t, '/f/json');
    expect(miss.headers['x-cache']).toBe('MISS');
    expect(intercepts).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 3; i++) {
      const hit = await get(t, '/f/json');
      expect(hit.status).toBe(200);
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(hit.body).toEqual(miss.body);
    }
    expect(intercepts).toHaveBeenCalledTimes(1);
    expect(runs).toBe(1);
    // Another tenant: its own entry (a miss through the fast path, then the interceptor).
    const other = await get(t, '/f/json', 'globex');
    expect(other.headers['x-cache']).toBe('MISS');
    expect(other.body.n).toBe(2);
  });

  it('counts a miss, a hit and a bypass once each (what the fast path found is handed on, not looked up again)', async () => {
    const t = await start();
    await get(t, '/f/json'); // learns the route
    await get(t, '/f/json', 'initech'); // a miss found by the fast path, computed by the interceptor
    await get(t, '/f/json', 'initech'); // a hit
    await t.http().get('/f/json'); // no tenant: a bypass found by the fast path
    const stats = await t.app.get(CacheManager).stats();
    const initech = stats.tenants.find((s) => s.tenant === 'initech');
    expect(initech).toMatchObject({ hits: 1, misses: 1, puts: 1 });
    expect(stats.bypasses).toBe(1);
    expect(runs).toBe(3);
  });

  it('rejects a request without a tenant through Nest (400) when onMissingTenant is reject', async () => {
    const t = await start({ options: { onMissingTenant: 'reject' } });
    await get(t, '/f/json');
    const res = await t.http().get('/f/json');
    expect(res.status).toBe(400);
    expect(runs).toBe(1);
  });

  it('sends the same hit as the interceptor, byte for byte: status, headers, body, 304 and HEAD', async () => {
    const clock = new ManualClock();
    // x-from-handler is a header of the handler's own: replayed only because it is listed.
    const cacheableHeaders = [...DEFAULT_CACHEABLE_HEADERS, 'x-from-handler'];
    const fast = await start({ options: { clock, cacheableHeaders } });
    const slow = await start({ options: { clock, cacheableHeaders, fastPath: false } });
    for (const path of ROUTES) {
      runs = 0;
      await get(fast, path);
      runs = 0;
      await get(slow, path);
    }
    intercepts.mockClear();
    const fastInterceptor = fast.app.get(CachedInterceptor);
    const slowInterceptor = slow.app.get(CachedInterceptor);
    const calls = (instance: CachedInterceptor) => intercepts.mock.contexts.filter((c: unknown) => c === instance).length;
    for (const path of ROUTES) {
      const a = await get(fast, path);
      const b = await get(slow, path);
      expect(a.headers['x-cache'], path).toBe('HIT');
      expect(comparable(a), path).toEqual(comparable(b));
      const etag = a.headers['etag'] as string;
      const a304 = await get(fast, path).set('if-none-match', etag);
      const b304 = await get(slow, path).set('if-none-match', etag);
      expect(a304.status, path).toBe(304);
      expect(comparable(a304), path).toEqual(comparable(b304));
    }
    // Every hit of the fast app skipped the interceptor; every hit of the other went through it.
    expect(calls(fastInterceptor)).toBe(0);
    expect(calls(slowInterceptor)).toBe(ROUTES.length * 2);
    for (const path of ROUTES) {
      for (let i = 0; i < 2; i++) {
        // Fastify gives HEAD its own route (learned at its first request); Express routes it to GET's.
        const aHead = await fast.http().head(path).set('x-tenant-id', 'acme');
        const bHead = await slow.http().head(path).set('x-tenant-id', 'acme');
        expect(aHead.headers['x-cache'], path).toBe('HIT');
        expect(comparable(aHead), path).toEqual(comparable(bHead));
      }
    }
    expect(calls(fastInterceptor)).toBe(platform === 'fastify' ? ROUTES.length : 0);
    const decorated = await get(fast, '/f/decorated');
    expect(decorated.status).toBe(203);
    expect(decorated.headers['x-route']).toBe('static');
    expect(decorated.headers['x-from-handler']).toBe('run 1');
  });

  it('runs a @Header() value function once per response: on a hit from the fast path, and on a miss from Nest', async () => {
    headerCalls = 0;
    const t = await start();
    expect((await get(t, '/f/header-fn')).headers['x-generated']).toBe('call 1');
    expect((await get(t, '/f/header-fn', 'globex')).headers['x-generated']).toBe('call 2'); // a miss through the fast path
    const hit = await get(t, '/f/header-fn');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.headers['x-generated']).toBe('call 3');
    expect(headerCalls).toBe(3);
  });

  it('fastPath: false serves every hit through the interceptor', async () => {
    const t = await start({ options: { fastPath: false } });
    for (let i = 0; i < 3; i++) await get(t, '/f/json');
    expect(intercepts).toHaveBeenCalledTimes(3);
    expect(runs).toBe(1);
  });

  it('serves hits from an asynchronous store too', async () => {
    const store = new FlakyStore();
    const logger = new RecordingLogger();
    const t = await start({ options: { store, logger } });
    await get(t, '/f/json');
    expect((await get(t, '/f/json')).headers['x-cache']).toBe('HIT');
    expect(intercepts).toHaveBeenCalledTimes(1);
    // A store failure reads as a miss: served by the handler, through the interceptor, counted once.
    store.failGet = true;
    const res = await get(t, '/f/json');
    expect(res.status).toBe(200);
    expect(res.headers['x-cache']).toBe('MISS');
    expect((await t.app.get(CacheManager).stats()).errors).toBe(1);
    expect(logger.warnings.filter((w) => w.includes('Cache get'))).toHaveLength(1);
  });

  describe('never skips what must run before a hit', () => {
    const guardPlacements: [string, Boot, string][] = [
      ['a handler guard', {}, '/f/guarded'],
      ['a controller guard', {}, '/g/item'],
      ['an APP_GUARD', { providers: [{ provide: APP_GUARD, useClass: Gate }] }, '/f/json'],
      ['app.useGlobalGuards()', { beforeListen: (app) => app.useGlobalGuards(new Gate()) }, '/f/json'],
    ];
    it.each(guardPlacements)('runs %s once before every hit, which the fast path serves: a denied request gets 403 although its response is cached', async (_name, b, path) => {
      const t = await start(b);
      expect((await get(t, path)).headers['x-cache']).toBe('MISS');
      expect((await get(t, path)).headers['x-cache']).toBe('HIT');
      expect(guardCalls).toBe(2);
      // The hit never entered Nest's pipeline: the fast path ran the guard itself.
      expect(intercepts).toHaveBeenCalledTimes(1);
      allow = false;
      const denied = await get(t, path);
      expect(denied.status).toBe(403);
      expect(denied.headers['x-cache']).toBeUndefined();
      expect(guardCalls).toBe(3);
      expect(runs).toBe(1);
    });

    it('keeps hits in the pipeline when an interceptor runs before ours (APP_INTERCEPTOR of the root module)', async () => {
      const t = await start({ providers: [{ provide: APP_INTERCEPTOR, useClass: Outer }] });
      await get(t, '/f/json');
      expect((await get(t, '/f/json')).headers['x-cache']).toBe('HIT');
      expect(outerCalls).toBe(2);
      expect(intercepts).toHaveBeenCalledTimes(2);
    });

    it('takes the fast path when the only other interceptors run after ours (they never run on a hit)', async () => {
      const t = await start();
      await get(t, '/f/inner');
      expect((await get(t, '/f/inner')).headers['x-cache']).toBe('HIT');
      expect(outerCalls).toBe(1);
      expect(intercepts).toHaveBeenCalledTimes(1);
    });

    it('runs Nest middleware before a hit', async () => {
      const t = await start({ middleware: true });
      await get(t, '/f/json');
      expect((await get(t, '/f/json')).headers['x-cache']).toBe('HIT');
      const blocked = await get(t, '/f/json').set('x-block', '1');
      expect(blocked.status).toBe(401);
      expect(blocked.text).toBe('blocked by middleware');
    });

    it('never serves a host-bound route for another host: Nest answers 404 as without a cache', async () => {
      const t = await start({ controllers: [HostController] });
      const onHost = () => get(t, '/h/item').set('host', 'tenant-a.test');
      expect((await onHost()).headers['x-cache']).toBe('MISS');
      expect((await onHost()).headers['x-cache']).toBe('HIT');
      const elsewhere = await get(t, '/h/item').set('host', 'other.test');
      expect(elsewhere.status).toBe(404);
      expect(runs).toBe(1);
    });

    it('keeps hits of a request-scoped controller in the pipeline (Nest builds it before the interceptors)', async () => {
      PerRequest.built = 0;
      const t = await start({ controllers: [RequestScopedController], providers: [PerRequest] });
      await get(t, '/rs/item');
      expect((await get(t, '/rs/item')).headers['x-cache']).toBe('HIT');
      expect(PerRequest.built).toBe(2);
      expect(intercepts).toHaveBeenCalledTimes(2);
    });

    it('serves each version its own response under header versioning', async () => {
      const t = await start({
        controllers: [V1Controller, V2Controller],
        beforeListen: (app) => app.enableVersioning({ type: VersioningType.HEADER, header: 'x-api-version' }),
      });
      const version = (v: string) => get(t, '/v/item').set('x-api-version', v);
      expect((await version('1')).body).toEqual({ v: 1, n: 1 });
      expect((await version('1')).headers['x-cache']).toBe('HIT');
      const v2 = await version('2');
      expect(v2.body).toEqual({ v: 2, n: 2 });
      expect(v2.headers['x-cache']).toBe('MISS');
      expect((await version('2')).body).toEqual({ v: 2, n: 2 });
      expect((await version('1')).body).toEqual({ v: 1, n: 1 });
    });

    if (platform === 'fastify') {
      it('runs a route-level Fastify preHandler (set by an onRoute hook) before a hit', async () => {
        const t = await start({
          beforeListen: (app) => {
            const fastify = app.getHttpAdapter().getInstance() as {
              addHook(name: 'onRoute', hook: (route: { url: string; preHandler?: unknown }) => void): void;
            };
            fastify.addHook('onRoute', (route) => {
              if (route.url === '/f/json') route.preHandler = blockUnlessKey;
            });
          },
        });
        await get(t, '/f/json').set('x-hook-pass', 'ok');
        expect((await get(t, '/f/json').set('x-hook-pass', 'ok')).headers['x-cache']).toBe('HIT');
        expect(intercepts).toHaveBeenCalledTimes(1);
        const blocked = await get(t, '/f/json');
        expect(blocked.status).toBe(401);
        expect(blocked.text).toBe('no key');
      });

      it('runs a preHandler hook that a module adds while the app initialises (after the cache module) before a hit', async () => {
        const t = await start({ providers: [HookInstaller] });
        await get(t, '/f/json').set('x-hook-pass', 'ok');
        expect((await get(t, '/f/json').set('x-hook-pass', 'ok')).headers['x-cache']).toBe('HIT');
        expect(intercepts).toHaveBeenCalledTimes(1);
        const blocked = await get(t, '/f/json');
        expect(blocked.status).toBe(401);
      });

      it('runs a Fastify preHandler hook added before listen() before a hit', async () => {
        const t = await start({
          beforeListen: (app) => {
            const fastify = app.getHttpAdapter().getInstance() as {
              addHook(name: 'preHandler', hook: (req: { headers: Record<string, unknown> }, reply: { code(n: number): { send(b: string): void } }, done: () => void) => void): void;
            };
            fastify.addHook('preHandler', (req, reply, done) => {
              if (req.headers['x-block'] === '1') reply.code(401).send('blocked by hook');
              else done();
            });
          },
        });
        await get(t, '/f/json');
        expect((await get(t, '/f/json')).headers['x-cache']).toBe('HIT');
        expect(intercepts).toHaveBeenCalledTimes(1);
        const blocked = await get(t, '/f/json').set('x-block', '1');
        expect(blocked.status).toBe(401);
        expect(blocked.text).toBe('blocked by hook');
      });
    }
  });
});

/** What a client sees, minus what differs between two servers by nature (date, connection). */
function comparable(res: { status: number; text?: string; headers: Record<string, unknown> }): unknown {
  const headers = { ...res.headers };
  for (const name of ['date', 'connection', 'keep-alive']) delete headers[name];
  return { status: res.status, text: res.text ?? '', headers };
}
