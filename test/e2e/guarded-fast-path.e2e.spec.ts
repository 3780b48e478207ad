import {
  Catch,
  Controller,
  ForbiddenException,
  Get,
  Injectable,
  Module,
  Scope,
  UnauthorizedException,
  UseFilters,
  UseGuards,
  type ArgumentsHost,
  type CanActivate,
  type ExceptionFilter,
  type ExecutionContext,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD, HttpAdapterHost } from '@nestjs/core';
import { of, type Observable } from 'rxjs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { CachedInterceptor } from '../../lib/http/cached.interceptor.js';
import { fromUser } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, PLATFORMS, type Platform, type TestApp } from './helpers/app-factory.js';

/**
 * Guarded routes on the fast path: the route's guards run before the lookup with Nest's own
 * semantics, a hit is served without Nest's pipeline, and everything else (a denial, a throw, a
 * miss) is answered by Nest exactly as with `fastPath: false`: the same status, headers and
 * body, exception filters included, each guard run once per request.
 */

/** Every guard call, as `<guard>:<request id>`. */
const calls: string[] = [];
let runs = 0;

type Req = { headers: Record<string, string | undefined>; user?: { tenantId: string } };
type Res = { header?(name: string, value: string): unknown; setHeader?(name: string, value: string): unknown; raw?: unknown };
const reqOf = (context: ExecutionContext) => context.switchToHttp().getRequest<Req>();
const idOf = (context: ExecutionContext) => reqOf(context).headers['x-id'] ?? '?';

/** Authentication: `x-user: <tenant>` → `req.user`; none → 401 (a thrown exception). Global (APP_GUARD). */
@Injectable()
class AuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    calls.push(`auth:${idOf(context)}`);
    const user = reqOf(context).headers['x-user'];
    if (user === undefined) throw new UnauthorizedException('who are you?');
    reqOf(context).user = { tenantId: user };
    return true;
  }
}

/** Asynchronous: `x-role: banned` → false (Nest's 403). Sets a response header, as a rate limiter does. */
@Injectable()
class RoleGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    calls.push(`role:${idOf(context)}`);
    await Promise.resolve();
    const res = context.switchToHttp().getResponse<Res>();
    if (res.raw !== undefined) res.header!('x-limit-remaining', '41');
    else res.setHeader!('x-limit-remaining', '41');
    return reqOf(context).headers['x-role'] !== 'banned';
  }
}

/** An Observable verdict: `x-obs: no` → false. */
@Injectable()
class ObservableGuard implements CanActivate {
  canActivate(context: ExecutionContext): Observable<boolean> {
    calls.push(`obs:${idOf(context)}`);
    return of(reqOf(context).headers['x-obs'] !== 'no');
  }
}

/** The route's filter for 401s: its own body and header. */
@Catch(UnauthorizedException)
class UnauthorizedFilter implements ExceptionFilter {
  constructor(private readonly host: HttpAdapterHost) {}
  catch(error: UnauthorizedException, argumentsHost: ArgumentsHost): void {
    const res = argumentsHost.switchToHttp().getResponse<unknown>();
    this.host.httpAdapter.setHeader(res, 'x-filtered', 'unauthorized');
    this.host.httpAdapter.reply(res, { filtered: 'unauthorized', message: error.message }, 401);
  }
}

/** The app's filter for 403s (APP_FILTER). */
@Catch(ForbiddenException)
class ForbiddenFilter implements ExceptionFilter {
  constructor(private readonly host: HttpAdapterHost) {}
  catch(error: ForbiddenException, argumentsHost: ArgumentsHost): void {
    this.host.httpAdapter.reply(argumentsHost.switchToHttp().getResponse<unknown>(), { filtered: 'forbidden', message: error.message }, 403);
  }
}

/** One instance, listed on the controller and on a handler: Nest runs it twice per request. */
const twice: CanActivate = {
  canActivate(context: ExecutionContext) {
    calls.push(`twice:${idOf(context)}`);
    return true;
  },
};

@Injectable({ scope: Scope.REQUEST })
class RequestScopedGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    calls.push(`scoped:${idOf(context)}`);
    return true;
  }
}

@Controller('g')
@UseGuards(RoleGuard, twice)
@UseFilters(UnauthorizedFilter)
class GuardedController {
  @Get('report')
  @UseGuards(ObservableGuard)
  @Cached()
  report() {
    return { report: ++runs };
  }

