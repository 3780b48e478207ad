import { newStamp, retentionMs, type Envelope, type HttpMeta } from '../envelope/envelope.js';
import { CacheClosedError, CacheConfigError, CacheConnectionError, CacheError, CacheOperationError, CacheStoreFullError, CacheTimeoutError, EncodeError } from '../errors/cache.errors.js';
import { assertUserKey, keyHash, storageKey, userKeyOf, type KeyScope, type StorageKey } from '../keys/storage-key.js';
import type { CacheStore, StoreBasis } from '../stores/cache-store.interface.js';
import { parseDuration } from '../utils/duration.js';
import type { CounterField, ScopeMetrics } from './metrics-recorder.js';
import type { Clock } from '../utils/clock.js';
import { connectionBurst, type ErrorReporter } from '../utils/error-reporter.js';
import type { PendingInvalidations } from './pending-invalidations.js';
import type { TenantStorePool } from './tenant-store-pool.js';
import { GenerationalMap } from '../utils/generational-map.js';
import { ownString } from '../utils/own-string.js';

/**
 * Storage keys built recently, by user key: two generations of 16,384 keys of at most 256
 * characters (longer ones are built every time), so at most ~20 MB. A user key several tenants
 * use maps to the last one's; `key()` checks the scope, so it only saves work. Keyed by the
 * key's own copy (cut from the storage key), never by the caller's string, which may be a piece
 * of a longer one it would keep alive (see `ownString`).
 */
const builtKeys = new GenerationalMap<string, StorageKey>(16_384, userKeyOf);
const MEMO_KEY_LENGTH = 256;
/** V8 makes a piece of a string (a slice, a join) that points into others only from this length up. */
const SHORTEST_PIECE = 13;

/** What a read that failed in the store reads as (a miss that must not be re-read). */
export const READ_FAILED: unique symbol = Symbol('read failed');
export type ReadResult = Envelope | undefined | typeof READ_FAILED;

/** What the store access of every scope of a manager shares. */
export interface StoreState {
  readonly store: CacheStore;
  readonly pool: TenantStorePool | undefined;
  readonly clock: Clock;
  readonly defaultTtlMs: number;
  /** Grace of entries written without one (`defaultGrace`), ms. */
  readonly defaultGraceMs: number;
  /** Spread of TTLs of entries written without their own (`ttlJitter`): a fraction, 0 = none. */
  readonly ttlJitter: number;
  /** The jitter's random source, `() => [0, 1)`. */
  readonly random: () => number;
  readonly reporter: ErrorReporter;
  readonly isClosed: () => boolean;
  /** Invalidations the store has not applied yet: every read checks them (`size === 0`: nothing to check). */
  readonly pending: PendingInvalidations;
}

/** How an entry is written: its lifetime, tags and, for HTTP responses, the response metadata. */
export interface EntryPolicy {
  /** Milliseconds or a duration string; `undefined` = the manager's default. */
  readonly ttl?: number | string;
  /** How long past its TTL the entry may still be served stale. */
  readonly grace?: number | string;
  readonly tags?: readonly string[];
  readonly http?: HttpMeta;
  /** Spreads the TTL by up to this fraction either way (0.1 = ±10%); `undefined` = the manager's `ttlJitter`. */
  readonly ttlJitter?: number;
}

/**
 * The store of one scope (a tenant, or the global scope), with the failure policy every
 * operation shares: a read that fails is reported and reads as a miss; a write that fails is
 * reported and rejects with a `CacheError`. An entry a pending invalidation covers (one the
 * store failed to apply) reads as absent, on every read path. Every storage key it touches is built by
 * `storageKey()` under its own scope. Internal to the cache layer: `TenantCache` is the public
 * face, the compute engine and the HTTP face use this.
 */
export class ScopeAccess {
  /** Whether a read can be answered without I/O (the shared memory store; never a dedicated tenant store). */
  readonly readsSync: boolean;
  /**
   * The last user key this scope built a storage key for, and that key: a tenant reading one
   * hot key never builds it again, however many tenants share the user key (`builtKeys` holds
   * one scope's per user key). Held only for keys up to `MEMO_KEY_LENGTH`, as the key's own copy.
   */
  private lastUserKey: string | undefined = undefined;
  private lastKey: StorageKey | undefined = undefined;

