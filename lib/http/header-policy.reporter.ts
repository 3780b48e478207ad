import type { CacheLogger } from '../utils/error-reporter.js';
import type { DroppedHeader } from './response-policy.js';
import type { CachedRoute } from './route-registry.js';

/** Header names remembered per route at most: a handler that makes names up (`x-item-<id>`) must not grow memory. */
const MAX_NAMES_PER_ROUTE = 64;
/** The name the origin warning is remembered under (not a header name: it has a space). */
const ORIGIN_WITHOUT_VARY = 'origin without vary';

/**
 * Says, once per route and header, what the header policy did to a response a user might
 * expect replayed: a header it dropped, or a response it did not store because it names one
 * CORS origin without varying on `Origin`. Header names only, never values (they can carry a
 * user or a token). One per app, so two apps in a process each say it once.
 */
export class HeaderPolicyReporter {
  private readonly said = new WeakMap<CachedRoute, Set<string>>();

  constructor(private readonly logger: CacheLogger | undefined) {}

  /** Warns about each dropped header not yet reported for this route. */
  dropped(route: CachedRoute, headers: readonly DroppedHeader[]): void {
    for (const { name, reason } of headers) {
      if (!this.first(route, name)) continue;
      const where = `@Cached() on ${route.controller}.${route.handler}: the response header ${name}`;
      this.logger?.warn(
        reason === 'per-request'
          ? `${where} is per-request (in perRequestHeaders) and is not replayed on hits, although cacheableHeaders matches it.`
          : `${where} is not replayed on hits (not in cacheableHeaders). Add it to cacheableHeaders if every user may see it, or to perRequestHeaders to silence this.`,
      );
    }
  }

  /** Warns, once per route, that a response naming one origin was not stored. */
  originWithoutVary(route: CachedRoute): void {
    if (!this.first(route, ORIGIN_WITHOUT_VARY)) return;
    this.logger?.warn(
      `@Cached() on ${route.controller}.${route.handler}: the response sets Access-Control-Allow-Origin to one origin without varying on Origin, so it is not cached (a hit would name that origin to every other). Set Vary: Origin on the response, or add vary: ['origin'] to @Cached().`,
    );
  }

  /** Whether this is the first time `name` is reported for `route` (false past the per-route bound). */
  private first(route: CachedRoute, name: string): boolean {
    if (this.logger === undefined) return false;
    let names = this.said.get(route);
    if (names === undefined) this.said.set(route, (names = new Set()));
    if (names.has(name) || names.size >= MAX_NAMES_PER_ROUTE) return false;
    names.add(name);
    return true;
  }
}
