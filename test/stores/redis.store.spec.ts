import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { newStamp, WIRE_VERSION, type Envelope } from '../../lib/envelope/envelope.js';
import { KeyScope, storageKey, type StorageKey } from '../../lib/keys/storage-key.js';
import { DEFAULT_DECODE_LIMITS } from '../../lib/envelope/decode-limits.js';
import { JsonCodec } from '../../lib/envelope/codecs/json.codec.js';
import { encodeEntry, HEADER_LENGTH } from '../../lib/envelope/wire.js';
import { CacheClosedError, CacheConfigError } from '../../lib/errors/cache.errors.js';
import { createRedisStore, RedisStore } from '../../lib/stores/redis.store.js';
import { MAX_COMPUTATION_MS } from '../../lib/stores/computation-bound.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { describeStoreConformance } from '../helpers/store-conformance.js';

const quietLogger = { warn: vi.fn(), error: vi.fn() };

/** Calls of `command` in an `INFO commandstats` reply. */
function calls(stats: string, command: string): number {
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+),`).exec(stats)?.[1] ?? 0);
}

function envelope<T>(key: StorageKey, value: T, extra: Partial<Envelope<T>> = {}): Envelope<T> {
  return { value, createdAt: Date.now(), expiresAt: 0, stamp: newStamp(), scope: key.scope.id, ...extra };
}

describeWithRedis('RedisStore on a standalone redis-server', () => {
  let server: RedisServer;
  let raw: Redis;

  beforeAll(async () => {
    server = await startRedis();
    raw = new Redis(server.port, server.host);
  });
  afterAll(async () => {
    raw?.disconnect();
    await server?.stop();
  });

  describeStoreConformance('redis standalone', async () => {
    const store = new RedisStore({ url: server.url, logger: quietLogger });
    return {
      store,
      flush: async () => {
        await raw.flushdb();
      },
      teardown: () => store.close(),
    };
  });

  describe('Redis specifics', () => {
    const stores: RedisStore[] = [];
    const open = (options: ConstructorParameters<typeof RedisStore>[0]): RedisStore => {
      const store = new RedisStore({ logger: quietLogger, ...options } as ConstructorParameters<typeof RedisStore>[0]);
      stores.push(store);
      return store;
    };
    afterAll(async () => {
      await Promise.all(stores.map((s) => s.close()));
    });

    it('clearScope with a keyPrefix deletes the prefixed keys of that scope and nothing under other prefixes', async () => {
      // Glob characters in the prefix must match literally: 'p*[x]:' must not sweep 'pAx:'.
      const prefixed = open({ options: { host: server.host, port: server.port, keyPrefix: 'p*[x]:' } });
      const otherPrefix = open({ options: { host: server.host, port: server.port, keyPrefix: 'pAx:' } });
      const unprefixed = open({ url: server.url });
      const scope = KeyScope.of('kp', 'tenant-1');
      const keys = ['a', 'b', 'c'].map((k) => storageKey(scope, 'entry', k));
      for (const store of [prefixed, otherPrefix, unprefixed]) {
        for (const key of keys) await store.set(key, envelope(key, key.full, { tags: ['t'] }), 60_000);
      }
      expect(await raw.exists(`p*[x]:${keys[0]!.full}`)).toBe(1);
      expect(await raw.exists(`pAx:${keys[0]!.full}`)).toBe(1);

      // 3 entries + 1 tag index, all under 'p*[x]:'.
      expect(await prefixed.purgeScope(scope)).toBe(4);
      for (const key of keys) {
        expect(await prefixed.get(key)).toBeUndefined();
        expect(await raw.exists(`p*[x]:${key.full}`)).toBe(0);
        expect((await otherPrefix.get(key))?.value).toBe(key.full);
        expect((await unprefixed.get(key))?.value).toBe(key.full);
      }
      expect(await prefixed.purgeScope(scope)).toBe(0);
    });

    it('refuses a keyPrefix with a brace (it would steal the tenant hash tag)', () => {
      const external = new Redis({ host: server.host, port: server.port, keyPrefix: 'app}:', lazyConnect: true });
      expect(() => new RedisStore({ client: external })).toThrow(CacheConfigError);
      expect(() => new RedisStore({ options: { host: server.host, port: server.port, keyPrefix: '{app}:' } })).toThrow(/contains a brace/);
    });

    it('refuses zero or two connection options', () => {
      expect(() => new RedisStore({} as never)).toThrow(/exactly one of/);
      expect(() => new RedisStore({ url: server.url, client: raw } as never)).toThrow(/url and client/);
    });

    it('round-trips binary and rich values with CBOR, and a JSON store still reads them', async () => {
      const cbor = open({ url: server.url, codec: 'cbor' });
      const json = open({ url: server.url });
      const key = storageKey(KeyScope.of('bin', 'a'), 'entry', 'k');
      const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const value = { buf: allBytes, u8: new Uint8Array([0, 255, 1]), date: new Date(1_700_000_000_000), map: new Map([['a', 1]]), set: new Set([1, 2]), big: 2n ** 70n, nul: null };
      await cbor.set(key, envelope(key, value), 60_000);
      for (const reader of [cbor, json]) {
        const got = (await reader.get(key))?.value as typeof value;
        expect(Buffer.from(got.buf).equals(allBytes)).toBe(true);
        expect(Array.from(got.u8)).toEqual([0, 255, 1]);
        expect(got.date).toEqual(value.date);
        expect(got.map).toEqual(value.map);
        expect(got.set).toEqual(value.set);
        expect(got.big).toBe(2n ** 70n);
        expect(got.nul).toBeNull();
      }
      // Raw bytes survive byte for byte (no UTF-8 round trip on the way).
      const stored = await raw.getBuffer(key.full);
      expect(stored!.subarray(0, 5).toString('latin1')).toBe(`NTC${WIRE_VERSION}c`);
    });

    it('stores JSON entries readable in redis-cli', async () => {
      const store = open({ url: server.url });
      const key = storageKey(KeyScope.of('readable', 'acme'), 'entry', 'product:1');
      const env = envelope(key, { name: 'Mug', price: 12.5 }, { expiresAt: 1_900_000_000_000 });
      await store.set(key, env, 60_000);
      const text = await raw.get(key.full);
      expect(text!.slice(0, 5)).toBe(`NTC${WIRE_VERSION}j`);
      expect(text!.slice(5, 21)).toBe(env.stamp);
      expect(text!.slice(21, 36)).toBe('001900000000000');
      expect(JSON.parse(text!.slice(HEADER_LENGTH))).toMatchObject({ s: key.scope.id, v: { name: 'Mug', price: 12.5 } });
      const pttl = await raw.pttl(key.full);
      expect(pttl).toBeGreaterThan(50_000);
      expect(pttl).toBeLessThanOrEqual(60_000);
    });

    it('keeps a tag-version key alive at least as long as its entries (longer TTL extends it, shorter never shrinks it, ttl 0 persists it), and an invalidation at least the computation bound', async () => {
      const store = open({ url: server.url });
      const scope = KeyScope.of('tagttl', 'a');
      const tagKey = storageKey(scope, 'tag', 't');
      const put = async (k: string, ttl: number): Promise<void> => {
        const key = storageKey(scope, 'entry', k);
        await store.set(key, envelope(key, k, { tags: ['t'] }), ttl);
      };
      await put('short', 10_000);
      // Created at the scope's clock (a fresh version for a new scope), never 0.
      expect(Number(await raw.get(tagKey.full))).toBeGreaterThan(0);
      expect(await raw.pttl(tagKey.full)).toBeGreaterThan(9_000);
      expect(await raw.pttl(tagKey.full)).toBeLessThanOrEqual(10_000);
      await put('long', 120_000);
      expect(await raw.pttl(tagKey.full)).toBeGreaterThan(110_000);
      await put('short2', 5_000);
      expect(await raw.pttl(tagKey.full)).toBeGreaterThan(110_000);
      await store.invalidateTags([tagKey]);
      expect(Number(await raw.get(tagKey.full))).toBeGreaterThan(0);
      expect(await raw.pttl(tagKey.full)).toBeGreaterThan(MAX_COMPUTATION_MS - 10_000);
      await put('forever', 0);
      expect(await raw.pttl(tagKey.full)).toBe(-1);
      await put('short3', 5_000);
      await store.invalidateTags([tagKey]);
      expect(await raw.pttl(tagKey.full)).toBe(-1);
      // An invalidation of a tag nothing carries still leaves its version, for the computation bound.
      const unused = storageKey(scope, 'tag', 'unused');
      await store.invalidateTags([unused]);
      expect(await raw.pttl(unused.full)).toBeGreaterThan(MAX_COMPUTATION_MS - 10_000);
      expect(await raw.pttl(unused.full)).toBeLessThanOrEqual(MAX_COMPUTATION_MS);
      // Clock and epoch live as long as the scope's entries (here a persistent one): no TTL.
      await store.clearScope(scope);
      expect(await raw.pttl(storageKey(scope, 'meta', 'clock').full)).toBe(-1);
      expect(await raw.pttl(storageKey(scope, 'meta', 'epoch').full)).toBe(-1);
    });

    it('a tag index set of an older version is unknown: an entry under it reads as a miss; a write or an invalidation replaces it', async () => {
      const store = open({ url: server.url });
      const scope = KeyScope.of('oldindex', 'a');
      const tagKey = storageKey(scope, 'tag', 't');
      await raw.sadd(tagKey.full, 'old-member-1', 'old-member-2');
      const key = storageKey(scope, 'entry', 'k');
      await store.set(key, envelope(key, 'v', { tags: ['t'] }), 60_000);
      expect(await raw.type(tagKey.full)).toBe('string');
      expect((await store.get(key))?.value).toBe('v');
      await raw.del(tagKey.full);
      await raw.sadd(tagKey.full, 'old-member');
      expect(await store.get(key)).toBeUndefined(); // an older version's set: unknown
      await store.invalidateTags([tagKey]);
      expect(await raw.type(tagKey.full)).toBe('string');
      expect(await store.get(key)).toBeUndefined();
      // Evicted (or deleted by hand): the entry cannot be checked, so it is not served.
      await store.set(key, envelope(key, 'again', { tags: ['t'] }), 60_000);
      expect((await store.get(key))?.value).toBe('again');
      await raw.del(tagKey.full);
      expect(await store.get(key)).toBeUndefined();
    });

    it('a lost tag-version key is unknown: a later write of the tag does not bring back an entry invalidated under it, and a computation based before is refused', async () => {
      const store = open({ url: server.url });
      const scope = KeyScope.of('losttag', 'a');
      const tagKey = storageKey(scope, 'tag', 't');
      const first = storageKey(scope, 'entry', 'first');
      const second = storageKey(scope, 'entry', 'second');
      const late = storageKey(scope, 'entry', 'late');
      await store.set(first, envelope(first, 'old', { tags: ['t'] }), 60_000);
      const early = await store.basis(scope);
      await store.invalidateTags([tagKey]);
      const invalidatedAt = Number(await raw.get(tagKey.full));
      await raw.del(tagKey.full); // evicted, or deleted by a concurrent purge
      await store.set(second, envelope(second, 'new', { tags: ['t'] }), 60_000);
      const recreated = Number(await raw.get(tagKey.full));
      console.log(`tag version invalidated at ${invalidatedAt}, re-created at ${recreated}; first entry reads ${JSON.stringify((await store.get(first))?.value)}`);
      expect(recreated).toBeGreaterThanOrEqual(invalidatedAt);
      expect(await store.get(first)).toBeUndefined();
      expect((await store.get(second))?.value).toBe('new');
      await raw.del(tagKey.full);
      await store.set(late, envelope(late, 'stale', { tags: ['t'] }), 60_000, early);
      expect(await raw.exists(late.full)).toBe(0);
      // The refusal set the tag key again: a computation based after it is stored.
      const next = await store.basis(scope);
      await store.set(late, envelope(late, 'fresh', { tags: ['t'] }), 60_000, next);
      expect((await store.get(late))?.value).toBe('fresh');
    });

    it('a lost epoch is unknown: the entries of a cleared scope stay unreadable', async () => {
      const store = open({ url: server.url });
      const scope = KeyScope.of('lostepoch', 'a');
      const epochKey = storageKey(scope, 'meta', 'epoch').full;
      const key = storageKey(scope, 'entry', 'k');
      const tagged = storageKey(scope, 'entry', 'tagged');
      await store.set(key, envelope(key, 'old'), 60_000);
      await store.set(tagged, envelope(tagged, 'old', { tags: ['t'] }), 60_000);
      expect(await raw.pttl(epochKey)).toBeGreaterThan(50_000);
      await store.clearScope(scope);
      await raw.del(epochKey);
      console.log(`after clear + DEL epoch: untagged reads ${JSON.stringify((await store.get(key))?.value)}, tagged ${JSON.stringify((await store.get(tagged))?.value)}`);
      expect(await store.get(key)).toBeUndefined();
      expect(await store.get(tagged)).toBeUndefined();
      expect(await Promise.all([store.get(key), store.get(tagged)])).toEqual([undefined, undefined]);
      // A write makes the epoch again, above the entries it was lost under.
      const other = storageKey(scope, 'entry', 'other');
      await store.set(other, envelope(other, 'new'), 0);
      expect(await raw.pttl(epochKey)).toBe(-1);
      expect(await raw.pttl(storageKey(scope, 'meta', 'clock').full)).toBe(-1);
      expect((await store.get(other))?.value).toBe('new');
      expect(await store.get(key)).toBeUndefined();
    });

    it('versions stay above every basis handed out, also when the clock key is lost (a purge\'s tombstone expired, an eviction)', async () => {
      const store = open({ url: server.url });
      const scope = KeyScope.of('lostclock', 'a');
      const key = storageKey(scope, 'entry', 'k');
      await store.invalidateTags([storageKey(scope, 'tag', 'other')]);
      await store.clearScope(scope);
      const early = await store.basis(scope);
      await store.set(key, envelope(key, 'v', { tags: ['t'] }), 60_000);
      await raw.del(storageKey(scope, 'meta', 'clock').full, storageKey(scope, 'meta', 'epoch').full);
      // Its epoch lost: unknown, so the entry is not read; a write makes clock and epoch again.
      expect(await store.get(key)).toBeUndefined();
      await store.set(key, envelope(key, 'v', { tags: ['t'] }), 60_000);
      expect((await store.get(key))?.value).toBe('v');
      await store.invalidateTags([storageKey(scope, 'tag', 't')]);
      expect(await store.get(key)).toBeUndefined();
      // A computation from before the loss is refused too (its basis is below the new version).
      await store.set(key, envelope(key, 'late', { tags: ['t'] }), 60_000, early);
      expect(await store.get(key)).toBeUndefined();
    });

    it('a write whose basis was taken longer ago than the computation bound is not stored', async () => {
      const store = open({ url: server.url });
      const scope = KeyScope.of('bound', 'a');
      const key = storageKey(scope, 'entry', 'k');
      const basis = await store.basis(scope);
      const { clock, at } = basis.value as { clock: number; at: number };
      await store.set(key, envelope(key, 'in time'), 60_000, { store: 'redis', value: { clock, at: at - MAX_COMPUTATION_MS + 60_000 } });
      expect((await store.get(key))?.value).toBe('in time');
      await store.set(key, envelope(key, 'too old'), 60_000, { store: 'redis', value: { clock, at: at - MAX_COMPUTATION_MS - 1 } });
      expect((await store.get(key))?.value).toBe('in time');
    });

    it('entries written by an older version (wire 2) read as misses, are dropped and counted', async () => {
      const store = open({ url: server.url });
      const key = storageKey(KeyScope.of('oldwire', 'a'), 'entry', 'k');
      await raw.set(key.full, `NTC2j${'x'.repeat(16)}000000000000000|{"s":"${key.scope.id}","c":1,"v":1}`);
      expect(await store.get(key)).toBeUndefined();
      expect(await raw.exists(key.full)).toBe(0);
      expect(store.stats().decodeErrors).toBe(1);
    });

    it('getOrSet and compareAndSet write over bytes that only look like an entry', async () => {
      const store = open({ url: server.url });
      const key = storageKey(KeyScope.of('overwrite', 'a'), 'entry', 'k');
      await raw.set(storageKey(key.scope, 'meta', 'epoch').full, '0'); // raw entries have basis 0
      // A valid header that says "present", with a payload that is not JSON.
      await raw.set(key.full, `NTC${WIRE_VERSION}j${'x'.repeat(16)}${'0'.repeat(15 + 16 + 7)}|{not json`);
      const fresh = envelope(key, 'fresh');
      const result = await store.getOrSet(key, fresh, 60_000);
      expect(result).toMatchObject({ set: true, envelope: { stamp: fresh.stamp } });
      expect(store.stats().decodeErrors).toBe(1);
      // No header at all: never present, so compareAndSet(null) writes.
      await raw.set(key.full, 'garbage');
      const next = envelope(key, 'next');
      expect(await store.compareAndSet(key, null, next, 60_000)).toBe(true);
      expect((await store.get(key))?.stamp).toBe(next.stamp);
    });

    it('deletes an undecodable entry only if it still holds the same bytes', async () => {
      const client = new Redis(server.port, server.host);
      const key = storageKey(KeyScope.of('cad', 'a'), 'entry', 'k');
      await raw.set(storageKey(key.scope, 'meta', 'epoch').full, '0'); // raw entries have basis 0
      const good = envelope(key, 'good');
      const goodBytes = encodeEntry(good, new JsonCodec(), DEFAULT_DECODE_LIMITS);
      const observer = {
        decodeFailed: vi.fn(() => {
          // Sent synchronously, on the store's own connection, before the store sends its
          // compare-and-delete: the delete must then find other bytes and leave them.
          void client.set(key.full, goodBytes);
        }),
      };
      const store = open({ client, observer });
      try {
        await raw.set(key.full, 'garbage bytes');
        expect(await store.get(key)).toBeUndefined();
        expect(observer.decodeFailed).toHaveBeenCalledTimes(1);
        expect(store.stats().decodeErrors).toBe(1);
        expect((await store.get(key))?.stamp).toBe(good.stamp);
      } finally {
        await store.close();
        client.disconnect();
      }
    });

    it('close() leaves a client it was given open, and then rejects every call', async () => {
      const client = new Redis(server.port, server.host);
      try {
        const store = open({ client });
        const key = storageKey(KeyScope.of('ext', 'a'), 'entry', 'k');
        await store.set(key, envelope(key, 1), 60_000);
        await store.close();
        expect(client.status).toBe('ready');
        expect(await client.ping()).toBe('PONG');
        expect(await client.exists(key.full)).toBe(1);
        await expect(store.get(key)).rejects.toBeInstanceOf(CacheClosedError);
        expect(client.listenerCount('error')).toBe(0);
      } finally {
        client.disconnect();
      }
    });

    it('close() quits a client the store created', async () => {
      const store = createRedisStore({ url: server.url, logger: quietLogger });
      expect((await store.health()).ok).toBe(true);
      const internal = (store as unknown as { client: Redis }).client;
      await store.close();
      // The socket closes right after QUIT's reply; 'end' follows on the next turns.
      if (internal.status !== 'end') await new Promise((resolve) => internal.once('end', resolve));
      expect(internal.status).toBe('end');
      expect((await store.health()).ok).toBe(false);
    });

    it('sends concurrent gets as one MGET (entries and their scopes\' epochs), and each caller gets its own key\'s entry, miss or garbage', async () => {
      const store = open({ url: server.url });
      const scopes = ['t1', 't2', 't3'].map((t) => KeyScope.of('batch', t));
      const keys = scopes.flatMap((scope) => Array.from({ length: 80 }, (_, i) => storageKey(scope, 'entry', `k${i}`)));
      for (const [i, key] of keys.entries()) if (i % 3 !== 0) await store.set(key, envelope(key, { i }), 60_000);
      const garbage = keys[1]!;
      await raw.set(garbage.full, 'not an entry');
      await raw.call('CONFIG', 'RESETSTAT');
      const results = await Promise.all(keys.map((key) => store.get(key)));
      const stats = String(await raw.call('INFO', 'commandstats'));
      expect(stats).toMatch(/cmdstat_mget:calls=1,/);
      // Bytes that are no entry (no header this version reads) are dropped from the MGET's answer:
      // only the script that deletes them (only if unchanged) runs, with its one GET.
      expect(calls(stats, 'evalsha') + calls(stats, 'eval')).toBe(1);
      expect(calls(stats, 'get')).toBe(1);
      for (const [i, key] of keys.entries()) {
        if (i % 3 === 0 || key === garbage) expect(results[i]).toBeUndefined();
        else expect(results[i]?.value).toEqual({ i });
      }
      expect(store.stats().decodeErrors).toBe(1);
    });

    it('a tagged entry is read with the read script the first time, then in the one MGET with its tag versions; an invalidation is seen either way', async () => {
      const store = open({ url: server.url });
      const scope = KeyScope.of('hinted', 't');
      const keys = Array.from({ length: 20 }, (_, i) => storageKey(scope, 'entry', `k${i}`));
      for (const [i, key] of keys.entries()) await store.set(key, envelope(key, i, { tags: [`t${i % 2}`, 'all'] }), 60_000);
      await store.get(storageKey(scope, 'entry', 'warm-up'));
      await raw.call('CONFIG', 'RESETSTAT');
      expect((await Promise.all(keys.map((key) => store.get(key)))).map((e) => e?.value)).toEqual(keys.map((_, i) => i));
      let stats = String(await raw.call('INFO', 'commandstats'));
      expect([calls(stats, 'mget'), calls(stats, 'evalsha') + calls(stats, 'eval')]).toEqual([1, 1]);
      await raw.call('CONFIG', 'RESETSTAT');
      expect((await Promise.all(keys.map((key) => store.get(key)))).map((e) => e?.value)).toEqual(keys.map((_, i) => i));
      stats = String(await raw.call('INFO', 'commandstats'));
      expect([calls(stats, 'mget'), calls(stats, 'evalsha') + calls(stats, 'eval')]).toEqual([1, 0]);
      await store.invalidateTags([storageKey(scope, 'tag', 't1')]);
      expect((await Promise.all(keys.map((key) => store.get(key)))).map((e) => e?.value)).toEqual(keys.map((_, i) => (i % 2 ? undefined : i)));
      // Rewritten with other tags: the remembered ones do not match its header, so the script reads it.
      await store.set(keys[0]!, envelope(keys[0]!, 'retagged', { tags: ['other'] }), 60_000);
      await store.invalidateTags([storageKey(scope, 'tag', 'other')]);
      expect(await store.get(keys[0]!)).toBeUndefined();
      expect((await store.get(keys[2]!))?.value).toBe(2);
    });

    it('decodes a stored HTTP response once per stored version: re-reads return the same frozen envelope', async () => {
      const store = open({ url: server.url });
      const key = storageKey(KeyScope.of('memo', 't'), 'entry', 'http:abc');
      const http = { status: 200, headers: [['content-type', 'application/json; charset=utf-8']] as [string, string][], etag: '"e1"' };
      await store.set(key, envelope(key, '{"a":1}', { http }), 60_000);
      const first = await store.get(key);
      const second = await store.get(key);
      expect(second).toBe(first);
      expect(Object.isFrozen(first)).toBe(true);
      expect(Object.isFrozen(first!.http!.headers[0])).toBe(true);
      // A new version (even of the same length) is decoded anew.
      await store.set(key, envelope(key, '{"a":2}', { http: { ...http, etag: '"e2"' } }), 60_000);
      const third = await store.get(key);
      expect(third?.value).toBe('{"a":2}');
      expect(third?.http?.etag).toBe('"e2"');
      // Bytes that no longer decode are garbage again: a miss, dropped, counted.
      await raw.set(key.full, 'garbage');
      expect(await store.get(key)).toBeUndefined();
      expect(await raw.exists(key.full)).toBe(0);
      expect(store.stats().decodeErrors).toBe(1);
    });

    it('decodes large stored responses on every read (the memo is bounded in bytes)', async () => {
      const store = open({ url: server.url });
      const key = storageKey(KeyScope.of('memo', 't'), 'entry', 'http:big');
      const http = { status: 200, headers: [] as [string, string][], etag: '"big"' };
      await store.set(key, envelope(key, 'x'.repeat(100_000), { http }), 60_000);
      const first = await store.get(key);
      const second = await store.get(key);
      expect(second?.value).toBe(first?.value);
      expect(second).not.toBe(first);
    });

    it('decodes other entries on every read, so each caller gets its own objects', async () => {
      const store = open({ url: server.url });
      const key = storageKey(KeyScope.of('memo', 't'), 'entry', 'plain');
      await store.set(key, envelope(key, { list: [1, 2] }), 60_000);
      const first = await store.get(key);
      const second = await store.get(key);
      expect(second).toEqual(first);
      expect(second).not.toBe(first);
      expect(Object.isFrozen(first)).toBe(false);
    });

    it('splits a batch over 256 keys and rejects every get of a batch whose read fails', async () => {
      const store = open({ url: server.url });
      const scope = KeyScope.of('big', 't');
      const keys = Array.from({ length: 600 }, (_, i) => storageKey(scope, 'entry', `k${i}`));
      await store.get(keys[0]!); // connected: gets are batched from here on
      await raw.call('CONFIG', 'RESETSTAT');
      expect((await Promise.all(keys.map((key) => store.get(key)))).every((r) => r === undefined)).toBe(true);
      expect(String(await raw.call('INFO', 'commandstats'))).toMatch(/cmdstat_mget:calls=3,/);

      const paused = open({ url: server.url, commandTimeout: 50, writeDeadlineMargin: 25 });
      await paused.get(keys[0]!); // connected
      await raw.call('CLIENT', 'PAUSE', '300', 'ALL');
      const settled = await Promise.allSettled(keys.slice(0, 5).map((key) => paused.get(key)));
      expect(settled.every((r) => r.status === 'rejected')).toBe(true);
      expect(paused.stats().errors).toBe(5);
      await raw.call('CLIENT', 'UNPAUSE');
    });

    it('keeps one read\'s reply near 1 MiB: with large entries it sends fewer keys per read', async () => {
      const store = open({ url: server.url });
      const scope = KeyScope.of('large', 't');
      const keys = Array.from({ length: 40 }, (_, i) => storageKey(scope, 'entry', `k${i}`));
      const body = 'x'.repeat(200 * 1024); // about 200 KB stored per entry: 5 per MiB
      await Promise.all(keys.map((key) => store.set(key, envelope(key, body), 60_000)));
      await store.get(keys[0]!); // the first read teaches the store the size of its values
      await raw.call('CONFIG', 'RESETSTAT');
      const read = await Promise.all(keys.map((key) => store.get(key)));
      expect(read.every((env) => env?.value === body)).toBe(true);
      // 40 keys at 5 per read (1 MiB / ~200 KB); all 40 would be one read with small entries.
      expect(String(await raw.call('INFO', 'commandstats'))).toMatch(/cmdstat_mget:calls=8,/);
    });

    it('health reports the PING latency; stats have no entry counts and no evictions', async () => {
      const store = open({ url: server.url });
      const health = await store.health();
      expect(health.ok).toBe(true);
      expect(health.latencyMs).toBeGreaterThanOrEqual(0);
      expect(store.stats()).toEqual({ entries: undefined, bytes: undefined, evictions: 0, decodeErrors: 0, errors: 0 });
      expect(store.scopeSize(KeyScope.of('x', 'a'))).toBeUndefined();
    });
  });
});
