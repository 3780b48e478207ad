import { HttpException } from '@nestjs/common';
import type { ComputePolicy } from '../cache/compute-policy.js';
import type { EntryFilter } from '../cache/compute.js';
import type { Envelope } from '../envelope/envelope.js';
import { UnkeyedHeaderError } from '../errors/cache.errors.js';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';
import type { Freshness } from './freshness.js';
import { matchesVary } from './response-policy.js';
import type { CachedRoute } from './route-registry.js';

/** How long a response's cross-process lock is held at most (and how long other instances wait for its entry). */
const HTTP_LOCK_TTL_MS = 5_000;

/** Ends a factory whose request went away before its handler produced a response. */
export class RequestAbandoned extends Error {}

const policies = new WeakMap<CachedRoute, ComputePolicy>();

/**
 * How the engine computes a route's responses: its TTL and grace; requests that join a refresh
 * get the response in grace at once; a server error (not a 4xx, an answer about this request)
 * serves it; a cross-process lock; a response that is not stored is never shared.
 */
export function httpComputePolicy(route: CachedRoute): ComputePolicy {
  let policy = policies.get(route);
  if (policy === undefined) {
    policy = {
      ttl: route.ttlMs,
      grace: route.graceMs,
      staleWhileRevalidate: 'joiners',
      staleIfError: (err) => !(err instanceof HttpException && err.getStatus() < 500) && !(err instanceof RequestAbandoned) && !(err instanceof UnkeyedHeaderError),
      softTimeoutMs: undefined,
      hardTimeoutMs: undefined,
      lock: true,
      lockTtlMs: HTTP_LOCK_TTL_MS,
      shareUnstored: false,
      isAbandoned: (err) => err instanceof RequestAbandoned,
      awaitWrite: false,
    };
    policies.set(route, policy);
  }
  return policy;
}

/**
 * A stored response's TTL and grace: the route's TTL (`routeTtlMs`, 0 for none), shortened to
 * the response's own freshness (`s-maxage`, `max-age`, `Expires`), and no grace when it may not
 * be served stale.
 */
export function lifetimeOf(routeTtlMs: number, freshness: Extract<Freshness, { store: true }>): { ttl?: number; grace?: number } {
  const out: { ttl?: number; grace?: number } = {};
  if (freshness.lifetimeMs !== undefined) out.ttl = routeTtlMs === 0 ? freshness.lifetimeMs : Math.min(routeTtlMs, freshness.lifetimeMs);
  if (freshness.revalidate) out.grace = 0;
  return out;
}

/** The stored responses a request may be served: those whose varied request headers it matches (RFC 9111 §4.1). */
export function acceptFor(req: CacheRequest): EntryFilter {
  return (entry: Envelope) => matchesVary(entry.http?.vary, req.headers);
}

/** For a request that asked for `no-cache`: only responses produced since it arrived (its own computation, or one it joined). */
export function producedSince(arrived: number, accept: EntryFilter): EntryFilter {
  return (entry: Envelope) => entry.createdAt >= arrived && accept(entry);
}
