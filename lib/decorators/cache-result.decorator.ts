import { SetMetadata } from '@nestjs/common';
import { CACHE_RESULT_METADATA } from '../cache.constants.js';
import type { CacheResultOptions, MethodKeyFn } from '../options/method-cache-options.interface.js';
import { resolveCacheResultOptions } from '../options/method-cache-options.js';
import { methodLabel, type AnyArgs, type CacheMethodDecorator } from './method-decorator.types.js';

/**
 * Caches what a provider's method returns, in the cache of the call's tenant, through the same
 * engine as `wrap()` (one run for concurrent calls, the cross-process lock, grace and stale
 * rules). The provider stays a singleton; the tenant is the current one (the request's, or
 * `runWithTenant`'s), an argument (`tenant: 0`), or none with `scope: 'global'`; without one a
 * call rejects with `TenantRequiredError`.
 *
 * ```ts
 * @CacheResult({ key: 'product:{0}', ttl: '30s', tags: ['products', 'product:{0}'] })
 * async find(id: string): Promise<Product> { … }
 *
 * @CacheResult<[id: string, opts: FindOptions]>({ key: (id, opts) => `product:${id}:${opts.locale}` })
 * async findLocalized(id: string, opts: FindOptions): Promise<Product> { … }
 * ```
 *
 * A key template is checked against the method's parameters at compile time. A method returning
 * an Observable returns a cold Observable of its last value (stored once it completes). A call
 * resolving `undefined` is not stored.
 */
export function CacheResult<A extends readonly unknown[]>(options: CacheResultOptions<A> & { readonly key: MethodKeyFn<A> }): CacheMethodDecorator<A, string>;
export function CacheResult<const K extends string = string>(options?: CacheResultOptions<AnyArgs> & { readonly key?: K }): CacheMethodDecorator<AnyArgs, K>;
export function CacheResult(options: CacheResultOptions = {}): CacheMethodDecorator<AnyArgs, string> {
  return (target, propertyKey, descriptor) => {
    const resolved = resolveCacheResultOptions(options, methodLabel('CacheResult', target, propertyKey));
    SetMetadata(CACHE_RESULT_METADATA, resolved)(target, propertyKey, descriptor);
  };
}
