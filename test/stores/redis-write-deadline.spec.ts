import { Cluster, Redis, ReplyError } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { CacheConfigError, CacheOperationError } from '../../lib/errors/cache.errors.js';
import { KeyScope, siblingKey, storageKey, type StorageKey } from '../../lib/keys/storage-key.js';
import { REDIS_STORE_DEFAULTS, resolveRedisStoreOptions } from '../../lib/stores/redis-store-options.js';
import { RedisStore } from '../../lib/stores/redis.store.js';
import { RedisKeyNames } from '../../lib/stores/redis/redis-key.names.js';
import { RedisScripts } from '../../lib/stores/redis/redis.scripts.js';
import { CLOCK_BEHIND, commandTimeoutOf, LATE_WRITE, WriteDeadlines } from '../../lib/stores/redis/write-deadline.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';

const quiet = { warn: vi.fn(), error: vi.fn() };
const T = REDIS_STORE_DEFAULTS.commandTimeout;
const M = REDIS_STORE_DEFAULTS.writeDeadlineMargin;

function envelope<T>(key: StorageKey, value: T, extra: Partial<Envelope<T>> = {}): Envelope<T> {
  return { value, createdAt: Date.now(), expiresAt: 0, stamp: newStamp(), scope: key.scope.id, ...extra };
}

describe('write deadlines: the window and the options', () => {
  it('deadline = issue + commandTimeout − margin, notBefore = issue − margin; none without a command timeout', () => {
    expect(new WriteDeadlines(500, 100, () => 1_000_000).window()).toEqual([1_000_400, 999_900]);
    expect(new WriteDeadlines(undefined, 100, () => 1_000_000).window()).toEqual([0, 0]);
  });

  it("reads the client's own command timeout (per node on a Cluster)", () => {
    const plain = new Redis({ lazyConnect: true });
    const timed = new Redis({ lazyConnect: true, commandTimeout: 250 });
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true, redisOptions: { commandTimeout: 350 } });
    try {
      expect(commandTimeoutOf(plain)).toBeUndefined();
      expect(commandTimeoutOf(timed)).toBe(250);
      expect(commandTimeoutOf(cluster)).toBe(350);
    } finally {
      for (const client of [plain, timed, cluster]) client.disconnect();
    }
  });

  it('sends its write scripts at once (outside the auto-pipeline) without touching the ignore list other clients share', () => {
    const own = new Redis({ lazyConnect: true, commandTimeout: 500, autoPipeliningIgnoredCommands: ['hget'] });
    const store = new RedisStore({ client: own, logger: quiet });
    const other = new Redis({ lazyConnect: true });
    try {
      expect(own.options.autoPipeliningIgnoredCommands).toEqual(expect.arrayContaining(['hget', 'ntcRead', 'ntcSet', 'ntcGetOrSet', 'ntcCompareAndSet', 'ntcDelete', 'ntcAcquireLock', 'ntcInvalidateTags', 'ntcClearScope', 'ntcTombstone']));
      expect(other.options.autoPipeliningIgnoredCommands).toEqual([]);
    } finally {
      void store.close();
      for (const client of [own, other]) client.disconnect();
    }
  });

  it('refuses a margin that is not below the command timeout, naming the option, at start-up and for a client of your own', () => {
    const url = 'redis://127.0.0.1:1';
    expect(() => resolveRedisStoreOptions({ url, commandTimeout: 100 }, 'store.')).toThrow(/"store\.writeDeadlineMargin": 100 ms is not below the commandTimeout of 100 ms/);
    expect(() => resolveRedisStoreOptions({ url, commandTimeout: 300, writeDeadlineMargin: 300 }, 'store.')).toThrow(CacheConfigError);
    expect(() => resolveRedisStoreOptions({ options: { port: 1, commandTimeout: 80 } }, 'store.')).toThrow(/commandTimeout of 80 ms/);
    expect(() => resolveRedisStoreOptions({ url, writeDeadlineMargin: 0 }, 'store.')).toThrow(/"store\.writeDeadlineMargin": expected a positive integer/);
    expect(resolveRedisStoreOptions({ url, commandTimeout: 50, writeDeadlineMargin: 20 }).writeDeadlineMargin).toBe(20);

    const own = new Redis({ lazyConnect: true, commandTimeout: 80 });
    try {
      expect(() => new RedisStore({ client: own, logger: quiet })).toThrow(/"writeDeadlineMargin": 100 ms is not below the client's commandTimeout of 80 ms/);
      expect(own.status).toBe('wait'); // not ours: left as it was
    } finally {
      own.disconnect();
    }
  });
});

