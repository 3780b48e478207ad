import { Cluster, Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { Codec } from '../envelope/codecs/codec.interface.js';
import type { DecodeLimits } from '../envelope/decode-limits.js';
import type { Envelope } from '../envelope/envelope.js';
import { escapeGlob, keyHash, scopePattern, siblingKey, type KeyScope, type StorageKey } from '../keys/storage-key.js';
import { decodeEntry, encodeEntry } from '../envelope/wire.js';
import {
  CacheClosedError,
  CacheConfigError,
  CacheConnectionError,
  CacheError,
  CacheOperationError,
  DecodeError,
  InvalidTtlError,
} from '../errors/cache.errors.js';
import type { CacheStore, StoreGetOrSetResult, StoreHealth, StoreObserver, StoreStats } from './cache-store.interface.js';
import type {
  RedisClientConnection,
  RedisClusterConnection,
  RedisOptionsConnection,
  RedisStoreOptions,
  RedisUrlConnection,
} from './redis-store-options.interface.js';
import { consoleLogger, ErrorReporter } from '../utils/error-reporter.js';
import { resolveRedisStoreOptions } from './redis-store-options.js';
import { RedisScripts } from './redis.scripts.js';

/** Keys per UNLINK in `clearScope`: big enough to be cheap, small enough not to block Redis. */
const UNLINK_BATCH = 500;
const SCAN_COUNT = 1_000;
/** Attempts of `getOrSet` when the present entry turns out to be undecodable (it is deleted in between). */
const GET_OR_SET_ATTEMPTS = 3;

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const CONNECTION_MESSAGE_RE =
  /Connection is closed|Stream isn't writeable|enableOfflineQueue|isn't ready|None of startup nodes|Failed to refresh slots|MaxRetriesPerRequest|ECONNREFUSED|ECONNRESET|EPIPE|connect ETIMEDOUT/;

/** Capped exponential backoff with jitter: quick first retries, never more than ~2 s apart. */
function cappedBackoff(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 10), 2_000) + Math.floor(Math.random() * 100);
}

/** Decoded HTTP responses kept for re-reads (see `decodedResponses`): at most this many... */
const DECODED_RESPONSES = 1_000;
/** ...and at most this many bytes (stored bytes plus 2 bytes per character of the body). */
const DECODED_RESPONSES_BYTES = 8 * 1024 * 1024;
/** Larger responses are decoded on every read: parsing dominates less, memory would more. */
const DECODED_RESPONSE_MAX_BYTES = 64 * 1024;

/** Freezes a decoded HTTP response envelope (its value is a string or null already). */
function freezeResponse(envelope: Envelope): Envelope {
  const http = envelope.http;
  if (http !== undefined) {
    for (const header of http.headers) Object.freeze(header);
    Object.freeze(http.headers);
    Object.freeze(http);
  }
  if (envelope.tags !== undefined) Object.freeze(envelope.tags);
  return Object.freeze(envelope);
}

/** Keys per MGET at most: a bound on one command, so one batch cannot hog the connection. */
const MAX_MGET_KEYS = 256;
/**
 * Bytes one MGET reply should stay under: with large entries (up to `maxPayloadBytes`, 1 MiB by
 * default) 256 keys could make one reply of 256 MiB that every get of the batch waits for. The
 * keys per MGET follow the average size of the values read so far (see `mgetKeys`).
 */
const MGET_TARGET_BYTES = 1024 * 1024;

/** A `get()` waiting for the next flush. */
interface PendingGet {
  readonly key: StorageKey;
  readonly resolve: (value: Envelope | undefined | Promise<undefined>) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * A `CacheStore` on Redis (standalone or Cluster) through ioredis.
 *
 * - Entries are bytes in the wire format of wire.ts (JSON by default, CBOR or a custom codec);
 *   reads accept both built-in codecs.
 * - `getOrSet`, `compareAndSet`, tagged writes, tag invalidation and the delete of undecodable
 *   entries are Lua scripts (redis.scripts.ts), each confined to one scope's hash slot.
 * - When the store creates the client it applies cache defaults: commands time out quickly, no
 *   offline queue, no resend of unanswered commands, auto-pipelining. A store given a `client`
 *   does not own it: `close()` leaves it open.
 * - Failures reject with `CacheConnectionError` (server unreachable) or `CacheOperationError`
 *   (timeout, script error; with the key hash, never the key), are counted in `stats().errors`
 *   and logged once per burst. An entry whose bytes fail to decode is a miss: it is deleted (only
 *   if it still holds the same bytes), counted in `decodeErrors` and reported to the observer.
 */
export class RedisStore implements CacheStore {
  readonly kind = 'redis';

