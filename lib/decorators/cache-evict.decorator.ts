import { SetMetadata } from '@nestjs/common';
import { CACHE_EVICT_METADATA } from '../cache.constants.js';
import type { CacheEvictOptions, MethodKeyFn } from '../options/method-cache-options.interface.js';
import { resolveCacheEvictOptions } from '../options/method-cache-options.js';
import { methodLabel, type AnyArgs, type CacheMethodDecorator } from './method-decorator.types.js';

/**
 * After a provider's method succeeds (its Promise resolved, its Observable completed), deletes
 * `key` and invalidates `tags` in the cache of the call's tenant (only that tenant), before the
 * caller gets the result:
 *
 * ```ts
 * @CacheEvict({ key: 'product:{0}', tags: ['products'] })
 * async update(id: string, patch: Patch): Promise<Product> { … }
 * ```
 *
 * The tenant comes as for `@CacheResult()`. A failed eviction does not fail the call: it is
 * logged once per burst and retried in the background.
 */
export function CacheEvict<A extends readonly unknown[]>(options: CacheEvictOptions<A> & { readonly key: MethodKeyFn<A> }): CacheMethodDecorator<A, string>;
export function CacheEvict<const K extends string = string>(options: CacheEvictOptions<AnyArgs> & { readonly key?: K }): CacheMethodDecorator<AnyArgs, K>;
export function CacheEvict(options: CacheEvictOptions): CacheMethodDecorator<AnyArgs, string> {
  return (target, propertyKey, descriptor) => {
    const resolved = resolveCacheEvictOptions(options, methodLabel('CacheEvict', target, propertyKey));
    SetMetadata(CACHE_EVICT_METADATA, resolved)(target, propertyKey, descriptor);
  };
}