  @Get('twice')
  @UseGuards(twice)
  @Cached()
  again() {
    return { again: ++runs };
  }
}

@Controller('s')
class ScopedController {
  @Get('item')
  @UseGuards(RequestScopedGuard)
  @Cached()
  item() {
    return { scoped: ++runs };
  }
}

@Module({
  controllers: [GuardedController, ScopedController],
  providers: [RoleGuard, ObservableGuard, UnauthorizedFilter, RequestScopedGuard],
})
class FeatureModule {}

function boot(platform: Platform, fastPath: boolean): Promise<TestApp> {
  @Module({
    imports: [CacheModule.forRoot({ tenant: fromUser('tenantId'), fastPath }), FeatureModule],
    providers: [
      { provide: APP_GUARD, useClass: AuthGuard },
      { provide: APP_FILTER, useClass: ForbiddenFilter },
    ],
  })
  class AppModule {}
  return createTestApp(platform, { imports: [AppModule] });
}

/** The requests of one scenario, in order: headers of each (`x-id` names it). */
const SCENARIO: { readonly id: string; readonly path: string; readonly headers: Record<string, string> }[] = [
  { id: 'miss', path: '/g/report', headers: { 'x-user': 'acme' } },
  { id: 'hit', path: '/g/report', headers: { 'x-user': 'acme' } },
  { id: 'no-user', path: '/g/report', headers: {} },
  { id: 'banned', path: '/g/report', headers: { 'x-user': 'acme', 'x-role': 'banned' } },
  { id: 'obs-no', path: '/g/report', headers: { 'x-user': 'acme', 'x-obs': 'no' } },
  { id: 'other-tenant', path: '/g/report', headers: { 'x-user': 'globex' } },
  { id: 'other-hit', path: '/g/report', headers: { 'x-user': 'globex' } },
  { id: 'twice-miss', path: '/g/twice', headers: { 'x-user': 'acme' } },
  { id: 'twice-hit', path: '/g/twice', headers: { 'x-user': 'acme' } },
  { id: 'banned-after', path: '/g/twice', headers: { 'x-user': 'acme', 'x-role': 'banned' } },
];

/** The response headers compared between the two modes: all but those of the connection and the clock. */
function comparable(headers: Record<string, unknown>): Record<string, unknown> {
  const { date: _date, connection: _connection, 'keep-alive': _keepAlive, ...rest } = headers;
  return rest;
}

interface Seen {
  readonly status: number;
  readonly headers: Record<string, unknown>;
  readonly body: string;
  readonly guards: string[];
  readonly intercepted: boolean;
}

let intercepts: MockInstance<CachedInterceptor['intercept']>;
beforeAll(() => {
  intercepts = vi.spyOn(CachedInterceptor.prototype, 'intercept');
});
afterAll(() => intercepts.mockRestore());

async function play(t: TestApp): Promise<Map<string, Seen>> {
  const seen = new Map<string, Seen>();
  const interceptor = t.app.get(CachedInterceptor);
  for (const { id, path, headers } of SCENARIO) {
    const before = calls.length;
    const interceptedBefore = intercepts.mock.contexts.filter((c) => c === interceptor).length;
    const res = await t.http().get(path).set(headers).set('x-id', id);
    seen.set(id, {
      status: res.status,
      headers: comparable(res.headers),
      body: res.text,
      guards: calls.slice(before),
      intercepted: intercepts.mock.contexts.filter((c) => c === interceptor).length > interceptedBefore,
    });
  }
  return seen;
}

