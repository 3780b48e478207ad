import { Cluster, type Redis } from 'ioredis';
import type { Codec } from '../envelope/codecs/codec.interface.js';
import type { DecodeLimits } from '../envelope/decode-limits.js';
import type { Envelope } from '../envelope/envelope.js';
import { decodeEntry, encodeEntry } from '../envelope/wire.js';
import { CacheClosedError, CacheConnectionError, CacheOperationError, DecodeError, type CacheError } from '../errors/cache.errors.js';
import { keyHash, type KeyScope, type StorageKey } from '../keys/storage-key.js';
import { consoleLogger, ErrorReporter } from '../utils/error-reporter.js';
import type { CacheStore, StoreGetOrSetResult, StoreHealth, StoreObserver, StoreStats } from './cache-store.interface.js';
import type { RedisStoreOptions } from './redis-store-options.interface.js';
import { resolveRedisStoreOptions } from './redis-store-options.js';
import { checkStoreTtl } from './store-ttl.js';
import { DecodedResponseMemo } from './redis/decoded-response.memo.js';
import { setUpRedisClient } from './redis/redis-client.factory.js';
import { RedisClientLifecycle } from './redis/redis-client.lifecycle.js';
import { RedisGetBatcher, type GetReply } from './redis/redis-get.batcher.js';
import { clearScopeKeys } from './redis/redis-scope.clear.js';
import { errorText } from './redis/redis.failures.js';
import { RedisScripts } from './redis/redis.scripts.js';
import { tagIndexKeys, tagIndexKeysByScope } from './redis/tag-index.keys.js';
import { WriteDeadlines } from './redis/write-deadline.js';

/** Attempts of `getOrSet` when the present entry turns out to be undecodable (it is deleted in between). */
const GET_OR_SET_ATTEMPTS = 3;

/**
 * A `CacheStore` on Redis (standalone or Cluster) through ioredis.
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
 * - Failures reject with `CacheConnectionError` (server unreachable) or `CacheOperationError`
 *   (timeout, script error; with the key hash, never the key), are counted in `stats().errors`
 *   and logged once per burst. An entry whose bytes fail to decode is a miss: it is deleted (only
 *   if it still holds the same bytes), counted in `decodeErrors` and reported to the observer.
 */
export class RedisStore implements CacheStore {
  readonly kind = 'redis';

  private readonly client: Redis | Cluster;
  private readonly lifecycle: RedisClientLifecycle;
  private readonly scripts: RedisScripts;
  private readonly gets: RedisGetBatcher;
  private readonly decodedResponses = new DecodedResponseMemo();
  private readonly keyPrefix: string;
  private readonly codec: Codec;
  private readonly codecs: ReadonlyMap<string, Codec>;
  private readonly limits: DecodeLimits;
  private readonly reporter: ErrorReporter;
  private readonly observer: StoreObserver | undefined;
  private readonly healthTimeout: number;

  private closed = false;
  private closing: Promise<void> | undefined;
  private decodeErrors = 0;
  private errors = 0;

  constructor(options: RedisStoreOptions) {
    const resolved = resolveRedisStoreOptions(options);
    this.healthTimeout = Math.max(resolved.commandTimeout, 1_000);
    this.limits = resolved.limits;
    this.codec = resolved.codec;
    this.codecs = resolved.codecs;
    this.reporter = resolved.reporter ?? new ErrorReporter(resolved.logger === false ? undefined : (resolved.logger ?? consoleLogger));
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
    this.lifecycle = new RedisClientLifecycle(client, owned, address, this.reporter, resolved);
    this.scripts = new RedisScripts(client, keyPrefix, deadlines);
    this.gets = new RedisGetBatcher(
      client,
      client instanceof Cluster,
      (key, bytes) => this.decodeReply(key, bytes),
      (key, err) => this.fail('get', key, err),
    );
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

  async clearScope(scope: KeyScope): Promise<number> {
    return this.run('clearScope', undefined, () => clearScopeKeys(this.client, this.keyPrefix, scope, (names) => this.scripts.delete(names)));
  }

  async invalidateTags(tagKeys: readonly StorageKey[]): Promise<number> {
    this.assertOpen();
    if (tagKeys.length === 0) return 0;
    const counts = await Promise.all(tagIndexKeysByScope(tagKeys).map((keys) => this.run('invalidateTags', undefined, () => this.scripts.invalidateTags(keys))));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Redis cannot count one scope's entries without a scan, so this is always `undefined`. */
  scopeSize(_scope: KeyScope): number | undefined {
    return undefined;
  }

  async health(): Promise<StoreHealth> {
    if (this.closed) return { ok: false, detail: 'the store is closed' };
    return this.lifecycle.health(this.healthTimeout);
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
   * Runs one client call: rejects after close, waits (once, bounded) for the first connection,
   * and turns failures into `CacheConnectionError`/`CacheOperationError`, counted and reported.
   */
  private async run<T>(op: string, key: StorageKey | undefined, call: () => Promise<T>): Promise<T> {
    this.assertOpen();
    // Once connected (the usual case) there is nothing to wait for: no extra promise step.
    if (!this.lifecycle.connected()) {
      await this.lifecycle.waitForInitialConnection();
      this.assertOpen();
    }
    try {
      return await call();
    } catch (err) {
      throw this.fail(op, key, err);
    }
  }

  /**
   * Counts a failed call and types its error. Not logged: the caller gets the rejection and
   * reports it (the cache layer, once per burst); logging here too would make each failure two lines.
   * The client's own 'error' events (the connection going down) are logged by the lifecycle.
   */
  private fail(op: string, key: StorageKey | undefined, err: unknown): CacheError {
    this.errors++;
    if (this.lifecycle.isConnectionError(err)) return new CacheConnectionError(op, this.lifecycle.address, { cause: err });
    return new CacheOperationError(`redis ${op}`, key === undefined ? undefined : keyHash(key), { cause: err });
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
      await this.scripts.compareAndDelete(key.full, bytes);
    } catch (deleteErr) {
      // Nobody else sees this failure (the read already resolved as a miss): log it here.
      this.reporter.report('redis delete undecodable entry', this.fail('delete undecodable entry', key, deleteErr).message);
    }
    return undefined;
  }
}

/** Redis takes whole milliseconds: a fractional TTL is rounded up, never down to "no expiry". */
function checkTtl(ttlMs: number): number {
  return Math.ceil(checkStoreTtl(ttlMs));
}

/** Creates a `RedisStore`; the same as `new RedisStore(options)`. */
export function createRedisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}
