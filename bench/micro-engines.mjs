/**
 * Micro cases of whole cache engines (micro.mjs runs them with its own groups and rounds):
 *
 * - `engine.get` / `engine.getString`: a memory `get` of a present key through each library's
 *   public API, awaited: ours `CacheManager.forTenant(t).get(key)`, bentocache (memory driver,
 *   one tier, its defaults except room for every key), cacheable (its default in-memory primary);
 *   raw lru-cache for reference. Objects (`{ ...PAYLOAD }`) and 215-byte JSON strings: each
 *   library keeps a read from changing the cache (ours copies objects, bentocache serialises,
 *   cacheable clones), and a string costs none of that, so both are shown.
 * - `tenants`: ours per lookup over 1 tenant x 10,000 keys, 1 tenant x 100,000 keys, 10,000
 *   tenants x 1 key and 100,000 tenants x 1 key, by the public `forTenant(t).get(key)` and by the HTTP lookup (the tenant's
 *   store access, then the engine's synchronous read: what a fast-path hit does from tenant and
 *   key to the stored response); raw lru-cache get of 10,000 entries as the base.
 * - `redis.get.50.bentocache`: bentocache's Redis get (Redis driver, one tier), 50 in flight,
 *   beside ours and raw ioredis in micro.mjs's `redis.get.50` group.
 *
 * `h` carries micro.mjs's helpers and the built library's classes.
 */
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { Cacheable } from 'cacheable';
import { LRUCache } from 'lru-cache';
import { PAYLOAD } from './lib/payload.mjs';

const KEYS = 10_000;
/** Tenant lookups pick from 2^20 pseudo-random indices: 65,536 would leave a third of 100,000 tenants unvisited. */
const TENANT_SEQ_BITS = 20;
const TENANT_SEQ_MASK = (1 << TENANT_SEQ_BITS) - 1;

function sequence(n, bits) {
  const idx = new Uint32Array(1 << bits);
  let x = 0x2545f491;
  for (let i = 0; i < idx.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    idx[i] = (x >>> 0) % n;
  }
  return idx;
}

const valueOf = (kind, i) => (kind === 'string' ? JSON.stringify({ ...PAYLOAD, id: i }) : { ...PAYLOAD, id: i });
/** Something read from each value, so no get is optimised away (a string's length, an object's id). */
const touch = (v) => (v === undefined ? 0 : typeof v === 'string' ? v.length : v.id);

async function oursManager(h, namespace, store) {
  return h.CacheManager.create({ namespace: `${namespace}-${process.pid}`, store: { type: 'memory', sweepInterval: 0, ...store }, logger: false });
}

