import { Cluster, type Redis } from 'ioredis';
import type { Codec } from '../envelope/codecs/codec.interface.js';
import type { DecodeLimits } from '../envelope/decode-limits.js';
import type { Envelope } from '../envelope/envelope.js';
import { decodeEntry, encodeEntry } from '../envelope/wire.js';
import { CacheClosedError, CacheConnectionError, CacheOperationError, CacheStoreFullError, CacheTimeoutError, DecodeError, type CacheError } from '../errors/cache.errors.js';
import { keyHash, type KeyScope, type StorageKey } from '../keys/storage-key.js';
import { consoleLogger, ErrorReporter } from '../utils/error-reporter.js';
import type { CacheStore, StoreGetOrSetResult, StoreHealth, StoreObserver, StoreStats } from './cache-store.interface.js';
import type { RedisStoreOptions } from './redis-store-options.interface.js';
import { resolveRedisStoreOptions } from './redis-store-options.js';
import { checkStoreTtl } from './store-ttl.js';
import { ClusterRoutes } from './redis/cluster-routes.js';
import { DecodedResponseMemo } from './redis/decoded-response.memo.js';
import { setUpRedisClient } from './redis/redis-client.factory.js';
import { invoke, withDeadline } from './redis/redis-command.deadline.js';
import { RedisClientLifecycle } from './redis/redis-client.lifecycle.js';
import { RedisGetBatcher, type GetReply } from './redis/redis-get.batcher.js';
import { clearScopeKeys } from './redis/redis-scope.clear.js';
import { COMMAND_TIMED_OUT, errorText, isOutOfMemory, isTimeout } from './redis/redis.failures.js';
import { RedisScripts } from './redis/redis.scripts.js';
import { tagIndexKeys, tagIndexKeysByScope } from './redis/tag-index.keys.js';
import { WriteDeadlines } from './redis/write-deadline.js';

/** Attempts of `getOrSet` when the present entry turns out to be undecodable (it is deleted in between). */
const GET_OR_SET_ATTEMPTS = 3;

/**
 * How long after Redis last refused a write for memory (OOM) health says `degraded`, in
 * milliseconds; a write that succeeds ends it sooner. Long enough for a readiness or monitoring
 * probe every 10 s to see it; short enough to stop soon after memory was freed.
 */
export const FULL_MEMORY_WINDOW_MS = 30_000;

/**
 * A `CacheStore` on Redis (standalone, Sentinel or Cluster) through ioredis. On a Cluster it
 * says which primary each scope's calls go to (`routeOf`), so the circuit breaker fails fast
 * per primary, and refreshes the slot map when a call finds its node failing.
 *
 * - Entries are bytes in the wire format of wire.ts (JSON by default, CBOR or a custom codec);
 *   reads accept both built-in codecs.
 * - Every write (set, delete, `getOrSet`, `compareAndSet`, tag invalidation, the batches of a
 *   clear, locks, the delete of undecodable entries) is a Lua script (redis/redis.scripts.ts),
 *   each confined to one scope's hash slot, and carries a deadline Redis checks before it applies
 *   anything (redis/write-deadline.ts): a write that timed out is never applied later.
 * - When the store creates the client it applies cache defaults (redis/redis-client.factory.ts):
 *   commands time out quickly, no offline queue, no resend of unanswered commands,
 *   auto-pipelining. A store given a `client` does not own it: `close()` leaves it open.
 * - Every call settles within `commandTimeout` of being issued, whether it went out at once,
 *   waited behind other commands or waited for the first connection (which is made in the
 *   background: calls never wait `connectTimeout`).
 * - Failures reject with `CacheConnectionError` (server unreachable), `CacheTimeoutError` (no
 *   reply in time), `CacheStoreFullError` (Redis refused a write for memory; health then says
 *   `degraded` for a while) or `CacheOperationError` (any other error reply); the last three
 *   carry the key hash, never the key. All are counted in `stats().errors`. An entry whose bytes
 *   fail to decode is a miss: it is deleted (only if it still holds the same bytes), counted in
 *   `decodeErrors` and reported to the observer.
 */
export class RedisStore implements CacheStore {
  readonly kind = 'redis';

  private readonly client: Redis | Cluster;
  private readonly lifecycle: RedisClientLifecycle;
  private readonly scripts: RedisScripts;
  private readonly gets: RedisGetBatcher;
  /** On a Cluster: which primary each scope's calls go to (one circuit per primary). */
  private readonly routes: ClusterRoutes | undefined;
  private readonly decodedResponses = new DecodedResponseMemo();
  private readonly keyPrefix: string;
  private readonly codec: Codec;
  private readonly codecs: ReadonlyMap<string, Codec>;
  private readonly limits: DecodeLimits;
  private reporter: ErrorReporter;
  /** Whether the options named a logger or a reporter (then a cache taking the store keeps them). */
  private readonly ownLogging: boolean;
  private readonly observer: StoreObserver | undefined;
  private readonly commandTimeout: number;
  /** When Redis last refused a write for memory (`performance.now()`). */
  private fullAt = Number.NEGATIVE_INFINITY;

