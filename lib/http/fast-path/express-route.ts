import type { CacheRequest } from '../../tenant/tenant-resolver.interface.js';
import type { HttpResponseLike } from '../platform-response.js';
import { isPromise, PASS, type FastLookup } from './platform-hooks.js';

interface ExpressResponseLike extends HttpResponseLike {
  readonly headersSent: boolean;
  send(body?: unknown): unknown;
}
interface ExpressLayerLike {
  handle: unknown;
}
export interface ExpressRouteLike {
  readonly stack: ExpressLayerLike[];
}
type ExpressHandler = (req: CacheRequest, res: ExpressResponseLike, next: (err?: unknown) => void) => unknown;

/** Wraps the handlers of an Express route (which run after all middleware) with the lookup. */
export function wrapExpressRoute(expressRoute: ExpressRouteLike, lookup: FastLookup): void {
  for (const layer of expressRoute.stack) {
    const original = layer.handle;
    // A four-argument handler is an error handler: never Nest's route handler.
    if (typeof original !== 'function' || original.length > 3) continue;
    const nest = original as ExpressHandler;
    const fast: ExpressHandler = (req, res, next) => {
      if (res.headersSent) return nest(req, res, next);
      let result: unknown;
      try {
        result = lookup(req, res, next);
      } catch {
        return nest(req, res, next);
      }
      if (result === PASS) return nest(req, res, next);
      if (isPromise(result)) {
        // Express 5 passes a rejection of what a handler returns to next(err).
        return result.then(
          (body) => {
            if (body === PASS) return nest(req, res, next);
            return res.headersSent ? undefined : sendExpress(res, body); // sent meanwhile: nothing more to do
          },
          () => nest(req, res, next),
        );
      }
      return sendExpress(res, result);
    };
    layer.handle = fast;
  }
}

/** As Nest's ExpressAdapter.reply sends a body our interceptor returns (a string, or nothing). */
function sendExpress(res: ExpressResponseLike, body: unknown): unknown {
  return body === undefined || body === null ? res.send() : res.send(String(body));
}