  constructor(
    readonly state: StoreState,
    readonly scope: KeyScope,
    readonly metrics: ScopeMetrics,
  ) {
    this.readsSync = state.store.getSync !== undefined && (state.pool === undefined || scope.tenant === undefined);
  }

  /** The storage key of a user key (validated; throws `InvalidKeyError`, or `CacheClosedError` once closed). */
  key(key: string): StorageKey {
    this.assertOpen();
    // A hot key is built once: the same string object comes back for it, whose hash the store's
    // maps then need not compute again. Only a key built under this very scope is reused.
    const last = this.lastKey;
    // `last` first: before any key is held, `lastUserKey` is undefined, and so may `key` be (from JavaScript).
    if (last !== undefined && key === this.lastUserKey) return last;
    const known = builtKeys.get(key);
    if (known !== undefined && known.scope === this.scope) {
      // The kept copy, as below (a longer key's costs a slice, once per switch of hot key).
      this.lastUserKey = key.length < SHORTEST_PIECE ? key : userKeyOf(known);
      this.lastKey = known;
      return known;
    }
    const built = storageKey(this.scope, 'entry', key);
    if (key.length <= MEMO_KEY_LENGTH) {
      // Another scope's key under the same user key is replaced whole: `Map.set` would keep the
      // old map key, a piece of the old storage key's string, alive beside the new one.
      if (known !== undefined) builtKeys.delete(key);
      // The memos keep the key's own copy, cut from the storage key's (own) string, never the
      // caller's string, which may be a piece of a longer one it would keep alive. A string too
      // short to be a piece of another is its own already (V8 copies those): it is kept as it
      // is, so a caller passing the same string again is matched by identity.
      const userKey = key.length < SHORTEST_PIECE ? key : userKeyOf(built);
      builtKeys.set(userKey, built);
      this.lastUserKey = userKey;
      this.lastKey = built;
    }
    return built;
  }

  assertOpen(): void {
    if (this.state.isClosed()) throw new CacheClosedError('cache manager');
  }

  now(): number {
    return this.state.clock.now();
  }

  isFresh(env: Envelope): boolean {
    return env.expiresAt === 0 || env.expiresAt > this.state.clock.now();
  }

  /** Expired, but still within its grace. */
  isStaleUsable(env: Envelope): boolean {
    return env.staleUntil !== undefined && env.staleUntil > this.state.clock.now();
  }

  count(field: CounterField): void {
    this.metrics.count(field);
  }

  /** `count('hits')`, the hit path's one count. */
  countHit(): void {
    this.metrics.countHit();
  }

  /** Whether a synchronous read is the whole answer (`CacheStore.getSyncIsComplete`): what it misses, an asynchronous read would miss too. */
  get syncReadIsComplete(): boolean {
    return this.state.store.getSyncIsComplete === true;
  }

  /** A synchronous read (only where `readsSync`); a store failure reads as `READ_FAILED`. */
  readSync(k: StorageKey): ReadResult {
    let env: Envelope | undefined;
    // Timed like an asynchronous read, so `cache.store.duration` has a point for every read of
    // every store, where it is recorded (an SDK); otherwise its two clock reads are skipped.
    const timed = this.metrics.timesStore;
    const started = timed ? performance.now() : 0;
    try {
      env = this.state.store.getSync!(k);
    } catch (err) {
      if (err instanceof CacheClosedError && this.state.isClosed()) throw err;
      this.fail('get', k, err);
      return READ_FAILED;
    } finally {
      if (timed) this.metrics.storeLatency(performance.now() - started, 'read');
    }
    // The hit path pays one field check while nothing is pending.
    if (env !== undefined && this.state.pending.size !== 0 && this.invalidated(k, env)) return undefined;
    return env;
  }

