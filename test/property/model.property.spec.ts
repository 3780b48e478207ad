import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import type { TenantCache } from '../../lib/cache/tenant-cache.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { TieredInstance } from '../helpers/tiered-instance.js';
import type { TenantOp } from '../helpers/tiered-instance.child.js';
import { Redis } from 'ioredis';
import { busChannel } from '../../lib/stores/tiered/bus-message.js';

/**
 * Model-based test: random operations against the real cache, compared step by step with a
 * plain Map per tenant. 50 tenants run their sequences concurrently (so the store interleaves
 * them), each sequence strictly in order (so the model is exact). Tenant ids and keys are
 * chosen to collide under a naive `${tenant}:${key}` join; every value carries its tenant, so
 * any cross-tenant read is caught even if it happened to equal the model. Writes carry random
 * tags (per tenant, named alike across tenants), invalidated at random; `wrap` computes through
 * the engine (a basis taken before its factory runs); clears bump the tenant's epoch. Where the
 * cache has them (not the 2-process spread), getMany, pull and deleteMany are checked too.
 */
const TENANTS = 50;
const OPS_PER_TENANT = 2_000; // 100,000 operations in all
const KEYS = ['a', 'b', 'a:b', 'b:c', '{x}', '*', '?', '[', '\\', 'line\nbreak', 'nul\0', 'é', '🔑', ':', 'k'.repeat(300)];
const BASE_TENANTS = ['a', 'a:b', 'a:b:c', 'b', 'b:c', '{a}', 'a}', '*', '?', '[ab]', 'x\\y', 'g', 't.a', 'ünï', '🏢', '%41', 'A'];
const tenantIds = Array.from({ length: TENANTS }, (_, i) => BASE_TENANTS[i] ?? `tenant-${i}`);

const TAGS = ['p', 'q', 'shared', '*', '{t}', 'a:b'];

