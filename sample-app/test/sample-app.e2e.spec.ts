import type { INestApplication } from '@nestjs/common';
import { CacheManager } from 'nestjs-tenant-cache';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithRedis, rawCommand, startRedis, type RedisServer } from '../../test/helpers/redis-server.js';
import { adapterFromEnv, createApp, HTTP_ADAPTERS, type HttpAdapterName } from '../src/app.factory.js';
import { ProductsRepository } from '../src/products/products.repository.js';
import { DailyReportService, REPORT_BUILD_MS } from '../src/reports/daily-report.service.js';

/**
 * The sample app as a user runs it: the real AppModule (ConfigModule + CacheModule.forRootAsync),
 * listening on a real port, driven over HTTP with fetch — on Express and on Fastify.
 */

interface Reply<T = unknown> {
  status: number;
  cache: string | null;
  body: T;
}

interface Product {
  id: string;
  name: string;
  priceCents: number;
  version: number;
}

interface Report {
  tenant: string;
  build: number;
  generatedAt: string;
  products: number;
}

interface Figures {
  hits: number;
  misses: number;
  puts: number;
}

interface StatsBody {
  total: Figures;
  tenants: Record<string, Figures>;
}

class Client {
  constructor(private readonly base: string) {}

  async request<T>(method: string, path: string, tenant?: string, body?: unknown): Promise<Reply<T>> {
    const headers: Record<string, string> = {};
    if (tenant !== undefined) headers['x-tenant-id'] = tenant;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, cache: res.headers.get('x-cache'), body: (text === '' ? undefined : JSON.parse(text)) as T };
  }

  get<T>(path: string, tenant?: string): Promise<Reply<T>> {
    return this.request<T>('GET', path, tenant);
  }

  put<T>(path: string, tenant: string, body: unknown): Promise<Reply<T>> {
    return this.request<T>('PUT', path, tenant, body);
  }
}

