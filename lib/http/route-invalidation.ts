import type { CacheManager } from '../cache/cache-manager.js';
import { InvalidKeyError } from '../errors/cache.errors.js';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';
import type { RouteMeta } from './route-registry.js';

/**
 * Runs a route's `@InvalidateTags()` for a request whose handler succeeded. Never rejects: a
 * tags function that fails or an invalid tag is reported through `report`; a store failure is
 * reported and retried in the background by the cache layer.
 */
export async function invalidateRouteTags(manager: CacheManager, req: CacheRequest, invalidate: NonNullable<RouteMeta['invalidate']>, tenant: string | undefined, report: (kind: string, message: string) => void): Promise<void> {
  let tags: readonly string[];
  try {
    tags = typeof invalidate.tags === 'function' ? invalidate.tags(req) : invalidate.tags;
  } catch (err) {
    report('@InvalidateTags() tags', `An @InvalidateTags() tags function threw (${err instanceof Error ? err.name : typeof err}); nothing was invalidated.`);
    return;
  }
  if (!Array.isArray(tags)) {
    report('@InvalidateTags() tags', `An @InvalidateTags() tags function returned ${typeof tags}, not an array; nothing was invalidated.`);
    return;
  }
  if (tags.length === 0) return;
  if (invalidate.scope !== 'global' && tenant === undefined) return; // no tenant: it has no entries to invalidate
  const cache = invalidate.scope === 'global' ? manager.global() : manager.forTenant(tenant!);
  try {
    await cache.invalidateTags(tags);
  } catch (err) {
    if (err instanceof InvalidKeyError) {
      report('invalidate tags', `An @InvalidateTags() tag was invalid (${err.message}); nothing was invalidated.`);
    }
    // Otherwise reported and retried in the background by the cache layer.
  }
}
