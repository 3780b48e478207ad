import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { KeyScope, storageKey, type StorageKey } from '../../lib/keys/storage-key.js';
import type { StoreBasis } from '../../lib/stores/cache-store.interface.js';
import { busChannel } from '../../lib/stores/tiered/bus-connections.js';
import { encodeBusMessage } from '../../lib/stores/tiered/bus-message.js';
import { ChaosStore } from '../helpers/chaos.store.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { describeStoreConformance } from '../helpers/store-conformance.js';
import { eventually, tieredStore, type TieredFixture, type TieredFixtureOptions } from '../helpers/tiered-fixture.js';

function envelope<T>(key: StorageKey, value: T, tags?: string[]): Envelope<T> {
  return { value, createdAt: Date.now(), expiresAt: Date.now() + 60_000, stamp: newStamp(), scope: key.scope.id, ...(tags ? { tags } : {}) };
}

/** Holds the replies of chosen L2 calls (the call itself goes to Redis at once) until released: an answer overtaken in flight. */
class LateReplies extends ChaosStore {
  holding = false;
  private readonly held: Array<() => void> = [];
  private later<T>(work: Promise<T>): Promise<T> {
    if (!this.holding) return work;
    // Held only if still holding when it answers: a release before then lets it through.
    return work.then((value) => (this.holding ? new Promise<T>((resolve) => this.held.push(() => resolve(value))) : value));
  }
  /** Answers held now. */
  get waiting(): number {
    return this.held.length;
  }
  releaseReplies(): void {
    this.holding = false;
    for (const go of this.held.splice(0)) go();
  }
  override get(key: StorageKey): Promise<Envelope | undefined> {
    return this.later(this.inner.get(key));
  }
  override set(key: StorageKey, env: Envelope, ttlMs: number, basis?: StoreBasis): Promise<boolean | void> {
    return this.later(super.set(key, env, ttlMs, basis));
  }
}

