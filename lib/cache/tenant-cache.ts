import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { newStamp, retentionMs, type Envelope, type HttpMeta } from '../envelope/envelope.js';
import { assertUserKey, keyHash, storageKey, type KeyScope, type StorageKey } from '../keys/storage-key.js';
import { CacheClosedError, CacheError, CacheOperationError, EncodeError } from '../errors/cache.errors.js';
import type { SetOptions, WrapOptions } from '../options/cache-options.interface.js';
import type { CacheStore } from '../stores/cache-store.interface.js';
import type { Attributes } from '@opentelemetry/api';
import type { CacheEvent } from '../observability/cache-channels.js';
import { parseDuration } from '../utils/duration.js';
import type { SharedCacheState } from './shared-state.js';
import type { TenantCounters } from './tenant-stats.js';

const READ_FAILED: unique symbol = Symbol('read failed');

/** Another process holds the lock of the key. */
const LOCK_BUSY: unique symbol = Symbol('lock busy');
interface HeldLock {
  readonly key: StorageKey;
  readonly token: string;
}
const DEFAULT_LOCK_TTL_MS = 5_000;

function lockTtlOf(options: WrapOptions | undefined): number {
  return options?.lockTtl === undefined ? DEFAULT_LOCK_TTL_MS : Math.max(1, parseDuration(options.lockTtl, 'lockTtl'));
}

/** Returned by `getEntrySync` when the store cannot answer synchronously. */
export const NO_SYNC_READ: unique symbol = Symbol('no synchronous read');

const TELEMETRY_KIND = {
  hits: 'hit',
  misses: 'miss',
  puts: 'put',
  evictions: 'eviction',
  errors: 'error',
  staleServed: 'staleServed',
  stampedeWaits: 'stampedeWait',
  bypasses: 'bypass',
} as const satisfies Record<keyof TenantCounters, string>;

/** Result of `getOrSet`: the value now stored and whether this call stored it. */
export interface GetOrSetResult<T> {
  readonly value: T;
  readonly set: boolean;
}

/** Figures of one tenant. */
export interface TenantStats extends TenantCounters {
  /** The tenant id; `null` for the global scope. */
  readonly tenant: string | null;
  /** Entries held for this tenant, where the store can count them (memory); otherwise undefined. */
  readonly sizeEntries: number | undefined;
}

/** A write of a whole entry, for integrations that keep metadata (HTTP responses). */
export interface EntryWrite<T> extends SetOptions {
  readonly value: T;
  readonly http?: HttpMeta;
}

/**
 * The cache of one tenant (or of the global scope). Every key it touches is built by
 * `storageKey()` under its own scope, so it cannot read or write another tenant's entries.
 *
 * Error policy: reads (`get`, `has`, `getEntry`, `wrap`) fail open — a store failure is logged
 * once per burst, counted, and read as a miss (`wrap` then computes). Writes and atomic
 * operations (`set`, `delete`, `getOrSet`, `compareAndSet`, `invalidateTags`, `clear`) reject
 * with a `CacheError`, since pretending they happened would be a lie.
 */
export class TenantCache {
  private readonly counters: TenantCounters;
  private readonly attributes: Attributes;
  private readonly readAttributes: Attributes;
  private readonly writeAttributes: Attributes;

  constructor(
    private readonly core: SharedCacheState,
    /** The scope this facade is bound to. */
    readonly scope: KeyScope,
  ) {
    this.counters = core.stats.countersFor(scope);
    // Built once per tenant, so recording a metric allocates nothing.
    this.attributes = core.telemetry.attributesFor(scope);
    this.readAttributes = { ...this.attributes, 'cache.operation': 'read' };
    this.writeAttributes = { ...this.attributes, 'cache.operation': 'write' };
  }

  /** The tenant id, or `undefined` for the global cache. */
  get tenantId(): string | undefined {
    return this.scope.tenant;
  }

