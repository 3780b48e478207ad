import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { CacheOperationError } from '../../lib/errors/cache.errors.js';
import { KeyScope, siblingKey, storageKey, type StorageKey } from '../../lib/keys/storage-key.js';
import { REDIS_STORE_DEFAULTS } from '../../lib/stores/redis-store-options.js';
import { RedisStore } from '../../lib/stores/redis.store.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';

/**
 * "A write reported failed is never applied": for every write path, pause redis-server
 * (SIGSTOP: it keeps the connection, the command waits in its socket), issue the write, see it
 * rejected after the command timeout, resume (SIGCONT: Redis now runs the command), and check
 * that Redis did not apply it. Before write deadlines, each of these writes landed on SIGCONT
 * (the control row shows a plain ioredis SET still does).
 */

const COMMAND_TIMEOUT = 300;
/** Timer and scheduling lag allowed on a busy 2-core machine on top of the command timeout. */
const LAG_MS = 300;
/** The default margin: the stores below use the defaults, apart from a shorter command timeout. */
const MARGIN = REDIS_STORE_DEFAULTS.writeDeadlineMargin;
const quiet = { warn: vi.fn(), error: vi.fn() };
/** The ioredis settings RedisStore gives the clients it creates (redis-client.factory.ts), for a client of the test's own. */
const STORE_LIKE = { commandTimeout: COMMAND_TIMEOUT, enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false, enableAutoPipelining: true };

function envelope<T>(key: StorageKey, value: T, extra: Partial<Envelope<T>> = {}): Envelope<T> {
  return { value, createdAt: Date.now(), expiresAt: 0, stamp: newStamp(), scope: key.scope.id, ...extra };
}

/** Settles `promise`, failing the test (instead of hanging it) if it takes longer than `ms`. */
async function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang guard: did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

