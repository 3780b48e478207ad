import { isDeepStrictEqual } from 'node:util';
import { copyCacheable } from '../envelope/cacheable.js';
import { retentionMs, type Envelope } from '../envelope/envelope.js';
import { CacheConfigError, CacheOperationError } from '../errors/cache.errors.js';
import { keyHash, storageKey, type KeyScope, type StorageKey } from '../keys/storage-key.js';
import { assertCallOptions } from '../options/call-options.js';
import type { GetOptions, SetOptions, WrapOptions } from '../options/cache-options.interface.js';
import { deleteMany, expireEntry, pullEntry, readMany } from './bulk-operations.js';
import type { Factory } from './compute-policy.js';
import { READ_FAILED, type ScopeAccess } from './scope-access.js';
import type { SharedCacheState } from './shared-state.js';
import type { TenantCounters } from './tenant-stats.js';
import { wrapPolicy } from './wrap-policy.js';

/** What `peek` answers for a read it counted as a miss, and for one it leaves to the asynchronous read. */
const MISSED: unique symbol = Symbol('missed');
const ASYNC: unique symbol = Symbol('read asynchronously');

/** Writes of `setMany` in flight at once at most. */
const SET_MANY_STEP = 1_000;
/** Times `getOrSet` replaces an entry a pending invalidation covers before it gives up (another writer keeps racing it). */
const REPLACE_ATTEMPTS = 3;

/**
 * A value that can be cached: `T` without `undefined` (which reads as a miss). `unknown` passes
 * (it is checked at run time); `undefined` or a `string | undefined` does not compile.
 */
export type Defined<T> = T extends undefined ? never : T;

/**
 * What `wrap()` adds to its factory's type so that a factory that may resolve `undefined` does
 * not compile (with this message); `unknown` passes.
 */
export type UndefinedGuard<T> = unknown extends T
  ? unknown
  : undefined extends T
    ? { 'a factory that may resolve undefined cannot be cached: resolve null, or call ctx.skip()': never }
    : unknown;

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
  /** Invalidations of this tenant the store has not applied yet (retried in the background). */
  readonly pendingInvalidations: number;
}

/**
 * The cache of one tenant (or of the global scope). Every key it touches is built by
 * `storageKey()` under its own scope, so it cannot read or write another tenant's entries.
 *
 * Error policy: reads (`get`, `has`, `getEntry`, `wrap`) fail open — a store failure is logged
 * once per burst, counted, and read as a miss (`wrap` then computes). Writes and atomic
 * operations (`set`, `delete`, `getOrSet`, `compareAndSet`, `invalidateTags`, `clear`) reject
 * with a `CacheError`, since pretending they happened would be a lie. A failed invalidation
 * (`invalidateTags`, `delete`, `clear`) is also kept and retried in the background until it is
 * applied or every entry it covers has expired; meanwhile no read here serves those entries.
 */
export class TenantCache {
  constructor(
    private readonly access: ScopeAccess,
    private readonly shared: SharedCacheState,
  ) {}

  /** The scope this facade is bound to. */
  get scope(): KeyScope {
    return this.access.scope;
  }

  /** The tenant id, or `undefined` for the global cache. */
  get tenantId(): string | undefined {
    return this.access.scope.tenant;
  }

