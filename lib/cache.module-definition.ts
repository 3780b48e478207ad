import { ConfigurableModuleBuilder } from '@nestjs/common';
import { CACHE_MODULE_OPTIONS } from './cache.constants.js';
import { createCacheProviders } from './cache.providers.js';
import { CacheConfigError } from './errors/cache.errors.js';
import { CachedInterceptor } from './http/cached.interceptor.js';
import type { CacheModuleExtras, CacheModuleOptions } from './options/cache-module-options.interface.js';

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