  private readonly client: Redis | Cluster;
  private readonly scripts: RedisScripts;
  private readonly owned: boolean;
  private readonly address: string;
  private readonly keyPrefix: string;
  private readonly codec: Codec;
  private readonly codecs: ReadonlyMap<string, Codec>;
  private readonly limits: DecodeLimits;
  private readonly reporter: ErrorReporter;
  private readonly observer: StoreObserver | undefined;
  private readonly connectTimeout: number;
  private readonly closeTimeout: number;
  private readonly healthTimeout: number;

  private closed = false;
  private closing: Promise<void> | undefined;
  /**
   * Stored HTTP responses decoded lately, with the bytes they were decoded from: a hit on a hot
   * response re-reads it from Redis (so it is never stale) but decodes it only when its bytes
   * changed. Only immutable entries (a string body, frozen metadata) are kept, since every
   * reader gets the same object.
   */
  private readonly decodedResponses = new LRUCache<string, { readonly bytes: Buffer; readonly envelope: Envelope }>({
    max: DECODED_RESPONSES,
    maxSize: DECODED_RESPONSES_BYTES,
    sizeCalculation: (memo) => memo.bytes.length + 2 * ((memo.envelope.value as string | null)?.length ?? 0) + 1,
  });
  /** Gets waiting for the next flush, by hash-tag group (one group on a standalone server). */
  private pendingGets: Map<string, PendingGet[]> | undefined;
  /** Average bytes of the values read (a moving average; 0 until one was read). */
  private averageValueBytes = 0;
  /** Keys per MGET: `MGET_TARGET_BYTES` over the average value size, from 1 to `MAX_MGET_KEYS`. */
  private mgetKeys = MAX_MGET_KEYS;
  private readonly isCluster: boolean;
  private everReady = false;
  private initialWait: Promise<void> | undefined;
  private decodeErrors = 0;
  private errors = 0;

  /** Whether the connection is up as far as the client said last ('ready' until 'close'). */
  private up = false;

  private readonly onReady = (): void => {
    this.everReady = true;
    this.up = true;
  };
  /** A connection that was up went down: a state change no caller is told about, so it is logged here. */
  private readonly onClose = (): void => {
    if (!this.up || this.closed) return;
    this.up = false;
    this.reporter.report(`redis connection ${this.address}`, `Redis at ${this.address}: connection lost. The cache serves misses until it is reachable again.`);
  };
  /**
   * The client's 'error' events: the connection failing or going down, which no caller sees as
   * such. One line per burst, per server (a manager's reporter may serve several stores).
   */
  private readonly onError = (err: unknown): void => {
    this.reporter.report(`redis connection ${this.address}`, `Redis at ${this.address}: ${errorText(err)}. The cache serves misses until it is reachable again.`);
  };

