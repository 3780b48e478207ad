import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { KeyScope, storageKey, type StorageKey } from '../../lib/keys/storage-key.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { RedisStore } from '../../lib/stores/redis.store.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { tieredStore } from '../helpers/tiered-fixture.js';

/**
 * Writes a basis refuses stay out everywhere: a basis another store made is no basis to take on
 * trust (when in doubt, do not store), and a tiered store never puts into L1 what L2 refused
 * (review of issue 12: L1 used to take the refused, pre-invalidation value).
 */
const ns = (): string => `rw-${randomBytes(4).toString('hex')}`;
const quiet = { warn: () => undefined, error: () => undefined };

function envelope<T>(key: StorageKey, value: T, tags?: string[]): Envelope<T> {
  return { value, createdAt: Date.now(), expiresAt: 0, stamp: newStamp(), scope: key.scope.id, ...(tags === undefined ? {} : { tags }) };
}

describe('a basis from another store', () => {
  it('memory: a write with another memory store\'s basis is not applied (resolves false); with its own, it is', async () => {
    const a = new MemoryStore({ sweepInterval: 0 });
    const b = new MemoryStore({ sweepInterval: 0 });
    try {
      const scope = KeyScope.of(ns(), 'acme');
      const key = storageKey(scope, 'entry', 'k');
      expect(await a.set(key, envelope(key, 'foreign'), 0, b.basis(scope))).toBe(false);
      expect(await a.get(key)).toBeUndefined();
      expect(await a.set(key, envelope(key, 'own'), 0, a.basis(scope))).toBe(true);
      expect((await a.get(key))?.value).toBe('own');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describeWithRedis('refused writes on Redis and the tiered store', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('Redis: a write with a memory store\'s basis is not applied (resolves false)', async () => {
    const store = new RedisStore({ url: server.url, logger: quiet });
    const memory = new MemoryStore({ sweepInterval: 0 });
    try {
      const scope = KeyScope.of(ns(), 'acme');
      const key = storageKey(scope, 'entry', 'k');
      expect(await store.set(key, envelope(key, 'foreign'), 60_000, memory.basis(scope))).toBe(false);
      expect(await store.get(key)).toBeUndefined();
      expect(await store.set(key, envelope(key, 'own'), 60_000, await store.basis(scope))).toBe(true);
      expect((await store.get(key))?.value).toBe('own');
    } finally {
      await Promise.all([store.close(), memory.close()]);
    }
  });

  for (const l2Writes of ['await', 'background'] as const) {
    it(`tiered (l2Writes: '${l2Writes}'): a computation's write L2 refuses (its tag invalidated by another instance after its basis) never stays in L1`, async () => {
      const { store } = await tieredStore({ l2: { url: server.url, logger: quiet }, l2Writes, logger: quiet });
      const other = new RedisStore({ url: server.url, logger: quiet });
      try {
        const scope = KeyScope.of(ns(), 'acme');
        const key = storageKey(scope, 'entry', 'product:1');
        const basis = await store.basis(scope);
        // Another instance invalidates the tag while the computation runs; its message may reach
        // this instance only after the write's reply (two connections, no order between them).
        await other.invalidateTags([storageKey(scope, 'tag', 'product:1')]);
        await store.set(key, envelope(key, 'computed before the invalidation', ['product:1']), 60_000, basis);
        // Background mode takes it back once L2 answers.
        for (let i = 0; i < 200 && store.getSync(key) !== undefined; i++) await new Promise((resolve) => setTimeout(resolve, 1));
        const l1 = store.getSync(key);
        const l2 = await other.get(key);
        console.log(`[refused write] tiered ${l2Writes}: L1 holds ${JSON.stringify(l1?.value)}, L2 holds ${JSON.stringify(l2?.value)}`);
        expect(l1).toBeUndefined();
        expect(l2).toBeUndefined();
        expect(await store.get(key)).toBeUndefined();
      } finally {
        await Promise.all([store.close(), other.close()]);
      }
    });
  }
});
