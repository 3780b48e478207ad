import { AsyncLocalStorage } from 'node:async_hooks';
import type { ClsServiceLike } from './cls-tenant.js';

/** Where the tenant context lives: an AsyncLocalStorage of its own, or the app's nestjs-cls context. */
export type TenantContextMode = 'async-local-storage' | 'nestjs-cls';

/**
 * The tenant of the running request, carried through async calls. One instance per
 * CacheManager (never a module-level global), so two apps in one process stay apart.
 *
 * By default it is an AsyncLocalStorage of its own, made on first use. When the app uses
 * nestjs-cls, CacheModule points it at CLS's context instead (`useCls`): the tenant is a value
 * of the CLS store, and no second AsyncLocalStorage is opened.
 */
export class TenantContext {
  private storage: AsyncLocalStorage<string> | undefined;
  private cls: { readonly service: ClsServiceLike; readonly key: string; readonly path: readonly string[] } | undefined;
  /**
   * Set by the Nest integration when it runs handlers without a context (`tenantContext` off):
   * why, and how to turn it on. `CacheManager.current()` puts it in its error.
   */
  offReason: string | undefined;

  /** Whether the Nest integration runs handlers in the context (it is off when `offReason` says why). */
  get enabled(): boolean {
    return this.offReason === undefined;
  }

  /** Which context holds the tenant. */
  get mode(): TenantContextMode {
    return this.cls === undefined ? 'async-local-storage' : 'nestjs-cls';
  }

  /** Keeps the tenant in nestjs-cls's context, at `key` (the key of a `fromCls()` strategy, where it already is). */
  useCls(service: ClsServiceLike, key: string): void {
    this.cls = { service, key, path: key.split('.') };
  }

  /** Runs `fn` with `tenantId` as the current tenant. */
  run<R>(tenantId: string, fn: () => R): R {
    const cls = this.cls;
    if (cls === undefined) return (this.storage ??= new AsyncLocalStorage<string>()).run(tenantId, fn);
    // Already the tenant of this CLS context (fromCls: the app put it there): nothing to open.
    if (this.get() === tenantId) return fn();
    // A nested context inheriting the rest of the store, so the outer one keeps its own tenant.
    return cls.service.run({ ifNested: 'inherit' }, () => {
      cls.service.set(cls.key, tenantId);
      return fn();
    });
  }

  /** The current tenant id, or `undefined` outside `run`. */
  get(): string | undefined {
    const cls = this.cls;
    if (cls === undefined) return this.storage?.getStore();
    // The whole store (one AsyncLocalStorage read), then the key: ClsService.get(key) would read
    // the store and parse the key's path on every call.
    let value: unknown = cls.service.get();
    for (let i = 0; i < cls.path.length && value !== undefined && value !== null; i++) value = (value as Record<string, unknown>)[cls.path[i]!];
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    return typeof value === 'string' && value !== '' ? value : undefined;
  }
}
