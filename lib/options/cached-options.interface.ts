import type { Duration } from '../utils/duration.js';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';

/**
 * Who shares an entry of a `@Cached()` route:
 * - `'tenant'`: every user of one tenant (the default);
 * - `'user'`: one user of one tenant (the user id comes from `userId`); a request without a
 *   user bypasses the cache;
 * - `'global'`: everyone, across tenants; an explicit opt-in for data that is the same for all
 *   tenants (a public catalogue). Needs no tenant.
 */
export type CacheScope = 'tenant' | 'user' | 'global';

/**
 * Returns the user id of a request, or `undefined` when there is no user. A method type, so a
 * function typed by the platform's request (`(req: express.Request) => …`) is accepted too (as
 * `TenantResolverFn` is).
 */
export type UserIdResolver = { bivariant(request: CacheRequest): string | undefined }['bivariant'];

/**
 * Options of `@Cached()`. On a controller class they are defaults for each of its handlers;
 * options on a handler override the class's, option by option.
 */
export interface CachedOptions<I = CacheRequest> {
  /**
   * Freshness of a stored response. Milliseconds or a duration string (`'30s'`); 0 = no expiry.
   * @default the module's `defaultTtl` (`MANAGER_DEFAULTS.defaultTtl`: '5m')
   */
  ttl?: Duration;
  /**
   * Tags of the stored response, for `@InvalidateTags()` and `TenantCache.invalidateTags()`. Tags
   * are per tenant (per scope). A function is called once per stored response.
   * @default undefined (no tags)
   */
  tags?: readonly string[] | ((request: I) => readonly string[]);
  /**
   * Further request header names the response varies on (case-insensitive), added to the
   * module's `vary`. A handler's list replaces the class's.
   * @default undefined (the module's `vary` only)
   */
  vary?: readonly string[];
  /**
   * Who shares an entry (see `CacheScope`). Setting it explicitly (even to
   * `'tenant'`) also allows caching requests that carry a credential header (the module's
   * `credentialHeaders`: `Authorization`, `Cookie`, `X-API-Key`, …), which are otherwise
   * bypassed because their response may depend on the caller (a token, a key, a session). A `'global'` route's handler runs without a tenant
   * context (`current()` throws there), since its response is shared by all tenants.
   * @default CACHED_DEFAULTS.scope: 'tenant'
   */
  scope?: CacheScope;
  /**
   * A custom part of the key (a string, or a function of the request), hashed with the rest;
   * it never replaces the tenant, path or query.
   * @default undefined
   */
  key?: string | ((request: I) => string);
  /**
   * Make `key` the whole request part of the key, as `@CacheKey()` of @nestjs/cache-manager
   * does: the path, the query, the route and the handler are left out, so `/items?page=1` and
   * `/items?page=2` share one entry (and so do two routes with the same `key`). What keeps
   * entries apart stays in: the tenant (the user for `scope: 'user'`), the `vary` headers, the
   * HTTP method and the module's `keyVersion`. Needs `key`.
   * @default CACHED_DEFAULTS.keyOnly: false
   */
  keyOnly?: boolean;
  /**
   * HTTP methods whose responses are cached. HEAD shares GET's entries. Listing another
   * method (e.g. `POST` for a search endpoint) adds the canonical JSON of the body to the key.
   * @default CACHED_DEFAULTS.methods: ['GET', 'HEAD']
   */
  methods?: readonly string[];
  /**
   * Cache only when this returns true (e.g. `(req) => !req.query.preview`).
   * @default undefined (always)
   */
  condition?: (request: I) => boolean;
  /**
   * User id for `scope: 'user'`.
   * @default the module's `userId` (`req.user?.id ?? req.user?.sub`)
   */
  userId?: UserIdResolver;
  /**
   * Keep a response this long past its `ttl` and serve it stale (`X-Cache: STALE`): to the
   * requests that arrive while one request recomputes it (they do not wait), and instead of
   * the error if that recomputation throws. Milliseconds or a duration string; 0 = no grace (an
   * expired response is recomputed and concurrent requests wait for it).
   * @default CACHED_DEFAULTS.grace: 0
   */
  grace?: Duration;
}

/** Options of `@InvalidateTags()`. */
export interface InvalidateTagsOptions {
  /**
   * Whose entries to invalidate: the request's tenant (`'tenant'`, which also holds its
   * `scope: 'user'` entries) or the entries shared by all tenants (`'global'`).
   * @default INVALIDATE_TAGS_DEFAULTS.scope: 'tenant'
   */
  scope?: 'tenant' | 'global';
}

/**
 * Tags to invalidate: a list, or a function of the request (`(req) => [`product:${req.params.id}`]`);
 * on a GraphQL mutation, of its arguments; on a message handler, of its payload.
 */
export type TagsSource<I = CacheRequest> = readonly string[] | ((request: I) => readonly string[]);

/** What `@InvalidateTags()` stores as metadata. */
export interface InvalidateTagsMetadata {
  readonly tags: TagsSource;
  readonly options: InvalidateTagsOptions;
}
