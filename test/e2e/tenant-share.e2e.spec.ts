import { Controller, Get, Param } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { KeyScope } from '../../lib/keys/storage-key.js';
import { MANAGER_DEFAULTS } from '../../lib/options/manager-options.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX } from './helpers/fast-path-probe.js';
import { burstAgent, get } from './helpers/burst.js';

/**
 * Issue observation 12 over real HTTP: on the default memory store (no `store` option), one
 * tenant requesting 5,000 distinct URLs of a `@Cached()` route fills the store (its default
 * 4,096 entries) but cannot evict another tenant's cached response.
 */
const FLOOD = 5_000;
const IN_FLIGHT = 16;
const runs = new Map<string, number>();

@Controller('items')
class ItemsController {
  @Get(':id')
  @Cached({ ttl: '5m' })
  find(@Param('id') id: string) {
    runs.set(id, (runs.get(id) ?? 0) + 1);
    return { id, name: `Item ${id}`, price: 1999, description: 'A small JSON response, as most API routes send.' };
  }
}

describe.each(FAST_PATH_MATRIX)('the tenant share of the default memory store on %s, fast path %s', (platform, mode) => {
  let t: TestApp;
  const agent = burstAgent(IN_FLIGHT);
  beforeAll(async () => {
    t = await createTestApp(platform, {
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, fastPath: mode === 'on' })],
      controllers: [ItemsController],
    });
  });
  afterAll(async () => {
    agent.destroy();
    await t.close();
  });

  it(`a tenant requesting ${FLOOD.toLocaleString('en-US')} distinct URLs leaves another tenant's cached URL a HIT`, async () => {
    const victimId = `${platform}-${mode}-victim`;
    const asVictim = { 'x-tenant-id': 'victim' };
    expect((await get(agent, `${t.url}/items/${victimId}`, asVictim)).xCache).toBe('MISS');
    expect((await get(agent, `${t.url}/items/${victimId}`, asVictim)).xCache).toBe('HIT');

    const started = performance.now();
    let next = 0;
    const statuses: number[] = [];
    const worker = async (): Promise<void> => {
      while (next < FLOOD) {
        const reply = await get(agent, `${t.url}/items/${platform}-${mode}-flood-${next++}`, { 'x-tenant-id': 'flooder' });
        statuses.push(reply.status);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const floodMs = performance.now() - started;

    const after = await get(agent, `${t.url}/items/${victimId}`, asVictim);
    const store = t.app.get(CacheManager).store as MemoryStore;
    const { entries, evictions } = store.stats();
    const flooderEntries = store.scopeSize(KeyScope.of(MANAGER_DEFAULTS.namespace, 'flooder'));
    console.log(
      `${platform}/${mode}: ${FLOOD} flood requests in ${(floodMs / 1000).toFixed(1)} s; store ${entries}/${store.bounds.maxEntries} entries, ${evictions} evictions, ` +
        `the flooder holds ${flooderEntries}; the victim's URL afterwards: X-Cache ${after.xCache}`,
    );
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(entries).toBe(store.bounds.maxEntries); // the flood filled the store: the share decided who left
    expect(evictions).toBeGreaterThan(0);
    expect(after.status).toBe(200);
    expect(after.xCache).toBe('HIT');
    expect(JSON.parse(after.body)).toMatchObject({ id: victimId });
    expect(runs.get(victimId)).toBe(1);
  });
});
