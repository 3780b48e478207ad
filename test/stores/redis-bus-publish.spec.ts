import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { GLOBAL_SCOPE, KeyScope, storageKey, userKeyOf, type StorageKey } from '../../lib/keys/storage-key.js';
import { RedisStore } from '../../lib/stores/redis.store.js';
import { decodeBusMessage, type BusChange } from '../../lib/stores/tiered/bus-message.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';

/**
 * The bus publish hook of RedisStore (internal `bus` construction option, for the tiered store's
 * invalidation bus): every script that changes what other instances may hold in memory publishes
 * its message itself, atomically with the change, and never for a write it did not apply.
 */

const CHANNEL = 'ntc-test-bus';
const quiet = { warn: vi.fn(), error: vi.fn() };

function envelope(key: StorageKey, value: unknown, tags?: string[]): Envelope {
  return { value, createdAt: Date.now(), expiresAt: 0, stamp: newStamp(), scope: key.scope.id, ...(tags ? { tags } : {}) };
}

/** A change as a comparable string: op, scope and what it names. */
function describeChange(change: BusChange): string {
  if (change.op === 'key') return `key ${change.key.full}`;
  if (change.op === 'tags') return `tags ${change.scope.namespace}/${change.scope.id}: ${change.tags.join(',')}`;
  return `clear ${change.scope.namespace}/${change.scope.id}`;
}

describeWithRedis('RedisStore bus publish hook (a real subscriber)', () => {
  let server: RedisServer;
  let subscriber: Redis;
  let reader: Redis;
  let store: RedisStore;
  let plain: RedisStore;
  const received: string[] = [];
  /** What `reader` saw under the key of each 'key' message the moment it arrived. */
  const seen = new Map<string, string | null>();
  let markers = 0;
  const realNow = Date.now.bind(Date);

  beforeAll(async () => {
    server = await startRedis();
    subscriber = new Redis(server.port, server.host);
    reader = new Redis(server.port, server.host);
    await subscriber.subscribe(CHANNEL);
    subscriber.on('message', (_channel: string, text: string) => {
      if (text.startsWith('marker')) {
        markers++;
        return;
      }
      const message = decodeBusMessage(text);
      received.push(message === undefined ? `undecodable ${text}` : `${message.origin} ${describeChange(message.change)}`);
      if (message?.change.op === 'key') {
        const full = message.change.key.full;
        void reader.get(full).then((v) => seen.set(full, v));
      }
    });
    store = new RedisStore({ url: server.url, logger: quiet }, { bus: { channel: CHANNEL, origin: 'node-a' } });
    plain = new RedisStore({ url: server.url, logger: quiet });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await store?.close();
    await plain?.close();
    subscriber?.disconnect();
    reader?.disconnect();
    await server?.stop();
  });

  /** The messages published since the last call: a marker published after them arrives after them. */
  const drain = async (): Promise<string[]> => {
    const want = markers + 1;
    await reader.publish(CHANNEL, `marker ${want}`);
    await vi.waitFor(() => expect(markers).toBe(want), { timeout: 5_000, interval: 5 });
    // The reads started on 'key' messages were sent before the marker's PUBLISH reply was read.
    await reader.ping();
    return received.splice(0);
  };

  it('writes, deletes, invalidations, clears and purges each publish one message; what the scripts refuse publishes none', async () => {
    const scope = KeyScope.of('bus', 'acme');
    const other = KeyScope.of('bus', 'other');
    const k = storageKey(scope, 'entry', 'k');
    const tagged = storageKey(scope, 'entry', 'tagged');

    await store.set(k, envelope(k, 'v1'), 60_000);
    expect(await drain()).toEqual([`node-a key ${k.full}`]);

    // A set whose computation began before an invalidation of its tag: not applied, nothing published.
    const early = await store.basis(scope);
    await store.set(tagged, envelope(tagged, 'first', ['t']), 60_000);
    await store.invalidateTags([storageKey(scope, 'tag', 't'), storageKey(scope, 'tag', 'u'), storageKey(other, 'tag', 't')]);
    expect((await drain()).sort()).toEqual([`node-a key ${tagged.full}`, 'node-a tags bus/t.acme: t,u', 'node-a tags bus/t.other: t'].sort());
    await store.set(tagged, envelope(tagged, 'late', ['t']), 60_000, early);
    expect(await drain()).toEqual([]);

    // getOrSet publishes when it writes, not when it returns the present entry; compareAndSet when it wins.
    const g = storageKey(scope, 'entry', 'g');
    expect((await store.getOrSet(g, envelope(g, 1), 60_000)).set).toBe(true);
    expect((await store.getOrSet(g, envelope(g, 2), 60_000)).set).toBe(false);
    expect(await store.compareAndSet(g, 'not-the-stamp-00', envelope(g, 3), 60_000)).toBe(false);
    const current = (await store.get(g))!;
    expect(await store.compareAndSet(g, current.stamp, envelope(g, 4), 60_000)).toBe(true);
    expect(await drain()).toEqual([`node-a key ${g.full}`, `node-a key ${g.full}`]);

    expect(await store.delete(k)).toBe(true);
    await store.clearScope(scope);
    const global = KeyScope.of('bus', GLOBAL_SCOPE);
    await store.purgeScope(global);
    expect(await drain()).toEqual([`node-a key ${k.full}`, 'node-a clear bus/t.acme', 'node-a clear bus/g']);

    // A store without the option publishes nothing.
    await plain.set(k, envelope(k, 'quiet'), 60_000);
    await plain.invalidateTags([storageKey(scope, 'tag', 't')]);
    await plain.clearScope(scope);
    expect(await drain()).toEqual([]);
  });

  it('a message is published with the change, in the same script: a subscriber reading the key on the message sees the new value', async () => {
    const scope = KeyScope.of('bus', 'atomic');
    const keys = Array.from({ length: 50 }, (_, i) => storageKey(scope, 'entry', `k${i}`));
    await Promise.all(keys.map((key) => store.set(key, envelope(key, `v-${userKeyOf(key)}`), 60_000)));
    expect(await drain()).toHaveLength(50);
    for (const key of keys) expect(seen.get(key.full)).toContain(`v-${userKeyOf(key)}`);
    await Promise.all(keys.map((key) => store.delete(key)));
    expect(await drain()).toHaveLength(50);
    for (const key of keys) expect(seen.get(key.full)).toBeNull();
  });

  it('a write the deadline refused (Redis clock behind this host beyond the margin) publishes nothing', async () => {
    const scope = KeyScope.of('bus', 'late');
    const key = storageKey(scope, 'entry', 'k');
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 250);
    await expect(store.set(key, envelope(key, 'v'), 60_000)).rejects.toThrow(/writeDeadlineMargin/);
    await expect(store.delete(key)).rejects.toThrow(/writeDeadlineMargin/);
    await expect(store.invalidateTags([storageKey(scope, 'tag', 't')])).rejects.toThrow(/writeDeadlineMargin/);
    await expect(store.clearScope(scope)).rejects.toThrow(/writeDeadlineMargin/);
    vi.restoreAllMocks();
    expect(await drain()).toEqual([]);
    expect(await plain.get(key)).toBeUndefined();
  });
});
