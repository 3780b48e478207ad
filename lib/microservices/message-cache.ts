import { Inject, Injectable, type CallHandler, type ExecutionContext } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { RESOLVED_CACHE_OPTIONS } from '../cache.internal-constants.js';
import { CacheManager } from '../cache/cache-manager.js';
import type { ContextFace } from '../cache/context-face.interface.js';
import { cachedHandler, HandlerSpecs, inTenantContext, thenInvalidate, type HandlerSpec } from '../cache/handler-cache.js';
import { canonicalDigest } from '../keys/canonical-value.js';
import { MAX_TENANT_ID_LENGTH } from '../keys/storage-key.js';
import type { ResolvedCacheModuleOptions } from '../options/module-options.js';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';

/** `@nestjs/microservices` metadata (read, never imported: it is not a dependency of this package). */
const PATTERN_METADATA = 'microservices:pattern';
const PATTERN_HANDLER_METADATA = 'microservices:handler_type';
/** `PatternHandler.EVENT`: an `@EventPattern()` handler. */
const EVENT_HANDLER = 2;

/**
 * The microservices face: `@Cached()` on a `@MessagePattern()` handler (request-response) stores
 * its reply in the cache of the message's tenant (`messageTenant`), keyed by the handler, its
 * pattern and the canonical payload; every value of a reply stream is stored and replayed.
 * An `@EventPattern()` handler is never cached (an event is a side effect, not a question);
 * `@InvalidateTags()` runs on both after the handler succeeded. A message without a tenant runs
 * uncached (unless the route is `scope: 'global'`); `scope: 'user'` has no user here: uncached.
 */
@Injectable()
export class MessageCache implements ContextFace {
  readonly type = 'rpc';
  private readonly specs = new HandlerSpecs();

  constructor(
    @Inject(RESOLVED_CACHE_OPTIONS) private readonly options: ResolvedCacheModuleOptions,
    private readonly manager: CacheManager,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> | Promise<Observable<unknown>> {
    const spec = this.specs.of(context.getClass(), context.getHandler());
    if (spec === null && !this.manager.context.enabled) return next.handle();
    const data = context.switchToRpc().getData<unknown>();
    const tenant = this.resolveTenant(data, context);
    if (typeof tenant === 'object') return tenant.then((id) => this.handle(context, next, spec, data, id));
    return this.handle(context, next, spec, data, tenant);
  }

  private handle(context: ExecutionContext, next: CallHandler, spec: HandlerSpec | null, data: unknown, tenant: string | undefined): Observable<unknown> {
    const run = (): Observable<unknown> => next.handle();
    const key = spec?.cached === undefined ? undefined : this.keyOf(context, spec, data, tenant);
    const values = key === undefined ? inTenantContext(this.manager, tenant, run) : cachedHandler(this.manager, spec!, tenant, key, data, 'all', run);
    return spec === null ? values : thenInvalidate(this.manager, spec, tenant, data, values);
  }

  /** The key of a message within its tenant's cache, or `undefined` when it is not cached. */
  private keyOf(context: ExecutionContext, spec: HandlerSpec, data: unknown, tenant: string | undefined): string | undefined {
    const cached = spec.cached!;
    const handler = context.getHandler();
    if (Reflect.getMetadata(PATTERN_HANDLER_METADATA, handler) === EVENT_HANDLER) return undefined;
    if (cached.scope === 'user' || (cached.scope !== 'global' && tenant === undefined)) return undefined;
    let custom: string | undefined;
    try {
      if (cached.condition !== undefined && cached.condition(data as CacheRequest) !== true) return undefined;
      custom = typeof cached.key === 'function' ? cached.key(data as CacheRequest) : cached.key;
    } catch {
      return undefined;
    }
    const pattern: unknown = Reflect.getMetadata(PATTERN_METADATA, handler);
    const digest = canonicalDigest([this.options.keyVersion, spec.id, pattern ?? null, cached.keyOnly ? null : data, custom ?? null, cached.scope === 'global' ? null : tenant]);
    return digest === undefined ? undefined : `rpc:${digest}`;
  }

  private resolveTenant(data: unknown, context: ExecutionContext): string | undefined | Promise<string | undefined> {
    const strategy = this.options.messageTenant;
    if (strategy === undefined) return undefined;
    try {
      const id = strategy(data, context);
      if (typeof id === 'object' && id !== null) return (id as Promise<string | undefined>).then(valid, () => undefined);
      return valid(id);
    } catch {
      return undefined;
    }
  }
}

function valid(id: unknown): string | undefined {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_TENANT_ID_LENGTH ? id : undefined;
}
