import { defer, EMPTY, from, isObservable, lastValueFrom, mergeMap, Observable, throwError } from 'rxjs';
import { internalsOf, type CacheManager } from '../cache/cache-manager.js';
import type { TenantCache } from '../cache/tenant-cache.js';
import { wrapOrRun } from '../cache/wrap-or-run.js';
import { TenantRequiredError } from '../errors/cache.errors.js';
import type { ResolvedCacheResultOptions, ResolvedMethodTarget } from '../options/method-cache-options.js';
import { methodKey, methodTags, UnkeyableCall } from './method-key.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type AnyMethod = (this: unknown, ...args: any[]) => unknown;

/** What the method face knows of one decorated method. */
export interface MethodPlan<O> {
  /** `Class.method`, in the default key and in messages. */
  readonly id: string;
  readonly options: O;
  /** The method's declared return type is `Observable` (decorator metadata): the wrapper returns one too. */
  readonly observable: boolean;
}

/** Stands for "the Observable completed without a value": never stored, replayed as an empty Observable. */
const NOTHING: unique symbol = Symbol('nestjs-tenant-cache:no-value');

/**
 * `@CacheResult()`: the method's result through `wrap()` of the call's tenant (so through the
 * one compute engine: one run for concurrent calls, the cross-process lock, grace and stale
 * rules). A Promise-returning method returns a Promise; an Observable-returning one returns a
 * cold Observable that, on subscription, looks the key up and otherwise subscribes to the
 * method's Observable, stores its last value and emits it (an Observable that completes
 * without a value stores nothing and emits nothing). A call whose arguments cannot be keyed,
 * or whose result the codec cannot store exactly (a class instance), runs uncached (reported
 * once per burst).
 */
export function cachedResultMethod(original: AnyMethod, plan: MethodPlan<ResolvedCacheResultOptions>, manager: CacheManager): AnyMethod {
  const { options } = plan;
  return function (this: unknown, ...args: unknown[]): unknown {
    let cache: TenantCache;
    let key: string;
    let tags: readonly string[] | undefined;
    try {
      cache = cacheOf(manager, options, args);
      key = methodKey(options.key, plan.id, args);
      tags = methodTags(options.tags, args);
    } catch (err) {
      if (!(err instanceof UnkeyableCall)) return failure(plan, err);
      report(manager, plan, err);
      return original.apply(this, args);
    }
    const wrapOptions = tags === undefined ? options.wrap : { ...options.wrap, tags };
    const compute = (): Promise<unknown> =>
      wrapOrRun(
        cache,
        key,
        async (ctx) => {
          const result = original.apply(this, args);
          if (!isObservable(result)) return result;
          const last = await lastValueFrom(result, { defaultValue: NOTHING });
          if (last === NOTHING) ctx.skip();
          return last;
        },
        wrapOptions,
        (err) => internalsOf(manager).state.reporter.report(`method value ${plan.id}`, `A result of ${plan.id} was not cached: ${err.message}`),
      );
    if (!plan.observable) return compute();
    return defer(() => from(compute())).pipe(mergeMap((value) => (value === NOTHING ? EMPTY : [value])));
  };
}

/**
 * `@CacheEvict()`: runs the method, and once it has succeeded (its Promise resolved, its
 * Observable completed) deletes the key and invalidates the tags in the call's tenant cache,
 * before the caller gets the result. An eviction that fails does not fail the call: it is
 * reported, and the cache layer retries it in the background (meanwhile no read of this
 * instance serves what it covers).
 */
export function evictingMethod(original: AnyMethod, plan: MethodPlan<ResolvedMethodTarget>, manager: CacheManager): AnyMethod {
  const { options } = plan;
  return function (this: unknown, ...args: unknown[]): unknown {
    let cache: TenantCache;
    let key: string | undefined;
    let tags: readonly string[] | undefined;
    try {
      cache = cacheOf(manager, options, args);
      key = options.key === undefined ? undefined : methodKey(options.key, plan.id, args);
      tags = methodTags(options.tags, args);
    } catch (err) {
      if (!(err instanceof UnkeyableCall)) return failure(plan, err);
      // Nothing to evict can be named: the call still runs; what it should have evicted expires.
      report(manager, plan, err);
      return original.apply(this, args);
    }
    const evict = (): Promise<void> => evictNow(manager, plan, cache, key, tags);
    if (plan.observable) {
      return defer(() => {
        const result = original.apply(this, args);
        const values = isObservable(result) ? result : from(Promise.resolve(result));
        return new Observable<unknown>((subscriber) => {
          const emitted: unknown[] = [];
          return values.subscribe({
            next: (value) => emitted.push(value),
            error: (err: unknown) => subscriber.error(err),
            complete: () => {
              void evict().then(() => {
                for (const value of emitted) subscriber.next(value);
                subscriber.complete();
              });
            },
          });
        });
      });
    }
    return (async () => {
      const value: unknown = await original.apply(this, args);
      await evict();
      return value;
    })();
  };
}

async function evictNow(manager: CacheManager, plan: MethodPlan<unknown>, cache: TenantCache, key: string | undefined, tags: readonly string[] | undefined): Promise<void> {
  const work: Promise<unknown>[] = [];
  if (key !== undefined) work.push(cache.delete(key));
  if (tags !== undefined && tags.length > 0) work.push(cache.invalidateTags(tags));
  for (const outcome of await Promise.allSettled(work)) {
    if (outcome.status === 'rejected') {
      const name = outcome.reason instanceof Error ? outcome.reason.name : typeof outcome.reason;
      internalsOf(manager).state.reporter.report(`@CacheEvict() ${plan.id}`, `@CacheEvict() on ${plan.id} could not evict (${name}); it is retried in the background.`);
    }
  }
}

/** The cache a call uses: the global one, or its tenant's (from an argument, or the current tenant). Throws `TenantRequiredError` without one. */
function cacheOf(manager: CacheManager, options: ResolvedMethodTarget, args: readonly unknown[]): TenantCache {
  if (options.scope === 'global') return manager.global();
  const source = options.tenant;
  const tenant = source === undefined ? manager.context.get() : typeof source === 'number' ? args[source] : source(...args);
  if (tenant === undefined || tenant === null || tenant === '') {
    throw new TenantRequiredError(source === undefined ? manager.context.offReason : 'The tenant argument of this call was missing.');
  }
  // forTenant validates the id (InvalidKeyError for a non-string or an over-long one).
  return manager.forTenant(tenant as string);
}

function failure(plan: MethodPlan<unknown>, err: unknown): unknown {
  return plan.observable ? throwError(() => err) : Promise.reject(err);
}

function report(manager: CacheManager, plan: MethodPlan<unknown>, err: UnkeyableCall): void {
  internalsOf(manager).state.reporter.report(`method key ${plan.id}`, `A call of ${plan.id} ran uncached: ${err.message}.`);
}
