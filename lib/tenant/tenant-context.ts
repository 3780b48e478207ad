import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The tenant of the running request, carried through async calls. One instance per
 * CacheManager (never a module-level global), so two apps in one process stay apart.
 */
export class TenantContext {
  private readonly storage = new AsyncLocalStorage<string>();
  /**
   * Set by the Nest integration when it runs handlers without a context (`tenantContext` off):
   * why, and how to turn it on. `CacheManager.current()` puts it in its error.
   */
  offReason: string | undefined;

  /** Whether the Nest integration runs handlers in the context (it is off when `offReason` says why). */
  get enabled(): boolean {
    return this.offReason === undefined;
  }

  /** Runs `fn` with `tenantId` as the current tenant. */
  run<R>(tenantId: string, fn: () => R): R {
    return this.storage.run(tenantId, fn);
  }

  /** The current tenant id, or `undefined` outside `run`. */
  get(): string | undefined {
    return this.storage.getStore();
  }
}
