import { defer, from, lastValueFrom, mergeMap, Observable, toArray } from 'rxjs';
import { CACHED_METADATA, INVALIDATE_TAGS_METADATA, NO_CACHE_METADATA } from '../cache.constants.js';
import { InvalidKeyError } from '../errors/cache.errors.js';
import type { CachedOptions, InvalidateTagsMetadata, TagsSource } from '../options/cached-options.interface.js';
import { resolveCachedOptions, resolveInvalidateTagsOptions, type ResolvedCachedOptions } from '../options/cached-options.js';
import type { WrapOptions } from '../options/cache-options.interface.js';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';
import { internalsOf, type CacheManager } from './cache-manager.js';
import { wrapOrRun } from './wrap-or-run.js';

/* eslint-disable @typescript-eslint/no-unsafe-function-type */

/**
 * The face-neutral part of caching a Nest handler outside HTTP (a GraphQL resolver, a message
 * handler): its decorators read once, its result computed through `wrap()` of its tenant's
 * cache (so through the one compute engine), its `@InvalidateTags()` run after it succeeded.
 * The faces decide the rest: the tenant, whether the call may be cached, and the key.
 */
export interface HandlerSpec {
  /** `Class.method`. */
  readonly id: string;
  readonly cached: ResolvedCachedOptions | undefined;
  readonly invalidate: { readonly tags: TagsSource; readonly scope: 'tenant' | 'global' } | undefined;
}

/** What a handler's values are stored as: its last value (a resolver), or every value it emitted (a message reply stream). */
export type ReplayMode = 'last' | 'all';

/** Reads and checks the cache decorators of handlers, once per handler. */
export class HandlerSpecs {
  private readonly specs = new WeakMap<Function, HandlerSpec | null>();

  /** The decorators of `handler` (of `controller`), or `null` when it has none. Throws `CacheConfigError` for bad options. */
  of(controller: Function, handler: Function): HandlerSpec | null {
    let spec = this.specs.get(handler);
    if (spec === undefined) {
      spec = readSpec(controller, handler);
      this.specs.set(handler, spec);
    }
    return spec;
  }
}

function readSpec(controller: Function, handler: Function): HandlerSpec | null {
  const classOptions = Reflect.getMetadata(CACHED_METADATA, controller) as CachedOptions | undefined;
  const handlerOptions = Reflect.getMetadata(CACHED_METADATA, handler) as CachedOptions | undefined;
  const noCache = Reflect.getMetadata(NO_CACHE_METADATA, handler) === true;
  const invalidate = Reflect.getMetadata(INVALIDATE_TAGS_METADATA, handler) as InvalidateTagsMetadata | undefined;
  const cachedOn = !noCache && (classOptions !== undefined || handlerOptions !== undefined);
  if (!cachedOn && invalidate === undefined) return null;
  const id = `${controller.name}.${handler.name}`;
  return {
    id,
    cached: cachedOn ? resolveCachedOptions({ ...classOptions, ...handlerOptions }, `@Cached() on ${id}`) : undefined,
    invalidate: invalidate === undefined ? undefined : resolveInvalidateTagsOptions(invalidate.tags, invalidate.options, `@InvalidateTags() on ${id}`),
  };
}

/** Runs `run` with `tenant` as the current tenant (none for `undefined`, or when the tenant context is off). */
export function inTenantContext<T>(manager: CacheManager, tenant: string | undefined, run: () => Observable<T>): Observable<T> {
  const context = manager.context;
  if (tenant === undefined || !context.enabled) return run();
  return new Observable<T>((subscriber) => context.run(tenant, () => run().subscribe(subscriber)));
}

/**
 * The handler's values from the cache of `tenant` (the global cache for a `scope: 'global'`
 * route) under `key`, computing them with `run` on a miss. `input` is what the route's `tags`
 * function is given (the GraphQL arguments, the message payload). A value the handler
 * resolves as `undefined` is not stored (as `wrap()`).
 */
export function cachedHandler<T>(manager: CacheManager, spec: HandlerSpec, tenant: string | undefined, key: string, input: unknown, mode: ReplayMode, run: () => Observable<T>): Observable<T> {
  const cached = spec.cached!;
  const global = cached.scope === 'global';
  const cache = global ? manager.global() : manager.forTenant(tenant!);
  let tags: readonly string[] | undefined;
  try {
    tags = typeof cached.tags === 'function' ? cached.tags(input as CacheRequest) : cached.tags;
  } catch (err) {
    report(manager, spec, `A @Cached() tags function of ${spec.id} threw (${err instanceof Error ? err.name : typeof err}); the call bypassed the cache.`);
    return inTenantContext(manager, global ? undefined : tenant, run);
  }
  const options: WrapOptions = { ttl: cached.ttlMs, grace: cached.graceMs, tags, staleWhileRevalidate: cached.graceMs > 0, staleIfError: true };
  // A `scope: 'global'` value is shared by all tenants: computed with no tenant context.
  const compute = (): Promise<T | T[]> => {
    const values = inTenantContext(manager, global ? undefined : tenant, run);
    return mode === 'all' ? lastValueFrom(values.pipe(toArray())) : lastValueFrom(values, { defaultValue: undefined as T });
  };
  const refused = (err: Error): void => report(manager, spec, `A value of ${spec.id} was not cached: ${err.message}`);
  return defer(() => from(wrapOrRun<T | T[]>(cache, key, compute, options, refused))).pipe(mergeMap((stored) => (mode === 'all' ? (stored as T[]) : [stored as T])));
}

/**
 * Runs `@InvalidateTags()` for a handler that succeeded: the tenant's tags (or the global ones).
 * Never fails the handler: a bad tags function is reported; a store failure is reported and
 * retried in the background by the cache layer.
 */
export async function invalidateHandlerTags(manager: CacheManager, spec: HandlerSpec, tenant: string | undefined, input: unknown): Promise<void> {
  const invalidate = spec.invalidate!;
  let tags: readonly string[];
  try {
    tags = typeof invalidate.tags === 'function' ? invalidate.tags(input as CacheRequest) : invalidate.tags;
  } catch (err) {
    report(manager, spec, `An @InvalidateTags() tags function of ${spec.id} threw (${err instanceof Error ? err.name : typeof err}); nothing was invalidated.`);
    return;
  }
  if (!Array.isArray(tags) || tags.length === 0) return;
  if (invalidate.scope !== 'global' && tenant === undefined) return; // no tenant: it has no entries to invalidate
  try {
    await (invalidate.scope === 'global' ? manager.global() : manager.forTenant(tenant!)).invalidateTags(tags);
  } catch (err) {
    if (err instanceof InvalidKeyError) report(manager, spec, `An @InvalidateTags() tag of ${spec.id} was invalid (${err.message}); nothing was invalidated.`);
  }
}

/** Runs `@InvalidateTags()` once `values` has completed without error, before its values are passed on. */
export function thenInvalidate<T>(manager: CacheManager, spec: HandlerSpec, tenant: string | undefined, input: unknown, values: Observable<T>): Observable<T> {
  if (spec.invalidate === undefined) return values;
  return values.pipe(
    toArray(),
    mergeMap(async (all) => {
      await invalidateHandlerTags(manager, spec, tenant, input);
      return all;
    }),
    mergeMap((all) => all),
  );
}

function report(manager: CacheManager, spec: HandlerSpec, message: string): void {
  internalsOf(manager).state.reporter.report(`handler ${spec.id}`, message);
}
