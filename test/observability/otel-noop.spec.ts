import { metrics, type Meter, type MeterProvider } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheTelemetry } from '../../lib/observability/cache-telemetry.js';
import { telemetryApi } from '../../lib/observability/otel-api.js';

/**
 * Without an SDK registered before a manager is made, its instruments are the API's no-ops for
 * good (the metrics API has no proxy), so the hot path skips timing store reads and adding to
 * counters. With any other instrument (an SDK's, or a plain object as here) everything is recorded.
 * This file owns the process's global meter provider: none, but while a test of the second block runs.
 */
afterEach(() => {
  metrics.disable();
});

describe('telemetry without an SDK', () => {
  it("takes the API's no-op counter and histogram as recording nothing, and any other instrument as real", () => {
    const api = telemetryApi();
    expect(api.present).toBe(true);
    // The global meter with no SDK registered is the no-op one (of the copy the library loads:
    // its CommonJS build, whose classes are not the ESM build's this file imports).
    const meter = api.getMeter('x');
    expect(api.recordsNothing(meter.createHistogram('h', { description: '', unit: 'ms' }))).toBe(true);
    expect(api.recordsNothing(meter.createCounter('c', { description: '', unit: '{operation}' }))).toBe(true);
    expect(api.recordsNothing({ record: () => undefined })).toBe(false);
    expect(api.recordsNothing({ add: () => undefined })).toBe(false);
  });

  it('a manager made without an SDK times no store read, and still counts every hit and miss in its stats', async () => {
    expect(new CacheTelemetry().timesStore).toBe(false);
    const manager = CacheManager.createSync({ logger: false });
    const acme = manager.forTenant('acme');
    await acme.set('k', { n: 1 });
    expect(await acme.get('k')).toEqual({ n: 1 });
    expect(await acme.get('absent')).toBeUndefined();
    const stats = await manager.stats();
    expect([stats.hits, stats.misses]).toEqual([1, 1]);
    await manager.close();
  });
});

describe('telemetry with an SDK', () => {
  it('a manager made after an SDK is registered times its reads and adds to its counters', async () => {
    const recorded: string[] = [];
    const instrument = (name: string) => ({ add: () => recorded.push(name), record: () => recorded.push(name) });
    const provider: MeterProvider = { getMeter: () => ({ createCounter: instrument, createHistogram: instrument }) as unknown as Meter };
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
    expect(new CacheTelemetry().timesStore).toBe(true);
    const manager = CacheManager.createSync({ logger: false });
    await manager.forTenant('acme').set('k', 1);
    recorded.length = 0;
    expect(await manager.forTenant('acme').get('k')).toBe(1);
    // The synchronous read of the memory store is timed, and the hit counted.
    expect(recorded.sort()).toEqual(['cache.hits', 'cache.store.duration']);
    await manager.close();
  });
});