describeWithRedis('write deadlines against a real redis-server', () => {
  let server: RedisServer;
  let raw: Redis;
  let store: RedisStore;
  const scope = KeyScope.of('ddl', 'acme');
  const realNow = Date.now.bind(Date);

  const errorstat = async (code: string): Promise<number> => Number(new RegExp(`errorstat_${code}:count=(\\d+)`).exec(String(await raw.info('errorstats')))?.[1] ?? 0);
  const redisNow = async (): Promise<number> => {
    const [s, us] = (await raw.time()) as [number | string, number | string];
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  };
  /** This host's clock, as the store reads it, `offsetMs` away from the real one (Redis runs on this host). */
  const skewHostClock = (offsetMs: number): void => {
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offsetMs);
  };

  beforeAll(async () => {
    server = await startRedis();
    raw = new Redis(server.port, server.host);
    store = new RedisStore({ url: server.url, logger: quiet });
    await vi.waitFor(async () => expect((await store.health()).ok).toBe(true), { timeout: 15_000, interval: 50 });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await store?.close();
    raw?.disconnect();
    await server?.stop();
  });

  it('a write issued in time applies normally, on every write path', async () => {
    const [late, clock] = [await errorstat(LATE_WRITE), await errorstat(CLOCK_BEHIND)];
    const key = storageKey(scope, 'entry', 'in-time');
    const tagged = storageKey(scope, 'entry', 'in-time-tagged');
    const tag = siblingKey(tagged, 'tag', 't');
    const first = envelope(key, 1);
    await store.set(key, first, 60_000);
    expect((await store.get(key))?.stamp).toBe(first.stamp);
    await store.set(tagged, envelope(tagged, 'x', { tags: ['t'], http: { status: 200, etag: '"e"', headers: [] } }), 60_000);
    expect(await raw.get(tag.full)).toMatch(/^\d+$/); // the tag's version key, created with the entry (at the tenant's clock)
    const second = envelope(key, 2);
    expect(await store.compareAndSet(key, first.stamp, second, 60_000)).toBe(true);
    expect((await store.getOrSet(key, envelope(key, 3), 60_000)).envelope.stamp).toBe(second.stamp);
    expect(await store.delete(key)).toBe(true);
    expect((await store.getOrSet(key, envelope(key, 4), 60_000)).set).toBe(true);
    await store.invalidateTags([tag]);
    expect(await store.get(tagged)).toBeUndefined();
    const lock = storageKey(scope, 'lock', 'l');
    expect(await store.acquireLock(lock, 'a', 10_000)).toBe(true);
    expect(await store.acquireLock(lock, 'b', 10_000)).toBe(false);
    await store.releaseLock(lock, 'a');
    expect(await raw.exists(lock.full)).toBe(0);
    // The entry, the invalidated tagged entry and the tag's version; clock and epoch stay as a tombstone.
    expect(await store.purgeScope(scope)).toBe(3);
    expect((await raw.keys('ddl:*')).sort()).toEqual([storageKey(scope, 'meta', 'clock').full, storageKey(scope, 'meta', 'epoch').full]);
    expect([await errorstat(LATE_WRITE), await errorstat(CLOCK_BEHIND)]).toEqual([late, clock]);
  });

  it("Redis compares the deadline with its own clock: one already past by Redis TIME is refused, one just ahead applies", async () => {
    const client = new Redis(server.port, server.host);
    try {
      const base = await redisNow();
      let issued = 0;
      // Pinned so deadline = issued + 300 − 100 = Redis TIME (read above) + (issued − base + 200).
      const scripts = new RedisScripts(client, '', new WriteDeadlines(300, 100, () => issued), undefined);
      const meta = new RedisKeyNames('').meta(scope);
      const key = storageKey(scope, 'entry', 'pinned');
      issued = base - 201; // deadline = base − 1: already past when the script runs
      const refused = await scripts.set(key, Buffer.from('late'), 60_000, meta, undefined).then(() => undefined, (err: unknown) => err);
      expect(refused).toBeInstanceOf(ReplyError);
      expect((refused as Error).message).toMatch(new RegExp(`^${LATE_WRITE} `));
      expect(await raw.exists(key.full)).toBe(0);
      issued = (await redisNow()) - 100; // deadline 100 ms ahead of Redis TIME; notBefore 200 ms behind it
      await scripts.set(key, Buffer.from('on time'), 60_000, meta, undefined);
      expect(await raw.get(key.full)).toBe('on time');
    } finally {
      client.disconnect();
    }
  });

  // The store's default timeout and margin (500 ms, 100 ms); Redis runs on this host, so a skew
  // is simulated by moving the clock the store reads. Each offset keeps >= 40 ms from its bound.
  it.each([
    ["Redis 60 ms behind this host (within the margin): applies", 60, 'applied'],
    ["Redis 300 ms ahead of this host (within commandTimeout − margin): applies", -300, 'applied'],
    ["Redis 250 ms behind this host (beyond the margin): refused at once as a clock error, not applied", 250, CLOCK_BEHIND],
    ["Redis 450 ms ahead of this host (beyond commandTimeout − margin): refused at once as late, not applied", -450, LATE_WRITE],
  ] as const)('%s', async (_label, hostAheadMs, expected) => {
    const key = storageKey(scope, 'entry', `skew${hostAheadMs}`);
    const before = expected === 'applied' ? 0 : await errorstat(expected);
    skewHostClock(hostAheadMs);
    const started = performance.now();
    const outcome = await store.set(key, envelope(key, 'v'), 60_000).then(() => undefined, (err: unknown) => err);
    const elapsedMs = Math.round(performance.now() - started);
    vi.restoreAllMocks();
    if (expected === 'applied') {
      expect(outcome).toBeUndefined();
      expect(await raw.exists(key.full)).toBe(1);
    } else {
      expect(outcome).toBeInstanceOf(CacheOperationError);
      expect(((outcome as Error).cause as Error).message).toMatch(new RegExp(`^${expected} `));
      expect((outcome as Error).message).toContain('writeDeadlineMargin');
      // Refused by Redis, not timed out: the reply came back well within the command timeout.
      expect(elapsedMs).toBeLessThan(T);
      expect(await raw.exists(key.full)).toBe(0);
      expect((await errorstat(expected)) - before).toBe(1);
    }
    console.log(`[write deadline] host clock ${hostAheadMs > 0 ? '+' : ''}${hostAheadMs} ms vs Redis (margin ${M} ms, commandTimeout ${T} ms): ${expected}, in ${elapsedMs} ms`);
  });

  it('a write issued right before the event loop stalls past commandTimeout − margin (but not past commandTimeout) still applies: it is written out at once, not with the next auto-pipeline', async () => {
    // 1000 ms timeout, 500 ms margin: the deadline is issue + 500 ms; the loop stalls 700 ms.
    // Sent in the next auto-pipeline (after the stall), Redis would run it past its deadline
    // and refuse it although the client still waited for it.
    const stalled = new RedisStore({ url: server.url, commandTimeout: 1_000, writeDeadlineMargin: 500, logger: quiet });
    try {
      const key = storageKey(scope, 'entry', 'stall');
      await stalled.set(key, envelope(key, 'warm-up'), 60_000);
      const written = stalled.set(key, envelope(key, 'during a stall'), 60_000);
      const until = performance.now() + 700;
      while (performance.now() < until) {
        // a synchronous stall, as a burst of request callbacks in one event-loop turn makes
      }
      await written;
      expect((await stalled.get(key))?.value).toBe('during a stall');
    } finally {
      await stalled.close();
    }
  });

  it('a client of your own without commandTimeout never times a write out, so its writes carry no deadline', async () => {
    const own = new Redis(server.port, server.host);
    const mine = new RedisStore({ client: own, logger: quiet });
    try {
      const key = storageKey(scope, 'entry', 'no-timeout');
      skewHostClock(-3_600_000);
      await mine.set(key, envelope(key, 'v'), 60_000);
      vi.restoreAllMocks();
      expect(await raw.exists(key.full)).toBe(1);
    } finally {
      await mine.close();
      own.disconnect();
    }
  });
});
