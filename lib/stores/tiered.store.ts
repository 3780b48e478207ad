import type { Envelope } from '../envelope/envelope.js';
import { CacheClosedError, EncodeError, InvalidKeyError, InvalidTtlError } from '../errors/cache.errors.js';
import type { KeyScope, StorageKey } from '../keys/storage-key.js';
import type { ErrorReporter } from '../utils/error-reporter.js';
import type { CacheStore, StoreBasis, StoreGetOrSetResult, StoreHealth } from './cache-store.interface.js';
import { CircuitBreakerStore, type CircuitState } from './circuit-breaker.store.js';
import { checkStoreTtl } from './store-ttl.js';
import { BackgroundWrites } from './tiered/background-writes.js';
import { byScope, decodeBusMessage, type BusChange } from './tiered/bus-message.js';
import type { BusPublisher } from './tiered/bus-publisher.js';
import type { BusSubscriber } from './tiered/bus-subscriber.js';
import type { L1Fill } from './tiered/l1-fills.js';
import { L1Mirror } from './tiered/l1-mirror.js';
import type { L1Tier } from './tiered/l1-tier.js';
import { basisParts, composeBasis, type TieredBasis } from './tiered/tiered-basis.js';
import { tieredDeleteMany, tieredGetMany, tieredPull, type TieredBulkParts } from './tiered/tiered-bulk.js';
import { tieredHealth } from './tiered/tiered-health.js';
import type { TieredStoreParts } from './tiered/tiered-store-parts.interface.js';
import type { TieredBusStats, TieredStoreStats } from './tiered/tiered-stats.interface.js';

/**
 * A memory store (L1) in front of a remote store (L2, Redis), kept coherent across instances by
 * an invalidation bus. Hits are served from L1 (synchronously on the HTTP hit path); a miss
 * reads L2 and fills L1 for the entry's remaining lifetime. Writes go to L2, then L1; every
 * change is published by the L2 script that applied it (atomically: no change without its
 * message), and every other instance drops what it covers from its L1 (tiered/l1-mirror.ts).
 *
 * - A write L2 refused or failed is not applied to L1 (and L1's older entry of its key goes);
 *   removals (delete, clear, tag invalidation) are applied to L1 even then: a removal cannot make
 *   L1 incoherent, and the cache retries the L2 part.
 * - An L2 answer a change overtook in flight never goes into L1 (tiered/l1-fills.ts).
 * - While the bus cannot vouch for what L1 holds, L1 lives by `maxStaleness` (tiered/l1-tier.ts).
 * - With L2 failing, L1 hits go on being served (within that bound: Redis down takes the bus down
 *   too); misses and writes reject, counted in `stats().errors`.
 */
export class TieredStore implements CacheStore {
  readonly kind = 'tiered';
  readonly acquireLock?: (key: StorageKey, token: string, ttlMs: number) => Promise<boolean>;
  readonly releaseLock?: (key: StorageKey, token: string) => Promise<void>;

  private readonly l1: L1Mirror;
  private readonly tier: L1Tier;
  private readonly l2: CacheStore;
  private readonly l2Inner: CacheStore;
  private readonly inBackground: boolean;
  private readonly origin: string;
  private readonly publisher: BusPublisher;
  private readonly subscriber: BusSubscriber;
  /** Background L2 writes in flight (close waits for them). */
  private readonly background: BackgroundWrites;
  private readonly bulk: TieredBulkParts;
  private reporter: ErrorReporter;
  private readonly ownLogging: boolean;
  private errors = 0;
  private readonly heard = { applied: 0, ignored: 0, malformed: 0 };
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(parts: TieredStoreParts) {
    this.l1 = new L1Mirror(parts.makeL1, parts.maxStalenessMs, parts.clock);
    this.tier = this.l1.tier;
    this.l2 = parts.l2;
    this.l2Inner = parts.l2Inner;
    this.inBackground = parts.l2Writes === 'background';
    this.origin = parts.origin;
    this.reporter = parts.reporter;
    this.ownLogging = parts.ownLogging;
    const report = (kind: string, message: string): void => this.reporter.report(kind, message);
    this.publisher = parts.publish(report);
    this.background = new BackgroundWrites(this.l1, this.publisher, report);
    this.bulk = { l1: this.l1, l2: this.l2, publisher: this.publisher, failed: (err) => this.failed(err) };
    const { acquireLock, releaseLock } = parts.l2;
    if (acquireLock !== undefined && releaseLock !== undefined) {
      const l2 = parts.l2;
      // Locks are shared by every process: they live in L2 alone.
      this.acquireLock = (key, token, ttlMs) => acquireLock.call(l2, key, token, ttlMs);
      this.releaseLock = (key, token) => releaseLock.call(l2, key, token);
    }
    this.subscriber = parts.subscribe({ message: (text) => this.heardMessage(text), up: () => this.l1.busUp(), down: (confirmedAt) => this.l1.busDown(confirmedAt) }, report);
  }