describeWithRedis('a write reported failed is never applied (redis-server paused with SIGSTOP, then resumed)', () => {
  let server: RedisServer;
  let raw: Redis;
  let store: RedisStore;
  const scope = KeyScope.of('deadline', 'acme');

  const untilHealthy = (s: RedisStore): Promise<void> =>
    vi.waitFor(
      async () => {
        expect((await s.health()).ok).toBe(true);
      },
      { timeout: 15_000, interval: 50 },
    );

  /** How many writes Redis refused as late (the scripts' `NTC_LATE` error replies), from INFO errorstats. */
  const lateRefusals = async (): Promise<number> => Number(/errorstat_NTC_LATE:count=(\d+)/.exec(String(await raw.info('errorstats')))?.[1] ?? 0);

  /**
   * Runs `write` against the paused server (paused here, or by `write` itself when `pauses`),
   * expects the timeout rejection, resumes, and waits until `via` has a reply to a PING sent on
   * the same connection after the write, so Redis has run the write by then. Returns what to print.
   */
  async function timedOutWrite(write: () => Promise<unknown>, via: RedisStore = store, pauses = false): Promise<{ elapsedMs: number; refused: number }> {
    const before = await lateRefusals();
    if (!pauses) server.pause();
    const started = performance.now();
    let error: unknown;
    try {
      await settlesWithin(write(), 10_000);
    } catch (err) {
      error = err;
    } finally {
      server.resume();
    }
    const elapsedMs = Math.round(performance.now() - started);
    expect(error).toBeInstanceOf(CacheOperationError);
    expect(((error as Error).cause as Error).message).toBe('Command timed out');
    // ioredis starts its timer when it writes the command, after we started ours: never sooner.
    // And never much later: the store's own deadline (redis-command.deadline.ts) rejects the
    // call the command timeout after its issue, whatever ioredis does; what is left is timer lag.
    expect(elapsedMs).toBeGreaterThanOrEqual(COMMAND_TIMEOUT - 2);
    expect(elapsedMs).toBeLessThan(COMMAND_TIMEOUT + LAG_MS);
    await untilHealthy(via);
    return { elapsedMs, refused: (await lateRefusals()) - before };
  }

  const report = (op: string, figures: { elapsedMs: number; refused: number }, state: string): void => {
    console.log(
      `[write deadline] ${op}: rejected after ${figures.elapsedMs} ms (commandTimeout ${COMMAND_TIMEOUT} ms, deadline issue + ${COMMAND_TIMEOUT - MARGIN} ms); ` +
        `on SIGCONT Redis ran it and refused it (NTC_LATE +${figures.refused}); ${state}`,
    );
  };

  beforeAll(async () => {
    server = await startRedis();
    raw = new Redis(server.port, server.host);
    store = new RedisStore({ url: server.url, commandTimeout: COMMAND_TIMEOUT, logger: quiet });
    await untilHealthy(store);
  });
  afterAll(async () => {
    server?.resume();
    await store?.close();
    raw?.disconnect();
    await server?.stop();
  });

  it('control: a plain ioredis SET that timed out the same way IS applied on SIGCONT (so the rows below would catch a late write)', async () => {
    const key = storageKey(scope, 'entry', 'control');
    await raw.set(key.full, 'old');
    const plain = new Redis({ host: server.host, port: server.port, ...STORE_LIKE });
    plain.on('error', () => undefined);
    try {
      await vi.waitFor(() => plain.ping(), { timeout: 10_000, interval: 20 });
      server.pause();
      const started = performance.now();
      const outcome = await settlesWithin(plain.set(key.full, 'new').then(() => 'resolved', (err: Error) => err.message), 10_000);
      const elapsedMs = Math.round(performance.now() - started);
      server.resume();
      expect(outcome).toBe('Command timed out');
      await plain.ping(); // same connection: the SET has run
      expect(await raw.get(key.full)).toBe('new');
      console.log(`[write deadline] control, plain SET: rejected after ${elapsedMs} ms, applied on SIGCONT (value now 'new')`);
    } finally {
      server.resume();
      plain.disconnect();
    }
  });

  it('set: the entry keeps its old value', async () => {
    const key = storageKey(scope, 'entry', 'set');
    const old = envelope(key, 'old');
    await store.set(key, old, 60_000);
    const figures = await timedOutWrite(() => store.set(key, envelope(key, 'new'), 60_000));
    expect((await store.get(key))?.stamp).toBe(old.stamp);
    expect(figures.refused).toBe(1);
    report('set', figures, "the entry still holds 'old'");
  });

  it('set with tags and HTTP metadata: the entry keeps its old value and no tag gains a version key', async () => {
    const key = storageKey(scope, 'entry', 'set-tagged');
    const oldTag = siblingKey(key, 'tag', 'old-tag');
    const newTag = siblingKey(key, 'tag', 'new-tag');
    const old = envelope(key, 'old', { tags: ['old-tag'] });
    await store.set(key, old, 60_000);
    const oldVersion = await raw.get(oldTag.full);
    const http = { status: 200, etag: '"v2"', headers: [['content-type', 'application/json']] as const };
    const figures = await timedOutWrite(() => store.set(key, envelope(key, '{"v":2}', { tags: ['old-tag', 'new-tag'], http }), 60_000));
    const now = await store.get(key);
    expect(now?.stamp).toBe(old.stamp);
    expect(now?.http).toBeUndefined();
    expect(await raw.exists(newTag.full)).toBe(0);
    expect(await raw.get(oldTag.full)).toBe(oldVersion);
    expect(figures.refused).toBe(1);
    report('set with tags + http', figures, "the entry still holds 'old' without HTTP metadata; tag 'new-tag' has no version key");
  });

  it('getOrSet and compareAndSet: nothing is written', async () => {
    const absent = storageKey(scope, 'entry', 'get-or-set');
    const first = await timedOutWrite(() => store.getOrSet(absent, envelope(absent, 'new'), 60_000));
    expect(await raw.exists(absent.full)).toBe(0);
    expect(first.refused).toBe(1);
    report('getOrSet', first, 'the key still does not exist');

    const key = storageKey(scope, 'entry', 'cas');
    const old = envelope(key, 'old');
    await store.set(key, old, 60_000);
    const second = await timedOutWrite(() => store.compareAndSet(key, old.stamp, envelope(key, 'new'), 60_000));
    expect((await store.get(key))?.stamp).toBe(old.stamp);
    expect(second.refused).toBe(1);
    report('compareAndSet', second, "the entry still holds 'old'");
  });

  it('delete: the entry still exists', async () => {
    const key = storageKey(scope, 'entry', 'delete');
    const old = envelope(key, 'old');
    await store.set(key, old, 60_000);
    const figures = await timedOutWrite(() => store.delete(key));
    expect((await store.get(key))?.stamp).toBe(old.stamp);
    expect(figures.refused).toBe(1);
    report('delete', figures, 'the entry still exists');
  });

  it('invalidateTags: the tagged entries still read and the tag keeps its version; a later invalidation works', async () => {
    const keys = ['a', 'b'].map((k) => storageKey(scope, 'entry', `tagged-${k}`));
    const tag = siblingKey(keys[0]!, 'tag', 'product:1');
    for (const key of keys) await store.set(key, envelope(key, 'old', { tags: ['product:1'] }), 60_000);
    const version = await raw.get(tag.full);
    const figures = await timedOutWrite(() => store.invalidateTags([tag]));
    for (const key of keys) expect((await store.get(key))?.value).toBe('old');
    expect(await raw.get(tag.full)).toBe(version);
    expect(figures.refused).toBe(1);
    await store.invalidateTags([tag]);
    for (const key of keys) expect(await store.get(key)).toBeUndefined();
    report('invalidateTags', figures, "both entries still read 'old' and the tag's version is unchanged (a later invalidateTags makes both misses)");
  });

  it('clearScope: the scope keeps its epoch, its entries still read', async () => {
    const cleared = KeyScope.of('deadline', 'not-cleared');
    const keys = ['a', 'b'].map((k) => storageKey(cleared, 'entry', k));
    for (const key of keys) await store.set(key, envelope(key, 'old'), 60_000);
    const epochKey = storageKey(cleared, 'meta', 'epoch').full;
    const epoch = await raw.get(epochKey);
    const figures = await timedOutWrite(() => store.clearScope(cleared));
    for (const key of keys) expect((await store.get(key))?.value).toBe('old');
    expect(await raw.get(epochKey)).toBe(epoch);
    expect(figures.refused).toBe(1);
    report('clearScope', figures, 'both entries still read (the epoch is unchanged)');
  });

  it('purgeScope: a delete batch that timed out after its SCAN deletes nothing (the scope reads as cleared already)', async () => {
    // A client of the test's own, so it can pause the server between the SCAN (a read: harmless
    // if late) and the delete batch that follows it.
    const own = new Redis({ host: server.host, port: server.port, ...STORE_LIKE });
    own.on('error', () => undefined);
    const owner = new RedisStore({ client: own, logger: quiet });
    const clearScope = KeyScope.of('deadline', 'cleared');
    const keys = ['a', 'b', 'c'].map((k) => storageKey(clearScope, 'entry', k));
    try {
      await untilHealthy(owner);
      for (const key of keys) await owner.set(key, envelope(key, 'old'), 60_000);
      const scan = own.scanBuffer.bind(own);
      const spy = vi.spyOn(own, 'scanBuffer').mockImplementation((async (...args: Parameters<typeof scan>) => {
        const reply = await scan(...args);
        server.pause();
        return reply;
      }) as typeof own.scanBuffer);
      const figures = await timedOutWrite(() => owner.purgeScope(clearScope), owner, true);
      spy.mockRestore();
      expect(await raw.exists(...keys.map((k) => k.full))).toBe(3);
      for (const key of keys) expect(await owner.get(key)).toBeUndefined();
      expect(figures.refused).toBe(1);
      report('purgeScope', figures, 'all 3 keys of the scope still exist (they read as misses: the purge set a new epoch before its scan)');
    } finally {
      server.resume();
      await owner.close();
      own.disconnect();
    }
  });

  it('acquireLock takes no lock nobody would release; releaseLock frees nothing', async () => {
    const lock = storageKey(scope, 'lock', 'report');
    const acquired = await timedOutWrite(() => store.acquireLock(lock, 'late-holder', 30_000));
    expect(await raw.exists(lock.full)).toBe(0);
    expect(acquired.refused).toBe(1);
    expect(await store.acquireLock(lock, 'next-holder', 30_000)).toBe(true);
    report('acquireLock', acquired, 'no lock was taken (the next caller acquires it at once)');

    const released = await timedOutWrite(() => store.releaseLock(lock, 'next-holder'));
    expect(await raw.get(lock.full)).toBe('next-holder');
    expect(released.refused).toBe(1);
    report('releaseLock', released, 'the lock is still held by its token (it expires by its TTL)');
  });
});