type Value = { t: string; n: number } | null | 0 | '' | false;
interface Held {
  readonly value: Value;
  readonly tags: readonly string[];
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Outcome {
  divergences: string[];
  crossTenantReads: number;
  ops: number;
}

/** What the model drives: a tenant's scoped cache, or one spread over processes (`spread`). */
type ModelCache = Pick<TenantCache, 'get' | 'set' | 'delete' | 'getOrSet' | 'compareAndSet' | 'wrap' | 'invalidateTags' | 'clear'> &
  Partial<Pick<TenantCache, 'getMany' | 'deleteMany' | 'pull'>>;

async function runTenant(cache: ModelCache, tenant: string, seed: number, outcome: Outcome, opsPerTenant = OPS_PER_TENANT): Promise<Map<string, Value>> {
  const random = rng(seed);
  const held = new Map<string, Held>();
  // The model's view of values, as the original Map<string, Value> was.
  const model = {
    get: (key: string) => held.get(key)?.value,
    has: (key: string) => held.has(key),
    delete: (key: string) => held.delete(key),
    clear: () => held.clear(),
  };
  const pickTags = (): string[] => TAGS.filter(() => random() < 0.25);
  const tagOptions = (tags: readonly string[]) => (tags.length === 0 ? { ttl: 0 } : { ttl: 0, tags });
  let n = 0;
  const pickKey = () => KEYS[Math.floor(random() * KEYS.length)]!;
  const newValue = (): Value => {
    const r = random();
    if (r < 0.04) return null;
    if (r < 0.06) return 0;
    if (r < 0.08) return '';
    if (r < 0.1) return false;
    return { t: tenant, n: ++n };
  };
  const check = (what: string, actual: unknown, expected: unknown) => {
    if (actual !== null && typeof actual === 'object' && 't' in actual && (actual as { t: string }).t !== tenant) outcome.crossTenantReads++;
    if (!isDeepStrictEqual(actual, expected)) outcome.divergences.push(`${tenant} ${what}: got ${JSON.stringify(actual)}, model ${JSON.stringify(expected)}`);
  };
  for (let i = 0; i < opsPerTenant; i++) {
    outcome.ops++;
    const key = pickKey();
    const r = random();
    if (r < 0.3) {
      check(`get ${JSON.stringify(key)}`, await cache.get(key), model.get(key));
    } else if (r < 0.47) {
      const value = newValue();
      const tags = pickTags();
      await cache.set(key, value, tagOptions(tags));
      held.set(key, { value, tags });
    } else if (r < 0.55) {
      const value = newValue();
      const tags = pickTags();
      const got = await cache.wrap(key, () => value, tagOptions(tags));
      check(`wrap ${JSON.stringify(key)}`, got, model.has(key) ? model.get(key) : value);
      if (!model.has(key) && value !== undefined) held.set(key, { value, tags });
    } else if (r < 0.6) {
      const tags = pickTags();
      await cache.invalidateTags(tags);
      for (const [k, h] of held) if (h.tags.some((t) => tags.includes(t))) held.delete(k);
    } else if (r < 0.65) {
      check(`delete ${JSON.stringify(key)}`, await cache.delete(key), model.has(key));
      model.delete(key);
    } else if (r < 0.8) {
      const value = newValue();
      const tags = pickTags();
      const result = await cache.getOrSet(key, value, tagOptions(tags));
      const expected = model.has(key) ? { value: model.get(key), set: false } : { value, set: true };
      check(`getOrSet ${JSON.stringify(key)}`, result, expected);
      if (!model.has(key)) held.set(key, { value, tags });
    } else if (r < 0.86 && cache.getMany !== undefined) {
      const keys = [key, pickKey(), pickKey()];
      check(`getMany ${JSON.stringify(keys)}`, await cache.getMany(keys), keys.map((k) => model.get(k)));
    } else if (r < 0.89 && cache.pull !== undefined) {
      check(`pull ${JSON.stringify(key)}`, await cache.pull(key), model.get(key));
      model.delete(key);
    } else if (r < 0.91 && cache.deleteMany !== undefined) {
      const keys = [...new Set([key, pickKey()])];
      check(`deleteMany ${JSON.stringify(keys)}`, await cache.deleteMany(keys), keys.filter((k) => model.has(k)).length);
      for (const k of keys) model.delete(k);
    } else if (r < 0.995) {
      const current = model.get(key);
      const roll = random();
      const expected: Value | undefined = roll < 0.6 ? current : roll < 0.8 ? undefined : newValue();
      const next = newValue();
      const tags = pickTags();
      const wrote = await cache.compareAndSet(key, expected, next, tagOptions(tags));
      const modelWrote = isDeepStrictEqual(current, expected) || (expected === undefined && !model.has(key));
      check(`compareAndSet ${JSON.stringify(key)}`, wrote, modelWrote);
      if (modelWrote) held.set(key, { value: next, tags });
    } else {
      await cache.clear();
      model.clear();
    }
  }
  return new Map([...held].map(([k, h]) => [k, h.value]));
}

async function runModel(manager: CacheManager, seed: number): Promise<void> {
  const outcome: Outcome = { divergences: [], crossTenantReads: 0, ops: 0 };
  const models = await Promise.all(tenantIds.map((tenant, i) => runTenant(manager.forTenant(tenant), tenant, seed * 1000 + i, outcome)));
  expect(outcome.ops).toBe(TENANTS * OPS_PER_TENANT);
  expect(outcome.crossTenantReads).toBe(0);
  expect(outcome.divergences.slice(0, 10)).toEqual([]);

  // Final state equals the model for every tenant and key.
  for (const [i, tenant] of tenantIds.entries()) {
    for (const key of KEYS) expect(await manager.forTenant(tenant).get(key), `${tenant} ${key}`).toEqual(models[i]!.get(key));
  }
  // Clearing one tenant leaves every other tenant's entries intact.
  const victim = tenantIds[0]!;
  await manager.forTenant(victim).clear();
  for (const key of KEYS) expect(await manager.forTenant(victim).get(key)).toBeUndefined();
  for (const [i, tenant] of tenantIds.entries()) {
    if (tenant === victim) continue;
    for (const key of KEYS) expect(await manager.forTenant(tenant).get(key), `${tenant} ${key} after clearing ${victim}`).toEqual(models[i]!.get(key));
  }
}

describe('model-based: memory store', () => {
  it(`100,000 random operations over ${TENANTS} tenants match the model`, async () => {
    const manager = CacheManager.createSync({ store: { type: 'memory', maxEntries: 100_000, sweepInterval: 0 }, logger: false });
    try {
      await runModel(manager, 1);
    } finally {
      await manager.close();
    }
  });
});

describeWithRedis('model-based: Redis store', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it(`100,000 random operations over ${TENANTS} tenants match the model`, async () => {
    const manager = await CacheManager.create({ store: { type: 'redis', url: server.url }, namespace: 'model', logger: false });
    try {
      await runModel(manager, 2);
    } finally {
      await manager.close();
    }
  }, 120_000);
});

