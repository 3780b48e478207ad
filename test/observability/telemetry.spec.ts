import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { metrics, type Attributes, type Meter, type MeterProvider } from '@opentelemetry/api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { resolveModuleOptions } from '../../lib/options/module-options.js';
import { HttpCache } from '../../lib/http/http-cache.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { CACHE_CHANNELS, type CacheEvent } from '../../lib/observability/cache-channels.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { ChaosStore } from '../helpers/chaos.store.js';

/** A minimal MeterProvider that records every measurement, registered as the global one. */
const measurements: Array<{ name: string; value: number; attributes: Attributes | undefined }> = [];
const instrument = (name: string) => ({
  add: (value: number, attributes?: Attributes) => measurements.push({ name, value, attributes }),
  record: (value: number, attributes?: Attributes) => measurements.push({ name, value, attributes }),
});
const provider: MeterProvider = {
  getMeter: () => ({ createCounter: instrument, createHistogram: instrument }) as unknown as Meter,
};

function sum(name: string, tenant?: string): number {
  return measurements.filter((m) => m.name === name && (tenant === undefined || m.attributes?.['cache.tenant'] === tenant)).reduce((n, m) => n + m.value, 0);
}

beforeAll(() => {
  expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
});
afterAll(() => {
  metrics.disable();
});
// Each test reads only what it recorded (the first one used to read everything recorded so far).
beforeEach(() => {
  measurements.length = 0;
});

describe('OpenTelemetry metrics', () => {
  it('counts hits, misses, puts, errors and stampede waits with the tenant attribute', async () => {
    const chaos = new ChaosStore(new MemoryStore({ sweepInterval: 0 }));
    const manager = CacheManager.createSync({ store: chaos, logger: false });
    const acme = manager.forTenant('acme');
    await acme.get('k');
    await acme.set('k', 1);
    await acme.get('k');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const waits = Promise.all(Array.from({ length: 5 }, () => acme.wrap('slow', async () => (await gate, 'v'))));
    await new Promise((r) => setImmediate(r));
    release();
    await waits;
    chaos.failing.add('get');
    await acme.get('k');
    expect(sum('cache.hits', 'acme')).toBe(1);
    expect(sum('cache.misses', 'acme')).toBe(3); // first get, the first wrap caller, the failed read
    expect(sum('cache.puts', 'acme')).toBe(2);
    expect(sum('cache.stampede_waits', 'acme')).toBe(4);
    expect(sum('cache.errors', 'acme')).toBe(1);
    expect(measurements.some((m) => m.name === 'cache.store.duration' && m.attributes?.['cache.operation'] === 'read')).toBe(true);
    const stats = await manager.stats();
    expect(stats.stampedeWaits).toBe(4);
    await manager.close();
  });

  it('bounds tenant cardinality: beyond maxTenantLabels tenants share (other)', async () => {
    const manager = CacheManager.createSync({ logger: false, telemetry: { maxTenantLabels: 3 } });
    for (let i = 0; i < 10; i++) await manager.forTenant(`t${i}`).get('k');
    const labels = new Set(measurements.filter((m) => m.name === 'cache.misses').map((m) => m.attributes?.['cache.tenant']));
    expect(labels).toEqual(new Set(['t0', 't1', 't2', '(other)']));
    expect(sum('cache.misses', '(other)')).toBe(7);
    await manager.close();
  });

  it("with tenantAttribute 'none' no tenant reaches the metrics", async () => {
    const manager = CacheManager.createSync({ logger: false, telemetry: { tenantAttribute: 'none' } });
    await manager.forTenant('secret-tenant').get('k');
    expect(measurements.length).toBeGreaterThan(0);
    for (const m of measurements) expect(m.attributes?.['cache.tenant']).toBeUndefined();
    await manager.close();
  });
});

describe('diagnostics_channel events', () => {
  it('publishes hit, miss, put, error and bypass events without keys or values', async () => {
    const events: Array<[string, CacheEvent]> = [];
    const listeners = Object.entries(CACHE_CHANNELS).map(([kind, name]) => {
      const listener = (message: unknown) => events.push([kind, message as CacheEvent]);
      subscribe(name, listener);
      return () => unsubscribe(name, listener);
    });
    try {
      const chaos = new ChaosStore(new MemoryStore({ sweepInterval: 0 }));
      const manager = CacheManager.createSync({ store: chaos, logger: false });
      const cache = manager.forTenant('acme');
      await cache.get('secret-key');
      await cache.set('secret-key', 'secret-value');
      await cache.get('secret-key');
      chaos.failing.add('get');
      await cache.get('secret-key');
      new HttpCache(resolveModuleOptions({ tenant: fromHeader('x-tenant-id') }), manager, () => undefined).countBypass('acme', 'method');
      const kinds = events.map(([kind]) => kind);
      expect(kinds).toEqual(['miss', 'put', 'hit', 'error', 'miss', 'bypass']);
      const error = events.find(([kind]) => kind === 'error')![1];
      expect(error).toMatchObject({ tenant: 'acme', op: 'get', code: 'ERR_CACHE_CONNECTION' });
      expect(error.keyHash).toMatch(/^[A-Za-z0-9_-]{12}$/);
      expect(JSON.stringify(events)).not.toContain('secret');
      await manager.close();
    } finally {
      for (const off of listeners) off();
    }
  });
});
