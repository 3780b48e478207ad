import { VersioningType, type ExecutionContext } from '@nestjs/common';
import { HOST_METADATA, INTERCEPTORS_METADATA } from '@nestjs/common/constants.js';
import type { ApplicationConfig } from '@nestjs/core';
import type { RouteMeta } from '../route-registry.js';

/**
 * Whether a route may be served before Nest's pipeline: the hit would be served identically
 * and nothing that may refuse or change the request is skipped.
 * - its guards are known at start-up (global, `APP_GUARD`, controller, handler; none
 *   request-scoped): the fast path runs them before the lookup (see `RouteGuards`);
 * - our interceptor (`owner`) is the first interceptor of its chain (those after it never run on a hit);
 * - it is an HTTP route whose response Nest sends (no `@Res()`, `@Render()`, `@Redirect()`, SSE);
 * - Nest does not decide inside its handler whether the route takes the request at all: not a
 *   controller bound to a `host`, and on Express no header, media-type or custom versioning;
 * - its controller is not request-scoped (Nest builds such a controller before the interceptors).
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export function qualifiesForFastPath(config: ApplicationConfig, platform: 'fastify' | 'express', requestScoped: ReadonlySet<Function>, owner: object, context: ExecutionContext, meta: RouteMeta): boolean {
  if (context.getType() !== 'http' || meta.cached === undefined || meta.cached.bypass !== undefined) return false;
  const controller = context.getClass();
  const handler = context.getHandler();
  // A request-scoped guard exists only per request, inside Nest's pipeline.
  if (config.getGlobalRequestGuards().length > 0) return false;
  if (Reflect.getMetadata(HOST_METADATA, controller) !== undefined || requestScoped.has(controller)) return false;
  const versioning = config.getVersioning();
  if (platform === 'express' && versioning !== undefined && versioning.type !== VersioningType.URI) return false;
  // Nest's order: app-wide interceptors (APP_INTERCEPTOR, then useGlobalInterceptors), the
  // request-scoped app-wide ones, the controller's, the handler's.
  const first: unknown = [
    ...config.getGlobalInterceptors(),
    ...config.getGlobalRequestInterceptors(),
    ...asArray(Reflect.getMetadata(INTERCEPTORS_METADATA, controller)),
    ...asArray(Reflect.getMetadata(INTERCEPTORS_METADATA, handler)),
  ][0];
  return first === owner || (first !== undefined && first === owner.constructor);
}

function asArray(list: unknown): unknown[] {
  return Array.isArray(list) ? list : [];
}