  /** The state of L2's circuit breaker (`undefined` without one). */
  get circuitState(): CircuitState | undefined {
    return this.l2 instanceof CircuitBreakerStore ? this.l2.circuitState : undefined;
  }

  /**
   * Resolves once the bus is subscribed, or after `ms`: until then L1 entries
   * live at most `maxStaleness`, and messages are sent late (retried).
   */
  async whenBusUp(ms: number): Promise<void> {
    await Promise.all([this.subscriber.whenUp(ms), this.publisher.whenReady(ms)]);
  }

  /** L1 only: a hit costs what a memory store hit does, plus one field check. */
  getSync(key: StorageKey): Envelope | undefined {
    return this.tier.getSync(key);
  }

  get(key: StorageKey): Promise<Envelope | undefined> {
    if (this.closed) return Promise.reject(new CacheClosedError('tiered store'));
    const hit = this.tier.getSync(key);
    return hit !== undefined ? Promise.resolve(hit) : this.readThrough(key);
  }

  async set(key: StorageKey, envelope: Envelope, ttlMs: number, basis?: StoreBasis): Promise<boolean | void> {
    this.assertOpen();
    // A basis this store did not make: when in doubt, do not store.
    if (basis !== undefined && basis.store !== 'tiered') {
      checkStoreTtl(ttlMs);
      return false;
    }
    const parts = basisParts(basis, this.l1.generation);
    if (basis !== undefined && this.inBackground) return this.setInBackground(key, envelope, ttlMs, parts);
    const fill = this.l1.start(key);
    let applied: boolean | void;
    try {
      applied = await this.l2.set(key, envelope, ttlMs, parts.l2);
    } catch (err) {
      throw this.writeFailed(fill, err);
    }
    if (applied === false) {
      // L2 refused it (its basis predates an invalidation): L1 must not serve it either, nor
      // anything older of the key.
      this.l1.end(fill);
      this.l1.remove(key);
      return false;
    }
    this.l1.wrote(fill, envelope, ttlMs, parts.l1, parts.generation);
    await this.publisher.publish({ op: 'key', key });
    return applied;
  }

  async delete(key: StorageKey): Promise<boolean> {
    this.assertOpen();
    let deleted: boolean;
    try {
      deleted = await this.l2.delete(key);
    } catch (err) {
      this.l1.remove(key);
      throw this.failed(err);
    }
    this.l1.remove(key);
    await this.publisher.publish({ op: 'key', key });
    return deleted;
  }

  /** L1's hits, then one L2 bulk read for the rest (tiered/tiered-bulk.ts). */
  getMany(keys: readonly StorageKey[]): Promise<Array<Envelope | undefined>> {
    return this.closed ? Promise.reject(new CacheClosedError('tiered store')) : tieredGetMany(this.bulk, keys);
  }
  deleteMany(keys: readonly StorageKey[]): Promise<number> {
    return this.closed ? Promise.reject(new CacheClosedError('tiered store')) : tieredDeleteMany(this.bulk, keys);
  }
  pull(key: StorageKey): Promise<Envelope | undefined> {
    return this.closed ? Promise.reject(new CacheClosedError('tiered store')) : tieredPull(this.bulk, key);
  }

