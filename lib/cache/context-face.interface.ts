import type { CallHandler, ExecutionContext } from '@nestjs/common';
import type { Observable } from 'rxjs';

/**
 * A face of the cache for one kind of Nest execution context other than HTTP (`'graphql'`,
 * `'rpc'`): `CachedInterceptor` hands it the calls of that kind. It decides the tenant, whether
 * the call may be cached and its key, and computes through the cache layer; a handler without
 * cache decorators passes through untouched.
 */
export interface ContextFace {
  /** The `ExecutionContext.getType()` it serves. */
  readonly type: string;
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> | Promise<Observable<unknown>>;
}

/** The faces `CachedInterceptor` dispatches to, by context type. */
export const CONTEXT_FACES = Symbol('nestjs-tenant-cache:CONTEXT_FACES');
