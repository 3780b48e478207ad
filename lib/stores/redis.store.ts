import { Cluster, type Redis } from 'ioredis';
import type { Codec } from '../envelope/codecs/codec.interface.js';
import type { DecodeLimits } from '../envelope/decode-limits.js';
import type { Envelope } from '../envelope/envelope.js';
import { encodeEntry } from '../envelope/wire.js';
import { CacheClosedError } from '../errors/cache.errors.js';
import type { KeyScope, StorageKey } from '../keys/storage-key.js';
import { consoleLogger, ErrorReporter } from '../utils/error-reporter.js';
import type { CacheStore, StoreBasis, StoreGetOrSetResult, StoreHealth, StoreStats } from './cache-store.interface.js';
import type { RedisStoreOptions } from './redis-store-options.interface.js';
import { resolveRedisStoreOptions } from './redis-store-options.js';
import { ClusterRoutes } from './redis/cluster-routes.js';
import { checkTtl, redisBasis, type RedisBasis } from './redis/redis-basis.js';
import { RedisBulk } from './redis/redis-bulk.js';
import { setUpRedisClient } from './redis/redis-client.factory.js';
import { commandTimedOut, RedisCallRunner } from './redis/redis-call.runner.js';
import { withDeadline } from './redis/redis-command.deadline.js';
import { RedisClientLifecycle } from './redis/redis-client.lifecycle.js';
import { RedisEntryDecoder } from './redis/redis-entry.decoder.js';
import { RedisEntryReader } from './redis/redis-entry.reader.js';
import { RedisGetBatcher } from './redis/redis-get.batcher.js';
import { ReplySizer } from './redis/reply-sizer.js';
import { RedisKeyNames } from './redis/redis-key.names.js';
import { purgeScopeKeys } from './redis/redis-scope.purge.js';
import { RedisScripts, type RedisBus } from './redis/redis.scripts.js';
import { WriteDeadlines } from './redis/write-deadline.js';
import { busChannel } from './tiered/bus-message.js';

/**
 * How long after Redis last refused a write for memory (OOM) health says `degraded`, in
 * milliseconds; a write that succeeds ends it sooner. Long enough for a readiness or monitoring
 * probe every 10 s to see it; short enough to stop soon after memory was freed.
 */
export const FULL_MEMORY_WINDOW_MS = 30_000;

/**
 * What other parts of the library give a store they build, beside the user's options (not
 * public): `bus` makes every script that changes what other instances may hold in memory (a
 * write, a delete, an invalidation, a clear) also publish its bus message, in the same script.
 * @internal
 */
export interface RedisStoreInternals {
  /** The instance's bus origin; the channel defaults to `busChannel(<the client's keyPrefix>)`, where the tiered store listens. */
  readonly bus?: { readonly origin: string; readonly channel?: string };
}

