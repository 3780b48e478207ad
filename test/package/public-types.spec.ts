import type { Request as ExpressRequest } from 'express';
import type { FastifyRequest } from 'fastify';
import { describe, expectTypeOf, it } from 'vitest';
import { Cached, CacheModule, fromHeader, InvalidateTags, type CacheManager, type CachedOptions, type Duration, type TenantCache, type TenantStrategy, type UserIdResolver } from 'nestjs-tenant-cache';

/**
 * Type tests of the public surface, as a user's code sees it (by the package name). They are
 * checked by `npm run typecheck` (tsconfig includes test/), which `npm test` runs before Vitest:
 * a `@ts-expect-error` line that compiles, or an accepted line that does not, fails the suite.
 * The bodies are compiled, never run (`compiled`): they call the cache with values on purpose.
 */

/** Holds a body that is only type-checked: running it would store and boot for nothing. */
function compiled(body: () => void): void {
  void body;
}

declare const cache: TenantCache;
declare const manager: CacheManager;
declare const maybe: string | undefined;
declare const anything: unknown;

describe('Duration', () => {
  it('accepts milliseconds and <number><unit> strings of one to three parts', () =>
    compiled(() => {
      expectTypeOf<500>().toExtend<Duration>();
      expectTypeOf<'500ms'>().toExtend<Duration>();
      expectTypeOf<'30s'>().toExtend<Duration>();
      expectTypeOf<'1.5h'>().toExtend<Duration>();
      expectTypeOf<'1h30m'>().toExtend<Duration>();
      expectTypeOf<'1d2h30m'>().toExtend<Duration>();
      expectTypeOf<'2w'>().toExtend<Duration>();
    }));

  it("rejects '5 minutes', unknown units, an empty string and a plain string at compile time", () =>
    compiled(() => {
      expectTypeOf<'5 minutes'>().not.toExtend<Duration>();
      expectTypeOf<'5mins'>().not.toExtend<Duration>();
      expectTypeOf<'soon'>().not.toExtend<Duration>();
      expectTypeOf<''>().not.toExtend<Duration>();
      expectTypeOf<'5'>().not.toExtend<Duration>();
      expectTypeOf<string>().not.toExtend<Duration>();
      // In the places users write it:
      // @ts-expect-error -- '5 minutes' is not a Duration
      void cache.set('k', 1, { ttl: '5 minutes' });
      // @ts-expect-error -- '5 minutes' is not a Duration
      void CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), defaultTtl: '5 minutes' });
      // @ts-expect-error -- '5 minutes' is not a Duration
      void Cached({ ttl: '5 minutes' });
      void CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), defaultTtl: '5m' });
      void Cached({ ttl: '30s', grace: '1h30m' });
    }));
});

describe('set() and wrap() refuse undefined values', () => {
  it('set(), getOrSet() and compareAndSet() reject undefined and a possibly undefined value; unknown and null pass', () =>
    compiled(() => {
      // @ts-expect-error -- undefined cannot be cached (it reads as a miss)
      void cache.set('k', undefined);
      // @ts-expect-error -- string | undefined must be narrowed first
      void cache.set('k', maybe);
      // @ts-expect-error -- undefined cannot be cached
      void cache.getOrSet('k', undefined);
      // @ts-expect-error -- undefined cannot be cached
      void cache.compareAndSet('k', 'a', maybe);
      // @ts-expect-error -- undefined cannot be cached
      void cache.setMany([{ key: 'a', value: 1 }, { key: 'b', value: undefined }]);
      // @ts-expect-error -- string | undefined must be narrowed first
      void cache.setMany([{ key: 'a', value: maybe }]);
      void cache.setMany([{ key: 'a', value: 1 }, { key: 'b', value: 'x', options: { ttl: '5m' } }, { key: 'c', value: null }]);
      void cache.set('k', null);
      void cache.set('k', anything); // checked at run time
      void cache.set('k', { a: 1, b: undefined as string | undefined });
      expectTypeOf(cache.getOrSet('k', 1)).resolves.toEqualTypeOf<{ readonly value: number; readonly set: boolean }>();
    }));

  it('wrap() rejects a factory that may resolve undefined, and infers the value type otherwise', () =>
    compiled(() => {
      // @ts-expect-error -- a factory resolving undefined cannot be cached
      void cache.wrap('k', () => undefined);
      // @ts-expect-error -- a factory that may resolve undefined cannot be cached
      void cache.wrap('k', async () => maybe);
      expectTypeOf(cache.wrap('k', () => 42)).resolves.toEqualTypeOf<number>();
      expectTypeOf(cache.wrap('k', async () => 'fresh')).resolves.toEqualTypeOf<string>();
      expectTypeOf(cache.wrap('k', () => null)).resolves.toEqualTypeOf<null>();
      expectTypeOf(cache.wrap('k', () => anything)).resolves.toEqualTypeOf<unknown>();
      expectTypeOf(manager.forTenant('acme').wrap('k', async () => ({ id: 1 }), { ttl: '1h' })).resolves.toEqualTypeOf<{ id: number }>();
    }));
});

describe("functions of the request take the platform's request type", () => {
  it('@Cached() tags, key and condition typed by Express or Fastify requests', () =>
    compiled(() => {
      void Cached({ tags: (req: ExpressRequest) => [`product:${req.params.id}`], condition: (req: ExpressRequest) => req.get('x-preview') === undefined });
      void Cached({ tags: (req: FastifyRequest<{ Params: { id: string } }>) => [`product:${req.params.id}`], key: (req: FastifyRequest) => req.hostname });
      void Cached({ userId: (req: ExpressRequest) => req.get('x-user-id'), scope: 'user' });
      expectTypeOf(Cached<ExpressRequest>).parameter(0).toEqualTypeOf<CachedOptions<ExpressRequest> | undefined>();
      // Untyped, the request is CacheRequest (headers plus any field):
      void Cached({ tags: (req) => [`product:${String(req.params.id)}`] });
    }));

  it('@InvalidateTags() typed by Express or Fastify requests', () =>
    compiled(() => {
      void InvalidateTags((req: ExpressRequest) => [`product:${req.params.id}`]);
      void InvalidateTags((req: FastifyRequest<{ Params: { id: string } }>) => [`product:${req.params.id}`]);
      expectTypeOf(InvalidateTags<ExpressRequest>).parameter(0).toExtend<readonly string[] | ((req: ExpressRequest) => readonly string[])>();
    }));

  it('tenant strategies and userId of the module typed by Express or Fastify requests', () =>
    compiled(() => {
      void CacheModule.forRoot({ tenant: (req: ExpressRequest) => req.get('x-tenant-id') });
      void CacheModule.forRoot({ tenant: (req: FastifyRequest) => req.headers['x-tenant-id'] as string | undefined, userId: (req: FastifyRequest) => req.id });
      expectTypeOf<(req: ExpressRequest) => string>().toExtend<TenantStrategy>();
      expectTypeOf<(req: FastifyRequest) => Promise<string | undefined>>().toExtend<TenantStrategy>();
      expectTypeOf<(req: ExpressRequest) => string | undefined>().toExtend<UserIdResolver>();
      // @ts-expect-error -- a tenant function must return a string (or undefined, or a promise of either)
      void CacheModule.forRoot({ tenant: (req: ExpressRequest) => req.params });
    }));
});