describe.each(PLATFORMS)('guarded routes on the fast path, %s', (platform) => {
  const apps: TestApp[] = [];
  beforeEach(() => {
    calls.length = 0;
    runs = 0;
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((t) => t.close()));
  });
  const start = async (fastPath: boolean) => {
    const t = await boot(platform, fastPath);
    apps.push(t);
    return t;
  };

  it('answers every request as fastPath: false does (status, headers, body, filters), serving only the hits itself', async () => {
    const on = await play(await start(true));
    const runsOn = runs;
    runs = 0;
    const off = await play(await start(false));
    expect(runs).toBe(runsOn);
    for (const { id } of SCENARIO) {
      const a = on.get(id)!;
      const b = off.get(id)!;
      expect({ id, status: a.status, headers: a.headers, body: a.body }).toEqual({ id, status: b.status, headers: b.headers, body: b.body });
      expect({ id, guards: a.guards }).toEqual({ id, guards: b.guards });
    }
    // What each request met: the filters' output for the denials, a hit for the repeats.
    expect(on.get('no-user')).toMatchObject({ status: 401, body: JSON.stringify({ filtered: 'unauthorized', message: 'who are you?' }) });
    expect(on.get('no-user')!.headers['x-filtered']).toBe('unauthorized');
    expect(on.get('banned')).toMatchObject({ status: 403, body: JSON.stringify({ filtered: 'forbidden', message: 'Forbidden resource' }) });
    expect(on.get('obs-no')!.status).toBe(403);
    expect(on.get('hit')!.headers['x-cache']).toBe('HIT');
    expect(on.get('hit')!.headers['x-limit-remaining']).toBe('41');
    expect(on.get('other-tenant')!.headers['x-cache']).toBe('MISS');
    expect(on.get('other-hit')!.body).toBe(JSON.stringify({ report: 2 }));
    // Hits never enter Nest's pipeline; denials are answered by Nest's guard loop and filters, before any interceptor.
    const notIntercepted = SCENARIO.filter(({ id }) => !on.get(id)!.intercepted).map(({ id }) => id);
    console.log(`[guarded-fast-path] ${platform}: never reached the interceptor: ${notIntercepted.join(', ')}; through the interceptor (misses): ${SCENARIO.filter(({ id }) => on.get(id)!.intercepted).map(({ id }) => id).join(', ')}`);
    expect(notIntercepted).toEqual(['hit', 'no-user', 'banned', 'obs-no', 'other-hit', 'twice-hit', 'banned-after']);
    // Without the fast path every allowed request goes through the interceptor.
    expect(SCENARIO.filter(({ id }) => off.get(id)!.intercepted).map(({ id }) => id)).toEqual(['miss', 'hit', 'other-tenant', 'other-hit', 'twice-miss', 'twice-hit']);
  });

  it('runs each guard once per request, in Nest order, stopping at the first denial, on a hit, a miss and a denial alike', async () => {
    const on = await play(await start(true));
    expect(on.get('miss')!.guards).toEqual(['auth:miss', 'role:miss', 'twice:miss', 'obs:miss']);
    expect(on.get('hit')!.guards).toEqual(['auth:hit', 'role:hit', 'twice:hit', 'obs:hit']);
    expect(on.get('no-user')!.guards).toEqual(['auth:no-user']);
    expect(on.get('banned')!.guards).toEqual(['auth:banned', 'role:banned']);
    expect(on.get('obs-no')!.guards).toEqual(['auth:obs-no', 'role:obs-no', 'twice:obs-no', 'obs:obs-no']);
    // One instance listed twice (controller and handler) runs twice, as Nest runs it.
    expect(on.get('twice-miss')!.guards).toEqual(['auth:twice-miss', 'role:twice-miss', 'twice:twice-miss', 'twice:twice-miss']);
    expect(on.get('twice-hit')!.guards).toEqual(['auth:twice-hit', 'role:twice-hit', 'twice:twice-hit', 'twice:twice-hit']);
  });

  it('never hands a denied request the cached bytes', async () => {
    const t = await start(true);
    const cached = await t.http().get('/g/report').set('x-user', 'acme');
    expect((await t.http().get('/g/report').set('x-user', 'acme')).headers['x-cache']).toBe('HIT');
    for (const headers of [{}, { 'x-user': 'acme', 'x-role': 'banned' }, { 'x-user': 'acme', 'x-obs': 'no' }]) {
      const denied = await t.http().get('/g/report').set(headers);
      expect(denied.status).toBeGreaterThanOrEqual(401);
      expect(denied.headers['x-cache']).toBeUndefined();
      expect(denied.text).not.toContain(cached.text);
    }
    expect(runs).toBe(1);
  });

  it('keeps a route with a request-scoped guard on Nest’s pipeline (the guard exists only per request)', async () => {
    const t = await start(true);
    const interceptor = t.app.get(CachedInterceptor);
    const count = () => intercepts.mock.contexts.filter((c) => c === interceptor).length;
    await t.http().get('/s/item').set('x-user', 'acme');
    const before = count();
    const hit = await t.http().get('/s/item').set('x-user', 'acme').set('x-id', 'scoped-hit');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(count()).toBe(before + 1);
    expect(calls.filter((c) => c === 'scoped:scoped-hit')).toHaveLength(1);
  });
});
