import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { concatMap, type Observable } from 'rxjs';
import type { CacheRequest } from '../interfaces/tenant-resolver.interface.js';
import { CacheRuntime } from './cache-runtime.js';
import type { HttpResponseLike } from './http-response.js';
import type { RouteMeta } from './route-registry.js';

/**
 * Runs `@InvalidateTags()`: after the handler succeeds (no exception, status below 400), it
 * invalidates the tags in the request's tenant cache, then lets the response go. A failed
 * invalidation is logged once per burst, counted and retried in the background; the response
 * is still sent. After a throw nothing is invalidated.
 *
 * CacheModule registers it globally after `CachedInterceptor`, so it runs inside the tenant
 * context that interceptor sets; applied alone, it resolves the tenant itself.
 */
@Injectable()
export class InvalidateTagsInterceptor implements NestInterceptor {
  constructor(protected readonly runtime: CacheRuntime) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const invalidate = this.runtime.routes.lookup(context.getClass(), context.getHandler())?.invalidate;
    if (invalidate === undefined) return next.handle();
    return next.handle().pipe(
      concatMap(async (value) => {
        const res = context.getArgByIndex<HttpResponseLike>(1);
        if (res.statusCode < 400) await this.invalidate(context, invalidate);
        return value;
      }),
    );
  }

  /** Resolves the tags and the tenant of the request and invalidates; never rejects. */
  protected async invalidate(context: ExecutionContext, invalidate: NonNullable<RouteMeta['invalidate']>): Promise<void> {
    const req = context.getArgByIndex<CacheRequest>(0);
    const { manager } = this.runtime;
    let tags: readonly string[];
    try {
      tags = typeof invalidate.tags === 'function' ? invalidate.tags(req) : invalidate.tags;
    } catch (err) {
      manager.reportError('@InvalidateTags() tags', `An @InvalidateTags() tags function threw (${err instanceof Error ? err.name : typeof err}); nothing was invalidated.`);
      return;
    }
    if (!Array.isArray(tags) || tags.length === 0) return;
    let cache;
    if (invalidate.scope === 'global') cache = manager.global();
    else {
      const tenant = manager.currentTenantId() ?? (await this.runtime.resolveTenant(req, context));
      if (tenant === undefined) return; // no tenant: it has no entries to invalidate
      cache = manager.forTenant(tenant);
    }
    await this.runtime.invalidate(cache, tags);
  }
}