/** Boots the app with `env` applied to process.env (ConfigService reads it), restoring it afterwards. */
function bootApp(adapter: HttpAdapterName, env: () => Record<string, string | undefined>): { client: () => Client; app: () => INestApplication } {
  let app: INestApplication | undefined;
  let client: Client | undefined;
  const saved = new Map<string, string | undefined>();
  beforeAll(async () => {
    for (const [name, value] of Object.entries(env())) {
      saved.set(name, process.env[name]);
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    app = await createApp(adapter, { logger: false });
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address() as { port: number };
    client = new Client(`http://127.0.0.1:${address.port}`);
  });
  afterAll(async () => {
    await app?.close();
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  return { client: () => client!, app: () => app! };
}

/**
 * The behaviour a newcomer sees in the README, on whichever store and adapter. The sample knows
 * two tenants only, so the tests share them: a test that needs a cold cache clears it first
 * (`forget`), and a test that reads figures makes the traffic it reads.
 */
function sampleAppBehaviour(boot: ReturnType<typeof bootApp>): void {
  const forget = async (...tenants: string[]) => {
    for (const tenant of tenants) await boot.app().get(CacheManager).forTenant(tenant).clear();
  };

  it('gives two tenants different data for the same URL', async () => {
    const acme = await boot.client().get<Product>('/products/1', 'acme');
    const globex = await boot.client().get<Product>('/products/1', 'globex');
    expect(acme.status).toBe(200);
    expect(globex.status).toBe(200);
    expect(acme.body.name).toBe('Rocket skates');
    expect(globex.body.name).toBe('Hammock');
    // And again, now from the cache: each tenant still gets its own.
    const acmeAgain = await boot.client().get<Product>('/products/1', 'acme');
    const globexAgain = await boot.client().get<Product>('/products/1', 'globex');
    expect([acmeAgain.cache, acmeAgain.body.name]).toEqual(['HIT', 'Rocket skates']);
    expect([globexAgain.cache, globexAgain.body.name]).toEqual(['HIT', 'Hammock']);

    const acmeList = await boot.client().get<Product[]>('/products', 'acme');
    const globexList = await boot.client().get<Product[]>('/products', 'globex');
    expect(acmeList.body.map((p) => p.name)).toEqual(['Rocket skates', 'Giant magnet', 'Anvil (1 t)']);
    expect(globexList.body.map((p) => p.name)).toEqual(['Hammock', 'Flame thrower (decorative)']);
  });

  it('answers a repeated request from the cache (X-Cache: HIT) without reaching the database', async () => {
    await forget('acme');
    const repo = boot.app().get(ProductsRepository);
    const readsBefore = repo.readsOf('acme');
    const first = await boot.client().get<Product>('/products/3', 'acme');
    const second = await boot.client().get<Product>('/products/3', 'acme');
    const third = await boot.client().get<Product>('/products/3', 'acme');
    expect(first.cache).toBe('MISS');
    expect(second.cache).toBe('HIT');
    expect(third.cache).toBe('HIT');
    expect(second.body).toEqual(first.body);
    expect(third.status).toBe(200);
    expect(repo.readsOf('acme') - readsBefore).toBe(1);
  });

  it("invalidates the tenant's product on PUT, and only that tenant's", async () => {
    const c = boot.client();
    // Warm: product 2 of both tenants, product 3 and the list of acme.
    for (const [path, tenant] of [['/products/2', 'acme'], ['/products/2', 'globex'], ['/products/3', 'acme'], ['/products', 'acme']] as const) {
      await c.get(path, tenant);
      expect((await c.get(path, tenant)).cache, `${tenant} ${path} warmed`).toBe('HIT');
    }
    const before = (await c.get<Product>('/products/2', 'acme')).body;

    const put = await c.put<Product>('/products/2', 'acme', { priceCents: 1 });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ id: '2', priceCents: 1, version: before.version + 1 });

    const acme = await c.get<Product>('/products/2', 'acme');
    expect(acme.cache).toBe('MISS');
    expect(acme.body.priceCents).toBe(1);
    expect((await c.get<Product>('/products/2', 'acme')).cache).toBe('HIT');
    const acmeList = await c.get<Product[]>('/products', 'acme');
    expect(acmeList.cache).toBe('MISS');
    expect(acmeList.body.find((p) => p.id === '2')?.priceCents).toBe(1);
    // Untouched: acme's other product, and globex's product with the same id.
    expect((await c.get('/products/3', 'acme')).cache).toBe('HIT');
    const globex = await c.get<Product>('/products/2', 'globex');
    expect(globex.cache).toBe('HIT');
    expect(globex.body.priceCents).toBe(24_900);
  });

  it('caches a service method per tenant (@CacheResult), dropped by the PUT that invalidates its product', async () => {
    await forget('acme', 'globex');
    const c = boot.client();
    const repo = boot.app().get(ProductsRepository);
    const readsBefore = repo.readsOf('acme');
    const first = await c.get<{ stock: number; checkedAt: string }>('/products/1/stock', 'acme');
    const second = await c.get<{ stock: number; checkedAt: string }>('/products/1/stock', 'acme');
    expect(first.status).toBe(200);
    expect(second.body).toEqual(first.body); // the method's stored result
    expect(repo.readsOf('acme') - readsBefore).toBe(1);
    const globex = await c.get<{ stock: number }>('/products/1/stock', 'globex');
    expect(globex.body.stock).toBe(25); // globex's own product 1
    expect((await c.put('/products/1', 'acme', { stock: first.body.stock + 1 })).status).toBe(200);
    const after = await c.get<{ stock: number }>('/products/1/stock', 'acme');
    expect(after.body.stock).toBe(first.body.stock + 1);
  });

  it('does not invalidate anything when the PUT fails', async () => {
    const c = boot.client();
    await c.get('/products/1', 'globex');
    expect((await c.get('/products/1', 'globex')).cache).toBe('HIT');
    const bad = await c.put('/products/1', 'globex', { priceCents: -5 });
    expect(bad.status).toBe(400);
    expect((await c.get('/products/1', 'globex')).cache).toBe('HIT');
  });

  it('builds the slow report once per tenant for 20 concurrent requests each', async () => {
    await forget('acme', 'globex');
    const reports = boot.app().get(DailyReportService);
    const buildsBefore = { acme: reports.buildsOf('acme'), globex: reports.buildsOf('globex') };
    const started = Date.now();
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) => boot.client().get<Report>('/reports/daily', i % 2 === 0 ? 'acme' : 'globex')),
    );
    const elapsed = Date.now() - started;
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(reports.buildsOf('acme')).toBe(buildsBefore.acme + 1);
    expect(reports.buildsOf('globex')).toBe(buildsBefore.globex + 1);
    for (const tenant of ['acme', 'globex'] as const) {
      const mine = replies.filter((r) => r.body.tenant === tenant);
      expect(mine).toHaveLength(20);
      // One build, shared: every reply is the same report.
      expect(new Set(mine.map((r) => r.body.generatedAt)).size).toBe(1);
      expect(mine.every((r) => r.body.build === buildsBefore[tenant] + 1)).toBe(true);
    }
    expect(replies.find((r) => r.body.tenant === 'acme')?.body.products).toBe(3);
    expect(replies.find((r) => r.body.tenant === 'globex')?.body.products).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(REPORT_BUILD_MS - 50);

    // Later requests are served from the cache, still without building.
    const later = await boot.client().get<Report>('/reports/daily', 'acme');
    expect(later.body.build).toBe(buildsBefore.acme + 1);
    expect(reports.buildsOf('acme')).toBe(buildsBefore.acme + 1);
  });

  it('does not cache a request without a tenant (X-Cache: BYPASS)', async () => {
    const repo = boot.app().get(ProductsRepository);
    const replies = [await boot.client().get<{ message: string }>('/products/1'), await boot.client().get<{ message: string }>('/products/1')];
    for (const reply of replies) {
      expect(reply.cache).toBe('BYPASS');
      // The handler ran (and refused: the catalogue is per tenant).
      expect(reply.status).toBe(400);
      expect(reply.body.message).toMatch(/x-tenant-id/);
    }
    // Nothing leaked between "no tenant" and a tenant: acme's entry is acme's own.
    expect((await boot.client().get<Product>('/products/1', 'acme')).body.name).toBe('Rocket skates');
    expect(repo.tenantIds()).toEqual(['acme', 'globex']);
    const report = await boot.client().get('/reports/daily');
    expect(report.status).toBe(400);
  });

  it('shows per-tenant hits on /cache/stats', async () => {
    const c = boot.client();
    // Traffic of both tenants first: each has a hit of its own before the figures are read.
    for (const tenant of ['acme', 'globex']) {
      await c.get('/products/1', tenant);
      expect((await c.get('/products/1', tenant)).cache).toBe('HIT');
    }
    await c.get('/products/3', 'acme');
    const before = (await c.get<StatsBody>('/cache/stats')).body;
    expect(before.tenants.acme!.hits).toBeGreaterThan(0);

    const hits = [await c.get('/products/3', 'acme'), await c.get('/products/3', 'acme')];
    expect(hits.map((r) => r.cache)).toEqual(['HIT', 'HIT']);

    const stats = await c.get<StatsBody>('/cache/stats');
    expect(stats.status).toBe(200);
    expect(stats.cache).toBeNull(); // an operator endpoint, never cached
    const after = stats.body;
    expect(after.tenants.acme!.hits - before.tenants.acme!.hits).toBe(2);
    // globex saw no request in between: its figures did not move.
    expect(after.tenants.globex).toEqual(before.tenants.globex);
    expect(after.tenants.globex!.hits).toBeGreaterThan(0);
    expect(after.total.hits).toBeGreaterThanOrEqual(after.tenants.acme!.hits + after.tenants.globex!.hits);
  });

  it('reports health', async () => {
    const health = await boot.client().get<{ status: string; cache: { ok: boolean } }>('/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok', cache: { ok: true } });
  });
}