  private closed = false;
  private closing: Promise<void> | undefined;
  private decodeErrors = 0;
  private errors = 0;

  constructor(options: RedisStoreOptions) {
    const resolved = resolveRedisStoreOptions(options);
    this.commandTimeout = resolved.commandTimeout;
    this.limits = resolved.limits;
    this.codec = resolved.codec;
    this.codecs = resolved.codecs;
    this.reporter = resolved.reporter ?? new ErrorReporter(resolved.logger === false ? undefined : (resolved.logger ?? consoleLogger));
    this.ownLogging = resolved.reporter !== undefined || resolved.logger !== undefined;
    this.observer = resolved.observer;

    const { client, owned, address, keyPrefix } = setUpRedisClient(resolved.connection, resolved);
    let deadlines: WriteDeadlines;
    try {
      // From the client: `options.commandTimeout` or a client of one's own may differ from ours.
      deadlines = WriteDeadlines.forClient(client, resolved.writeDeadlineMargin);
    } catch (err) {
      if (owned) client.disconnect();
      throw err;
    }
    this.client = client;
    this.keyPrefix = keyPrefix;
    this.lifecycle = new RedisClientLifecycle(client, owned, address, (kind, message) => this.reporter.report(kind, message), resolved);
    this.scripts = new RedisScripts(client, keyPrefix, deadlines);
    this.routes = client instanceof Cluster ? new ClusterRoutes(client, keyPrefix, resolved.commandTimeout) : undefined;
    this.gets = new RedisGetBatcher(
      client,
      client instanceof Cluster,
      (key, bytes) => this.decodeReply(key, bytes),
      (key, err) => this.fail('get', key, err),
      resolved.commandTimeout,
    );
  }

  /** Calls `listener` each time the connection is ready again: the circuit breaker probes at once. */
  onReconnect(listener: () => void): () => void {
    return this.lifecycle.onReconnect(listener);
  }

  /** On a Cluster: the primary (`host:port`) `scope`'s calls go to now, so the breaker keeps a circuit per primary (`ClusterRoutes`). */
  routeOf(scope: KeyScope): string | undefined {
    return this.routes?.nodeOf(scope);
  }
  probeRoute(route: string): Promise<boolean> {
    return this.routes === undefined ? this.health().then((health) => health.ok) : this.routes.probe(route);
  }
  liveRoutes(): ReadonlySet<string> | undefined {
    return this.routes?.owners();
  }

  /** A cache taking this store makes it log through the cache's reporter, unless the options named a logger or a reporter. */
  adoptReporter(reporter: ErrorReporter): void {
    if (!this.ownLogging) this.reporter = reporter;
  }

  /**
   * Once connected, gets are batched into MGETs (see `RedisGetBatcher`), each reply decoded
   * synchronously. An undecodable entry resolves `undefined` after its delete (see `decodeOrDrop`).
   */
  get(key: StorageKey): Promise<Envelope | undefined> {
    if (this.closed) return Promise.reject(new CacheClosedError('Redis store'));
    if (!this.lifecycle.connected()) return this.run('get', key, () => this.client.getBuffer(key.full)).then((bytes) => this.decodeReply(key, bytes));
    return this.gets.get(key);
  }

