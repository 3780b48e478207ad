import { Injectable, Module, Scope } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { firstValueFrom, Observable, of, EMPTY, toArray, lastValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheEvict } from '../../lib/decorators/cache-evict.decorator.js';
import { CacheResult } from '../../lib/decorators/cache-result.decorator.js';
import { CacheConfigError, TenantRequiredError } from '../../lib/errors/cache.errors.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ManualClock } from '../helpers/manual-clock.js';
import type { Duration } from '../../lib/utils/duration.js';

interface FindOptions {
  readonly locale: string;
}

/** A class instance: the codec refuses it (it would come back a plain object), so it is never stored. */
class Entity {
  constructor(readonly id: string) {}
  label(): string {
    return `entity ${this.id}`;
  }
}

/** A singleton service whose methods count their runs; `gate` holds runs until a test opens it. */
@Injectable()
class ProductsService {
  runs = 0;
  gate: Promise<void> = Promise.resolve();

  @CacheResult({ key: 'product:{0}', ttl: '30s', tags: ['products', 'product:{0}'] })
  async find(id: string): Promise<{ id: string; run: number }> {
    const run = ++this.runs;
    await this.gate;
    return { id, run };
  }

  @CacheResult<[id: string, opts: FindOptions]>({ key: (id, opts) => `product:${id}:${opts.locale}` })
  async findLocalized(id: string, opts: FindOptions): Promise<string> {
    this.runs++;
    return `${id}/${opts.locale}`;
  }

  @CacheResult()
  async search(query: { q: string; page?: number }): Promise<number> {
    this.runs++;
    return query.q.length + (query.page ?? 0);
  }

  @CacheResult({ tenant: 0, key: 'report:{1}' })
  async report(tenantId: string, day: string): Promise<string> {
    this.runs++;
    return `${tenantId}:${day}:${this.runs}`;
  }

  @CacheResult({ scope: 'global', key: 'catalogue' })
  async catalogue(): Promise<number> {
    return ++this.runs;
  }

  @CacheResult({ key: 'stream:{0}' })
  stream(n: number): Observable<number> {
    this.runs++;
    return n === 0 ? EMPTY : of(n, n * 10);
  }

  @CacheResult({ key: 'nothing' })
  async nothing(): Promise<undefined> {
    this.runs++;
    return undefined;
  }

  @CacheResult({ key: 'entity:{0}' })
  async entity(id: string): Promise<Entity> {
    this.runs++;
    return new Entity(id);
  }

  @CacheEvict({ key: 'product:{0}', tags: ['products'] })
  async update(id: string): Promise<string> {
    return `updated ${id}`;
  }
}

/** Request-scoped: its decorated method cannot be wrapped (reported at start-up). */
@Injectable({ scope: Scope.REQUEST })
class PerRequestService {
  @CacheResult({ key: 'x' })
  async value(): Promise<number> {
    return 1;
  }
}

@Module({ providers: [ProductsService, PerRequestService], exports: [ProductsService] })
class ProductsModule {}

const warnings: string[] = [];
let moduleRef: TestingModule | undefined;

async function boot(clock?: ManualClock): Promise<{ service: ProductsService; manager: CacheManager }> {
  moduleRef = await Test.createTestingModule({
    imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store: { type: 'memory', maxEntries: 1_000 }, clock, logger: { warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(m) } }), ProductsModule],
  }).compile();
  await moduleRef.init();
  return { service: moduleRef.get(ProductsService), manager: moduleRef.get(CacheManager) };
}

afterEach(async () => {
  await moduleRef?.close();
  moduleRef = undefined;
  warnings.length = 0;
});