function engineGroup(h, kind) {
  const group = kind === 'string' ? 'engine.getString' : 'engine.get';
  const label = kind === 'string' ? '215-byte JSON strings' : 'objects';
  const keys = Array.from({ length: KEYS }, (_, i) => `item:${i}`);
  const idx = sequence(KEYS, 16);
  const loop = (get) => async (count, off) => {
    let sum = 0;
    for (let i = 0; i < count; i++) sum += touch(await get(keys[idx[(off + i) & 0xffff]]));
    return sum;
  };
  return [
    {
      id: `${group}.ours`, name: `ours CacheManager.forTenant(t).get, memory, ${label}, 10k keys`, group,
      async setup() {
        const manager = await oursManager(h, 'micro-engine', { maxEntries: KEYS, maxBytes: 2 ** 40 });
        const cache = () => manager.forTenant('acme');
        for (let i = 0; i < KEYS; i++) await cache().set(keys[i], valueOf(kind, i), { ttl: h.TTL_MS });
        if ((await cache().get(keys[0])) === undefined) throw new Error('ours: a present key read as absent');
        // forTenant per call, as a service resolving the request's tenant does.
        return { batch: loop((k) => manager.forTenant('acme').get(k)), teardown: () => manager.close() };
      },
    },
    {
      id: `${group}.bentocache`, name: `bentocache get, memory driver (one tier), ${label}, 10k keys`, group,
      async setup() {
        // maxItems: its default (1,000) would evict most of the 10,000 keys.
        const bento = new BentoCache({ default: 'memory', stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 2 * KEYS })) } });
        for (let i = 0; i < KEYS; i++) await bento.set({ key: keys[i], value: valueOf(kind, i), ttl: h.TTL_MS });
        if ((await bento.get({ key: keys[KEYS - 1] })) === undefined) throw new Error('bentocache: a present key read as absent');
        return { batch: loop((k) => bento.get({ key: k })), teardown: () => bento.disconnectAll() };
      },
    },
    {
      id: `${group}.cacheable`, name: `cacheable get, in-memory (its default primary), ${label}, 10k keys`, group,
      async setup() {
        const cache = new Cacheable();
        for (let i = 0; i < KEYS; i++) await cache.set(keys[i], valueOf(kind, i), h.TTL_MS);
        if ((await cache.get(keys[KEYS - 1])) === undefined) throw new Error('cacheable: a present key read as absent');
        return { batch: loop((k) => cache.get(k)), teardown: () => cache.disconnect?.() };
      },
    },
    {
      id: `${group}.lruAwaited`, name: `raw lru-cache get in an async function, awaited, ${label}, 10k keys`, group,
      async setup() {
        const lru = new LRUCache({ max: KEYS, allowStale: false, updateAgeOnGet: false });
        for (let i = 0; i < KEYS; i++) lru.set(keys[i], valueOf(kind, i), { ttl: h.TTL_MS });
        const get = async (k) => lru.get(k);
        return { batch: loop(get) };
      },
    },
    {
      id: `${group}.lru`, name: `raw lru-cache get (sync), ${label}, 10k keys`, group,
      async setup() {
        const lru = new LRUCache({ max: KEYS, allowStale: false, updateAgeOnGet: false });
        for (let i = 0; i < KEYS; i++) lru.set(keys[i], valueOf(kind, i), { ttl: h.TTL_MS });
        return {
          batch(count, off) {
            let sum = 0;
            for (let i = 0; i < count; i++) sum += touch(lru.get(keys[idx[(off + i) & 0xffff]]));
            return sum;
          },
        };
      },
    },
  ];
}

/**
 * The tenant shapes: [tenants, keys per tenant]. Ids: `tenants.<op>.<tenants>`, and
 * `tenants.<op>.1x100000` for one tenant with as many keys as 100,000 tenants have entries: the
 * base the tenant-count targets compare with (at 10x the entries, raw lru-cache itself is ~10x
 * slower per get here: memory latency, not tenants).
 */
const SHAPES = [
  [1, KEYS],
  [1, 100_000],
  [10_000, 1],
  [100_000, 1],
];
const shapeId = (tenants, perTenant) => (tenants === 1 && perTenant !== KEYS ? `1x${perTenant}` : `${tenants}`);

