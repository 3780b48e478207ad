import { type CanActivate, Controller, type ExecutionContext, Get, Injectable, Module, UseGuards } from '@nestjs/common';
import { request as rawRequest } from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import type { CacheRequest, TenantStrategy } from '../../lib/tenant/tenant-resolver.interface.js';
import { fromHeader, fromSubdomain, fromUser } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX, InterceptorProbe } from './helpers/fast-path-probe.js';

/** Plays the app's auth guard: `x-org` becomes `req.user.org.id`. */
@Injectable()
class FakeAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<CacheRequest>();
    const org = req.headers['x-org'];
    if (typeof org === 'string') (req as { user?: unknown }).user = { org: { id: org } };
    return true;
  }
}

/** A service that reads the current tenant after some async hops. */
@Injectable()
class ReportService {
  constructor(private readonly cache: CacheManager) {}
  async tenantAfterAwaits(): Promise<string | undefined> {
    await Promise.resolve();
    await nextTurn();
    return this.cache.current().tenantId;
  }
}

let n = 0;

/** Nothing but the cache runs before it: with the fast path on, its hits resolve the tenant before Nest's pipeline. */
@Controller('t')
class TenantController {
  constructor(private readonly reports: ReportService) {}

  @Get()
  @Cached()
  async get() {
    return { tenant: await this.reports.tenantAfterAwaits(), n: ++n };
  }
}

/** For fromUser(): the guard sets req.user (so this route never takes the fast path). */
@Controller('u')
@UseGuards(FakeAuthGuard)
class UserTenantController {
  constructor(private readonly reports: ReportService) {}

  @Get()
  @Cached()
  async get() {
    return { tenant: await this.reports.tenantAfterAwaits(), n: ++n };
  }
}

const interceptor = InterceptorProbe.install();

describe.each(FAST_PATH_MATRIX)('tenant strategies end to end on %s, fast path %s', (platform, mode) => {
  const fastPath = mode === 'on';
  const apps: TestApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });
  const boot = async (tenant: TenantStrategy) => {
    @Module({ imports: [CacheModule.forRoot({ tenant, logger: false, fastPath })], controllers: [TenantController, UserTenantController], providers: [ReportService, FakeAuthGuard] })
    class AppModule {}
    const app = await createTestApp(platform, { imports: [AppModule] });
    apps.push(app);
    return app;
  };

  it('fromSubdomain(): acme.example.com is tenant acme; www and IPs have none', async () => {
    const app = await boot(fromSubdomain());
    const a = await app.http().get('/t').set('host', 'acme.example.com:8080');
    expect(a.body.tenant).toBe('acme');
    expect(a.headers['x-cache']).toBe('MISS');
    const seen = interceptor.count(app);
    expect((await app.http().get('/t').set('host', 'ACME.example.com')).headers['x-cache']).toBe('HIT');
    expect(interceptor.count(app) - seen).toBe(fastPath ? 0 : 1);
    const other = await app.http().get('/t').set('host', 'globex.example.com');
    expect(other.body.tenant).toBe('globex');
    expect((await app.http().get('/t').set('host', 'www.example.com')).headers['x-cache']).toBe('BYPASS');
    expect((await app.http().get('/t').set('host', '127.0.0.1')).headers['x-cache']).toBe('BYPASS');
  });

  it('fromUser(): reads req.user set by a guard (guards run before interceptors)', async () => {
    const app = await boot(fromUser('org.id'));
    const a = await app.http().get('/u').set('x-org', 'o1');
    expect(a.body.tenant).toBe('o1');
    expect((await app.http().get('/u').set('x-org', 'o1')).headers['x-cache']).toBe('HIT');
    expect((await app.http().get('/u').set('x-org', 'o2')).body.tenant).toBe('o2');
    expect((await app.http().get('/u')).headers['x-cache']).toBe('BYPASS');
  });

  it('an async function and a resolver object work too; the tenant survives async hops in services', async () => {
    const app = await boot(async (req) => {
      await nextTurn();
      return req.headers['x-t'] as string | undefined;
    });
    expect((await app.http().get('/t').set('x-t', 'async-one')).body.tenant).toBe('async-one');
    let seen = interceptor.count(app);
    const hit = await app.http().get('/t').set('x-t', 'async-one');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.body.tenant).toBe('async-one');
    expect(interceptor.count(app) - seen).toBe(fastPath ? 0 : 1);
    expect((await app.http().get('/t').set('x-t', 'async-two')).body.tenant).toBe('async-two');
    const app2 = await boot({ resolve: (req: CacheRequest) => req.headers['x-t'] as string | undefined });
    expect((await app2.http().get('/t').set('x-t', 'object-one')).body.tenant).toBe('object-one');
    seen = interceptor.count(app2);
    expect((await app2.http().get('/t').set('x-t', 'object-one')).body.tenant).toBe('object-one');
    expect(interceptor.count(app2) - seen).toBe(fastPath ? 0 : 1);
    expect((await app2.http().get('/t').set('x-t', 'object-two')).body.tenant).toBe('object-two');
  });

  it('concurrent requests of different tenants each see their own tenant, on misses and on hits', async () => {
    const app = await boot(fromUser('org.id'));
    const tenants = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const responses = await Promise.all(tenants.map((org) => app.http().get('/u').set('x-org', org)));
    expect(responses.map((r) => r.body.tenant)).toEqual(tenants);
    const byHeader = await boot(async (req) => {
      await nextTurn();
      return req.headers['x-t'] as string | undefined;
    });
    await byHeader.http().get('/t').set('x-t', 'warm'); // learns the route
    const misses = await Promise.all(tenants.map((tenant) => byHeader.http().get('/t').set('x-t', tenant)));
    const hits = await Promise.all(tenants.map((tenant) => byHeader.http().get('/t').set('x-t', tenant)));
    expect(misses.map((r) => r.body.tenant)).toEqual(tenants);
    expect(hits.map((r) => [r.headers['x-cache'], r.body.tenant])).toEqual(tenants.map((tenant) => ['HIT', tenant]));
  });

  it('fromHeader(): a repeated tenant header is no tenant, never the joined "acme, globex"', async () => {
    const app = await boot(fromHeader('x-tenant-id'));
    const { port } = new URL(app.url);
    // Sent twice on the wire (Node joins the two into one string).
    const twice = await new Promise<{ status: number; xCache: unknown; body: string }>((resolve, reject) => {
      const req = rawRequest({ host: '127.0.0.1', port, path: '/t', headers: { 'x-tenant-id': ['acme', 'globex'] } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, xCache: res.headers['x-cache'], body }));
      });
      req.on('error', reject);
      req.end();
    });
    console.log(`${platform} fastPath=${mode}: x-tenant-id sent twice (acme, globex): ${twice.status} ${String(twice.xCache)} ${twice.body}`);
    expect(twice.xCache).toBe('BYPASS');
    expect(twice.body).not.toContain('globex');
    expect((await app.http().get('/t').set('x-tenant-id', 'acme')).body.tenant).toBe('acme');
  });

  it('a request without a tenant whose handler calls current() gets 400 naming the cause, not 500', async () => {
    const app = await boot(fromHeader('x-tenant-id'));
    const none = await app.http().get('/t');
    console.log(`${platform} fastPath=${mode}: no x-tenant-id, the handler calls current(): ${none.status} ${String(none.headers['x-cache'])} ${JSON.stringify(none.body)}`);
    expect(none.status).toBe(400);
    expect(none.body.message).toBe('The tenant of this request could not be resolved.');
    expect((await app.http().get('/t').set('x-tenant-id', 'acme')).status).toBe(200);
  });
});
