import { SetMetadata } from '@nestjs/common';
import { CACHED_METADATA } from '../cache.constants.js';
import type { CachedOptions } from '../options/cached-options.interface.js';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';

/**
 * Caches the responses of a route per tenant (see `CachedOptions`). On a controller class it
 * applies to every handler of the class (`@NoCache()` opts one out); on a handler its options
 * override the class's. Options are checked when the app boots.
 *
 * ```ts
 * @Get(':id')
 * @Cached({ ttl: '30s', tags: (req) => [`product:${req.params.id}`] })
 * findOne(@Param('id') id: string) { … }
 * ```
 *
 * Responses are keyed by the request hash (tenant, handler, method, path, sorted query, vary
 * headers, …) and replayed with their status, allowlisted headers and exact body. Only GET and
 * HEAD, 2xx, and responses without `Set-Cookie`, `Cache-Control: no-store|private` or
 * `Vary: *` are stored. A request carrying `Authorization` is cached only on a route whose
 * options name a `scope`.
 */
export function Cached<I = CacheRequest>(options: CachedOptions<I> = {}): ClassDecorator & MethodDecorator {
  return SetMetadata(CACHED_METADATA, { ...options });
}