/**
 * A `CacheStore` on Redis (standalone, Sentinel or Cluster) through ioredis. On a Cluster it
 * says which primary each scope's calls go to (`routeOf`), so the circuit breaker fails fast
 * per primary, and refreshes the slot map when a call finds its node failing.
 *
 * - Entries are bytes in the wire format of wire.ts (JSON by default, CBOR or a custom codec);
 *   reads accept both built-in codecs.
 * - Invalidation is O(1) per scope (redis/redis-entry.lua.ts): a tag invalidation stores one
 *   version per tag, a clear one epoch, whatever the number of entries; every read checks the
 *   entry against them in the same round trip (gets are batched: redis/redis-entry.reader.ts).
 * - Every write (set, delete, `getOrSet`, `compareAndSet`, tag invalidation, clear, the batches
 *   of a purge, locks, the delete of undecodable entries) is a Lua script (redis/redis.scripts.ts),
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
  private readonly decoder: RedisEntryDecoder;
  private readonly reader: RedisEntryReader;
  private readonly names: RedisKeyNames;
  private readonly keyPrefix: string;
  private readonly codec: Codec;
  private readonly limits: DecodeLimits;
  private reporter: ErrorReporter;
  /** Whether the options named a logger or a reporter (then a cache taking the store keeps them). */
  private readonly ownLogging: boolean;
  private readonly commandTimeout: number;
  private readonly calls: RedisCallRunner;
  private readonly bulk: RedisBulk;

  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(options: RedisStoreOptions, internals: RedisStoreInternals = {}) {
    const resolved = resolveRedisStoreOptions(options);
    this.commandTimeout = resolved.commandTimeout;
    this.limits = resolved.limits;
    this.codec = resolved.codec;
    this.reporter = resolved.reporter ?? new ErrorReporter(resolved.logger === false ? undefined : (resolved.logger ?? consoleLogger));
    this.ownLogging = resolved.reporter !== undefined || resolved.logger !== undefined;
    this.decoder = new RedisEntryDecoder(resolved.codecs, resolved.limits, resolved.observer, (key, bytes) => this.dropIfUnchanged(key, bytes));

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
    this.names = new RedisKeyNames(keyPrefix);
    this.lifecycle = new RedisClientLifecycle(client, owned, address, (kind, message) => this.reporter.report(kind, message), resolved);
    const bus: RedisBus | undefined = internals.bus === undefined ? undefined : { origin: internals.bus.origin, channel: internals.bus.channel ?? busChannel(keyPrefix) };
    this.scripts = new RedisScripts(client, keyPrefix, deadlines, bus);
    this.reader = new RedisEntryReader(this.names, (keys) => client.mgetBuffer(keys as string[]), (keys, epochNames) => this.scripts.read(keys, epochNames));
    this.routes = client instanceof Cluster ? new ClusterRoutes(client, keyPrefix, resolved.commandTimeout) : undefined;
    this.calls = new RedisCallRunner(this.lifecycle, this.routes, resolved.commandTimeout, () => this.closed);
    this.bulk = new RedisBulk(this.calls, this.reader, this.decoder, this.scripts, this.names);
    this.gets = new RedisGetBatcher(
      (keys) => this.reader.read(keys),
      client instanceof Cluster,
      (key, bytes) => this.decoder.reply(key, bytes),
      (key, err) => this.calls.fail('get', key, err),
      resolved.commandTimeout,
      new ReplySizer(),
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
   * Once connected, gets are batched (see `RedisGetBatcher`): one read per batch, which returns
   * only entries no clear or tag invalidation made unreadable (`RedisEntryReader`); each reply is decoded
   * synchronously. An undecodable entry resolves `undefined` after its delete (see `RedisEntryDecoder`).
   */
  get(key: StorageKey): Promise<Envelope | undefined> {
    if (this.closed) return Promise.reject(new CacheClosedError('Redis store'));
    if (!this.lifecycle.connected()) return this.calls.run('get', key, () => this.reader.read([key])).then(([bytes]) => this.decoder.reply(key, bytes));
    return this.gets.get(key);
  }

  /** Reads per hash slot (one per tenant) of up to 1,000 keys, fewer for large values, checked like `get` (redis/redis-bulk.ts). */
  getMany(keys: readonly StorageKey[]): Promise<Array<Envelope | undefined>> {
    return this.bulk.getMany(keys);
  }

  /** One script per hash slot (one per tenant) of up to 1,000 keys; each delete is said on the bus. */
  deleteMany(keys: readonly StorageKey[]): Promise<number> {
    return this.bulk.deleteMany(keys);
  }

  /** One script: the entry a read would have returned, deleted; exactly one of concurrent pulls gets it. */
  pull(key: StorageKey): Promise<Envelope | undefined> {
    return this.bulk.pull(key);
  }

  /**
   * The basis of a computation of `scope` starting now: the scope's clock (at least its last
   * version issued; see redis/redis-entry.lua.ts) and the Redis time it was read at. One script
   * call, no write.
   */
  async basis(scope: KeyScope): Promise<StoreBasis> {
    const meta = this.names.meta(scope);
    const value: RedisBasis = await this.calls.run('basis', meta.clock, () => this.scripts.basis(meta));
    return { store: 'redis', value };
  }

  /**
   * With the `basis` of its computation (this store's, else ignored), the write is not applied if
   * the scope was cleared or one of the entry's tags invalidated since, or if the basis is older
   * than the computation bound (`MAX_COMPUTATION_MS`); it resolves all the same.
   */
  async set(key: StorageKey, envelope: Envelope, ttlMs: number, basis?: StoreBasis): Promise<boolean> {
    this.assertOpen();
    const ttl = checkTtl(ttlMs);
    const given = redisBasis(basis);
    const bytes = encodeEntry(envelope, this.codec, this.limits, { basis: given?.clock ?? 0, tagKeys: this.names.tagNames(key, envelope) });
    // A basis this store did not make (another store's): when in doubt, do not store.
    if (basis !== undefined && given === undefined) return false;
    const applied = await this.calls.run('set', key, () => this.scripts.set(key, bytes, ttl, this.names.meta(key.scope), given?.at));
    // Redis took a write: it is not full (any more).
    this.calls.fullAt = Number.NEGATIVE_INFINITY;
    return applied;
  }

  /**
   * `SET key token NX PX ttl`: one holder at a time, gone by itself after `ttlMs`. Deadline-checked
   * like every write, so an acquisition that timed out never takes a lock nobody would release.
   */
  async acquireLock(key: StorageKey, token: string, ttlMs: number): Promise<boolean> {
    return this.calls.run('acquireLock', key, () => this.scripts.acquireLock(key.full, token, Math.max(1, Math.floor(ttlMs))));
  }

  /** Deletes the lock only while `token` holds it (compare-and-delete), so a late release never frees another holder's lock. */
  async releaseLock(key: StorageKey, token: string): Promise<void> {
    await this.calls.run('releaseLock', key, () => this.scripts.compareAndDelete(key.full, Buffer.from(token)));
  }

  /** Resolves whether the key held an entry a read would have returned (an invalidated one is deleted too, and does not count). */
  async delete(key: StorageKey): Promise<boolean> {
    return this.calls.run('delete', key, () => this.scripts.deleteEntry(key, this.names.meta(key.scope)));
  }

  async getOrSet(key: StorageKey, envelope: Envelope, ttlMs: number): Promise<StoreGetOrSetResult> {
    this.assertOpen();
    const ttl = checkTtl(ttlMs);
    return this.bulk.getOrSet(key, envelope, this.encode(key, envelope), ttl);
  }

  async compareAndSet(key: StorageKey, expectedStamp: string | null, envelope: Envelope, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    const ttl = checkTtl(ttlMs);
    return this.bulk.compareAndSet(key, expectedStamp, this.encode(key, envelope), ttl);
  }

  /** One script on the scope's slot (a new epoch), whatever the number of entries: they read as absent from now on and expire by themselves. */
  async clearScope(scope: KeyScope): Promise<void> {
    const meta = this.names.meta(scope);
    await this.calls.run('clearScope', meta.clock, () => this.scripts.clearScope(meta, { op: 'clear', scope }));
  }

  /**
   * Offboarding: a new epoch first (the scope reads as cleared from now on), then every key of the
   * scope deleted (`purgeScopeKeys`: SCAN on every primary, deletes of at most 100 keys, each a
   * deadline-checked script), then the clock and epoch left as a tombstone that expires after the
   * computation bound, so computations that started before the purge are still refused.
   * Resolves how many keys it deleted.
   */
  async purgeScope(scope: KeyScope): Promise<number> {
    const meta = this.names.meta(scope);
    const epoch = await this.calls.run('purgeScope', meta.clock, () => this.scripts.clearScope(meta, { op: 'clear', scope }));
    // Many commands (SCAN, deletes): each is bounded by the timeout, not the whole purge.
    const keep = [meta.clockName, meta.epochName];
    const deleted = await this.calls.run('purgeScope', meta.clock, () => purgeScopeKeys(this.client, this.keyPrefix, scope, keep, (names) => this.scripts.delete(names), this.commandTimeout), false);
    await this.calls.run('purgeScope', meta.clock, () => this.scripts.tombstone(meta, epoch));
    return deleted;
  }

  /** One script per scope (its tags' versions), whatever the number of entries carrying them. */
  async invalidateTags(tagKeys: readonly StorageKey[]): Promise<void> {
    this.assertOpen();
    if (tagKeys.length === 0) return;
    await Promise.all(
      this.names.tagGroups(tagKeys).map(({ scope, names, tags }) => {
        const meta = this.names.meta(scope);
        return this.calls.run('invalidateTags', meta.clock, () => this.scripts.invalidateTags(meta, names, { op: 'tags', scope, tags }));
      }),
    );
  }

  /** Redis cannot count one scope's entries without a scan, so this is always `undefined`. */
  scopeSize(_scope: KeyScope): number | undefined {
    return undefined;
  }

  /** A PING within `commandTimeout`; `degraded` while Redis has refused a write for memory lately (`FULL_MEMORY_WINDOW_MS`). */
  async health(): Promise<StoreHealth> {
    if (this.closed) return { ok: false, detail: 'the store is closed' };
    const health = await this.lifecycle.health(this.commandTimeout);
    const sinceFull = performance.now() - this.calls.fullAt;
    if (!health.ok || sinceFull > FULL_MEMORY_WINDOW_MS) return health;
    return {
      ...health,
      degraded: `Redis at ${this.lifecycle.address} is full: it refused a write ${(sinceFull / 1000).toFixed(1)} s ago (OOM: maxmemory reached, and its maxmemory-policy evicts nothing); reads are still served. Fix: set maxmemory-policy to allkeys-lru, or raise maxmemory`,
    };
  }

  stats(): StoreStats {
    return { entries: undefined, bytes: undefined, evictions: 0, decodeErrors: this.decoder.decodeErrors, errors: this.calls.errors };
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

  /** The bytes of an entry, its header naming its basis (0: the write's own clock) and tag-version keys. */
  private encode(key: StorageKey, envelope: Envelope): Buffer {
    return encodeEntry(envelope, this.codec, this.limits, { basis: 0, tagKeys: this.names.tagNames(key, envelope) });
  }

  /** Deletes an undecodable entry if it still holds `bytes`. A failed delete is counted and logged, never thrown: nobody else sees it (the read already resolved as a miss). */
  private async dropIfUnchanged(key: StorageKey, bytes: Buffer): Promise<void> {
    try {
      await withDeadline(this.scripts.compareAndDelete(key.full, bytes), this.commandTimeout, commandTimedOut);
    } catch (deleteErr) {
      this.reporter.report('redis delete undecodable entry', this.calls.fail('delete undecodable entry', key, deleteErr).message);
    }
  }
}

/** Creates a `RedisStore`; the same as `new RedisStore(options)`. */
export function createRedisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}
