import { Controller, Get, Module, Query, Res } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { createTestApp, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX } from './helpers/fast-path-probe.js';

const clock = new ManualClock();
let seq = 0;
@Controller('p')
class ProxyController {
  /** Relays an upstream response that is already `age` seconds old (its Age, or its Date that far back). */
  @Get()
  @Cached()
  relay(@Res({ passthrough: true }) res: { header(n: string, v: string): unknown }, @Query('how') how: string) {
    if (how === 'age' || how === 'stale') {
      res.header('cache-control', 'max-age=60');
      res.header('age', how === 'age' ? '50' : '70');
    } else {
      res.header('date', new Date(clock.now() - 50_000).toUTCString());
      res.header('expires', new Date(clock.now() + 10_000).toUTCString());
    }
    return { n: ++seq };
  }
}

describe.each(FAST_PATH_MATRIX)('the age a relayed response arrives with (RFC 9111 §4.2.3) on %s, fast path %s', (platform, mode) => {
  let t: TestApp;
  beforeAll(async () => {
    @Module({ imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, clock, fastPath: mode === 'on', defaultTtl: '1h' })], controllers: [ProxyController] })
    class M {}
    t = await createTestApp(platform, { imports: [M] });
  });
  afterAll(() => t?.close());
  it.each([
    ['Age: 50 with max-age=60', 'age'],
    ['Date 50 s ago with Expires 10 s ahead', 'date'],
  ])('a response already %s is fresh 10 s more, not 60: hits say Age 55 at 5 s, a miss after 10 s', async (what, how) => {
    const tenant = `${platform}-${mode}-${how}`;
    await t.http().get(`/p?how=${how}`).set('x-tenant-id', tenant);
    clock.advance(5_000);
    const hit = await t.http().get(`/p?how=${how}`).set('x-tenant-id', tenant);
    const hitAt = clock.now();
    clock.advance(4_999);
    const last = await t.http().get(`/p?how=${how}`).set('x-tenant-id', tenant);
    clock.advance(1);
    const later = await t.http().get(`/p?how=${how}`).set('x-tenant-id', tenant);
    console.log(`[current age] ${platform}/${mode} ${what}: 5 s later ${hit.headers['x-cache']} Age ${hit.headers.age} Cache-Control ${hit.headers['cache-control'] ?? '-'} Expires ${hit.headers.expires ?? '-'}; at 9.999 s ${last.headers['x-cache']}; at 10 s ${later.headers['x-cache']}`);
    expect(last.headers['x-cache']).toBe('HIT');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.headers.age).toBe('55');
    // What is left (5 s) plus the Age sent (55): a downstream cache keeps it 5 s more.
    if (how === 'age') expect(hit.headers['cache-control']).toBe('max-age=60');
    else expect(Date.parse(hit.headers.expires!)).toBe(Math.floor((hitAt + 60_000) / 1000) * 1000);
    expect(later.headers['x-cache']).toBe('MISS');
  });

  it('a response already older than its freshness (Age: 70 with max-age=60) is not stored', async () => {
    const tenant = `${platform}-${mode}-stale`;
    const first = await t.http().get('/p?how=stale').set('x-tenant-id', tenant);
    const second = await t.http().get('/p?how=stale').set('x-tenant-id', tenant);
    expect(first.headers['x-cache']).toBe('BYPASS');
    expect(second.headers['x-cache']).toBe('BYPASS');
  });
});