  constructor(options: RedisStoreOptions) {
    const resolved = resolveRedisStoreOptions(options);
    // Loosely typed: the union was checked (exactly one way to connect) by the resolver.
    const opts = resolved.connection as Partial<RedisUrlConnection & RedisOptionsConnection & RedisClusterConnection & RedisClientConnection>;
    const commandTimeout = resolved.commandTimeout;
    this.connectTimeout = resolved.connectTimeout;
    this.closeTimeout = resolved.closeTimeout;
    this.healthTimeout = Math.max(commandTimeout, 1_000);
    this.limits = resolved.limits;
    this.codec = resolved.codec;
    this.codecs = resolved.codecs;
    this.reporter = resolved.reporter ?? new ErrorReporter(resolved.logger === false ? undefined : (resolved.logger ?? consoleLogger));
    this.observer = resolved.observer;

    const nodeDefaults: RedisOptions = {
      commandTimeout, // a cache answers fast or not at all: a slow Redis must not slow every request
      connectTimeout: this.connectTimeout, // bound the TCP connect so a black-holed host fails fast
      enableOfflineQueue: false, // no unbounded queue while disconnected: commands fail fast and the cache serves misses
      maxRetriesPerRequest: 1, // a cache read is not worth many reconnect attempts; fail and move on
      autoResendUnfulfilledCommands: false, // a timed-out write must never run again (late) after a reconnect
      enableAutoPipelining: true, // batches concurrent commands into one round trip
      autoPipeliningIgnoredCommands: ['mget'], // our gets are batched already (flushGets): send at once
      retryStrategy: cappedBackoff, // keep reconnecting forever, but with a capped backoff
    };

    let client: Redis | Cluster;
    if (opts.url !== undefined) {
      client = new Redis(opts.url, nodeDefaults);
      this.owned = true;
    } else if (opts.options !== undefined) {
      client = new Redis({ ...nodeDefaults, ...opts.options });
      this.owned = true;
    } else if (opts.cluster !== undefined) {
      const { nodes, options: clusterOptions } = opts.cluster;
      const { enableOfflineQueue: _q, enableAutoPipelining: _p, retryStrategy: _r, ...perNode } = nodeDefaults;
      const merged: ClusterOptions = {
        enableOfflineQueue: false, // see nodeDefaults: fail fast while the cluster is not ready
        enableAutoPipelining: true, // batches concurrent commands per node
        autoPipeliningIgnoredCommands: ['mget'], // see nodeDefaults
        clusterRetryStrategy: cappedBackoff, // capped backoff when no startup node answers
        slotsRefreshTimeout: this.connectTimeout, // bound the slot map refresh like a connect
        ...clusterOptions,
        redisOptions: { ...perNode, ...clusterOptions?.redisOptions },
      };
      client = new Cluster([...nodes], merged);
      this.owned = true;
    } else {
      client = opts.client as Redis | Cluster;
      if (!(client instanceof Redis) && !(client instanceof Cluster)) {
        throw new CacheConfigError('client', 'it is not an ioredis Redis or Cluster instance', 'pass a client created with new Redis(...) or new Cluster(...) from ioredis');
      }
      this.owned = false;
    }
    this.address = describeAddress(client, opts.url);
    try {
      this.keyPrefix = readKeyPrefix(client);
    } catch (err) {
      // Refused after connecting: do not leave our client reconnecting in the background.
      if (this.owned) client.disconnect();
      throw err;
    }
    this.everReady = this.up = client.status === 'ready';
    client.on('ready', this.onReady);
    client.on('close', this.onClose);
    // An 'error' event without a listener would crash the process; log it once per burst instead.
    client.on('error', this.onError);
    if (client instanceof Cluster) client.on('node error', this.onError);
    this.client = client;
    this.isCluster = client instanceof Cluster;
    this.scripts = new RedisScripts(client, this.keyPrefix);
  }

  /**
   * Once connected, gets are batched: those issued until the next `setImmediate` (when ioredis
   * would send them anyway) go out as one MGET, and each reply is decoded synchronously. An
   * undecodable entry resolves `undefined` after its delete (see `decodeOrDrop`).
   */
  get(key: StorageKey): Promise<Envelope | undefined> {
    if (this.closed) return Promise.reject(new CacheClosedError('Redis store'));
    if (!this.connected()) return this.run('get', key, () => this.client.getBuffer(key.full)).then((bytes) => this.decodeReply(key, bytes));
    return new Promise((resolve, reject) => {
      let batches = this.pendingGets;
      if (batches === undefined) {
        batches = this.pendingGets = new Map();
        // The same moment ioredis's auto-pipelining would send a GET (it waits for setImmediate
        // too), so batching adds no latency; our MGET itself is sent at once (see nodeDefaults).
        setImmediate(this.flushGets);
      }
      // One MGET per scope: all keys of a scope share one hash tag, so one Cluster slot.
      const group = this.isCluster ? key.scope.id : '';
      const batch = batches.get(group);
      if (batch === undefined) batches.set(group, [{ key, resolve, reject }]);
      else batch.push({ key, resolve, reject });
    });
  }