describe('HTTP_ADAPTER', () => {
  it('defaults to express, accepts fastify, and refuses anything else with the choices', () => {
    expect(adapterFromEnv(undefined)).toBe('express');
    expect(adapterFromEnv('')).toBe('express');
    expect(adapterFromEnv(' Fastify ')).toBe('fastify');
    expect(() => adapterFromEnv('koa')).toThrow(/express or fastify/);
  });
});

describe.each(HTTP_ADAPTERS)('sample app on %s, memory store', (adapter) => {
  sampleAppBehaviour(bootApp(adapter, () => ({ REDIS_URL: undefined })));
});

describeWithRedis('sample app on express, Redis store (REDIS_URL)', () => {
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  // beforeAll hooks run in order: the server is up before the app reads REDIS_URL.
  const boot = bootApp('express', () => ({ REDIS_URL: redis!.url, CACHE_NAMESPACE: 'sample-e2e' }));
  sampleAppBehaviour(boot);

  it('keeps its entries in Redis', async () => {
    await boot.client().get('/products/1', 'acme');
    expect((await boot.client().get('/products/1', 'acme')).cache).toBe('HIT');
    const health = await boot.client().get<{ cache: { store: { detail?: string } } }>('/health');
    expect(health.status).toBe(200);
    const keys = (await rawCommand(redis!.port, 'KEYS', '*sample-e2e*')) as string[];
    expect(keys.length).toBeGreaterThan(0);
  });
});
