import type { Envelope } from '../../lib/envelope/envelope.js';
import type { KeyScope, StorageKey } from '../../lib/keys/storage-key.js';
import { CacheConnectionError } from '../../lib/errors/cache.errors.js';
import type { CacheStore, StoreBasis, StoreGetOrSetResult, StoreHealth, StoreStats } from '../../lib/stores/cache-store.interface.js';

type Op = 'get' | 'basis' | 'set' | 'delete' | 'getOrSet' | 'compareAndSet' | 'clearScope' | 'purgeScope' | 'invalidateTags';

/**
 * Wraps a real store and fails chosen operations on demand, the way a store that is down
 * would (CacheConnectionError), or holds them until released (a slow store). Counts calls.
 */
export class ChaosStore implements CacheStore {
  readonly kind: string;
  /** Operations that currently fail. */
  readonly failing = new Set<Op>();
  /** Fail the next N calls of an op, then behave. */
  readonly failNext = new Map<Op, number>();
  readonly calls = new Map<Op, number>();
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  readonly basis?: (scope: KeyScope) => StoreBasis | Promise<StoreBasis>;

  constructor(readonly inner: CacheStore) {
    this.kind = `chaos(${inner.kind})`;
    const { basis } = inner;
    // Fails with the rest (a Redis that is down gives no basis either), but is not held by
    // `hold()`: the gate stands for reads and writes in flight, and tests hold it between them.
    if (basis !== undefined)
      this.basis = async (scope) => {
        this.calls.set('basis', (this.calls.get('basis') ?? 0) + 1);
        this.throwIfFailing('basis');
        return basis.call(inner, scope);
      };
  }

  failAll(): void {
    for (const op of ['get', 'basis', 'set', 'delete', 'getOrSet', 'compareAndSet', 'clearScope', 'purgeScope', 'invalidateTags'] as const) this.failing.add(op);
  }

  heal(): void {
    this.failing.clear();
    this.failNext.clear();
  }

  /** Every call waits until `release()`. */
  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  private async enter(op: Op): Promise<void> {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
    if (this.gate !== undefined) await this.gate;
    this.throwIfFailing(op);
  }

  private throwIfFailing(op: Op): void {
    const next = this.failNext.get(op) ?? 0;
    if (next > 0) {
      this.failNext.set(op, next - 1);
      throw new CacheConnectionError(op, 'chaos:0');
    }
    if (this.failing.has(op)) throw new CacheConnectionError(op, 'chaos:0');
  }

  async get(key: StorageKey): Promise<Envelope | undefined> {
    await this.enter('get');
    return this.inner.get(key);
  }
  async set(key: StorageKey, envelope: Envelope, ttlMs: number, basis?: StoreBasis): Promise<boolean | void> {
    await this.enter('set');
    return this.inner.set(key, envelope, ttlMs, basis);
  }
  async delete(key: StorageKey): Promise<boolean> {
    await this.enter('delete');
    return this.inner.delete(key);
  }
  async getOrSet(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<StoreGetOrSetResult> {
    await this.enter('getOrSet');
    return this.inner.getOrSet(key, envelope, ttlMs);
  }
  async compareAndSet(key: StorageKey, expectedStamp: string | null, envelope: Envelope, ttlMs: number): Promise<boolean> {
    await this.enter('compareAndSet');
    return this.inner.compareAndSet(key, expectedStamp, envelope, ttlMs);
  }
  async clearScope(scope: KeyScope): Promise<void> {
    await this.enter('clearScope');
    return this.inner.clearScope(scope);
  }
  async purgeScope(scope: KeyScope): Promise<number> {
    await this.enter('purgeScope');
    return this.inner.purgeScope(scope);
  }
  async invalidateTags(tagKeys: readonly StorageKey[]): Promise<void> {
    await this.enter('invalidateTags');
    return this.inner.invalidateTags(tagKeys);
  }
  scopeSize(scope: KeyScope): number | undefined {
    return this.inner.scopeSize(scope);
  }
  async health(): Promise<StoreHealth> {
    if (this.failing.has('get')) return { ok: false, detail: 'chaos: down' };
    return this.inner.health();
  }
  stats(): StoreStats {
    return this.inner.stats();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