  async set(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<void> {
    this.assertOpen();
    const ttl = checkTtl(ttlMs);
    const bytes = encodeEntry(envelope, this.codec, this.limits);
    const tags = tagIndexKeys(key, envelope);
    await this.run('set', key, () => this.scripts.set(key.full, tags, bytes, ttl));
    // Redis took a write: it is not full (any more).
    this.fullAt = Number.NEGATIVE_INFINITY;
  }

  /**
   * `SET key token NX PX ttl`: one holder at a time, gone by itself after `ttlMs`. Deadline-checked
   * like every write, so an acquisition that timed out never takes a lock nobody would release.
   */
  async acquireLock(key: StorageKey, token: string, ttlMs: number): Promise<boolean> {
    return this.run('acquireLock', key, () => this.scripts.acquireLock(key.full, token, Math.max(1, Math.floor(ttlMs))));
  }

  /** Deletes the lock only while `token` holds it (compare-and-delete), so a late release never frees another holder's lock. */
  async releaseLock(key: StorageKey, token: string): Promise<void> {
    await this.run('releaseLock', key, () => this.scripts.compareAndDelete(key.full, Buffer.from(token)));
  }

  async delete(key: StorageKey): Promise<boolean> {
    const n = await this.run('delete', key, () => this.scripts.delete([key.full]));
    return n > 0;
  }

  async getOrSet(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<StoreGetOrSetResult> {
    this.assertOpen();
    const ttl = checkTtl(ttlMs);
    const bytes = encodeEntry(envelope, this.codec, this.limits);
    const tags = tagIndexKeys(key, envelope);
    for (let attempt = 0; attempt < GET_OR_SET_ATTEMPTS; attempt++) {
      const existing = await this.run('getOrSet', key, () => this.scripts.getOrSet(key.full, tags, bytes, ttl));
      if (existing === null || existing === undefined) return { envelope, set: true };
      // Present by its header but undecodable: it has been deleted now, so the next attempt writes.
      const current = await this.decodeOrDrop(key, existing);
      if (current !== undefined) return { envelope: current, set: false };
    }
    throw this.fail('getOrSet', key, new DecodeError(`the present entry stayed undecodable over ${GET_OR_SET_ATTEMPTS} attempts`));
  }

  async compareAndSet(key: StorageKey, expectedStamp: string | null, envelope: Envelope, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    const ttl = checkTtl(ttlMs);
    const bytes = encodeEntry(envelope, this.codec, this.limits);
    const tags = tagIndexKeys(key, envelope);
    // '' stands for "no entry expected": a real stamp is never empty.
    const expected = expectedStamp ?? '';
    for (let attempt = 0; attempt < GET_OR_SET_ATTEMPTS; attempt++) {
      const wrote = await this.run('compareAndSet', key, () => this.scripts.compareAndSet(key.full, tags, bytes, ttl, expected));
      if (wrote || expectedStamp !== null) return wrote;
      // "No entry present" lost to an entry whose header looks valid; if its payload does not
      // decode (another tenant's entry, corrupt bytes) it is no entry: drop it and try again.
      const current = await this.run('compareAndSet', key, () => this.client.getBuffer(key.full));
      if (current !== null && (await this.decodeOrDrop(key, current)) !== undefined) return false;
    }
    return false;
  }

  async clearScope(scope: KeyScope): Promise<void> {
    await this.purgeScope(scope);
  }

  async purgeScope(scope: KeyScope): Promise<number> {
    // Many commands (SCAN, deletes): each is bounded by the timeout, not the whole purge.
    return this.run('purgeScope', undefined, () => clearScopeKeys(this.client, this.keyPrefix, scope, (names) => this.scripts.delete(names), this.commandTimeout), false);
  }

  async invalidateTags(tagKeys: readonly StorageKey[]): Promise<void> {
    this.assertOpen();
    if (tagKeys.length === 0) return;
    await Promise.all(tagIndexKeysByScope(tagKeys).map((keys) => this.run('invalidateTags', undefined, () => this.scripts.invalidateTags(keys))));
  }

  /** Redis cannot count one scope's entries without a scan, so this is always `undefined`. */
  scopeSize(_scope: KeyScope): number | undefined {
    return undefined;
  }

  /** A PING within `commandTimeout`; `degraded` while Redis has refused a write for memory lately (`FULL_MEMORY_WINDOW_MS`). */
  async health(): Promise<StoreHealth> {
    if (this.closed) return { ok: false, detail: 'the store is closed' };
    const health = await this.lifecycle.health(this.commandTimeout);
    const sinceFull = performance.now() - this.fullAt;
    if (!health.ok || sinceFull > FULL_MEMORY_WINDOW_MS) return health;
    return {
      ...health,
      degraded: `Redis at ${this.lifecycle.address} is full: it refused a write ${(sinceFull / 1000).toFixed(1)} s ago (OOM: maxmemory reached, and its maxmemory-policy evicts nothing); reads are still served. Fix: set maxmemory-policy to allkeys-lru, or raise maxmemory`,
    };
  }

  stats(): StoreStats {
    return { entries: undefined, bytes: undefined, evictions: 0, decodeErrors: this.decodeErrors, errors: this.errors };
  }

  /** Idempotent. Quits a client the store created (bounded by `closeTimeout`, then drops it); leaves a given client open. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    // Gets issued before close() still go out: close() refuses new calls, not those already made.
    this.gets.flush();
    await this.lifecycle.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new CacheClosedError('Redis store');
  }

  /**
   * Runs one client call: rejects after close, lets the first calls wait for the first
   * connection, bounds the call by `commandTimeout` from now (see `withDeadline`; `whole: false`
   * for calls of many commands that bound each one), and turns failures into typed errors,
   * counted (see `fail`).
   */
  private async run<T>(op: string, key: StorageKey | undefined, call: () => Promise<T>, whole = true): Promise<T> {
    this.assertOpen();
    const issuedAt = performance.now();
    try {
      // Once connected (the usual case) there is nothing to wait for.
      if (!this.lifecycle.connected()) {
        await withDeadline(this.lifecycle.firstConnection(), this.commandTimeout, () => this.notConnected());
        this.assertOpen();
      }
      const work = invoke(call);
      return await (whole ? withDeadline(work, this.commandTimeout - (performance.now() - issuedAt), commandTimedOut) : work);
    } catch (err) {
      if (err instanceof CacheClosedError && this.closed) throw err;
      throw this.fail(op, key, err);
    }
  }

  /** A call waited its whole timeout for the first connection; later ones fail fast until it is up. */
  private notConnected(): Error {
    this.lifecycle.giveUpInitialWait();
    return new Error(`Redis at ${this.lifecycle.address} isn't ready: no connection within the command timeout of ${this.commandTimeout} ms`);
  }

  /**
   * Counts a failed call and types its error: unreachable, timed out, full, or another error
   * reply. Not logged: the caller gets the rejection and reports it (the cache layer, once per
   * burst); logging here too would make each failure two lines. The client's own 'error' events
   * (the connection going down) are logged by the lifecycle.
   */
  private fail(op: string, key: StorageKey | undefined, err: unknown): CacheError {
    this.errors++;
    // On a Cluster: the node the call went to, and a slot-map refresh (it may have failed over).
    const address = (key !== undefined ? this.routes?.nodeOf(key.scope) : undefined) ?? this.lifecycle.address;
    const timedOut = isTimeout(err);
    const unreachable = !timedOut && this.lifecycle.isConnectionError(err);
    if (unreachable || timedOut) this.routes?.failed();
    if (unreachable) return new CacheConnectionError(op, address, { cause: err });
    const hash = key === undefined ? undefined : keyHash(key);
    if (timedOut) return new CacheTimeoutError(`redis ${op}`, hash, address, this.commandTimeout, { cause: err });
    if (isOutOfMemory(err)) {
      this.fullAt = performance.now();
      return new CacheStoreFullError(`redis ${op}`, hash, address, { cause: err });
    }
    return new CacheOperationError(`redis ${op}`, hash, { cause: err });
  }

  private decodeReply(key: StorageKey, bytes: Buffer | null | undefined): GetReply {
    if (bytes === null || bytes === undefined) return undefined;
    return this.decodeOrDrop(key, bytes);
  }

  /**
   * The decoded entry, synchronously; or, for bytes that fail to decode, a promise of `undefined`
   * that settles once the entry is deleted (only if it still holds these bytes), so a caller that
   * saw the miss also sees the delete done. A failed delete is counted and reported, never thrown.
   */
  private decodeOrDrop(key: StorageKey, bytes: Buffer): Envelope | Promise<undefined> {
    const remembered = this.decodedResponses.recall(key.full, bytes);
    if (remembered !== undefined) return remembered;
    let envelope: Envelope;
    try {
      envelope = decodeEntry(bytes, this.codecs, key.scope.id, this.limits);
    } catch (err) {
      return this.drop(key, bytes, err);
    }
    this.decodedResponses.keep(key.full, bytes, envelope);
    return envelope;
  }

  private async drop(key: StorageKey, bytes: Buffer, err: unknown): Promise<undefined> {
    const error = err instanceof DecodeError ? err : new DecodeError(errorText(err), { cause: err });
    this.decodeErrors++;
    try {
      this.observer?.decodeFailed?.(key, error);
    } catch {
      // Observers must not throw; if one does, the read still is a miss.
    }
    // Delete only if it still holds these bytes, so a concurrent good write is not lost.
    try {
      await withDeadline(this.scripts.compareAndDelete(key.full, bytes), this.commandTimeout, commandTimedOut);
    } catch (deleteErr) {
      // Nobody else sees this failure (the read already resolved as a miss): log it here.
      this.reporter.report('redis delete undecodable entry', this.fail('delete undecodable entry', key, deleteErr).message);
    }
    return undefined;
  }
}

function commandTimedOut(): Error {
  return new Error(COMMAND_TIMED_OUT);
}

/** Redis takes whole milliseconds: a fractional TTL is rounded up, never down to "no expiry". */
function checkTtl(ttlMs: number): number {
  return Math.ceil(checkStoreTtl(ttlMs));
}

/** Creates a `RedisStore`; the same as `new RedisStore(options)`. */
export function createRedisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}