  /**
   * The value stored under `key`, or on a miss `options.defaultValue` (nothing is stored), else
   * `undefined` (a stored `null` is `null`).
   */
  get<T = unknown>(key: string, options: GetOptions<T> & { defaultValue: T }): Promise<T>;
  get<T = unknown>(key: string, options?: GetOptions<T>): Promise<T | undefined>;
  get<T = unknown>(key: string, options?: GetOptions<T>): Promise<T | undefined> {
    // Not `async`: a hit of a store that answers without I/O settles one promise, not four.
    try {
      const k = this.access.key(key);
      const found = this.peek(k);
      if (found === ASYNC) return this.readEntry<T>(k).then((env) => (env === undefined ? options?.defaultValue : env.value));
      return Promise.resolve(found === MISSED ? options?.defaultValue : (found.value as T));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The values of `keys`, in order (`undefined` for each miss), in as few store round trips as
   * the store can: on Redis one MGET for up to 1,000 keys of this tenant (its keys share one hash
   * slot), on a tiered store L1 first and one such read for the rest. Fails open, like `get`.
   */
  async getMany<T = unknown>(keys: readonly string[]): Promise<Array<T | undefined>> {
    const entries = await readMany(this.access, keys.map((key) => this.access.key(key)));
    return entries.map((env) => (env === undefined ? undefined : (env.value as T)));
  }

  /** Whether no fresh entry exists under `key` (the opposite of `has`). */
  async missing(key: string): Promise<boolean> {
    return !(await this.has(key));
  }

  /** Whether a fresh entry exists. */
  async has(key: string): Promise<boolean> {
    return (await this.getEntry(key)) !== undefined;
  }

  /** The fresh entry under `key` with its metadata (`createdAt`, `expiresAt`, `tags`), or `undefined`. Counts a hit or a miss; fails open. */
  getEntry<T = unknown>(key: string): Promise<Envelope<T> | undefined> {
    try {
      const k = this.access.key(key);
      const found = this.peek(k);
      if (found === ASYNC) return this.readEntry<T>(k);
      return Promise.resolve(found === MISSED ? undefined : (found as Envelope<T>));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The read of `k` without a promise, where the store answers one (a memory store; a tiered
   * store's L1): the fresh entry or `MISSED` (counted), else `ASYNC`: the store must be read
   * asynchronously (no synchronous read, or nothing fresh in a synchronous tier that is not all
   * of the store: a tiered store's L1, whose misses then cost two reads, each timed). Throws like `readSync`.
   */
  private peek(k: StorageKey): Envelope | typeof MISSED | typeof ASYNC {
    const access = this.access;
    if (!access.readsSync) return ASYNC;
    const read = access.readSync(k);
    if (read !== READ_FAILED && read !== undefined && access.isFresh(read)) {
      access.countHit();
      return read;
    }
    if (read !== READ_FAILED && !access.syncReadIsComplete) return ASYNC;
    access.count('misses');
    return MISSED;
  }

  private async readEntry<T>(k: StorageKey): Promise<Envelope<T> | undefined> {
    const read = await this.access.read(k);
    if (read !== READ_FAILED && read !== undefined && this.access.isFresh(read)) {
      this.access.countHit();
      return read as Envelope<T>;
    }
    this.access.count('misses');
    return undefined;
  }

  /**
   * Stores `value` under `key`. `undefined` is refused (a miss reads as `undefined`), by the
   * type (`Defined<T>`: a `string | undefined` must be narrowed first) and at run time.
   */
  async set<T>(key: string, value: Defined<T>, options?: SetOptions): Promise<void> {
    assertCallOptions(options, 'set');
    const k = this.access.key(key);
    await this.access.put(k, this.access.envelope(value, options));
  }

  /**
   * Stores several entries, each with its own options: every entry is checked before any is
   * written, then the writes go out together, 1,000 at a time (on Redis, one script each, sent
   * at once: one round trip per 1,000). Not atomic: a failure rejects, and other entries may have
   * been written.
   */
  // `{} | null`: any value but `undefined` (which reads as a miss); an `unknown` value must be narrowed or cast.
  async setMany(entries: ReadonlyArray<{ readonly key: string; readonly value: {} | null; readonly options?: SetOptions }>): Promise<void> {
    const writes = entries.map(({ key, value, options }) => ({ k: this.access.key(key), env: this.access.envelope(value, assertCallOptions(options, 'set')) }));
    // In steps: each write must be answered within the store's command timeout from its issue.
    for (let i = 0; i < writes.length; i += SET_MANY_STEP) await Promise.all(writes.slice(i, i + SET_MANY_STEP).map(({ k, env }) => this.access.put(k, env)));
  }

  /** Deletes `key`; resolves whether an entry was there. A failure rejects and is retried in the background until applied (see `invalidateTags`). */
  async delete(key: string): Promise<boolean> {
    const k = this.access.key(key);
    return this.shared.invalidations.run(this.access, { kind: 'delete', key: k }, () => this.access.write('delete', k, (store) => store.delete(k)));
  }

  /**
   * Deletes `keys` in one store operation where the store can (Redis: one script for this
   * tenant's keys); resolves how many held an entry. A failure rejects, and every key is retried
   * in the background until applied, as `delete`.
   */
  async deleteMany(keys: readonly string[]): Promise<number> {
    return deleteMany(this.access, this.shared.invalidations, keys.map((key) => this.access.key(key)));
  }

  /**
   * Gets and deletes `key` atomically: of concurrent callers (in any process) exactly one gets
   * the value, the others `undefined`. An expired entry is deleted and reads as a miss. A store
   * failure rejects (nothing was taken).
   */
  async pull<T = unknown>(key: string): Promise<T | undefined> {
    const env = await pullEntry(this.access, this.access.key(key));
    return env === undefined ? undefined : (env.value as T);
  }

  /**
   * Expires `key` now but keeps it for the rest of its grace: the next `wrap` recomputes it and,
   * if the factory fails, can still serve it (stale-if-error; `staleWhileRevalidate` serves it at
   * once). An entry without grace is deleted. Resolves whether a fresh entry was expired. A
   * failure rejects and is retried in the background as a delete until applied (see `delete`):
   * meanwhile this instance serves nothing of the key.
   */
  async expire(key: string): Promise<boolean> {
    const k = this.access.key(key);
    return this.shared.invalidations.run(this.access, { kind: 'delete', key: k }, () => expireEntry(this.access, k));
  }

  /**
   * Atomically: if `key` holds a fresh value, resolve it (`set: false`); otherwise store
   * `value` and resolve it (`set: true`). Exactly one of many concurrent callers sets.
   */
  async getOrSet<T>(key: string, value: Defined<T>, options?: SetOptions): Promise<GetOrSetResult<T>> {
    assertCallOptions(options, 'getOrSet');
    const k = this.access.key(key);
    const env = this.access.envelope(value, options);
    const ttl = retentionMs(env, env.createdAt);
    const result = await this.access.write('getOrSet', k, async (store) => {
      let found = await store.getOrSet(k, env, ttl);
      // An entry a pending invalidation covers is absent: replace it, if it is still that entry.
      for (let i = 0; !found.set && this.access.invalidated(k, found.envelope); i++) {
        if (i === REPLACE_ATTEMPTS) throw new CacheOperationError('getOrSet', keyHash(k));
        if (await store.compareAndSet(k, found.envelope.stamp, env, ttl)) return { envelope: env, set: true };
        found = await store.getOrSet(k, env, ttl);
      }
      return found;
    });
    this.access.count(result.set ? 'puts' : 'hits');
    return { value: result.envelope.value as T, set: result.set };
  }

  /**
   * Atomically replaces the value of `key` with `next` if it currently equals `expected`
   * (deep equality; `undefined` = "no fresh entry"). Resolves whether it wrote. A write in
   * between the read and the swap makes it resolve `false`, never overwrite.
   */
  async compareAndSet<T>(key: string, expected: T | undefined, next: Defined<T>, options?: SetOptions): Promise<boolean> {
    assertCallOptions(options, 'compareAndSet');
    const k = this.access.key(key);
    const env = this.access.envelope(next, options);
    const ttl = retentionMs(env, env.createdAt);
    const wrote = await this.access.write('compareAndSet', k, async (store) => {
      const current = await store.get(k);
      const present = current !== undefined && this.access.isFresh(current) ? current : undefined;
      // An entry a pending invalidation covers is absent: "no entry" replaces it by its stamp.
      const covered = present !== undefined && this.access.invalidated(k, present);
      const fresh = covered ? undefined : present;
      if (expected === undefined) return fresh === undefined && (await store.compareAndSet(k, covered ? present!.stamp : null, env, ttl));
      if (fresh === undefined || !isDeepStrictEqual(fresh.value, expected)) return false;
      return store.compareAndSet(k, fresh.stamp, env, ttl);
    });
    if (wrote) this.access.count('puts');
    return wrote;
  }

  /**
   * The value of `key`, computing it with `factory` on a miss. Concurrent calls for one key in
   * this process make one store read and run `factory` once, sharing its value or its error;
   * across processes, on stores with locks, one process computes and the others wait for its
   * entry. A throwing factory stores nothing; a factory calling `ctx.skip()` is returned but
   * not cached. The type refuses a factory that may resolve `undefined` (`Defined<T>`);
   * one that does anyway (JavaScript) is returned and not cached. Fails open: if the store is down, `factory` runs
   * and its value is returned.
   */
  async wrap<T>(key: string, factory: Factory<T> & UndefinedGuard<T>, options?: WrapOptions): Promise<T> {
    assertCallOptions(options, 'wrap');
    const outcome = await this.shared.engine.getOrCompute(this.access, key, factory, wrapPolicy(options));
    if (outcome.kind === 'computed') {
      // Callers that joined one flight share its answer: each gets its own copy of a stored value,
      // so one caller's mutation never reaches another (free for primitives). A value that was not
      // stored (ctx.skip(), undefined) may not be copyable: it is shared as the factory returned it.
      return outcome.leader || outcome.entry === undefined ? outcome.value : copyCacheable(outcome.value);
    }
    return copyCacheable(outcome.entry.value);
  }

  /**
   * Makes every entry of this tenant written with any of `tags` read as absent, on every instance,
   * in one store operation whatever their number (per-tenant tag versions). A failure
   * rejects, and the invalidation is kept and retried in the background (backoff with jitter,
   * past circuit openings) until it is applied or every entry it covers has expired; until
   * then no read of this instance serves an entry it covers (`invalidationRetry`).
   */
  async invalidateTags(tags: readonly string[]): Promise<void> {
    this.access.assertOpen();
    if (!Array.isArray(tags)) throw new CacheConfigError('invalidateTags(tags)', `expected an array of tags, got ${typeof tags}`, "pass e.g. ['product:1']");
    if (tags.length === 0) return;
    const tagKeys: StorageKey[] = tags.map((tag) => storageKey(this.access.scope, 'tag', tag));
    return this.shared.invalidations.run(this.access, { kind: 'tags', tags: [...new Set(tags)] }, () => this.access.write('invalidateTags', undefined, (store) => store.invalidateTags(tagKeys)));
  }

  /**
   * Makes every entry of this tenant (only this tenant) read as absent, at once and on every
   * instance, in one store operation (a tenant epoch): the old entries are left to expire. A
   * failure rejects and is retried in the background until applied (see `invalidateTags`). To
   * delete a tenant's data from the store, see `CacheManager.purgeTenant()`.
   */
  async clear(): Promise<void> {
    this.access.assertOpen();
    return this.shared.invalidations.run(this.access, { kind: 'clear' }, () => this.access.write('clear', undefined, (store) => store.clearScope(this.access.scope)));
  }

  /** This tenant's counters and size. */
  async stats(): Promise<TenantStats> {
    this.access.assertOpen();
    const sizeEntries = await this.access.withStore(async (store) => store.scopeSize(this.access.scope)).catch(() => undefined);
    const pendingInvalidations = this.shared.pending.forScope(this.access.scope.id)?.size ?? 0;
    return { tenant: this.access.scope.tenant ?? null, ...this.access.metrics.counters, sizeEntries, pendingInvalidations };
  }
}
