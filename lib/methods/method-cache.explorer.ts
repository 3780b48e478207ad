import { Inject, Injectable } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { CACHE_EVICT_METADATA, CACHE_RESULT_METADATA } from '../cache.constants.js';
import { RESOLVED_CACHE_OPTIONS } from '../cache.internal-constants.js';
import { CacheManager } from '../cache/cache-manager.js';
import type { ResolvedCacheResultOptions, ResolvedMethodTarget } from '../options/method-cache-options.js';
import type { ResolvedCacheModuleOptions } from '../options/module-options.js';
import { cachedResultMethod, evictingMethod, type MethodPlan } from './cached-method.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

/** Marks a method this package wrapped, so a second CacheModule (or a second scan) never wraps it again. */
const WRAPPED = Symbol('nestjs-tenant-cache:wrapped-method');

/**
 * Finds the `@CacheResult()` / `@CacheEvict()` methods of the app's providers at module init and
 * puts the cached version on each instance (an own property: the class and its prototype are
 * untouched, the provider keeps its scope and its other instances). Singletons only: a
 * request-scoped or transient provider's instances are made after start-up, so its decorated
 * methods are reported and left as they are.
 */
@Injectable()
export class MethodCacheExplorer {
  private wrapped = 0;

  constructor(
    @Inject(RESOLVED_CACHE_OPTIONS) private readonly options: ResolvedCacheModuleOptions,
    private readonly manager: CacheManager,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
  ) {}

  /** Methods wrapped so far (by this explorer). */
  get count(): number {
    return this.wrapped;
  }

  /** Wraps every decorated method of every singleton provider; returns how many it wrapped. */
  wrapAll(): number {
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined | null;
      const metatype = wrapper.metatype as { prototype?: object } | null | undefined;
      if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
        const names = this.decorated(metatype?.prototype);
        if (names.length > 0) this.options.logger?.warn(`@CacheResult()/@CacheEvict() have no effect on ${String(wrapper.name)}.${names.join(', .')}: the provider is not a singleton (request-scoped or transient), and only singletons' methods are wrapped.`);
        continue;
      }
      if (instance === null || typeof instance !== 'object') continue;
      const proto = Object.getPrototypeOf(instance) as object | null;
      for (const name of this.decorated(proto)) this.wrap(instance, proto!, name);
    }
    return this.wrapped;
  }

  private decorated(proto: object | null | undefined): string[] {
    if (proto === null || proto === undefined || proto === Object.prototype) return [];
    return this.scanner.getAllMethodNames(proto).filter((name) => {
      const method = (proto as Record<string, unknown>)[name];
      return typeof method === 'function' && (Reflect.hasMetadata(CACHE_RESULT_METADATA, method) || Reflect.hasMetadata(CACHE_EVICT_METADATA, method));
    });
  }

  private wrap(instance: Record<string, unknown>, proto: object, name: string): void {
    const current = instance[name] as ((...args: any[]) => unknown) & { [WRAPPED]?: true };
    if (current[WRAPPED] === true) return;
    const original = (proto as Record<string, (...args: any[]) => unknown>)[name]!;
    const id = `${(proto.constructor as { name?: string }).name ?? 'anonymous'}.${name}`;
    const observable = isObservableType(Reflect.getMetadata('design:returntype', proto, name));
    let method: (...args: any[]) => unknown = original;
    // Evict wraps the cached call, so a method with both stores its result, then evicts.
    const result = Reflect.getMetadata(CACHE_RESULT_METADATA, original) as ResolvedCacheResultOptions | undefined;
    if (result !== undefined) method = cachedResultMethod(method, { id, options: result, observable } satisfies MethodPlan<ResolvedCacheResultOptions>, this.manager);
    const evict = Reflect.getMetadata(CACHE_EVICT_METADATA, original) as ResolvedMethodTarget | undefined;
    if (evict !== undefined) method = evictingMethod(method, { id, options: evict, observable }, this.manager);
    Object.defineProperty(method, WRAPPED, { value: true });
    Object.defineProperty(method, 'name', { value: name });
    Object.defineProperty(instance, name, { value: method, writable: true, configurable: true, enumerable: false });
    this.wrapped++;
  }
}

/** Whether decorator metadata says the method returns an rxjs `Observable` (compared by shape: the app may load its own copy of rxjs). */
function isObservableType(type: unknown): boolean {
  return typeof type === 'function' && (type.name === 'Observable' || typeof (type as { prototype?: { subscribe?: unknown; pipe?: unknown } }).prototype?.pipe === 'function');
}
