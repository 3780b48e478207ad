import type { Envelope } from '../../../lib/envelope/envelope.js';
import type { KeyScope, StorageKey } from '../../../lib/keys/storage-key.js';
import type { CacheStore, StoreGetOrSetResult, StoreHealth, StoreStats } from '../../../lib/stores/cache-store.interface.js';
import { MemoryStore } from '../../../lib/stores/memory.store.js';

/**
 * A memory store whose operations can be made to fail on demand, to prove that a store
 * failure never fails a request and that failed invalidations are retried.
 */
export class FlakyStore implements CacheStore {
  readonly kind = 'flaky';
  private readonly inner = new MemoryStore({ maxEntries: 1000 });
  /** Every get() rejects while true. */
  failGet = false;
  /** Every set() rejects while true. */
  failSet = false;
  /** The next N invalidateTags() calls reject. */
  failInvalidations = 0;
  readonly calls = { get: 0, set: 0, invalidateTags: 0 };
  private invalidatedResolvers: (() => void)[] = [];

  /** Resolves at the next invalidateTags() that succeeds. */
  nextSuccessfulInvalidation(): Promise<void> {
    return new Promise((resolve) => this.invalidatedResolvers.push(resolve));
  }

  get(key: StorageKey): Promise<Envelope | undefined> {
    this.calls.get++;
    if (this.failGet) return Promise.reject(new Error('get failed (test)'));
    return this.inner.get(key);
  }
  set(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<boolean | void> {
    this.calls.set++;
    if (this.failSet) return Promise.reject(new Error('set failed (test)'));
    return this.inner.set(key, envelope, ttlMs);
  }
  delete(key: StorageKey): Promise<boolean> {
    return this.inner.delete(key);
  }
  getOrSet(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<StoreGetOrSetResult> {
    return this.inner.getOrSet(key, envelope, ttlMs);
  }
  compareAndSet(key: StorageKey, expectedStamp: string | null, envelope: Envelope, ttlMs: number): Promise<boolean> {
    return this.inner.compareAndSet(key, expectedStamp, envelope, ttlMs);
  }
  clearScope(scope: KeyScope): Promise<void> {
    return this.inner.clearScope(scope);
  }
  purgeScope(scope: KeyScope): Promise<number> {
    return this.inner.purgeScope(scope);
  }
  async invalidateTags(tagKeys: readonly StorageKey[]): Promise<void> {
    this.calls.invalidateTags++;
    if (this.failInvalidations > 0) {
      this.failInvalidations--;
      throw new Error('invalidateTags failed (test)');
    }
    await this.inner.invalidateTags(tagKeys);
    const resolvers = this.invalidatedResolvers;
    this.invalidatedResolvers = [];
    for (const resolve of resolvers) resolve();
  }
  scopeSize(scope: KeyScope): number | undefined {
    return this.inner.scopeSize(scope);
  }
  health(): Promise<StoreHealth> {
    return this.inner.health();
  }
  stats(): StoreStats {
    return this.inner.stats();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