/**
 * The tiered store across 2 processes on one Redis: each operation of a tenant's sequence runs
 * in a process picked at random, so a value written through one instance is read, overwritten,
 * invalidated or cleared through the other. The bus is asynchronous (bounded staleness, not
 * read-your-writes across instances), so after each change the test waits until both processes
 * have applied it: it publishes a marker on the bus channel (after the change's own message, so
 * behind it on every subscriber connection) and waits until each process has heard it. Between
 * those points the model must hold exactly.
 */
describeWithRedis('model-based: the tiered store across 2 processes on one Redis', () => {
  let server: RedisServer;
  let raw: Redis;
  const instances: TieredInstance[] = [];
  beforeAll(async () => {
    server = await startRedis();
    raw = new Redis(server.url);
  });
  afterAll(async () => {
    await Promise.all(instances.splice(0).map((i) => i.close()));
    raw?.disconnect();
    await server?.stop();
  });

  it('20 tenants x 300 operations, each in a random process of 2: zero divergences, zero cross-tenant reads', async () => {
    const config = { store: { type: 'tiered' as const, l2: { url: server.url } }, namespace: 'model-tiered' };
    const [a, b] = await Promise.all([TieredInstance.start('A', config), TieredInstance.start('B', config)]);
    instances.push(a!, b!);
    const processes = [a!, b!];
    let markers = 0;
    let sync: Promise<void> = Promise.resolve();
    /** Both processes have applied every change made so far. Serialized: markers count in order. */
    const mark = async (): Promise<void> => {
      const n = ++markers;
      await raw.publish(busChannel(''), `marker ${n}`);
      await Promise.all(processes.map((p) => p.call({ cmd: 'awaitMalformed', count: n })));
    };
    const settle = (): Promise<void> => {
      sync = sync.then(mark);
      return sync;
    };
    const spread = (tenant: string, random: () => number): ModelCache => {
      const run = async (op: TenantOp, changes: boolean): Promise<unknown> => {
        const p = processes[Math.floor(random() * processes.length)]!;
        const { result } = await p.call<{ result: unknown }>({ cmd: 'op', tenant, op });
        if (changes) await settle();
        return result;
      };
      const tagsOf = (options?: { tags?: readonly string[] }): string[] => [...(options?.tags ?? [])];
      return {
        get: (key) => run({ name: 'get', key }, false),
        set: async (key, value, options) => void (await run({ name: 'set', key, value, tags: tagsOf(options) }, true)),
        delete: (key) => run({ name: 'delete', key }, true),
        getOrSet: (key, value, options) => run({ name: 'getOrSet', key, value, tags: tagsOf(options) }, true),
        compareAndSet: (key, expected, next, options) => run({ name: 'compareAndSet', key, ...(expected === undefined ? {} : { expected }), next, tags: tagsOf(options) }, true),
        wrap: async (key, factory, options) => run({ name: 'wrap', key, value: await (factory as () => unknown)(), tags: tagsOf(options) }, true),
        invalidateTags: async (tags) => void (await run({ name: 'invalidateTags', tags: [...tags] }, true)),
        clear: async () => void (await run({ name: 'clear' }, true)),
      } as ModelCache;
    };
    const outcome: Outcome = { divergences: [], crossTenantReads: 0, ops: 0 };
    const tenants = tenantIds.slice(0, 20);
    await Promise.all(tenants.map((tenant, i) => runTenant(spread(tenant, rng(7_000 + i)), tenant, 3_000 + i, outcome, 300)));
    const stats = await Promise.all(processes.map((p) => p.call<{ stats: { bus: { applied: number; state: string } } }>({ cmd: 'stats' })));
    console.log(`[model tiered] ${outcome.ops} operations over ${tenants.length} tenants in 2 processes (${markers} changes settled): ${outcome.divergences.length} divergences, ${outcome.crossTenantReads} cross-tenant reads; bus messages applied: A ${stats[0]!.stats.bus.applied}, B ${stats[1]!.stats.bus.applied}`);
    expect(outcome.ops).toBe(tenants.length * 300);
    expect(outcome.crossTenantReads).toBe(0);
    expect(outcome.divergences.slice(0, 10)).toEqual([]);
  }, 120_000);
});