describeWithRedis('TieredStore (memory L1 over Redis L2, invalidation bus)', () => {
  let server: RedisServer;
  let raw: Redis;
  const open: TieredFixture[] = [];
  const ns = (): string => `tiered-${randomBytes(4).toString('hex')}`;
  const make = async (opts: Partial<TieredFixtureOptions> = {}): Promise<TieredFixture> => {
    const fixture = await tieredStore({ l2: { url: server.url }, ...opts });
    open.push(fixture);
    return fixture;
  };

  beforeAll(async () => {
    server = await startRedis();
    raw = new Redis(server.url);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((f) => f.store.close()));
  });
  afterAll(async () => {
    raw?.disconnect();
    await server?.stop();
  });

  describeStoreConformance('tiered', async () => {
    const { store } = await tieredStore({ l2: { url: server.url } });
    return { store, flush: async () => void (await raw.flushdb()), teardown: () => store.close() };
  });

  it('an L1 hit is served synchronously; a miss reads L2 and fills L1 for the entry\'s remaining lifetime', async () => {
    const a = await make();
    const b = await make();
    const key = storageKey(KeyScope.of(ns(), 'acme'), 'entry', 'k');
    const env = envelope(key, { n: 1 });
    await a.store.set(key, env, 60_000);
    expect(a.store.getSync(key)?.stamp).toBe(env.stamp);
    expect(b.store.getSync(key)).toBeUndefined();
    // A's message for its own write may reach B during B's read, which then does not fill (it
    // cannot tell the message from a newer write): wait for it, as a later request would.
    await eventually('B heard A', () => b.store.stats().bus.applied === 1);
    expect((await b.store.get(key))?.stamp).toBe(env.stamp);
    expect(b.store.getSync(key)?.value).toEqual({ n: 1 });
    const ttl = await raw.pttl(key.full);
    expect(ttl).toBeGreaterThan(55_000);
  });

  it.each(['set', 'delete', 'tags', 'clear', 'purge'] as const)('a %s on one instance drops the entry from the L1 of another', async (op) => {
    const a = await make();
    const b = await make();
    const scope = KeyScope.of(ns(), 'acme');
    const key = storageKey(scope, 'entry', 'k');
    const other = storageKey(KeyScope.of(scope.namespace, 'other'), 'entry', 'k');
    await a.store.set(key, envelope(key, 1, ['t']), 60_000);
    await a.store.set(other, envelope(other, 1, ['t']), 60_000);
    await b.store.get(key);
    await b.store.get(other);
    expect(b.store.getSync(key)?.value).toBe(1);
    const before = b.store.stats().bus.applied;
    if (op === 'set') await a.store.set(key, envelope(key, 2), 60_000);
    if (op === 'delete') await a.store.delete(key);
    if (op === 'tags') await a.store.invalidateTags([storageKey(scope, 'tag', 't')]);
    if (op === 'clear') await a.store.clearScope(scope);
    if (op === 'purge') await a.store.purgeScope(scope);
    await eventually('B dropped the entry', () => b.store.getSync(key) === undefined);
    expect(b.store.stats().bus.applied).toBe(before + 1);
    // Another tenant's entry stays.
    expect(b.store.getSync(other)?.value).toBe(1);
    expect(a.store.stats().bus.ignored).toBeGreaterThan(0);
  });

  it('connects the bus as L2 connects: ioredis options with a keyPrefix (its own channel), and a client of your own (left open)', async () => {
    const client = new Redis(server.url);
    try {
      const a = await make({ l2: { options: { host: server.host, port: server.port, keyPrefix: 'app1:' } } });
      const b = await make({ l2: { client } });
      const c = await make({ l2: { url: server.url } });
      const other = await make({ l2: { options: { host: server.host, port: server.port, keyPrefix: 'app2:' } } });
      const key = storageKey(KeyScope.of(ns(), 'acme'), 'entry', 'k');
      await a.store.set(key, envelope(key, 1), 60_000);
      await b.store.set(key, envelope(key, 1), 60_000);
      await eventually('c heard b (same channel, no prefix)', () => c.store.stats().bus.applied === 1);
      expect(await raw.pubsub('CHANNELS', '*ntc:bus')).toEqual(expect.arrayContaining(['ntc:bus', 'app1:ntc:bus', 'app2:ntc:bus']));
      // a's message went to app1:ntc:bus: nobody else listens there.
      expect(a.store.stats().bus).toMatchObject({ sent: 1, ignored: 1 });
      expect(other.store.stats().bus.received).toBe(0);
      await b.store.close();
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });

  it('counts messages that are not ours (garbage, another version) and applies nothing', async () => {
    const b = await make();
    await raw.publish(busChannel(''), 'garbage');
    await raw.publish(busChannel(''), '[9,"x","c","ns",null]');
    await raw.publish(busChannel('other:'), encodeBusMessage('x', { op: 'clear', scope: KeyScope.of('ns', 'acme') }));
    await eventually('two malformed', () => b.store.stats().bus.malformed === 2);
    expect(b.store.stats().bus.applied).toBe(0);
  });

  it('an L2 read a change overtook in flight does not fill L1 (fills are poisoned by key, tag and scope)', async () => {
    for (const op of ['key', 'tags', 'clear'] as const) {
      let late!: LateReplies;
      const b = await make({ wrapL2: (redis) => (late = new LateReplies(redis)) });
      const a = await make();
      const scope = KeyScope.of(ns(), 'acme');
      const key = storageKey(scope, 'entry', 'k');
      await a.store.set(key, envelope(key, 'old', ['t']), 60_000);
      late.holding = true;
      const read = b.store.get(key);
      // B's read has gone to Redis (and answered 'old'); its answer is held while A changes the key.
      await eventually('B read', () => late.waiting === 1);
      if (op === 'key') await a.store.set(key, envelope(key, 'new'), 60_000);
      if (op === 'tags') await a.store.invalidateTags([storageKey(scope, 'tag', 't')]);
      if (op === 'clear') await a.store.clearScope(scope);
      await eventually('B heard it', () => b.store.stats().bus.applied === 1);
      late.releaseReplies();
      expect((await read)?.value).toBe('old');
      expect(b.store.getSync(key), op).toBeUndefined();
      expect((await b.store.get(key))?.value).toBe(op === 'key' ? 'new' : undefined);
    }
  });

  it('a write whose L2 reply a newer change overtook does not go into L1', async () => {
    let late!: LateReplies;
    const b = await make({ wrapL2: (redis) => (late = new LateReplies(redis)) });
    const a = await make();
    const key = storageKey(KeyScope.of(ns(), 'acme'), 'entry', 'k');
    late.holding = true;
    const write = b.store.set(key, envelope(key, 'b'), 60_000);
    await eventually('B wrote', () => late.waiting === 1);
    await a.store.set(key, envelope(key, 'a'), 60_000);
    await eventually('B heard A', () => b.store.stats().bus.applied === 1);
    late.releaseReplies();
    await write;
    expect(b.store.getSync(key)).toBeUndefined();
    expect((await b.store.get(key))?.value).toBe('a');
  });

  it('a write L2 fails is not applied to L1 and rejects, counted; L1 keeps serving its hits (fail-open)', async () => {
    let chaos!: ChaosStore;
    const a = await make({ wrapL2: (redis) => (chaos = new ChaosStore(redis)) });
    const scope = KeyScope.of(ns(), 'acme');
    const hit = storageKey(scope, 'entry', 'hit');
    await a.store.set(hit, envelope(hit, 'kept'), 60_000);
    chaos.failAll();
    const key = storageKey(scope, 'entry', 'k');
    await expect(a.store.set(key, envelope(key, 1), 60_000)).rejects.toMatchObject({ code: 'ERR_CACHE_CONNECTION' });
    await expect(a.store.getOrSet(key, envelope(key, 1), 60_000)).rejects.toBeDefined();
    await expect(a.store.compareAndSet(key, null, envelope(key, 1), 60_000)).rejects.toBeDefined();
    expect(a.store.getSync(key)).toBeUndefined();
    expect(a.store.getSync(hit)?.value).toBe('kept');
    expect((await a.store.get(hit))?.value).toBe('kept');
    await expect(a.store.get(key)).rejects.toBeDefined();
    expect(a.store.stats().errors).toBe(4);
  });

  it('hands each tier its own part of the composite basis', async () => {
    const seen: Array<StoreBasis | undefined> = [];
    /** An L2 with a basis of its own (the Redis store gets one with tag versions). */
    class WithBasis extends ChaosStore {
      override readonly basis = (scope: KeyScope): StoreBasis => ({ store: 'redis', value: scope.id });
      override set(key: StorageKey, env: Envelope, ttlMs: number, basis?: StoreBasis): Promise<boolean | void> {
        seen.push(basis);
        return super.set(key, env, ttlMs);
      }
    }
    const a = await make({ wrapL2: (redis) => new WithBasis(redis) });
    const scope = KeyScope.of(ns(), 'acme');
    const basis = await a.store.basis(scope);
    expect(basis).toMatchObject({ store: 'tiered', value: { l1: { store: 'memory' }, l2: { store: 'redis', value: scope.id } } });
    const key = storageKey(scope, 'entry', 'k');
    await a.store.set(key, envelope(key, 1), 60_000, basis);
    expect(seen).toEqual([{ store: 'redis', value: scope.id }]);
  });

  describe("l2Writes: 'background'", () => {
    it('a computation\'s write resolves once L1 holds it; one L2 then fails is taken out of L1, counted and logged once per burst', async () => {
      let late!: LateReplies;
      const a = await make({ l2Writes: 'background', wrapL2: (redis) => (late = new LateReplies(redis)) });
      const scope = KeyScope.of(ns(), 'acme');
      const basis = await a.store.basis(scope);
      const ok = storageKey(scope, 'entry', 'ok');
      late.holding = true;
      await a.store.set(ok, envelope(ok, 'ok'), 60_000, basis);
      expect(a.store.getSync(ok)?.value).toBe('ok');
      await eventually('L2 answered', () => late.waiting === 1);
      expect(await raw.exists(ok.full)).toBe(1);
      late.releaseReplies();
      await eventually('published', () => a.store.stats().bus.sent > 0);

      late.failAll();
      const keys = [1, 2, 3].map((i) => storageKey(scope, 'entry', `k${i}`));
      for (const key of keys) {
        await a.store.set(key, envelope(key, 'v'), 60_000, basis);
      }
      await eventually('taken back', () => keys.every((key) => a.store.getSync(key) === undefined));
      expect(a.store.stats()).toMatchObject({ errors: 3, backgroundWriteFailures: 3 });
      expect(a.logger.warn.mock.calls.filter(([line]) => String(line).includes('background write'))).toHaveLength(1);
      // A plain set (no basis) still waits for L2.
      await expect(a.store.set(keys[0]!, envelope(keys[0]!, 'v'), 60_000)).rejects.toBeDefined();
    });
  });
});