function tenantGroup(h) {
  const group = 'tenants';
  const body = JSON.stringify(PAYLOAD);
  // One filled manager per shape, shared by its get and lookup cases (100,000 entries once, not twice).
  const managers = new Map();
  const filled = (tenants, perTenant) => {
    const shape = `${tenants}x${perTenant}`;
    if (!managers.has(shape)) {
      managers.set(shape, {
        users: 0,
        ready: (async () => {
          const total = tenants * perTenant;
          // Room for every entry, and the tenant share off: nothing may be evicted.
          const manager = await oursManager(h, `micro-tenants-${shape}`, { maxEntries: total, maxBytes: 2 ** 40, maxTenantShare: 1 });
          const ids = Array.from({ length: tenants }, (_, t) => `tenant-${t}`);
          const keys = Array.from({ length: perTenant }, (_, k) => `item:${k}`);
          for (const id of ids) for (const key of keys) await manager.forTenant(id).set(key, body, { ttl: h.TTL_MS });
          if (manager.store.stats().entries !== total) throw new Error(`the store holds ${manager.store.stats().entries} of ${total} entries: every lookup must hit`);
          // Request i reads tenant ids[t[i]] and key keys[k[i]]: one of them is always 0.
          const t = sequence(tenants, TENANT_SEQ_BITS);
          const k = sequence(perTenant, TENANT_SEQ_BITS);
          return { manager, ids, keys, t, k };
        })(),
      });
    }
    const m = managers.get(shape);
    m.users++;
    return m.ready.then((data) => ({
      data,
      release: async () => {
        if (--m.users === 0) await data.manager.close();
      },
    }));
  };
  const shapeName = (tenants, perTenant) => `${tenants.toLocaleString('en-US')} tenant${tenants === 1 ? '' : 's'} x ${perTenant.toLocaleString('en-US')} key${perTenant === 1 ? '' : 's'}`;
  return [
    ...SHAPES.map(([tenants, perTenant]) => ({
      id: `tenants.get.${shapeId(tenants, perTenant)}`, name: `ours forTenant(t).get, awaited, ${shapeName(tenants, perTenant)}`, group,
      async setup() {
        const { data, release } = await filled(tenants, perTenant);
        const { manager, ids, keys, t, k } = data;
        return {
          async batch(count, off) {
            let bytes = 0;
            for (let i = 0; i < count; i++) {
              const j = (off + i) & TENANT_SEQ_MASK;
              bytes += (await manager.forTenant(ids[t[j]]).get(keys[k[j]]))?.length ?? 0;
            }
            return bytes;
          },
          teardown: release,
        };
      },
    })),
    ...SHAPES.map(([tenants, perTenant]) => ({
      id: `tenants.lookup.${shapeId(tenants, perTenant)}`, name: `ours HTTP lookup (tenant's store access + sync read), ${shapeName(tenants, perTenant)}`, group,
      async setup() {
        if (h.internalsOf === undefined) throw new Error('the built library has no internalsOf(): the HTTP lookup rows need it');
        const { data, release } = await filled(tenants, perTenant);
        const { manager, ids, keys, t, k } = data;
        const internals = h.internalsOf(manager);
        const engine = internals.state.engine;
        if (engine.peekSync(internals.access(ids[0]), keys[0]) === undefined) throw new Error('HTTP lookup: a present key read as absent');
        return {
          batch(count, off) {
            let bytes = 0;
            for (let i = 0; i < count; i++) {
              const j = (off + i) & TENANT_SEQ_MASK;
              bytes += engine.peekSync(internals.access(ids[t[j]]), keys[k[j]])?.value.length ?? 0;
            }
            return bytes;
          },
          teardown: release,
        };
      },
    })),
    {
      id: 'tenants.lru', name: 'raw lru-cache get (sync), 10,000 entries (the same string bodies)', group,
      async setup() {
        const keys = Array.from({ length: KEYS }, (_, i) => `tenant-0:item:${i}`);
        const lru = new LRUCache({ max: KEYS, allowStale: false, updateAgeOnGet: false });
        for (const key of keys) lru.set(key, { value: body }, { ttl: h.TTL_MS });
        const k = sequence(KEYS, TENANT_SEQ_BITS);
        return {
          batch(count, off) {
            let bytes = 0;
            for (let i = 0; i < count; i++) bytes += lru.get(keys[k[(off + i) & TENANT_SEQ_MASK]])?.value.length ?? 0;
            return bytes;
          },
        };
      },
    },
  ];
}

/** bentocache's Redis get, 50 in flight (one tier: the Redis driver alone), over 1,000 keys. */
function bentoRedisCase(h) {
  return {
    id: 'redis.get.50.bentocache', name: 'bentocache get, Redis driver (one tier), 50 in flight', group: 'redis.get.50', roundScale: 2.5,
    async setup() {
      const { hostname, port } = new URL(h.redisUrl);
      const bento = new BentoCache({ default: 'redis', stores: { redis: bentostore().useL2Layer(redisDriver({ connection: { host: hostname, port: Number(port) }, prefix: `bench-bento-${process.pid}` })) } });
      const keys = Array.from({ length: 1_000 }, (_, i) => `item:${i}`);
      for (let i = 0; i < keys.length; i++) await bento.set({ key: keys[i], value: { ...PAYLOAD, id: i }, ttl: h.TTL_MS });
      if ((await bento.get({ key: keys[0] })) === undefined) throw new Error('bentocache: a seeded key read as absent');
      const idx = sequence(keys.length, 16);
      return {
        batch: (count, off) => h.inParallel(50, count, off, async (i) => (await bento.get({ key: keys[idx[i & 0xffff]] })) !== undefined),
        teardown: () => bento.disconnectAll(),
      };
    },
  };
}

export function engineCases(h) {
  return [...engineGroup(h, 'object'), ...engineGroup(h, 'string'), ...tenantGroup(h), ...(h.redisUrl ? [bentoRedisCase(h)] : [])];
}
