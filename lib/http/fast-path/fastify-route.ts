import type { CacheRequest } from '../../tenant/tenant-resolver.interface.js';
import type { HttpResponseLike } from '../platform-response.js';
import { isPromise, PASS, type FastLookup } from './platform-hooks.js';

export interface FastifyLike {
  addHook(name: 'onRoute', hook: (route: FastifyRouteOptionsLike) => void): unknown;
}
export interface FastifyRouteOptionsLike {
  handler: unknown;
}
export interface FastifyRequestLike extends CacheRequest {
  readonly routeOptions: { readonly config: object | undefined };
}
interface FastifyReplyLike extends HttpResponseLike {
  readonly sent: boolean;
  send(body?: unknown): unknown;
}
type FastifyHandler = (this: unknown, request: FastifyRequestLike, reply: FastifyReplyLike) => unknown;

/** Marks a route handler already wrapped (Fastify runs `onRoute` again for the HEAD route it derives from a GET). */
const WRAPPED = Symbol('nestjs-tenant-cache fast path');

/** Where a wrapped Fastify handler finds its lookup once the interceptor has seen the route. */
export interface FastifySlot {
  lookup: FastLookup | undefined;
}

/**
 * Wraps a Fastify route's handler (from an `onRoute` hook, before Nest registers its routes),
 * so the lookup runs where Nest's handler would start: after every hook of the route. Until
 * `slot.lookup` is filled, and for anything but a hit, Nest's handler runs. `announce` tells
 * which route config the slot belongs to (Fastify builds the config after `onRoute`).
 */
export function wrapFastifyRoute(options: FastifyRouteOptionsLike, announce: (config: object, slot: FastifySlot) => void): void {
  const nest = options.handler as FastifyHandler & { [WRAPPED]?: true };
  if (typeof nest !== 'function' || nest[WRAPPED] === true) return;
  const slot: FastifySlot = { lookup: undefined };
  let announced = false;
  const fast = function (this: unknown, request: FastifyRequestLike, reply: FastifyReplyLike): unknown {
    const lookup = slot.lookup;
    if (lookup === undefined) {
      if (!announced) {
        announce(request.routeOptions.config as object, slot);
        announced = true;
      }
      return nest.call(this, request, reply);
    }
    if (reply.sent) return nest.call(this, request, reply);
    let result: unknown;
    try {
      result = lookup(request, reply);
    } catch {
      return nest.call(this, request, reply); // never fail a request from here: Nest's pipeline handles it (and reports)
    }
    if (result === PASS) return nest.call(this, request, reply);
    if (isPromise(result)) {
      // A rejection of what a handler returns goes to Fastify's error handling.
      return result.then(
        (body) => {
          if (body === PASS) return nest.call(this, request, reply);
          if (!reply.sent) reply.send(body); // sent meanwhile (a timeout): nothing more to do
          return undefined;
        },
        () => nest.call(this, request, reply),
      );
    }
    reply.send(result);
    return undefined;
  } as FastifyHandler & { [WRAPPED]?: true };
  fast[WRAPPED] = true;
  options.handler = fast;
}
