import { randomBytes, randomInt } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, expect, it, vi } from 'vitest';
import { CborCodec } from '../../lib/envelope/codecs/cbor.codec.js';
import type { Codec } from '../../lib/envelope/codecs/codec.interface.js';
import { DEFAULT_DECODE_LIMITS } from '../../lib/envelope/decode-limits.js';
import { newStamp, WIRE_VERSION, type Envelope } from '../../lib/envelope/envelope.js';
import { JsonCodec } from '../../lib/envelope/codecs/json.codec.js';
import { KeyScope, storageKey, type StorageKey } from '../../lib/keys/storage-key.js';
import { encodeEntry, HEADER_LENGTH } from '../../lib/envelope/wire.js';
import { DecodeError } from '../../lib/errors/cache.errors.js';
import { RedisStore } from '../../lib/stores/redis.store.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';

const COUNT = 10_000;
const MAX_PAYLOAD = 8_192;
const codecs: Codec[] = [new JsonCodec(), new CborCodec()];
const limits = { ...DEFAULT_DECODE_LIMITS, maxPayloadBytes: MAX_PAYLOAD };

/** A valid entry of `key`'s own scope, JSON or CBOR, with a value of some shape and size. */
function validEntry(key: StorageKey, scopeId = key.scope.id): Buffer {
  const env: Envelope = {
    value: { n: randomInt(1_000_000), s: randomBytes(randomInt(1, 40)).toString('hex'), list: [1, null, 'x', { deep: [true] }] },
    createdAt: Date.now(),
    expiresAt: randomInt(2) === 0 ? 0 : Date.now() + 60_000,
    stamp: newStamp(),
    scope: scopeId,
    ...(randomInt(3) === 0 ? { tags: ['a', 'b'] } : {}),
  };
  return encodeEntry(env, codecs[randomInt(codecs.length)]!, limits);
}

// Header positions whose bytes the reader checks (magic, version, codec id, expiry, basis and tag
// section length digits, '|') and the payload's first byte: flipping the high bit there always
// makes the entry invalid (the entries below are untagged: their header is HEADER_LENGTH long).
const CHECKED_POSITIONS = [0, 1, 2, 3, 4, ...Array.from({ length: HEADER_LENGTH - 21 }, (_, i) => 21 + i), HEADER_LENGTH];

const kinds = ['random', 'truncated', 'flipped', 'foreign tenant', 'wrong version', 'oversized'] as const;
type Kind = (typeof kinds)[number];

function garbage(kind: Kind, key: StorageKey, foreign: StorageKey): Buffer {
  switch (kind) {
    case 'random':
      return randomBytes(randomInt(0, 300));
    case 'truncated': {
      const good = validEntry(key);
      return good.subarray(0, randomInt(0, good.length));
    }
    case 'flipped': {
      const bad = Buffer.from(validEntry(key));
      const pos = CHECKED_POSITIONS[randomInt(CHECKED_POSITIONS.length)]!;
      bad[pos] = bad[pos]! ^ 0x80;
      return bad;
    }
    case 'foreign tenant':
      // A perfectly valid entry, but written by (and for) another tenant.
      return validEntry(foreign);
    case 'wrong version': {
      const bad = Buffer.from(validEntry(key));
      const others = '0123456789'.replace(String(WIRE_VERSION), '');
      bad[3] = others.charCodeAt(randomInt(others.length));
      return bad;
    }
    case 'oversized': {
      // Valid in every other respect, but over this store's maxPayloadBytes.
      const big: Envelope = { value: 'x'.repeat(MAX_PAYLOAD), createdAt: 1, expiresAt: 0, stamp: newStamp(), scope: key.scope.id };
      return encodeEntry(big, new JsonCodec(), { ...limits, maxPayloadBytes: MAX_PAYLOAD * 2 });
    }
  }
}

