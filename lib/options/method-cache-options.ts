import { CacheConfigError } from '../errors/cache.errors.js';
import { durationMs, expectOptionsObject, oneOf, rejectUnknownKeys } from '../utils/option-checks.js';
import type { WrapOptions } from './cache-options.interface.js';
import { eagerRefreshPolicy } from './eager-refresh-option.js';
import { jitterFraction } from './manager-options.js';
import type { CacheEvictOptions, CacheResultOptions, MethodKeyFn, MethodTagsSource, MethodTenantSource } from './method-cache-options.interface.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

/** Defaults of the method decorators' options, stated once. */
export const METHOD_CACHE_DEFAULTS = Object.freeze({
  scope: 'tenant' as 'tenant' | 'global',
});

const WRAP_KEYS = ['ttl', 'grace', 'ttlJitter', 'eagerRefresh', 'staleWhileRevalidate', 'staleIfError', 'lock', 'lockTtl', 'softTimeout', 'hardTimeout'] as const;
const RESULT_KEYS: readonly string[] = ['key', 'tags', 'scope', 'tenant', ...WRAP_KEYS];
const EVICT_KEYS: readonly string[] = ['key', 'tags', 'scope', 'tenant'];
const HINTS: Readonly<Record<string, string>> = {
  condition: 'return undefined from the method (it is not cached), or call it undecorated',
  ttlSeconds: "use ttl: a number of milliseconds or a duration string such as '30s'",
};

/** Options of one decorated method, checked where the decorator is applied. */
export interface ResolvedMethodTarget {
  readonly key: string | MethodKeyFn<any[]> | undefined;
  readonly tags: MethodTagsSource<any[]> | undefined;
  readonly scope: 'tenant' | 'global';
  readonly tenant: MethodTenantSource<any[]> | undefined;
}

export interface ResolvedCacheResultOptions extends ResolvedMethodTarget {
  /** What each call passes to `wrap()` (tags apart: they are computed per call). */
  readonly wrap: Omit<WrapOptions, 'tags'>;
}

/** Checks `@CacheResult()` options (`at`: `@CacheResult() on ProductsService.find`); a mistake throws `CacheConfigError`. */
export function resolveCacheResultOptions(options: CacheResultOptions, at: string): ResolvedCacheResultOptions {
  const target = resolveTarget(options, at, RESULT_KEYS);
  const prefix = `${at}: `;
  // Durations are checked here (the class fails to load) rather than on the first call.
  if (options.ttl !== undefined) durationMs(options.ttl, 0, `${prefix}ttl`);
  for (const name of ['grace', 'lockTtl', 'softTimeout', 'hardTimeout'] as const) if (options[name] !== undefined) durationMs(options[name], 0, `${prefix}${name}`);
  for (const name of ['staleWhileRevalidate', 'staleIfError', 'lock'] as const) if (options[name] !== undefined) oneOf(options[name], [true, false], true, `${prefix}${name}`, 'pass true or false, or omit it');
  if (options.eagerRefresh !== undefined) eagerRefreshPolicy(options.eagerRefresh, `${prefix}eagerRefresh`);
  if (options.ttlJitter !== undefined) jitterFraction(options.ttlJitter, `${prefix}ttlJitter`);
  const wrap: Record<string, unknown> = {};
  for (const name of WRAP_KEYS) if (options[name] !== undefined) wrap[name] = options[name];
  return { ...target, wrap: wrap as Omit<WrapOptions, 'tags'> };
}

/** Checks `@CacheEvict()` options; it needs a `key` or `tags`. */
export function resolveCacheEvictOptions(options: CacheEvictOptions, at: string): ResolvedMethodTarget {
  const target = resolveTarget(options, at, EVICT_KEYS);
  if (target.key === undefined && target.tags === undefined) {
    throw new CacheConfigError(at, 'it names nothing to evict', "pass a key, tags or both: @CacheEvict({ key: 'product:{0}' }) or @CacheEvict({ tags: ['products'] })");
  }
  return target;
}

function resolveTarget(options: CacheResultOptions | CacheEvictOptions, at: string, allowed: readonly string[]): ResolvedMethodTarget {
  const prefix = `${at}: `;
  expectOptionsObject(options as unknown, at, "pass an options object such as { ttl: '30s' }");
  rejectUnknownKeys(options, allowed, prefix, HINTS);
  const { key, tags, tenant } = options;
  if (key !== undefined && typeof key !== 'function' && (typeof key !== 'string' || key === '')) {
    throw new CacheConfigError(`${prefix}key`, 'expected a non-empty template or a function of the arguments', "pass 'product:{0}' or (id) => `product:${id}`");
  }
  if (typeof key === 'string') checkTemplate(key, `${prefix}key`);
  if (tags !== undefined && typeof tags !== 'function') {
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string' || t === '')) {
      throw new CacheConfigError(`${prefix}tags`, 'expected an array of non-empty strings or a function of the arguments', "pass ['products', 'product:{0}'] or (id) => [`product:${id}`]");
    }
    for (const tag of tags as readonly string[]) checkTemplate(tag, `${prefix}tags`);
  }
  if (tenant !== undefined && typeof tenant !== 'function' && !(typeof tenant === 'number' && Number.isInteger(tenant) && tenant >= 0)) {
    throw new CacheConfigError(`${prefix}tenant`, 'expected the index of the argument holding the tenant id, or a function of the arguments', 'pass 0 for method(tenantId, …), or (…args) => id');
  }
  const scope = oneOf(options.scope, ['tenant', 'global'], METHOD_CACHE_DEFAULTS.scope, `${prefix}scope`, "use 'tenant' (the default) or 'global'");
  if (scope === 'global' && tenant !== undefined) {
    throw new CacheConfigError(`${prefix}tenant`, "it has no use with scope: 'global' (the entry is shared by all tenants)", "remove tenant, or scope: 'global'");
  }
  return { key, tags, scope, tenant };
}

/** A placeholder is `{<index>}` or `{<index>.<path>}`; a brace that opens none is an error (a typo). */
export const PLACEHOLDER_RE = /\{(\d+)((?:\.[A-Za-z_$][\w$]*)*)\}/g;

function checkTemplate(template: string, option: string): void {
  const rest = template.replace(PLACEHOLDER_RE, '');
  if (rest.includes('{') || rest.includes('}')) {
    throw new CacheConfigError(option, 'a brace opens no placeholder (a placeholder is {0} or {0.path.to.field})', "write e.g. 'product:{0}' or 'report:{1.day}'");
  }
}
