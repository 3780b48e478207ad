import { Controller, type INestMicroservice, Module } from '@nestjs/common';
import { ClientProxyFactory, EventPattern, MessagePattern, Payload, Transport, type ClientProxy } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { createServer, type AddressInfo } from 'node:net';
import { firstValueFrom, lastValueFrom, of, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheConfigError } from '../../lib/errors/cache.errors.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { InvalidateTags } from '../../lib/decorators/invalidate-tags.decorator.js';
import { fromHeader, fromPayload } from '../../lib/tenant/tenant-strategies.js';

interface PriceQuery {
  readonly tenantId?: string;
  readonly id: string;
}

/** Counts runs per handler; `viewed` resolves waiters as events arrive (events have no reply to wait for). */
class Counters {
  price = 0;
  stream = 0;
  viewed = 0;
  plain = 0;
  private waiters: { count: number; resolve: () => void }[] = [];

  event(): void {
    this.viewed++;
    for (const waiter of this.waiters.filter((w) => this.viewed >= w.count)) waiter.resolve();
    this.waiters = this.waiters.filter((w) => this.viewed < w.count);
  }

  viewedReaches(count: number): Promise<void> {
    return this.viewed >= count ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}
const counters = new Counters();

@Controller()
class PricesController {
  constructor(private readonly cache: CacheManager) {}

  @MessagePattern({ cmd: 'price' })
  @Cached({ ttl: '1m', tags: (data: PriceQuery) => [`price:${data.id}`] })
  price(@Payload() data: PriceQuery) {
    return { id: data.id, tenant: this.cache.currentTenantId() ?? null, run: ++counters.price };
  }

  @MessagePattern({ cmd: 'price.history' })
  @Cached()
  history(@Payload() data: PriceQuery) {
    counters.stream++;
    return of(`${data.id}:1`, `${data.id}:2`, `${data.id}:3`);
  }

  @MessagePattern({ cmd: 'price.update' })
  @InvalidateTags((data: PriceQuery) => [`price:${data.id}`])
  update(@Payload() data: PriceQuery) {
    return { updated: data.id };
  }

  @MessagePattern({ cmd: 'plain' })
  plain(@Payload() data: PriceQuery) {
    return { id: data.id, run: ++counters.plain };
  }

  @EventPattern('price.viewed')
  @Cached()
  @InvalidateTags((data: PriceQuery) => [`price:${data.id}`])
  viewed(@Payload() _data: PriceQuery) {
    counters.event();
  }
}

@Module({
  imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), messageTenant: fromPayload('tenantId'), store: { type: 'memory', maxEntries: 1_000 }, logger: false })],
  controllers: [PricesController],
})
class PricesModule {}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let service: INestMicroservice;
let client: ClientProxy;

beforeAll(async () => {
  const port = await freePort();
  const moduleRef = await Test.createTestingModule({ imports: [PricesModule] }).compile();
  service = moduleRef.createNestMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port }, logger: false });
  await service.listen();
  client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
  await client.connect();
});

afterAll(async () => {
  await client?.close();
  await service?.close();
});

const send = <T>(cmd: string, data: PriceQuery): Promise<T> => firstValueFrom(client.send<T>({ cmd }, data));

describe('@Cached() on message handlers, over a real TCP transport', () => {
  it('caches a request-response handler per tenant, keyed by pattern and canonical payload', async () => {
    const first = await send<{ run: number; tenant: string }>('price', { tenantId: 'acme', id: 'p1' });
    const again = await send<{ run: number }>('price', { id: 'p1', tenantId: 'acme' }); // the same payload, keys in another order
    const other = await send<{ run: number; tenant: string }>('price', { tenantId: 'globex', id: 'p1' });
    const otherId = await send<{ run: number }>('price', { tenantId: 'acme', id: 'p2' });
    console.log(`[microservices] 4 'price' requests (acme p1 x2, globex p1, acme p2) over TCP -> ${counters.price} handler runs`);
    expect(first).toEqual({ id: 'p1', tenant: 'acme', run: 1 });
    expect(again).toEqual(first);
    expect(other).toEqual({ id: 'p1', tenant: 'globex', run: 2 });
    expect(otherId.run).toBe(3);
    expect(await send('plain', { tenantId: 'acme', id: 'x' })).toEqual({ id: 'x', run: 1 });
    expect(await send('plain', { tenantId: 'acme', id: 'x' })).toEqual({ id: 'x', run: 2 });
  });

  it('runs a message without a tenant uncached', async () => {
    const before = counters.price;
    await send('price', { id: 'p9' });
    await send('price', { id: 'p9' });
    expect(counters.price - before).toBe(2);
  });

  it('stores and replays every value of a reply stream', async () => {
    const values = async (): Promise<string[]> => lastValueFrom(client.send<string>({ cmd: 'price.history' }, { tenantId: 'acme', id: 'h' }).pipe(toArray()));
    expect(await values()).toEqual(['h:1', 'h:2', 'h:3']);
    expect(await values()).toEqual(['h:1', 'h:2', 'h:3']);
    expect(counters.stream).toBe(1);
  });

  it('never caches an event handler, and @InvalidateTags() works on messages and events, for their tenant only', async () => {
    client.emit('price.viewed', { tenantId: 'acme', id: 'e1' });
    client.emit('price.viewed', { tenantId: 'acme', id: 'e1' });
    await counters.viewedReaches(2);
    expect(counters.viewed).toBe(2);

    const acme = await send<{ run: number }>('price', { tenantId: 'acme', id: 'p1' });
    expect(await send<{ run: number }>('price', { tenantId: 'acme', id: 'p1' })).toEqual(acme);
    expect(await send('price.update', { tenantId: 'acme', id: 'p1' })).toEqual({ updated: 'p1' });
    const acmeAfter = await send<{ run: number }>('price', { tenantId: 'acme', id: 'p1' });
    expect(acmeAfter.run).toBeGreaterThan(acme.run);
    // globex's entry for p1 was not invalidated
    expect((await send<{ run: number }>('price', { tenantId: 'globex', id: 'p1' })).run).toBe(2);

    // an event's @InvalidateTags() (after it ran)
    client.emit('price.viewed', { tenantId: 'acme', id: 'p1' });
    await counters.viewedReaches(3);
    await expect.poll(async () => (await send<{ run: number }>('price', { tenantId: 'acme', id: 'p1' })).run).toBeGreaterThan(acmeAfter.run);
  });
});

describe('options of message handlers', () => {
  it('are checked at start-up: a bad @Cached() option fails the boot, naming the handler', async () => {
    @Controller()
    class BadController {
      @MessagePattern({ cmd: 'bad' })
      // @ts-expect-error -- not a Duration: the type rejects it, and so does start-up
      @Cached({ ttl: 'soon' })
      bad() {
        return 1;
      }
    }
    const moduleRef = await Test.createTestingModule({ imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false })], controllers: [BadController] }).compile();
    const failure = await moduleRef.init().then(() => undefined, (err: unknown) => err);
    expect(failure).toBeInstanceOf(CacheConfigError);
    expect(String((failure as Error).message)).toContain('BadController.bad');
  });
});
