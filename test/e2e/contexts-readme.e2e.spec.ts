import type { INestApplication } from '@nestjs/common';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { ExpressAdapter } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { createServer, type AddressInfo } from 'node:net';
import request from 'supertest';
import { firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { AppModule } from './fixtures/contexts/app.module.js';
import { CatalogService } from './fixtures/contexts/catalog.service.js';
import { PricesHandler } from './fixtures/contexts/prices.handler.js';

/**
 * Runs the README section "Beyond controllers" as written: its code blocks are the files of
 * fixtures/contexts/ (test/package/readme-snippets.spec.ts checks they are the same text). One
 * app: an HTTP server with Apollo GraphQL, a TCP microservice, a cached service, nestjs-cls.
 */
let app: INestApplication;
let client: ClientProxy;
let url: string;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  const port = await freePort();
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  app = moduleRef.createNestApplication(new ExpressAdapter(), { logger: false });
  app.connectMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port } }, { inheritAppConfig: true });
  await app.startAllMicroservices();
  await app.listen(0, '127.0.0.1');
  url = `http://127.0.0.1:${(app.getHttpServer() as { address(): AddressInfo }).address().port}`;
  client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
  await client.connect();
});

afterAll(async () => {
  await client?.close();
  await app?.close();
});

async function gql(tenant: string, query: string): Promise<unknown> {
  const res = await request(url).post('/graphql').set('x-tenant-id', tenant).send({ query });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

describe('README "Beyond controllers", as written', () => {
  it('GraphQL: a cached query per tenant, a mutation that invalidates it', async () => {
    const catalog = app.get(CatalogService);
    const q = '{ product(id: "p1") { id name } }';
    expect(await gql('acme', q)).toEqual({ data: { product: { id: 'p1', name: 'Product p1' } } });
    expect(await gql('acme', q)).toEqual({ data: { product: { id: 'p1', name: 'Product p1' } } });
    await gql('globex', q);
    expect(catalog.loads).toBe(2);
    expect(await gql('acme', 'mutation { rename(id: "p1", name: "Anvil") { name } }')).toEqual({ data: { rename: { name: 'Anvil' } } });
    expect(await gql('acme', q)).toEqual({ data: { product: { id: 'p1', name: 'Anvil' } } });
    expect(catalog.loads).toBe(3);
    expect(app.get(CacheManager).context.mode).toBe('nestjs-cls');
  });

  it('service methods: the current tenant, or one named by an argument', async () => {
    const catalog = app.get(CatalogService);
    const manager = app.get(CacheManager);
    const before = catalog.loads;
    await manager.runWithTenant('initech', () => catalog.product('p7'));
    await manager.runWithTenant('initech', () => catalog.product('p7'));
    expect(await catalog.report('initech', 'mon')).toBe('initech on mon');
    expect(await catalog.report('initech', 'mon')).toBe('initech on mon');
    expect(catalog.loads - before).toBe(2);
  });

  it('message handlers: a reply cached per tenant, an event that invalidates it', async () => {
    const price = (tenantId: string) => firstValueFrom(client.send<{ quote: number }>({ cmd: 'price' }, { tenantId, sku: 's1' }));
    const first = await price('acme');
    expect(await price('acme')).toEqual(first);
    expect((await price('globex')).quote).not.toBe(first.quote);
    client.emit('price.changed', { tenantId: 'acme', sku: 's1' });
    await expect.poll(async () => (await price('acme')).quote).toBeGreaterThan(first.quote);
    expect(app.get(PricesHandler).quotes).toBeGreaterThanOrEqual(3);
  });
});