  /** The value stored under `key`, or `undefined` on a miss (a stored `null` is `null`). */
  async get<T = unknown>(key: string): Promise<T | undefined> {
    const env = await this.getEntry<T>(key);
    return env === undefined ? undefined : env.value;
  }

  /** Whether a fresh entry exists. */
  async has(key: string): Promise<boolean> {
    return (await this.getEntry(key)) !== undefined;
  }

  /**
   * The fresh entry under `key` with its metadata, or `undefined`. Counts a hit or a miss;
   * fails open.
   */
  getEntry<T = unknown>(key: string, allowStale = false): Promise<Envelope<T> | undefined> {
    let k: StorageKey;
    try {
      k = this.key(key);
    } catch (err) {
      return Promise.reject(err);
    }
    // One promise step over the store's own (this is the remote hit path).
    return this.readOrFailure(k).then((read) => this.classify<T>(read === READ_FAILED ? undefined : read, allowStale));
  }

  /**
   * A fresh entry counts a hit and is returned. Anything else counts a miss; with
   * `allowStale`, an expired entry still within its grace (`staleUntil`) is returned too (the
   * caller tells it by `expiresAt` and reports it if it serves it: `recordStaleServed`).
   */
  private classify<T>(env: Envelope | undefined, allowStale: boolean): Envelope<T> | undefined {
    if (env !== undefined && this.isFresh(env)) {
      this.count('hits');
      return env as Envelope<T>;
    }
    this.count('misses');
    return allowStale && env !== undefined && this.isStaleUsable(env) ? (env as Envelope<T>) : undefined;
  }

  /** Counts a stale entry served (after `getEntry(key, true)` returned one). */
  recordStaleServed(): void {
    this.count('staleServed');
  }

  /** Whether an entry is still fresh on this cache's clock. */
  isFresh(env: Envelope): boolean {
    return env.expiresAt === 0 || env.expiresAt > this.core.clock.now();
  }

  /**
   * `getEntry` without a promise, when the store answers without I/O (the memory store) and the
   * tenant has no dedicated store; otherwise `NO_SYNC_READ` (call `getEntry`). Counts a hit or
   * a miss; fails open. The HTTP hit path uses it so a memory hit costs no promise at all.
   */
  getEntrySync<T = unknown>(key: string, allowStale = false): Envelope<T> | undefined | typeof NO_SYNC_READ {
    const store = this.core.store;
    if (store.getSync === undefined || (this.core.pool !== undefined && this.scope.tenant !== undefined)) return NO_SYNC_READ;
    const k = this.key(key);
    let env: Envelope | undefined;
    try {
      env = store.getSync(k);
    } catch (err) {
      if (err instanceof CacheClosedError && this.core.isClosed()) throw err;
      this.fail('get', k, err);
      env = undefined;
    }
    return this.classify<T>(env, allowStale);
  }

  /** Stores `value` (anything but `undefined`) under `key`. */
  async set<T>(key: string, value: T, options?: SetOptions): Promise<void> {
    await this.setEntry(key, { ...options, value });
  }

  /** Stores a whole entry (value plus HTTP metadata). */
  async setEntry<T>(key: string, write: EntryWrite<T>): Promise<void> {
    const k = this.key(key);
    const env = this.envelope(write.value, write, write.http);
    await this.write('set', k, (store) => store.set(k, env, retentionMs(env, env.createdAt)));
    this.count('puts');
  }

  /** Deletes `key`; resolves whether an entry was there. */
  async delete(key: string): Promise<boolean> {
    const k = this.key(key);
    return this.write('delete', k, (store) => store.delete(k));
  }

  /**
   * Atomically: if `key` holds a fresh value, resolve it (`set: false`); otherwise store
   * `value` and resolve it (`set: true`). Exactly one of many concurrent callers sets.
   */
  async getOrSet<T>(key: string, value: T, options?: SetOptions): Promise<GetOrSetResult<T>> {
    const k = this.key(key);
    const env = this.envelope(value, options);
    const result = await this.write('getOrSet', k, (store) => store.getOrSet(k, env, retentionMs(env, env.createdAt)));
    if (result.set) this.count('puts');
    else this.count('hits');
    return { value: result.envelope.value as T, set: result.set };
  }