  /**
   * Sends the gets issued since the last flush, as one MGET per scope (at most `mgetKeys` keys
   * each). Concurrent gets then cost one command, one reply and one
   * promise in the client instead of one each: more than the decoding they all still need.
   */
  private readonly flushGets = (): void => {
    const batches = this.pendingGets;
    this.pendingGets = undefined;
    if (batches === undefined) return;
    const size = this.mgetKeys;
    for (const batch of batches.values()) {
      if (batch.length <= size) this.mget(batch);
      else for (let i = 0; i < batch.length; i += size) this.mget(batch.slice(i, i + size));
    }
  };

  private learnValueSizes(values: readonly (Buffer | null)[]): void {
    let bytes = 0;
    let found = 0;
    for (const value of values) {
      if (value !== null && value !== undefined) {
        bytes += value.length;
        found++;
      }
    }
    if (found === 0) return;
    const average = bytes / found;
    // Moves a quarter of the way per reply: one odd reply does not swing the batch size.
    this.averageValueBytes = this.averageValueBytes === 0 ? average : this.averageValueBytes + (average - this.averageValueBytes) / 4;
    this.mgetKeys = Math.max(1, Math.min(MAX_MGET_KEYS, Math.floor(MGET_TARGET_BYTES / this.averageValueBytes)));
  }

  private mget(batch: readonly PendingGet[]): void {
    let reply: Promise<(Buffer | null)[]>;
    try {
      const fulls = new Array<string>(batch.length);
      for (let i = 0; i < batch.length; i++) fulls[i] = batch[i]!.key.full;
      reply = this.client.mgetBuffer(fulls);
    } catch (err) {
      for (const get of batch) get.reject(this.fail('get', get.key, err));
      return;
    }
    reply.then(
      (values) => {
        this.learnValueSizes(values);
        for (let i = 0; i < batch.length; i++) {
          const get = batch[i]!;
          try {
            get.resolve(this.decodeReply(get.key, values[i]));
          } catch (err) {
            get.reject(err);
          }
        }
      },
      (err: unknown) => {
        for (const get of batch) get.reject(this.fail('get', get.key, err));
      },
    );
  }

  private decodeReply(key: StorageKey, bytes: Buffer | null | undefined): Envelope | undefined | Promise<undefined> {
    if (bytes === null || bytes === undefined) return undefined;
    return this.decodeOrDrop(key, bytes);
  }

