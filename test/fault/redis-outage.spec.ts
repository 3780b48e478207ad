import { createServer, connect, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { keyHash, KeyScope, storageKey, type StorageKey } from '../../lib/keys/storage-key.js';
import { CacheConnectionError, CacheOperationError } from '../../lib/errors/cache.errors.js';
import type { StoreHealth } from '../../lib/stores/cache-store.interface.js';
import { RedisStore } from '../../lib/stores/redis.store.js';
import { describeWithRedis, freePort, startRedis, type RedisServer } from '../helpers/redis-server.js';

/** The user key is secret-looking on purpose: it must never show up in errors or logs. */
const SECRET = 'user:4242:ssn';
/** The command timeout of every store below but the one of the startup test. */
const COMMAND_TIMEOUT_MS = 200;
/** Timer and scheduling lag allowed on a busy 2-core machine on top of a command timeout. */
const LAG_MS = 300;

function envelope<T>(key: StorageKey, value: T): Envelope<T> {
  return { value, createdAt: Date.now(), expiresAt: 0, stamp: newStamp(), scope: key.scope.id };
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

const untilHealthy = (store: RedisStore): Promise<void> =>
  vi.waitFor(
    async () => {
      expect((await store.health()).ok).toBe(true);
    },
    { timeout: 15_000, interval: 50 },
  );

const loggedText = (logger: { warn: ReturnType<typeof vi.fn>; error: ReturnType<typeof vi.fn> }): string =>
  [...logger.warn.mock.calls, ...logger.error.mock.calls].map((args) => args.map(String).join(' ')).join('\n');

describeWithRedis('RedisStore when Redis fails', () => {
  describe('no server at startup', () => {
    it('waits only for the first connection attempt (at most the command timeout), then fails fast with CacheConnectionError and stays alive', async () => {
      const port = await freePort();
      const logger = { warn: vi.fn(), error: vi.fn() };
      const commandTimeout = 500;
      const connectTimeout = 2_000;
      const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, commandTimeout, connectTimeout, logger });
      try {
        const key = storageKey(KeyScope.of('startup', 'acme'), 'entry', SECRET);
        const started = performance.now();
        const results = await settlesWithin(Promise.allSettled(Array.from({ length: 20 }, () => store.get(key))), 10_000);
        const elapsedMs = Math.round(performance.now() - started);
        console.log(`[figure] no server at startup: 20 gets rejected ${elapsedMs} ms after they were issued (bound ${LAG_MS} ms; command timeout ${commandTimeout} ms, connectTimeout ${connectTimeout} ms)`);
        // A refused connect ends the wait for the first connection (one local round trip): within
        // the lag allowed for a busy machine, far below the command timeout each call could wait
        // at most, and connectTimeout (what waiting for the connect itself would take).
        expect(elapsedMs).toBeLessThan(LAG_MS);
        for (const r of results) expect(r.status === 'rejected' && r.reason instanceof CacheConnectionError).toBe(true);
        // The refused connect ended the wait, not the command timeout: no call gave up waiting for the connection.
        for (const r of results) expect(((r as PromiseRejectedResult).reason.cause as Error).message).not.toMatch(/no connection within/);
        expect((await store.health()).ok).toBe(false);
        expect(store.stats().errors).toBe(20);
        expect(logger.warn).toHaveBeenCalledTimes(1);
      } finally {
        await store.close();
      }
    });
  });

  describe('server killed, then restarted on the same port', () => {
    let server: RedisServer;
    let store: RedisStore;
    const logger = { warn: vi.fn(), error: vi.fn() };

    beforeAll(async () => {
      server = await startRedis();
      store = new RedisStore({ url: server.url, commandTimeout: COMMAND_TIMEOUT_MS, logger });
    });
    afterAll(async () => {
      await store?.close();
      await server?.stop();
    });

    it('fails fast with CacheConnectionError, logs once for the burst, counts every failure, and recovers', async () => {
      const key = storageKey(KeyScope.of('outage', 'acme'), 'entry', SECRET);
      await store.set(key, envelope(key, 'before'), 60_000);
      expect((await store.health()).ok).toBe(true);
      expect(logger.warn).not.toHaveBeenCalled();

      await server.kill();
      // Wait until the client has seen the connection go (a command racing the FIN would time
      // out instead, which is the paused case below): health fails, and the store said so.
      await vi.waitFor(async () => expect((await store.health()).ok).toBe(false), { timeout: 10_000, interval: 20 });
      await vi.waitFor(() => expect(logger.warn).toHaveBeenCalled(), { timeout: 10_000, interval: 20 });
      const health = await store.health();
      expect(health.ok).toBe(false);
      expect(health.detail).toMatch(/Redis at 127\.0\.0\.1:\d+/);

      const errorsBefore = store.stats().errors;
      const burstAt = performance.now();
      const burst = [...Array.from({ length: 99 }, () => store.get(key)), store.set(key, envelope(key, 'during'), 60_000)];
      const results = await settlesWithin(Promise.allSettled(burst), 10_000);
      // Fast: each fails as unreachable (CacheConnectionError, below), not after its timeout (which would be a CacheTimeoutError).
      console.log(`[figure] server killed: 100 calls rejected ${Math.round(performance.now() - burstAt)} ms after they were issued (command timeout ${COMMAND_TIMEOUT_MS} ms)`);

      const reasons = results.map((r) => (r.status === 'rejected' ? r.reason : new Error('resolved')));
      for (const reason of reasons) {
        expect(reason).toBeInstanceOf(CacheConnectionError);
        expect((reason as Error).message).not.toContain(SECRET);
      }
      expect((reasons[0] as CacheConnectionError).address).toBe(`127.0.0.1:${server.port}`);
      expect(store.stats().errors - errorsBefore).toBe(100);
      // One line for the whole outage so far: the store logs the connection going down; failed
      // calls reject (the caller logs them), so they add none.
      expect(logger.warn).toHaveBeenCalledTimes(1);
      expect(loggedText(logger)).not.toContain(SECRET);

      await server.restart();
      await untilHealthy(store);
      const after = envelope(key, 'after');
      await store.set(key, after, 60_000);
      expect((await store.get(key))?.stamp).toBe(after.stamp);
    });
  });

  describe('server paused (SIGSTOP): it keeps the connection but answers nothing', () => {
    let server: RedisServer;
    let store: RedisStore;
    const logger = { warn: vi.fn(), error: vi.fn() };

    beforeAll(async () => {
      server = await startRedis();
      store = new RedisStore({ url: server.url, commandTimeout: COMMAND_TIMEOUT_MS, logger });
      await untilHealthy(store);
    });
    afterAll(async () => {
      server?.resume();
      await store?.close();
      await server?.stop();
    });

    it('rejects within the command timeout with CacheOperationError carrying the key hash, then recovers', async () => {
      const key = storageKey(KeyScope.of('paused', 'acme'), 'entry', SECRET);
      const late = envelope(key, 'late');
      server.pause();
      try {
        const issuedAt = performance.now();
        /** What `call` settled with (its value or its error), and how long after `issuedAt`. */
        const timed = (call: Promise<unknown>) => call.then((v) => v, (e: unknown) => e).then((outcome) => ({ outcome, ms: Math.round(performance.now() - issuedAt) }));
        const settled = await settlesWithin(Promise.all([timed(store.get(key)), timed(store.set(key, late, 60_000)), timed(store.health())]), 10_000);
        const [getErr, setErr] = [settled[0].outcome, settled[1].outcome];
        const health = settled[2].outcome as StoreHealth;
        console.log(
          `[figure] server paused: get rejected after ${settled[0].ms} ms, set after ${settled[1].ms} ms, health said down after ${settled[2].ms} ms (command timeout ${COMMAND_TIMEOUT_MS} ms, bound ${COMMAND_TIMEOUT_MS + LAG_MS} ms)`,
        );
        // Each settles within the command timeout of its issue; the lag is for timers on a busy machine.
        for (const { ms } of settled) expect(ms).toBeLessThan(COMMAND_TIMEOUT_MS + LAG_MS);
        for (const err of [getErr, setErr]) {
          expect(err).toBeInstanceOf(CacheOperationError);
          expect((err as CacheOperationError).keyHash).toBe(keyHash(key));
          expect((err as Error).message).toContain(keyHash(key));
          expect((err as Error).message).not.toContain(SECRET);
          expect(((err as Error).cause as Error).message).toBe('Command timed out');
        }
        expect(health.ok).toBe(false);
        expect(loggedText(logger)).not.toContain(SECRET);
      } finally {
        server.resume();
      }
      await untilHealthy(store);

      // The timed-out SET had reached the server, which runs it when it resumes: past its
      // deadline, so it does nothing (test/fault/redis-write-deadline.spec.ts for every write).
      expect(await store.get(key)).toBeUndefined();
      const newer = envelope(key, 'newer');
      await store.set(key, newer, 60_000);
      expect((await store.get(key))?.stamp).toBe(newer.stamp);
    });
  });

  describe('connection dropped while a write is unanswered', () => {
    let server: RedisServer;
    let raw: Redis;
    let proxy: BlackholeProxy;

    beforeAll(async () => {
      server = await startRedis();
      raw = new Redis(server.port, server.host);
      proxy = await BlackholeProxy.start(server.port);
    });
    afterAll(async () => {
      raw?.disconnect();
      await proxy?.close();
      await server?.stop();
    });

    // The control row (a plain ioredis client, resend on: its default) shows the test catches a resend.
    it.each([
      ['never resends it after reconnecting (store default)', 'store', {}, 0],
      ['with autoResendUnfulfilledCommands on, the resent write is past its deadline and does nothing', 'store', { autoResendUnfulfilledCommands: true }, 0],
      ['control: a plain ioredis SET with autoResendUnfulfilledCommands on is written late', 'plain', { autoResendUnfulfilledCommands: true }, 1],
    ] as const)('%s', async (_label, via, override, expected) => {
      const options = { host: '127.0.0.1', port: proxy.port, commandTimeout: COMMAND_TIMEOUT_MS, ...override };
      const store = new RedisStore({ options, logger: { warn: vi.fn(), error: vi.fn() } });
      const plain = new Redis(options);
      plain.on('error', () => undefined);
      try {
        await untilHealthy(store);
        await plain.ping();
        const key = storageKey(KeyScope.of('resend', 'acme'), 'entry', `k-${via}-${Object.keys(override).length}`);
        proxy.blackhole = true; // the SET goes out but never reaches Redis, and no reply comes
        const write: Promise<unknown> = via === 'store' ? store.set(key, envelope(key, 'timed out'), 60_000) : plain.set(key.full, 'timed out', 'PX', 60_000);
        await expect(settlesWithin(write, 10_000)).rejects.toBeInstanceOf(via === 'store' ? CacheOperationError : Error);
        proxy.blackhole = false;
        proxy.dropConnections(); // ioredis reconnects; a resend would happen right at 'ready'
        await untilHealthy(store);
        await vi.waitFor(() => plain.ping(), { timeout: 10_000, interval: 50 }); // PING after 'ready': any resent command ran before it
        expect(await raw.exists(key.full)).toBe(expected);
      } finally {
        plain.disconnect();
        await store.close();
      }
    });
  });
});

/** A TCP proxy to Redis that can swallow client data and drop every connection on demand. */
class BlackholeProxy {
  /** While true, bytes from clients are dropped: requests vanish and no reply ever comes. */
  blackhole = false;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  private constructor(
    targetPort: number,
    private listeningPort = 0,
  ) {
    this.server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (chunk) => {
        if (!this.blackhole) upstream.write(chunk);
      });
      upstream.on('data', (chunk) => client.write(chunk));
    });
  }

  get port(): number {
    return this.listeningPort;
  }

  static async start(targetPort: number): Promise<BlackholeProxy> {
    const proxy = new BlackholeProxy(targetPort);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    const address = proxy.server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no port');
    proxy.listeningPort = address.port;
    return proxy;
  }

  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
