import type { Duration } from '../utils/duration.js';
import type { WrapOptions } from './cache-options.interface.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

/** A key as a function of the method's arguments: `(id, opts) => `product:${id}``. */
export type MethodKeyFn<A extends readonly unknown[]> = (...args: A) => string;

/** Tags as a list (each may name arguments, as a key template does) or a function of the method's arguments. */
export type MethodTagsSource<A extends readonly unknown[]> = readonly string[] | ((...args: A) => readonly string[]);

/** The tenant of a call: the index of the argument holding its id, or a function of the arguments. */
export type MethodTenantSource<A extends readonly unknown[]> = number | ((...args: A) => string | undefined);

/** Options shared by `@CacheResult()` and `@CacheEvict()`. */
export interface MethodCacheTarget<A extends readonly unknown[]> {
  /**
   * Whose cache the call uses: `'tenant'` (the tenant of the call, see `tenant`) or `'global'`
   * (the cache shared by all tenants; the call needs no tenant).
   * @default METHOD_CACHE_DEFAULTS.scope: 'tenant'
   */
  scope?: 'tenant' | 'global';
  /**
   * Where the tenant of a call comes from: the index of the argument that holds its id
   * (`tenant: 0` for `report(tenantId, day)`), or a function of the arguments. A call whose
   * tenant is missing rejects with `TenantRequiredError`.
   * @default the current tenant (`CacheManager.currentTenantId()`: the request's, or `runWithTenant`'s)
   */
  tenant?: MethodTenantSource<A>;
}

/**
 * Options of `@CacheResult()`: where the result is stored, for how long, with which tags, and
 * how stale entries are served (every option of `wrap()`).
 */
export interface CacheResultOptions<A extends readonly unknown[] = any[]> extends Omit<WrapOptions, 'tags' | 'forceFresh'>, MethodCacheTarget<A> {
  /**
   * The key within the tenant's cache, used as written (so `forTenant(id).delete('product:42')`
   * and `wrap('product:42', …)` reach the same entry): a template naming arguments by position,
   * `'product:{0}'`, `'report:{0}:{1.day}'` (a property path after the index; strings are
   * written as they are, other values in canonical form), checked against the method's
   * parameters at compile time; or a function of the arguments.
   * @default `method:<Class>.<method>:<SHA-256 of the canonical arguments>`
   */
  key?: string | MethodKeyFn<A>;
  /**
   * Tags of the stored result, for `@CacheEvict({ tags })` and `invalidateTags()`; a list (whose
   * entries may name arguments as `key` does: `['product:{0}']`) or a function of the arguments.
   * @default none
   */
  tags?: MethodTagsSource<A>;
  /**
   * Freshness of a stored result. Milliseconds or a duration string (`'30s'`); 0 = no expiry.
   * @default the module's `defaultTtl` (`MANAGER_DEFAULTS.defaultTtl`: '5m')
   */
  ttl?: Duration;
  /**
   * Keep a result this long past its `ttl`, to serve it stale (`staleWhileRevalidate`,
   * `staleIfError`). Milliseconds or a duration string.
   * @default 0 (no grace)
   */
  grace?: Duration;
}

/**
 * Options of `@CacheEvict()`: what a successful call invalidates in the cache of its tenant.
 * Give `key`, `tags` or both.
 */
export interface CacheEvictOptions<A extends readonly unknown[] = any[]> extends MethodCacheTarget<A> {
  /**
   * The key to delete: a template (`'product:{0}'`, checked against the method's parameters)
   * or a function of the arguments; the same as the `@CacheResult()` key it evicts.
   * @default none
   */
  key?: string | MethodKeyFn<A>;
  /**
   * Tags to invalidate (every entry of the tenant written with one of them): a list, whose
   * entries may name arguments (`['product:{0}']`), or a function of the arguments.
   * @default none
   */
  tags?: MethodTagsSource<A>;
}

// ---- compile-time checks of key templates ----

/** The placeholders of a template: `'a:{0}:{1.id}'` → `'0' | '1.id'`. */
type Placeholders<S extends string> = S extends `${string}{${infer P}}${infer Rest}` ? P | Placeholders<Rest> : never;

/** The argument positions of a parameter list (`'0' | '1'` for `[id: string, opts: Opts]`). */
type ArgIndex<A extends readonly unknown[]> = Exclude<keyof A, keyof unknown[]> & string;

type PathResolves<T, Path extends string> = Path extends `${infer Head}.${infer Rest}`
  ? Head extends keyof NonNullable<T>
    ? PathResolves<NonNullable<T>[Head], Rest>
    : false
  : Path extends keyof NonNullable<T>
    ? true
    : false;

type PlaceholderResolves<A extends readonly unknown[], P extends string> = P extends `${infer I}.${infer Path}`
  ? I extends ArgIndex<A>
    ? PathResolves<A[I & keyof A], Path>
    : false
  : P extends ArgIndex<A>
    ? true
    : false;

/** The placeholders of `S` that name no argument (or no property) of `A`. */
export type MissingPlaceholders<A extends readonly unknown[], S extends string> = {
  [P in Placeholders<S>]: PlaceholderResolves<A, P> extends true ? never : P;
}[Placeholders<S>];

/** `unknown` when the template `K` fits the parameters `A`; otherwise a type naming what it misses (a compile error where it is applied). */
export type KeyTemplateCheck<A extends readonly unknown[], K extends string> = string extends K
  ? unknown
  : [MissingPlaceholders<A, K>] extends [never]
    ? unknown
    : { readonly 'the key template names a missing argument': MissingPlaceholders<A, K> };