  async set(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<void> {
    this.assertOpen();
    const ttl = checkTtl(ttlMs);
    const bytes = encodeEntry(envelope, this.codec, this.limits);
    const tags = this.tagKeys(key, envelope);
    await this.run('set', key, async (): Promise<void> => {
      if (tags.length > 0) await this.scripts.setTagged(key.full, tags, bytes, ttl);
      else if (ttl > 0) await this.client.set(key.full, bytes, 'PX', ttl);
      else await this.client.set(key.full, bytes);
    });
  }

  /** `SET key token NX PX ttl`: one holder at a time, gone by itself after `ttlMs`. */
  async acquireLock(key: StorageKey, token: string, ttlMs: number): Promise<boolean> {
    const reply = await this.run('acquireLock', key, () => this.client.set(key.full, token, 'PX', Math.max(1, Math.floor(ttlMs)), 'NX'));
    return reply === 'OK';
  }

  /** Deletes the lock only while `token` holds it (compare-and-delete), so a late release never frees another holder's lock. */
  async releaseLock(key: StorageKey, token: string): Promise<void> {
    await this.run('releaseLock', key, () => this.scripts.compareAndDelete(key.full, Buffer.from(token)));
  }

  async delete(key: StorageKey): Promise<boolean> {
    const n = await this.run('delete', key, () => this.client.unlink(key.full));
    return n > 0;
  }

  async getOrSet(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<StoreGetOrSetResult> {
    this.assertOpen();
    const ttl = checkTtl(ttlMs);
    const bytes = encodeEntry(envelope, this.codec, this.limits);
    const tags = this.tagKeys(key, envelope);
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
    const tags = this.tagKeys(key, envelope);
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
    // SCAN ignores ioredis keyPrefix: match on the prefixed name ourselves.
    const pattern = escapeGlob(this.keyPrefix) + scopePattern(scope);
    return this.run('clearScope', undefined, async () => {
      const nodes: Redis[] = this.client instanceof Cluster ? this.client.nodes('master') : [this.client as Redis];
      const counts = await Promise.all(nodes.map((node) => this.clearOnNode(node, pattern)));
      return counts.reduce((a, b) => a + b, 0);
    });
  }

  async invalidateTags(tagKeys: readonly StorageKey[]): Promise<number> {
    this.assertOpen();
    if (tagKeys.length === 0) return 0;
    // One script per scope: the keys of a scope share a hash slot, those of two scopes may not.
    const byScope = new Map<string, Set<string>>();
    for (const tagKey of tagKeys) {
      const id = `${tagKey.scope.namespace}:${tagKey.scope.id}`;
      let keys = byScope.get(id);
      if (keys === undefined) byScope.set(id, (keys = new Set()));
      keys.add(tagKey.full);
    }
    const counts = await Promise.all(
      [...byScope.values()].map((keys) => this.run('invalidateTags', undefined, () => this.scripts.invalidateTags([...keys]))),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Redis cannot count one scope's entries without a scan, so this is always `undefined`. */
  scopeSize(_scope: KeyScope): number | undefined {
    return undefined;
  }

  async health(): Promise<StoreHealth> {
    if (this.closed) return { ok: false, detail: 'the store is closed' };
    try {
      await this.waitForInitialConnection();
      const started = performance.now();
      await withTimeout(this.client.ping(), this.healthTimeout, 'PING timed out');
      return { ok: true, latencyMs: Math.round((performance.now() - started) * 1000) / 1000 };
    } catch (err) {
      return { ok: false, detail: `Redis at ${this.address}: ${errorText(err)}` };
    }
  }

  stats(): StoreStats {
    return { entries: undefined, bytes: undefined, evictions: 0, decodeErrors: this.decodeErrors, errors: this.errors };
  }

  /** Idempotent. Quits a client the store created (bounded by `closeTimeout`, then drops it); leaves a given client open. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    this.flushGets(); // gets issued before close() are sent, as they were before batching
    this.client.off('ready', this.onReady);
    this.client.off('close', this.onClose);
    if (!this.owned) {
      // Not ours: leave it connected and hand its error events back to its owner.
      this.client.off('error', this.onError);
      if (this.client instanceof Cluster) this.client.off('node error', this.onError);
      return;
    }
    try {
      await withTimeout(this.client.quit(), this.closeTimeout, 'QUIT timed out');
    } catch {
      // Down or slow: dropping the connection below is all that is left to do.
    }
    // Our error listener stays: a late socket error on a client nobody listens to would crash the app.
    this.client.disconnect();
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
    if (!this.connected()) {
      await this.waitForInitialConnection();
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
   * The client's own 'error' events (the connection going down) are logged by `onError`.
   */
  private fail(op: string, key: StorageKey | undefined, err: unknown): CacheError {
    this.errors++;
    if (this.isConnectionError(err)) return new CacheConnectionError(op, this.address, { cause: err });
    return new CacheOperationError(`redis ${op}`, key === undefined ? undefined : keyHash(key), { cause: err });
  }

  private isConnectionError(err: unknown): boolean {
    const e = err as { name?: unknown; code?: unknown; message?: unknown } | null;
    const message = typeof e?.message === 'string' ? e.message : '';
    if (e?.name === 'ReplyError' || message.includes('Command timed out')) return false;
    if (typeof e?.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
    if (e?.name === 'MaxRetriesPerRequestError' || e?.name === 'ClusterAllFailedError' || CONNECTION_MESSAGE_RE.test(message)) return true;
    return this.client.status !== 'ready';
  }

  /** The first connection is up (or was: later disconnects fail fast, they are not waited for). */
  private connected(): boolean {
    return this.everReady || this.client.status === 'ready';
  }

  /**
   * Without an offline queue, a command sent before the first connection is up fails at once.
   * So the first calls wait for that connection, once and at most `connectTimeout`; afterwards
   * (and after any later disconnect) commands fail fast.
   */
  private waitForInitialConnection(): Promise<void> {
    if (this.connected()) return Promise.resolve();
    this.initialWait ??= new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.client.off('ready', done);
        this.client.off('end', done);
        resolve();
      };
      const timer = setTimeout(done, this.connectTimeout);
      timer.unref();
      this.client.once('ready', done);
      this.client.once('end', done);
      if (this.owned && this.client.status === 'wait') this.client.connect().catch(() => undefined);
    });
    return this.initialWait;
  }

  /**
   * The decoded entry, synchronously; or, for bytes that fail to decode, a promise of `undefined`
   * that settles once the entry is deleted (only if it still holds these bytes), so a caller that
   * saw the miss also sees the delete done. A failed delete is counted and reported, never thrown.
   */
  private decodeOrDrop(key: StorageKey, bytes: Buffer): Envelope | Promise<undefined> {
    const memo = this.decodedResponses.get(key.full);
    // The very bytes decoded before: the same envelope (a memcmp instead of a decode).
    if (memo !== undefined && memo.bytes.equals(bytes)) return memo.envelope;
    let envelope: Envelope;
    try {
      envelope = decodeEntry(bytes, this.codecs, key.scope.id, this.limits);
    } catch (err) {
      return this.drop(key, bytes, err);
    }
    if (envelope.http !== undefined && (typeof envelope.value === 'string' || envelope.value === null) && bytes.length <= DECODED_RESPONSE_MAX_BYTES) {
      // A copy: the reply is a view into the client's read buffer, which it would keep alive.
      this.decodedResponses.set(key.full, { bytes: Buffer.from(bytes), envelope: freezeResponse(envelope) });
    }
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

  private tagKeys(key: StorageKey, envelope: Envelope): string[] {
    if (envelope.tags === undefined || envelope.tags.length === 0) return [];
    return [...new Set(envelope.tags.map((tag) => siblingKey(key, 'tag', tag).full))];
  }

  private async clearOnNode(node: Redis, pattern: string): Promise<number> {
    // SCAN returns the stored names (with the prefix); UNLINK through the client adds the
    // client's own prefix again, so strip exactly that one.
    const nodePrefix = Buffer.from(readKeyPrefix(node), 'utf8');
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, found] = await node.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
      cursor = next.toString();
      const names = found.filter((name) => name.subarray(0, nodePrefix.length).equals(nodePrefix)).map((name) => name.subarray(nodePrefix.length));
      for (let i = 0; i < names.length; i += UNLINK_BATCH) {
        deleted += await node.unlink(...names.slice(i, i + UNLINK_BATCH));
      }
    } while (cursor !== '0');
    return deleted;
  }
}

function checkTtl(ttlMs: number): number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < 0) throw new InvalidTtlError(ttlMs, 'ttlMs');
  return Math.ceil(ttlMs);
}

