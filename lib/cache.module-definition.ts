import { ConfigurableModuleBuilder, type Type } from '@nestjs/common';
import { CACHE_MODULE_OPTIONS } from './cache.constants.js';
import { createCacheProviders } from './cache.providers.js';
import { CacheConfigError } from './errors/cache.errors.js';
import { CachedInterceptor } from './http/cached.interceptor.js';
import type { CacheModuleOptions } from './options/cache-module-options.interface.js';

/**
 * Options of the `forRoot`/`forRootAsync` call itself (not of the factory result).
 */
export interface CacheModuleExtras {
  /** Register the module globally, so every module can inject `CacheManager`. Default false. */
  isGlobal?: boolean;
  /**
   * The interceptor registered globally (`APP_INTERCEPTOR`): `CachedInterceptor` by default, a
   * subclass of it to override its hooks, or `false` to register none and apply
   * `@UseInterceptors(CachedInterceptor)` yourself. It serves `@Cached()` and runs
   * `@InvalidateTags()`, and sets the tenant context of every HTTP request.
   */
  interceptor?: Type<CachedInterceptor> | false;
}

/**
 * `forRoot(options)` and `forRootAsync({ imports, inject, useFactory | useClass | useExisting })`
 * come from Nest's ConfigurableModuleBuilder; a `useClass`/`useExisting` class implements
 * `createCacheOptions()`. `isGlobal` and `interceptor` are options of the call (extras), not
 * of the factory result. Each call builds a fresh set of providers, so two apps (or two
 * modules) never share a CacheManager.
 */
export const {
  ConfigurableModuleClass: ConfigurableCacheModule,
  OPTIONS_TYPE: CACHE_MODULE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: CACHE_MODULE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<CacheModuleOptions>({ optionsInjectionToken: CACHE_MODULE_OPTIONS })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createCacheOptions')
  .setExtras<CacheModuleExtras>({ isGlobal: false, interceptor: undefined }, (definition, extras) => {
    const interceptor = extras.interceptor;
    if (interceptor !== undefined && interceptor !== false && !(typeof interceptor === 'function' && (interceptor === CachedInterceptor || interceptor.prototype instanceof CachedInterceptor))) {
      throw new CacheConfigError('interceptor', 'expected CachedInterceptor, a subclass of it, or false', 'extend CachedInterceptor and override its protected hooks, or pass false to register none');
    }
    return {
      ...definition,
      global: extras.isGlobal === true,
      providers: [...(definition.providers ?? []), ...createCacheProviders(interceptor)],
    };
  })
  .build();
