import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Module } from '@nestjs/common';
import { Args, Field, GraphQLModule, Int, Mutation, ObjectType, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { InvalidateTags } from '../../lib/decorators/invalidate-tags.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, type Platform, type TestApp } from './helpers/app-factory.js';

@ObjectType()
class Product {
  @Field()
  id!: string;
  @Field()
  tenant!: string;
  @Field(() => Int)
  run!: number;
}

const runs = { product: 0, reviews: 0, mutation: 0, entity: 0 };

@Resolver(() => Product)
class ProductsResolver {
  constructor(private readonly cache: CacheManager) {}

  @Query(() => Product)
  @Cached({ ttl: '1m', tags: (args: { id: string }) => [`product:${args.id}`] })
  product(@Args('id') id: string): Product {
    return { id, tenant: this.cache.current().tenantId ?? '', run: ++runs.product };
  }

  /** Returns a class instance, which the codec will not store as a plain object: served uncached, never an error. */
  @Query(() => Product)
  @Cached()
  entity(): Product {
    return Object.assign(new Product(), { id: 'e', tenant: this.cache.current().tenantId ?? '', run: ++runs.entity });
  }

  @ResolveField(() => Int)
  @Cached()
  reviews(@Parent() product: Product): number {
    runs.reviews++;
    return product.id.length * 10;
  }

  @Mutation(() => Int)
  @Cached() // has no effect: a mutation is never cached
  @InvalidateTags((args: { id: string }) => [`product:${args.id}`])
  updateProduct(@Args('id') _id: string): number {
    return ++runs.mutation;
  }
}

/** A resolver with no cache decorator, in an app that imports the module (nestjs/nest#3136's kind of regression). */
@Resolver()
class PlainResolver {
  constructor(private readonly cache: CacheManager) {}

  @Query(() => String)
  whoami(): string {
    return this.cache.currentTenantId() ?? 'nobody';
  }
}

function graphqlModule(driver: 'apollo' | 'mercurius') {
  return driver === 'apollo'
    ? GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, fieldResolverEnhancers: ['interceptors'] })
    : GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, autoSchemaFile: true, fieldResolverEnhancers: ['interceptors'] });
}

const cacheModule = () => CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store: { type: 'memory', maxEntries: 1_000 }, logger: false });

const SETUPS: readonly { driver: 'apollo' | 'mercurius'; platform: Platform }[] = [
  { driver: 'apollo', platform: 'express' },
  { driver: 'mercurius', platform: 'fastify' },
];

let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  runs.product = runs.reviews = runs.mutation = runs.entity = 0;
});

async function gql(tenant: string | undefined, query: string): Promise<{ data?: Record<string, unknown>; errors?: unknown[] }> {
  const req = app!.http().post('/graphql').send({ query });
  const res = await (tenant === undefined ? req : req.set('x-tenant-id', tenant));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as { data?: Record<string, unknown>; errors?: unknown[] };
}

describe.each(SETUPS)('GraphQL on $driver ($platform) over real HTTP', ({ driver, platform }) => {
  it('caches a query field per tenant (MISS then HIT), a mutation with @InvalidateTags() makes the next query MISS', async () => {
    @Module({ imports: [cacheModule(), graphqlModule(driver)], providers: [ProductsResolver] })
    class GraphqlAppModule {}
    app = await createTestApp(platform, { imports: [GraphqlAppModule] });
    const q = '{ product(id: "p1") { id tenant run } }';
    expect((await gql('acme', q)).data).toEqual({ product: { id: 'p1', tenant: 'acme', run: 1 } }); // MISS
    expect((await gql('acme', q)).data).toEqual({ product: { id: 'p1', tenant: 'acme', run: 1 } }); // HIT
    expect((await gql('globex', q)).data).toEqual({ product: { id: 'p1', tenant: 'globex', run: 2 } }); // tenants apart
    expect((await gql('acme', '{ product(id: "p2") { run } }')).data).toEqual({ product: { run: 3 } }); // other arguments
    console.log(`[graphql ${driver}] 4 product queries (acme p1 x2, globex p1, acme p2) -> ${runs.product} resolver runs`);
    expect(runs.product).toBe(3);

    // A mutation is never cached (its @Cached() has no effect), and its @InvalidateTags() runs for its tenant.
    expect((await gql('acme', 'mutation { updateProduct(id: "p1") }')).data).toEqual({ updateProduct: 1 });
    expect((await gql('acme', 'mutation { updateProduct(id: "p1") }')).data).toEqual({ updateProduct: 2 });
    expect((await gql('acme', q)).data).toEqual({ product: { id: 'p1', tenant: 'acme', run: 4 } }); // MISS after the mutation
    expect((await gql('acme', q)).data).toEqual({ product: { id: 'p1', tenant: 'acme', run: 4 } });
    expect((await gql('globex', q)).data).toEqual({ product: { id: 'p1', tenant: 'globex', run: 2 } }); // globex untouched
  });

  it('caches a resolved field by its parent, and runs uncached without a tenant', async () => {
    @Module({ imports: [cacheModule(), graphqlModule(driver)], providers: [ProductsResolver] })
    class GraphqlAppModule {}
    app = await createTestApp(platform, { imports: [GraphqlAppModule] });
    await gql('acme', '{ product(id: "abc") { reviews } }');
    await gql('acme', '{ a: product(id: "abc") { reviews } b: product(id: "abcd") { reviews } }');
    expect(runs.reviews).toBe(2); // abc once, abcd once
    const anonymous = await gql(undefined, '{ product(id: "zz") { id } }');
    expect(anonymous.errors).toBeDefined(); // current() without a tenant: the resolver's own TenantRequiredError
    expect(runs.product).toBe(2);
    expect((await gql('acme', '{ entity { run } }')).data).toEqual({ entity: { run: 1 } });
    expect((await gql('acme', '{ entity { run } }')).data).toEqual({ entity: { run: 2 } });
  });

  it('works with the module imported and no @Cached() anywhere', async () => {
    @Module({ imports: [cacheModule(), graphqlModule(driver)], providers: [PlainResolver] })
    class PlainGraphqlModule {}
    app = await createTestApp(platform, { imports: [PlainGraphqlModule] });
    expect(await gql('acme', '{ whoami }')).toEqual({ data: { whoami: 'acme' } });
    expect(await gql(undefined, '{ whoami }')).toEqual({ data: { whoami: 'nobody' } });
  });
});