  /**
   * Atomically replaces the value of `key` with `next` if it currently equals `expected`
   * (deep equality; `undefined` = "no fresh entry"). Resolves whether it wrote. A write in
   * between the read and the swap makes it resolve `false`, never overwrite.
   */
  async compareAndSet<T>(key: string, expected: T | undefined, next: T, options?: SetOptions): Promise<boolean> {
    const k = this.key(key);
    const env = this.envelope(next, options);
    const ttl = retentionMs(env, env.createdAt);
    return this.write('compareAndSet', k, async (store) => {
      const current = await store.get(k);
      const fresh = current !== undefined && this.isFresh(current) ? current : undefined;
      if (expected === undefined) {
        if (fresh !== undefined) return false;
        return this.countPut(await store.compareAndSet(k, null, env, ttl));
      }
      if (fresh === undefined || !isDeepStrictEqual(fresh.value, expected)) return false;
      return this.countPut(await store.compareAndSet(k, fresh.stamp, env, ttl));
    });
  }

  /**
   * The value of `key`, computing it with `factory` on a miss. Concurrent calls for one key
   * in this process run `factory` once and share its value or its error; a throwing factory
   * stores nothing. A factory resolving `undefined` is returned but not cached. Fails open:
   * if the store is down, `factory` runs and its value is returned.
   */
  async wrap<T>(key: string, factory: () => T | Promise<T>, options?: WrapOptions): Promise<T> {
    const k = this.key(key);
    const inFlight = this.core.flights.current<T>(k.full);
    if (inFlight !== undefined) {
      this.count('stampedeWaits');
      return inFlight;
    }
    const read = await this.readOrFailure(k);
    const env = read === READ_FAILED ? undefined : read;
    if (env !== undefined && this.isFresh(env)) {
      this.count('hits');
      return env.value as T;
    }
    const stale = env !== undefined && this.isStaleUsable(env) ? (env as Envelope<T>) : undefined;
    // With the store down, skip the second read in compute(): it would only fail again.
    const recheck = read !== READ_FAILED;
    if (stale !== undefined && options?.staleWhileRevalidate === true) {
      this.count('staleServed');
      void this.core.flights.run(k.full, () => this.compute(key, k, factory, options, undefined, false)).catch(() => undefined);
      return stale.value;
    }
    // A caller that joins a computation in flight waits for it: counted as a stampede wait,
    // not as another miss, so the hit ratio reflects computations.
    const joined = this.core.flights.current<T>(k.full);
    if (joined !== undefined) {
      this.count('stampedeWaits');
      return joined;
    }
    this.count('misses');
    return this.core.flights.run(k.full, () => this.compute(key, k, factory, options, stale, recheck));
  }

  private async compute<T>(key: string, k: StorageKey, factory: () => T | Promise<T>, options: WrapOptions | undefined, stale: Envelope<T> | undefined, recheck: boolean): Promise<T> {
    // Another flight may have finished between our read and this one starting: read again so
    // a burst of callers runs the factory once, not once per wave.
    if (recheck) {
      const again = await this.readRaw(k);
      if (again !== undefined && this.isFresh(again)) return again.value as T;
    }
    // Across processes: the holder of a short lock computes; the others wait for its entry.
    const lock = recheck && options?.lock !== false ? await this.tryLock(key, options) : undefined;
    if (lock === LOCK_BUSY) {
      const shared = await this.waitForEntry(k, lockTtlOf(options));
      if (shared !== undefined) return shared.value as T;
      // The holder took too long (or died): compute here rather than wait longer.
    }
    try {
      return await this.computeAndStore(k, factory, options, stale);
    } finally {
      if (lock !== undefined && lock !== LOCK_BUSY) this.unlock(lock);
    }
  }