describe('@CacheResult() on a singleton service', () => {
  it('runs a method once for 100 concurrent calls of one tenant, and every caller gets its value', async () => {
    const { service, manager } = await boot();
    let open!: () => void;
    service.gate = new Promise((resolve) => (open = resolve));
    const calls = manager.runWithTenant('acme', () => Array.from({ length: 100 }, () => service.find('42')));
    await new Promise((resolve) => setImmediate(resolve));
    open();
    const results = await Promise.all(calls);
    console.log(`[methods] 100 concurrent calls of ProductsService.find('42') -> ${service.runs} run(s)`);
    expect(service.runs).toBe(1);
    expect(results.every((r) => r.id === '42' && r.run === 1)).toBe(true);
    // The key is the template as written, in the tenant's cache: wrap() and delete() reach it.
    expect(await manager.forTenant('acme').get('product:42')).toEqual({ id: '42', run: 1 });
  });

  it('keeps tenants apart: the same call in two tenants runs twice, and each tenant reads its own', async () => {
    const { service, manager } = await boot();
    const acme = await manager.runWithTenant('acme', () => service.find('1'));
    const globex = await manager.runWithTenant('globex', () => service.find('1'));
    const acmeAgain = await manager.runWithTenant('acme', () => service.find('1'));
    expect([acme.run, globex.run, acmeAgain.run]).toEqual([1, 2, 1]);
    expect(service.runs).toBe(2);
  });

  it('serves a stored result until its TTL has passed on the controllable clock, then runs again', async () => {
    const clock = new ManualClock();
    const { service, manager } = await boot(clock);
    const inAcme = <T>(fn: () => Promise<T>): Promise<T> => manager.runWithTenant('acme', fn);
    expect((await inAcme(() => service.find('7'))).run).toBe(1);
    clock.advance(29_999);
    expect((await inAcme(() => service.find('7'))).run).toBe(1);
    clock.advance(2);
    expect((await inAcme(() => service.find('7'))).run).toBe(2);
  });

  it('@CacheEvict() invalidates only the tenant of its call', async () => {
    const { service, manager } = await boot();
    await manager.runWithTenant('acme', () => service.find('5'));
    await manager.runWithTenant('globex', () => service.find('5'));
    expect(service.runs).toBe(2);
    expect(await manager.runWithTenant('acme', () => service.update('5'))).toBe('updated 5');
    expect((await manager.runWithTenant('acme', () => service.find('5'))).run).toBe(3);
    expect((await manager.runWithTenant('globex', () => service.find('5'))).run).toBe(2);
    expect(service.runs).toBe(3);
  });

  it('rejects a call with no tenant in context with TenantRequiredError; scope global and a tenant argument need none', async () => {
    const { service, manager } = await boot();
    await expect(service.find('1')).rejects.toBeInstanceOf(TenantRequiredError);
    expect(service.runs).toBe(0);
    expect(await service.catalogue()).toBe(1);
    expect(await manager.runWithTenant('acme', () => service.catalogue())).toBe(1);
    const first = await service.report('acme', 'mon');
    expect(await service.report('acme', 'mon')).toBe(first);
    expect(await service.report('globex', 'mon')).not.toBe(first);
    expect(await manager.forTenant('acme').get('report:mon')).toBe(first);
  });

  it('keys a key function by its arguments, and the default key by the canonical arguments', async () => {
    const { service, manager } = await boot();
    await manager.runWithTenant('acme', async () => {
      expect(await service.findLocalized('1', { locale: 'fr' })).toBe('1/fr');
      expect(await service.findLocalized('1', { locale: 'fr' })).toBe('1/fr');
      expect(await service.findLocalized('1', { locale: 'de' })).toBe('1/de');
      expect(service.runs).toBe(2);
      await service.search({ q: 'ab', page: 1 });
      await service.search({ page: 1, q: 'ab' }); // the same arguments, keys in another order
      await service.search({ q: 'ab' });
      expect(service.runs).toBe(4);
    });
  });

  it('returns a cold Observable for an Observable method, storing its last value; one that emits nothing stores nothing', async () => {
    const { service, manager } = await boot();
    await manager.runWithTenant('acme', async () => {
      const first = service.stream(3);
      expect(service.runs).toBe(0); // cold: nothing runs before a subscription
      expect(await lastValueFrom(first.pipe(toArray()))).toEqual([30]);
      expect(await firstValueFrom(service.stream(3))).toBe(30);
      expect(service.runs).toBe(1);
      expect(await lastValueFrom(service.stream(0).pipe(toArray()))).toEqual([]);
      expect(await lastValueFrom(service.stream(0).pipe(toArray()))).toEqual([]);
      expect(service.runs).toBe(3);
      expect(await service.nothing()).toBeUndefined();
      expect(await service.nothing()).toBeUndefined();
      expect(service.runs).toBe(5);
    });
  });

  it('returns a result the codec cannot store exactly (a class instance) uncached, with its class, and logs it once per burst', async () => {
    const { service, manager } = await boot();
    const first = await manager.runWithTenant('acme', () => service.entity('e1'));
    const second = await manager.runWithTenant('acme', () => service.entity('e1'));
    expect(first).toBeInstanceOf(Entity);
    expect(second.label()).toBe('entity e1');
    expect(service.runs).toBe(2);
    expect(warnings.filter((w) => w.includes('ProductsService.entity was not cached'))).toHaveLength(1);
  });

  it('keeps the provider a singleton (its class untouched) and reports decorated methods of a request-scoped one', async () => {
    const { service } = await boot();
    expect(moduleRef!.get(ProductsService)).toBe(service);
    expect(Object.prototype.hasOwnProperty.call(service, 'find')).toBe(true);
    expect(new ProductsService().find).toBe(ProductsService.prototype.find);
    expect(warnings.some((w) => w.includes('PerRequestService.value') && w.includes('not a singleton'))).toBe(true);
  });

  it('checks its options where it is applied, naming the method and the option', () => {
    expect(() => CacheResult({ ttl: 'soon' as Duration })({ constructor: { name: 'S' } } as never, 'm', { value: () => Promise.resolve() } as never)).toThrow(CacheConfigError);
    expect(() => CacheResult({ key: 'a:{0' })({} as never, 'm', { value: () => Promise.resolve() } as never)).toThrow(/brace/);
    expect(() => CacheEvict({})({} as never, 'm', { value: () => Promise.resolve() } as never)).toThrow(/nothing to evict/);
    expect(() => CacheResult({ eagerRefresh: 80 })({ constructor: { name: 'S' } } as never, 'm', { value: () => Promise.resolve() } as never)).toThrow(/eagerRefresh.*0 < threshold < 1/);
    expect(() => CacheResult({ ttlJitter: 10 })({ constructor: { name: 'S' } } as never, 'm', { value: () => Promise.resolve() } as never)).toThrow(/ttlJitter.*0\.1 for ±10%/);
    expect(() => CacheResult({ eagerRefresh: { beta: 1 }, ttlJitter: 0.1 })({ constructor: { name: 'S' } } as never, 'm', { value: () => Promise.resolve() } as never)).not.toThrow();
  });
});
