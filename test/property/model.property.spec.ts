import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import type { TenantCache } from '../../lib/cache/tenant-cache.js';
import { describeWithRedis, startRedis, type RedisServer } from '../helpers/redis-server.js';

/**
 * Model-based test: random operations against the real cache, compared step by step with a
 * plain Map per tenant. 50 tenants run their sequences concurrently (so the store interleaves
 * them), each sequence strictly in order (so the model is exact). Tenant ids and keys are
 * chosen to collide under a naive `${tenant}:${key}` join; every value carries its tenant, so
 * any cross-tenant read is caught even if it happened to equal the model.
 */
const TENANTS = 50;
const OPS_PER_TENANT = 2_000; // 100,000 operations in all
const KEYS = ['a', 'b', 'a:b', 'b:c', '{x}', '*', '?', '[', '\\', 'line\nbreak', 'nul\0', 'é', '🔑', ':', 'k'.repeat(300)];
const BASE_TENANTS = ['a', 'a:b', 'a:b:c', 'b', 'b:c', '{a}', 'a}', '*', '?', '[ab]', 'x\\y', 'g', 't.a', 'ünï', '🏢', '%41', 'A'];
const tenantIds = Array.from({ length: TENANTS }, (_, i) => BASE_TENANTS[i] ?? `tenant-${i}`);

type Value = { t: string; n: number } | null | 0 | '' | false;

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

async function runTenant(cache: TenantCache, tenant: string, seed: number, outcome: Outcome): Promise<Map<string, Value>> {
  const random = rng(seed);
  const model = new Map<string, Value>();
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
  for (let i = 0; i < OPS_PER_TENANT; i++) {
    outcome.ops++;
    const key = pickKey();
    const r = random();
    if (r < 0.3) {
      check(`get ${JSON.stringify(key)}`, await cache.get(key), model.get(key));
    } else if (r < 0.55) {
      const value = newValue();
      await cache.set(key, value, { ttl: 0 });
      model.set(key, value);
    } else if (r < 0.65) {
      check(`delete ${JSON.stringify(key)}`, await cache.delete(key), model.has(key));
      model.delete(key);
    } else if (r < 0.8) {
      const value = newValue();
      const result = await cache.getOrSet(key, value, { ttl: 0 });
      const expected = model.has(key) ? { value: model.get(key), set: false } : { value, set: true };
      check(`getOrSet ${JSON.stringify(key)}`, result, expected);
      if (!model.has(key)) model.set(key, value);
    } else if (r < 0.995) {
      const current = model.get(key);
      const roll = random();
      const expected: Value | undefined = roll < 0.6 ? current : roll < 0.8 ? undefined : newValue();
      const next = newValue();
      const wrote = await cache.compareAndSet(key, expected, next, { ttl: 0 });
      const modelWrote = isDeepStrictEqual(current, expected) || (expected === undefined && !model.has(key));
      check(`compareAndSet ${JSON.stringify(key)}`, wrote, modelWrote);
      if (modelWrote) model.set(key, next);
    } else {
      await cache.clear();
      model.clear();
    }
  }
  return model;
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