function readKeyPrefix(client: Redis | Cluster): string {
  const prefix: unknown = (client.options as { keyPrefix?: unknown }).keyPrefix;
  if (prefix === undefined || prefix === null || prefix === '') return '';
  if (typeof prefix !== 'string') throw new CacheConfigError('keyPrefix', 'a Buffer key prefix is not supported', 'use a string keyPrefix');
  // The first {...} of a key is its Cluster hash tag; a brace in the prefix would take over the
  // tenant's tag and split one tenant's keys over slots (scripts would fail with CROSSSLOT).
  if (/[{}]/.test(prefix)) throw new CacheConfigError('keyPrefix', `${JSON.stringify(prefix)} contains a brace`, 'use a prefix without { or }, e.g. "myapp:"');
  return prefix;
}

function describeAddress(client: Redis | Cluster, url: string | undefined): string {
  // Host and port only: URLs and options may carry passwords.
  if (client instanceof Cluster) {
    const nodes = (client as unknown as { startupNodes?: Array<{ host?: string; port?: number } | string | number> }).startupNodes ?? [];
    const shown = nodes.slice(0, 3).map((n) => (typeof n === 'object' ? `${n.host ?? 'localhost'}:${n.port ?? 6379}` : String(n)));
    return `cluster ${shown.join(',')}${nodes.length > 3 ? ',…' : ''}`;
  }
  if (url !== undefined) {
    try {
      const parsed = new URL(url);
      return `${parsed.hostname}:${parsed.port || '6379'}`;
    } catch {
      // fall through to the client's parsed options
    }
  }
  const o = client.options as { host?: string; port?: number; path?: string };
  return o.path ? o.path : `${o.host ?? 'localhost'}:${o.port ?? 6379}`;
}

function errorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.slice(0, 200);
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Creates a `RedisStore`; the same as `new RedisStore(options)`. */
export function createRedisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}
