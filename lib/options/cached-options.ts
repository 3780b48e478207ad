import { CacheConfigError } from '../errors/cache.errors.js';
import type { CachedOptions, CacheScope, InvalidateTagsOptions, TagsSource, UserIdResolver } from './cached-options.interface.js';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';
import { durationMs, expectOptionsObject, oneOf, optionalFunction, rejectUnknownKeys } from '../utils/option-checks.js';

/** Defaults of `CachedOptions`, stated once (`ttl`: the module's `defaultTtl`; `userId`: the module's). */
export const CACHED_DEFAULTS = Object.freeze({
  scope: 'tenant' as CacheScope,
  methods: Object.freeze(['GET', 'HEAD']) as readonly string[],
  /** Milliseconds. */
  grace: 0,
  keyOnly: false,
});

/** Defaults of `InvalidateTagsOptions`, stated once. */
export const INVALIDATE_TAGS_DEFAULTS = Object.freeze({
  scope: 'tenant' as 'tenant' | 'global',
});

const CACHED_KEYS: readonly (keyof CachedOptions)[] = ['ttl', 'tags', 'vary', 'scope', 'key', 'keyOnly', 'methods', 'condition', 'userId', 'grace'];
const INVALIDATE_TAGS_KEYS: readonly (keyof InvalidateTagsOptions)[] = ['scope'];
const SCOPES: readonly CacheScope[] = ['tenant', 'user', 'global'];
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Names from @nestjs/cache-manager's decorators, and what to write here instead. */
const CACHED_HINTS: Readonly<Record<string, string>> = {
  isCacheableValue: 'remove it: on a route, use condition: (req) => boolean, or answer with Cache-Control: no-store for responses that must not be stored',
};

/** `@Cached()` options checked, with the defaults applied (except those the module supplies). */
export interface ResolvedCachedOptions {
  /** `undefined`: the module's `defaultTtl`. */
  readonly ttlMs: number | undefined;
  readonly graceMs: number;
  readonly tags: TagsSource | undefined;
  /** The route's own vary headers, lowercased (the module's are added by the caller). */
  readonly vary: readonly string[];
  readonly scope: CacheScope;
  /** Whether the options name a `scope` (which allows caching requests with credentials). */
  readonly explicitScope: boolean;
  readonly key: string | ((request: CacheRequest) => string) | undefined;
  /** Whether `key` is the whole request part of the key (`keyOnly`). */
  readonly keyOnly: boolean;
  /** Upper-case methods. */
  readonly methods: ReadonlySet<string>;
  readonly condition: ((request: CacheRequest) => boolean) | undefined;
  /** `undefined`: the module's `userId`. */
  readonly userId: UserIdResolver | undefined;
}

/**
 * Checks the (merged) `@Cached()` options of one route. `at` names the route
 * (`@Cached() on ProductsController.findOne`); every error is a `CacheConfigError` whose option
 * is `<at>: <name>`.
 */
export function resolveCachedOptions(options: CachedOptions, at: string): ResolvedCachedOptions {
  const prefix = `${at}: `;
  expectOptionsObject(options as unknown, at, "pass an options object such as { ttl: '30s' }");
  rejectUnknownKeys(options, CACHED_KEYS, prefix, CACHED_HINTS);
  if (options.tags !== undefined) checkTags(options.tags, `${prefix}tags`);
  if (options.key !== undefined && typeof options.key !== 'function' && (typeof options.key !== 'string' || options.key === '')) {
    throw new CacheConfigError(`${prefix}key`, 'expected a non-empty string or a function of the request', 'pass a string, or (req) => string');
  }
  const keyOnly = oneOf(options.keyOnly, [true, false], CACHED_DEFAULTS.keyOnly, `${prefix}keyOnly`, 'pass true (with a key) or omit it');
  if (keyOnly && options.key === undefined) {
    throw new CacheConfigError(`${prefix}keyOnly`, 'it needs a key: alone, every request of every such route would share one entry', "pass a key too: @Cached({ key: 'items', keyOnly: true })");
  }
  let methods: ReadonlySet<string> = new Set(CACHED_DEFAULTS.methods);
  if (options.methods !== undefined) {
    if (!Array.isArray(options.methods) || options.methods.length === 0 || options.methods.some((m) => typeof m !== 'string' || !/^[A-Za-z]+$/.test(m))) {
      throw new CacheConfigError(`${prefix}methods`, 'expected a non-empty array of HTTP method names', "pass e.g. ['GET', 'HEAD']");
    }
    methods = new Set(options.methods.map((m) => m.toUpperCase()));
  }
  return {
    ttlMs: options.ttl === undefined ? undefined : durationMs(options.ttl, 0, `${prefix}ttl`),
    graceMs: durationMs(options.grace, CACHED_DEFAULTS.grace, `${prefix}grace`),
    tags: options.tags,
    vary: options.vary === undefined ? [] : headerNames(options.vary, `${prefix}vary`),
    scope: oneOf(options.scope, SCOPES, CACHED_DEFAULTS.scope, `${prefix}scope`, "use 'tenant' (the default), 'user' or 'global'"),
    explicitScope: options.scope !== undefined,
    key: options.key,
    keyOnly,
    methods,
    condition: optionalFunction(options.condition, `${prefix}condition`, 'pass (req) => boolean, or omit it'),
    userId: optionalFunction(options.userId, `${prefix}userId`, 'pass (req) => string | undefined, or omit it'),
  };
}

/** Checks `@InvalidateTags(tags, options)` of one route (`at`: `@InvalidateTags() on X.y`). */
export function resolveInvalidateTagsOptions(tags: unknown, options: InvalidateTagsOptions | undefined, at: string): { readonly tags: TagsSource; readonly scope: 'tenant' | 'global' } {
  checkTags(tags, at);
  const given = options ?? {};
  expectOptionsObject(given as unknown, `${at}: options`, "pass { scope: 'global' }, or omit it");
  rejectUnknownKeys(given, INVALIDATE_TAGS_KEYS, `${at}: `);
  return { tags: tags as TagsSource, scope: oneOf(given.scope, ['tenant', 'global'], INVALIDATE_TAGS_DEFAULTS.scope, `${at}: scope`, "use 'tenant' (the default) or 'global'") };
}

function checkTags(tags: unknown, option: string): void {
  if (typeof tags === 'function') return;
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string' || t === '')) {
    throw new CacheConfigError(option, 'expected an array of non-empty strings or a function of the request', "pass ['products'] or (req) => [`product:${req.params.id}`]");
  }
}

/** Validates and lowercases a list of header names. */
export function headerNames(names: unknown, option: string, example = "['accept', 'accept-language']"): string[] {
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string' || !TOKEN_RE.test(n))) {
    throw new CacheConfigError(option, 'expected an array of header names', `pass e.g. ${example}`);
  }
  return names.map((n: string) => n.toLowerCase());
}
