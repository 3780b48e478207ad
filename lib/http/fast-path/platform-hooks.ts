import type { CacheRequest } from '../../tenant/tenant-resolver.interface.js';
import type { HttpResponseLike } from '../platform-response.js';

/** What a fast-path lookup returns when it did not serve the request: Nest handles it. */
export const PASS: unique symbol = Symbol('nestjs-tenant-cache pass');

/** Serves a request from the cache before Nest's handler: the body to send (status and headers set), `PASS`, or a promise of either. */
export type FastLookup = (req: CacheRequest, res: HttpResponseLike, next?: unknown) => unknown;

export function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as Promise<unknown> | undefined)?.then === 'function';
}