  /** Whether a pending invalidation covers `env` (read under `k`): it must read as absent. */
  invalidated(k: StorageKey, env: Envelope): boolean {
    const pending = this.state.pending;
    return pending.size !== 0 && pending.covers(this.scope.id, k.full, env, this.state.clock.now());
  }

  /** Reads an entry; a store failure is reported and resolves `READ_FAILED`. */
  read(k: StorageKey): Promise<ReadResult> {
    const started = performance.now();
    const pending = this.state.pending;
    // What was pending when the read started still applies to what it returns, even if it is
    // applied (and forgotten) while the read is on its way.
    const captured = pending.size === 0 ? undefined : pending.forScope(this.scope.id);
    let read: Promise<Envelope | undefined>;
    try {
      const pool = this.state.pool;
      read = pool === undefined || this.scope.tenant === undefined ? this.state.store.get(k) : this.withStore((store) => store.get(k));
    } catch (err) {
      read = Promise.reject(err);
    }
    return read.then(
      (env) => {
        this.metrics.storeLatency(performance.now() - started, 'read');
        if (pending.size === 0 && captured === undefined) return env;
        pending.onAnswered(this.scope.id);
        return env !== undefined && pending.covers(this.scope.id, k.full, env, this.state.clock.now(), captured) ? undefined : env;
      },
      (err: unknown) => {
        this.metrics.storeLatency(performance.now() - started, 'read');
        if (err instanceof CacheClosedError && this.state.isClosed()) throw err;
        this.fail('get', k, err);
        return READ_FAILED;
      },
    );
  }

  /**
   * Builds the envelope of a write, checking everything that could make it fail later (an
   * `undefined` value, a bad TTL, a bad tag) before any store is touched.
   */
  envelope<T>(value: T, policy: EntryPolicy | undefined, computeMs?: number): Envelope<T> {
    if (value === undefined) {
      throw new EncodeError('undefined cannot be cached, because get() resolves undefined for a miss; store null instead');
    }
    const state = this.state;
    const now = state.clock.now();
    // An HTTP response is never jittered: its lifetime may be its own freshness (max-age), which it must not outlive.
    const jitter = policy?.http === undefined ? (policy?.ttlJitter ?? state.ttlJitter) : 0;
    const ttl = jittered(policy?.ttl === undefined ? state.defaultTtlMs : parseDuration(policy.ttl, 'ttl'), jitter, state.random);
    const grace = policy?.grace === undefined ? state.defaultGraceMs : parseDuration(policy.grace, 'grace');
    const expiresAt = ttl === 0 ? 0 : now + ttl;
    const env: { -readonly [K in keyof Envelope<T>]: Envelope<T>[K] } = { value, createdAt: now, expiresAt, stamp: newStamp(), scope: this.scope.id };
    if (computeMs !== undefined) env.computeMs = computeMs;
    if (grace > 0 && expiresAt !== 0) env.staleUntil = expiresAt + grace;
    if (policy?.tags !== undefined && policy.tags.length > 0) {
      for (const tag of policy.tags) assertUserKey(tag, 'tag');
      // Own copies: a stored entry keeps its tags, and a tag cut from a longer string would keep that alive.
      env.tags = [...new Set(policy.tags)].map(ownString);
    }
    if (policy?.http !== undefined) env.http = policy.http;
    this.state.pending.noteWritten(env);
    return env;
  }

  /**
   * The basis of a computation starting now (see `CacheStore.basis`), for `put(…, basis)`;
   * `undefined` from a store without one. Must settle before the factory reads anything: an
   * invalidation the store applies after the basis is taken then makes the result unreadable.
   * Rejects with a `CacheError` (reported) when the store fails.
   */
  async basis(): Promise<StoreBasis | undefined> {
    const started = performance.now();
    try {
      return await this.withStore(async (store) => store.basis?.(this.scope));
    } catch (err) {
      if (err instanceof CacheClosedError && this.state.isClosed()) throw err;
      this.fail('basis', undefined, err);
      throw err instanceof CacheError ? err : new CacheOperationError('basis', undefined, { cause: err });
    } finally {
      this.metrics.storeLatency(performance.now() - started, 'read');
    }
  }