  async getOrSet(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<StoreGetOrSetResult> {
    this.assertOpen();
    const fill = this.l1.start(key);
    let result: StoreGetOrSetResult;
    try {
      result = await this.l2.getOrSet(key, envelope, ttlMs);
    } catch (err) {
      throw this.writeFailed(fill, err);
    }
    if (!result.set) {
      this.l1.filled(fill, result.envelope);
      return result;
    }
    this.l1.wrote(fill, envelope, ttlMs);
    await this.publisher.publish({ op: 'key', key });
    return result;
  }

  async compareAndSet(key: StorageKey, expectedStamp: string | null, envelope: Envelope, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    const fill = this.l1.start(key);
    let wrote: boolean;
    try {
      wrote = await this.l2.compareAndSet(key, expectedStamp, envelope, ttlMs);
    } catch (err) {
      throw this.writeFailed(fill, err);
    }
    if (!wrote) {
      // Another entry is there now: whatever L1 holds for the key may be older.
      this.l1.end(fill);
      this.l1.remove(key);
      return false;
    }
    this.l1.wrote(fill, envelope, ttlMs);
    await this.publisher.publish({ op: 'key', key });
    return true;
  }

  async clearScope(scope: KeyScope): Promise<void> {
    this.assertOpen();
    try {
      await this.l2.clearScope(scope);
    } catch (err) {
      this.l1.clear(scope);
      throw this.failed(err);
    }
    this.l1.clear(scope);
    await this.publisher.publish({ op: 'clear', scope });
  }

  async invalidateTags(tagKeys: readonly StorageKey[]): Promise<void> {
    this.assertOpen();
    if (tagKeys.length === 0) return;
    const groups = byScope(tagKeys);
    try {
      await this.l2.invalidateTags(tagKeys);
    } catch (err) {
      for (const { scope, tags } of groups) this.l1.invalidate(scope, tags);
      throw this.failed(err);
    }
    for (const { scope, tags } of groups) this.l1.invalidate(scope, tags);
    await Promise.all(groups.map(({ scope, tags }) => this.publisher.publish({ op: 'tags', scope, tags })));
  }

  async purgeScope(scope: KeyScope): Promise<number> {
    this.assertOpen();
    // The scope reads as cleared from the start of the purge, here as in L2.
    this.l1.clear(scope);
    let deleted: number;
    try {
      deleted = await this.l2.purgeScope(scope);
    } catch (err) {
      this.l1.clear(scope);
      throw this.failed(err);
    }
    this.l1.clear(scope);
    await this.publisher.publish({ op: 'clear', scope });
    return deleted;
  }

  /**
   * `{ store: 'tiered', value: { l1, l2 } }`: each tier's basis, handed back to that tier's
   * `set`. Always given, so a computation's write is told from a plain `set` (`l2Writes:
   * 'background'` applies to the former only).
   */
  basis(scope: KeyScope): StoreBasis | Promise<StoreBasis> {
    if (this.closed) return Promise.reject(new CacheClosedError('tiered store'));
    return composeBasis(this.l1.current, this.l2, scope, this.l1.generation);
  }

  /** Entries L1 holds for `scope` (what this instance serves without I/O). */
  scopeSize(scope: KeyScope): number | undefined {
    return this.l1.current.scopeSize(scope);
  }

  /** L2's health; `degraded` while the bus is down (L1 then lives by `maxStaleness`). */
  async health(): Promise<StoreHealth> {
    if (this.closed) return { ok: false, detail: 'the store is closed' };
    return tieredHealth(await this.l2.health(), this.subscriber.outage, this.l1.maxStalenessMs);
  }

  stats(): TieredStoreStats {
    const l1 = this.l1.stats();
    const l2 = this.l2.stats();
    const bus: TieredBusStats = { state: this.subscriber.state, ...this.subscriber.counts(), ...this.heard, ...this.publisher.stats(), l1Drops: this.l1.drops };
    return { entries: l1.entries, bytes: l1.bytes, evictions: l1.evictions, decodeErrors: l2.decodeErrors, errors: this.errors + this.background.failures, l1, l2, bus, backgroundWriteFailures: this.background.failures };
  }

  /** Idempotent: waits for background writes, then closes the bus, L1 and L2. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  onReconnect(listener: () => void): () => void {
    return this.l2Inner.onReconnect?.(listener) ?? (() => undefined);
  }
  routeOf(scope: KeyScope): string | undefined {
    return this.l2Inner.routeOf?.(scope);
  }
  probeRoute(route: string): Promise<boolean> {
    return this.l2Inner.probeRoute?.(route) ?? this.l2Inner.health().then((health) => health.ok);
  }
  liveRoutes(): ReadonlySet<string> | undefined {
    return this.l2Inner.liveRoutes?.();
  }

  /** A cache taking this store makes it (and L2) log through the cache's reporter, unless L2's options named their own. */
  adoptReporter(reporter: ErrorReporter): void {
    if (!this.ownLogging) this.reporter = reporter;
    this.l2Inner.adoptReporter?.(reporter);
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    await this.background.settled();
    await this.subscriber.close();
    await this.publisher.close();
    await this.l1.close();
    await this.l2.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new CacheClosedError('tiered store');
  }

  private async readThrough(key: StorageKey): Promise<Envelope | undefined> {
    const fill = this.l1.start(key);
    let env: Envelope | undefined;
    try {
      env = await this.l2.get(key);
    } catch (err) {
      this.l1.end(fill);
      throw this.failed(err);
    }
    if (env === undefined) this.l1.end(fill);
    else this.l1.filled(fill, env);
    return env;
  }

  /** `l2Writes: 'background'`: L1 now, L2 meanwhile (see `BackgroundWrites`). */
  private async setInBackground(key: StorageKey, env: Envelope, ttlMs: number, parts: TieredBasis): Promise<void> {
    checkStoreTtl(ttlMs);
    await this.l1.writeAhead(key, env, ttlMs, parts.l1, parts.generation);
    this.background.follow(key, env, this.l2.set(key, env, ttlMs, parts.l2));
  }

  private heardMessage(text: string): void {
    const message = decodeBusMessage(text);
    if (message === undefined) this.heard.malformed++;
    else if (message.origin === this.origin) this.heard.ignored++;
    else {
      this.heard.applied++;
      this.l1.apply(message.change satisfies BusChange);
    }
  }

  /** A write L2 failed: not applied to L1, and L1's older entry of the key goes too. */
  private writeFailed(fill: L1Fill, err: unknown): unknown {
    this.l1.end(fill);
    this.l1.remove(fill.key);
    return this.failed(err);
  }

  /** Counts a failed call (not a caller's mistake) and passes its error on. */
  private failed(err: unknown): unknown {
    const callers = err instanceof InvalidTtlError || err instanceof EncodeError || err instanceof InvalidKeyError || (err instanceof CacheClosedError && this.closed);
    if (!callers) this.errors++;
    return err;
  }
}