describeWithRedis('RedisStore reading 10,000 corrupt entries', () => {
  let server: RedisServer;
  let raw: Redis;
  let store: RedisStore;
  const decodeFailed = vi.fn();
  const logger = { warn: vi.fn(), error: vi.fn() };

  beforeAll(async () => {
    server = await startRedis();
    raw = new Redis(server.port, server.host);
    // 10,000 gets at once are 40 MGETs whose large replies are decoded one after another; on a
    // loaded 2-core CI machine the last ones can outlive the default 500 ms command timeout. This
    // test is about what garbage does, not about timeouts (test/fault/redis-outage.spec.ts is).
    store = new RedisStore({ url: server.url, commandTimeout: 10_000, limits: { maxPayloadBytes: MAX_PAYLOAD }, observer: { decodeFailed }, logger });
  });
  afterAll(async () => {
    await store?.close();
    raw?.disconnect();
    await server?.stop();
  });
  beforeEach(async () => {
    await raw.flushdb();
  });

  const plant = async (count: number): Promise<Array<{ key: StorageKey; kind: Kind }>> => {
    const planted: Array<{ key: StorageKey; kind: Kind }> = [];
    for (let start = 0; start < count; start += 1_000) {
      const pipeline = raw.pipeline();
      for (let i = start; i < Math.min(start + 1_000, count); i++) {
        const scope = KeyScope.of('garbage', `tenant-${i % 97}`);
        const key = storageKey(scope, 'entry', `k${i}`);
        const foreign = storageKey(KeyScope.of('garbage', `tenant-${(i % 97) + 1}`), 'entry', `k${i}`);
        const kind = kinds[i % kinds.length]!;
        pipeline.set(key.full, garbage(kind, key, foreign));
        planted.push({ key, kind });
      }
      await pipeline.exec();
    }
    return planted;
  };

  it('every get resolves undefined, never throws, deletes the key and counts it', async () => {
    const planted = await plant(COUNT);
    expect(await raw.dbsize()).toBe(COUNT);
    const before = store.stats();

    const results = await Promise.allSettled(planted.map(({ key }) => store.get(key)));

    const problems = results
      .map((r, i) => ({ r, kind: planted[i]!.kind }))
      .filter(({ r }) => r.status === 'rejected' || r.value !== undefined)
      .slice(0, 5)
      .map(({ r, kind }) => `${kind}: ${r.status === 'rejected' ? String(r.reason) : 'decoded a value'}`);
    expect(problems).toEqual([]);
    expect(await raw.dbsize()).toBe(0);
    const after = store.stats();
    expect(after.decodeErrors - before.decodeErrors).toBe(COUNT);
    expect(after.errors).toBe(before.errors);
    expect(decodeFailed).toHaveBeenCalledTimes(COUNT);
    for (const [key, error] of decodeFailed.mock.calls.slice(0, 100)) {
      expect(error).toBeInstanceOf(DecodeError);
      expect((key as StorageKey).full).toMatch(/^garbage:\{t\.tenant-\d+\}:entry:k\d+$/);
    }
  });

  it('getOrSet and compareAndSet(null) on corrupt entries write the new entry', async () => {
    const planted = await plant(1_200);
    const writes = planted.map(({ key }, i) => ({ key, env: { value: i, createdAt: Date.now(), expiresAt: 0, stamp: newStamp(), scope: key.scope.id } satisfies Envelope }));
    const outcomes = await Promise.all(
      writes.map(({ key, env }, i) => (i % 2 === 0 ? store.getOrSet(key, env, 60_000).then((r) => r.set && r.envelope.stamp === env.stamp) : store.compareAndSet(key, null, env, 60_000))),
    );
    expect(outcomes.filter((ok) => !ok)).toEqual([]);
    const stored = await Promise.all(writes.map(({ key }) => store.get(key)));
    expect(stored.map((e) => e?.stamp)).toEqual(writes.map(({ env }) => env.stamp));
  });
});