  /**
   * Writes an entry; rejects with a `CacheError` (reported) when the store fails. With the
   * `basis` of its computation, the store drops it if the scope or a tag of it was invalidated
   * since.
   */
  put(k: StorageKey, env: Envelope, basis?: StoreBasis): Promise<void> {
    return this.write('set', k, (store) => store.set(k, env, retentionMs(env, env.createdAt), basis)).then(() => this.count('puts'));
  }

  /**
   * Runs a store operation that must not pretend to have happened: a failure is reported
   * (once per burst) and rejects with a `CacheError`. `callersError` picks out an error that is
   * the call's own, not the store's (a store without the operation): it rejects as it is,
   * neither counted nor reported, and no store latency is recorded for it.
   */
  async write<R>(op: string, k: StorageKey | undefined, fn: (store: CacheStore) => Promise<R>, callersError?: (err: unknown) => boolean): Promise<R> {
    const started = performance.now();
    let timed = true;
    try {
      const result = await this.withStore(fn);
      if (this.state.pending.size !== 0) this.state.pending.onAnswered(this.scope.id);
      return result;
    } catch (err) {
      if (callersError?.(err) === true) {
        timed = false;
        throw err;
      }
      if (err instanceof CacheClosedError && this.state.isClosed()) throw err;
      this.fail(op, k, err);
      throw err instanceof CacheError ? err : new CacheOperationError(op, k === undefined ? undefined : keyHash(k), { cause: err });
    } finally {
      if (timed) this.metrics.storeLatency(performance.now() - started, 'write');
    }
  }

  /** Runs `fn` on the store of this scope (a dedicated tenant store when the pool has one). */
  async withStore<R>(fn: (store: CacheStore) => Promise<R>): Promise<R> {
    const pool = this.state.pool;
    if (pool === undefined || this.scope.tenant === undefined) return fn(this.state.store);
    const lease = await pool.acquire(this.scope.tenant);
    try {
      return await fn(lease.store);
    } finally {
      lease.release();
    }
  }

  /**
   * Counts and reports (once per burst) a failed store operation, by key hash only. A failure of
   * the store's connection (unreachable, timed out, full) is reported in that connection's burst,
   * with its going down and its circuit: one line per outage, not one per operation.
   */
  fail(op: string, k: StorageKey | undefined, err: unknown): void {
    const code = err instanceof CacheError ? err.code : ((err as Error)?.name ?? 'Error');
    const hash = k === undefined ? undefined : keyHash(k);
    this.metrics.count('errors', () => ({ tenant: this.scope.tenant ?? null, op, code, keyHash: hash }));
    const failed = `Cache ${op}${hash === undefined ? '' : ` on key #${hash}`} failed (${code})`;
    if (err instanceof CacheConnectionError || err instanceof CacheTimeoutError || err instanceof CacheStoreFullError) {
      // Possibly the only line of the outage: say what happened (the message names no key, no value).
      this.state.reporter.report(connectionBurst(err.address), `${failed}: ${err.message}`);
    } else {
      this.state.reporter.report(`cache ${op}`, `${failed}.`);
    }
  }

  /** Reports a failure that is not the store's (a user function that threw), counted as an error. */
  reportError(kind: string, message: string): void {
    this.metrics.count('errors', () => ({ tenant: this.scope.tenant ?? null, reason: kind }));
    this.state.reporter.report(kind, message);
  }
}

/** `ttlMs` moved by a random fraction of at most `jitter` either way (never to 0: that is "no expiry"). */
function jittered(ttlMs: number, jitter: number, random: () => number): number {
  if (jitter === 0 || ttlMs === 0) return ttlMs;
  if (!(typeof jitter === 'number' && jitter >= 0 && jitter < 1)) throw new CacheConfigError('ttlJitter', `expected a fraction 0 <= jitter < 1, got ${String(jitter)}`, 'use e.g. 0.1 for ±10%, or omit it');
  return Math.max(1, Math.round(ttlMs * (1 + jitter * (2 * random() - 1))));
}