  /** Takes the lock of `key` if the store has locks: the held lock, `LOCK_BUSY`, or `undefined` (no lock: compute). */
  private async tryLock(key: string, options: WrapOptions | undefined): Promise<HeldLock | typeof LOCK_BUSY | undefined> {
    const lockKey = storageKey(this.scope, 'lock', key);
    const token = newStamp();
    try {
      const held = await this.withStore(async (store) => (store.acquireLock === undefined ? undefined : store.acquireLock(lockKey, token, lockTtlOf(options))));
      if (held === undefined) return undefined;
      return held ? { key: lockKey, token } : LOCK_BUSY;
    } catch (err) {
      // No lock service now: compute without one (fail open), like a miss.
      this.fail('acquireLock', lockKey, err);
      return undefined;
    }
  }

  private unlock(lock: HeldLock): void {
    this.withStore(async (store) => store.releaseLock?.(lock.key, lock.token)).catch((err: unknown) => {
      // The lock expires by itself; a failed release only delays the next computation.
      this.fail('releaseLock', lock.key, err);
    });
  }

  /** Polls for a fresh entry written by the lock holder, for up to `maxMs` of real time. */
  private async waitForEntry(k: StorageKey, maxMs: number): Promise<Envelope | undefined> {
    this.count('stampedeWaits');
    const deadline = performance.now() + maxMs;
    let delay = 10;
    while (performance.now() < deadline) {
      await sleep(Math.min(delay, Math.max(1, deadline - performance.now())));
      const env = await this.readRaw(k);
      if (env !== undefined && this.isFresh(env)) return env;
      delay = Math.min(delay * 2, 200);
    }
    return undefined;
  }

  private async computeAndStore<T>(k: StorageKey, factory: () => T | Promise<T>, options: WrapOptions | undefined, stale: Envelope<T> | undefined): Promise<T> {
    let value: T;
    try {
      value = await this.core.telemetry.inSpan('cache.compute', this.attributes, async () => factory());
    } catch (err) {
      if (stale !== undefined && options?.staleIfError !== false) {
        this.count('staleServed');
        return stale.value;
      }
      throw err;
    }
    if (value === undefined) return value;
    try {
      const env = this.envelope(value, options);
      await this.withStore((store) => store.set(k, env, retentionMs(env, env.createdAt)));
      this.count('puts');
    } catch (err) {
      // The value was computed; failing to cache it must not fail the caller.
      this.fail('set', k, err);
    }
    return value;
  }

  /** Deletes every entry of this tenant written with any of `tags`; resolves how many. */
  async invalidateTags(tags: readonly string[]): Promise<number> {
    this.assertOpen();
    if (tags.length === 0) return 0;
    const tagKeys = tags.map((tag) => storageKey(this.scope, 'tag', tag));
    return this.write('invalidateTags', undefined, (store) => store.invalidateTags(tagKeys));
  }

  /** Deletes every entry of this tenant (only this tenant); resolves how many keys. */
  async clear(): Promise<number> {
    this.assertOpen();
    return this.write('clear', undefined, (store) => store.clearScope(this.scope));
  }

  /** This tenant's counters and size. */
  async stats(): Promise<TenantStats> {
    this.assertOpen();
    const sizeEntries = await this.withStore(async (store) => store.scopeSize(this.scope)).catch(() => undefined);
    return { tenant: this.scope.tenant ?? null, ...this.counters, sizeEntries };
  }

  // ---- internals ----

  private key(key: string): StorageKey {
    this.assertOpen();
    return storageKey(this.scope, 'e', key);
  }

  private assertOpen(): void {
    if (this.core.isClosed()) throw new CacheClosedError('cache manager');
  }

  private isStaleUsable(env: Envelope): boolean {
    return env.staleUntil !== undefined && env.staleUntil > this.core.clock.now();
  }

  private envelope<T>(value: T, options: SetOptions | undefined, http?: HttpMeta): Envelope<T> {
    if (value === undefined) {
      throw new EncodeError('undefined cannot be cached, because get() resolves undefined for a miss; store null instead');
    }
    const now = this.core.clock.now();
    const ttl = options?.ttl === undefined ? this.core.defaultTtlMs : parseDuration(options.ttl, 'ttl');
    const grace = options?.grace === undefined ? 0 : parseDuration(options.grace, 'grace');
    const expiresAt = ttl === 0 ? 0 : now + ttl;
    const env: { -readonly [K in keyof Envelope<T>]: Envelope<T>[K] } = { value, createdAt: now, expiresAt, stamp: newStamp(), scope: this.scope.id };
    if (grace > 0 && expiresAt !== 0) env.staleUntil = expiresAt + grace;
    if (options?.tags !== undefined && options.tags.length > 0) {
      for (const tag of options.tags) assertUserKey(tag, 'tag');
      env.tags = [...new Set(options.tags)];
    }
    if (http !== undefined) env.http = http;
    return env;
  }

  /** Reads an entry; any store failure is reported and read as a miss. */
  private async readRaw(k: StorageKey): Promise<Envelope | undefined> {
    const read = await this.readOrFailure(k);
    return read === READ_FAILED ? undefined : read;
  }

  private readOrFailure(k: StorageKey): Promise<Envelope | undefined | typeof READ_FAILED> {
    const started = performance.now();
    let read: Promise<Envelope | undefined>;
    try {
      const pool = this.core.pool;
      read = pool === undefined || this.scope.tenant === undefined ? this.core.store.get(k) : this.withStore((store) => store.get(k));
    } catch (err) {
      read = Promise.reject(err);
    }
    return read.then(
      (env) => {
        this.core.telemetry.storeLatency.record(performance.now() - started, this.readAttributes);
        return env;
      },
      (err: unknown) => {
        this.core.telemetry.storeLatency.record(performance.now() - started, this.readAttributes);
        if (err instanceof CacheClosedError && this.core.isClosed()) throw err;
        this.fail('get', k, err);
        return READ_FAILED;
      },
    );
  }

  private async write<R>(op: string, k: StorageKey | undefined, fn: (store: CacheStore) => Promise<R>): Promise<R> {
    const started = performance.now();
    try {
      return await this.withStore(fn);
    } catch (err) {
      if (err instanceof CacheClosedError && this.core.isClosed()) throw err;
      this.fail(op, k, err);
      throw err instanceof CacheError ? err : new CacheOperationError(op, k === undefined ? undefined : keyHash(k), { cause: err });
    } finally {
      this.core.telemetry.storeLatency.record(performance.now() - started, this.writeAttributes);
    }
  }

  private async withStore<R>(fn: (store: CacheStore) => Promise<R>): Promise<R> {
    const pool = this.core.pool;
    if (pool === undefined || this.scope.tenant === undefined) return fn(this.core.store);
    const lease = await pool.acquire(this.scope.tenant);
    try {
      return await fn(lease.store);
    } finally {
      lease.release();
    }
  }

  private fail(op: string, k: StorageKey | undefined, err: unknown): void {
    const code = err instanceof CacheError ? err.code : (err as Error)?.name ?? 'Error';
    this.count('errors', () => ({ tenant: this.scope.tenant ?? null, op, code, keyHash: k === undefined ? undefined : keyHash(k) }));
    this.core.reporter.report(`cache ${op}`, `Cache ${op}${k === undefined ? '' : ` on key #${keyHash(k)}`} failed (${code}).`);
  }

  private count(field: keyof TenantCounters, event?: () => CacheEvent): void {
    this.counters[field]++;
    this.core.stats.total[field]++;
    this.core.telemetry.record(TELEMETRY_KIND[field], this.attributes, event ?? this.plainEvent);
  }

  private readonly plainEvent = (): CacheEvent => ({ tenant: this.scope.tenant ?? null });

  private countPut(wrote: boolean): boolean {
    if (wrote) this.count('puts');
    return wrote;
  }
}
