import { Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX } from './helpers/fast-path-probe.js';

/**
 * `diagnosticHeaders: false`: no `X-Cache` and no `Age` on any `@Cached()` response (a miss, a
 * hit from the interceptor or the fast path, a bypass, an error), so a client cannot tell when
 * another user of its tenant asked for the same URL; caching and the `ETag` are unchanged.
 */
let runs = 0;

@Controller('diag')
class DiagController {
  @Get(':id')
  @Cached({ ttl: '1m' })
  get(@Param('id') id: string) {
    runs++;
    if (id === 'missing') throw new NotFoundException();
    return { id, runs };
  }
}

describe.each(FAST_PATH_MATRIX)('diagnosticHeaders: false on %s, fast path %s', (platform, mode) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(platform, {
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, diagnosticHeaders: false, fastPath: mode === 'on' })],
      controllers: [DiagController],
    });
  });
  afterAll(() => t.close());

  const get = (path: string, tenant?: string) => fetch(`${t.url}${path}`, { headers: tenant === undefined ? {} : { 'x-tenant-id': tenant } });

  it('sends neither X-Cache nor Age on a miss, hits, a bypass and an error; still caches and sends the ETag', async () => {
    const before = runs;
    const responses = [await get('/diag/a', 'acme'), await get('/diag/a', 'acme'), await get('/diag/a', 'acme'), await get('/diag/a'), await get('/diag/missing', 'acme')];
    console.log(`${platform} fastPath=${mode}: x-cache ${JSON.stringify(responses.map((r) => r.headers.get('x-cache')))}, age ${JSON.stringify(responses.map((r) => r.headers.get('age')))}`);
    for (const r of responses) {
      expect(r.headers.get('x-cache')).toBeNull();
      expect(r.headers.get('age')).toBeNull();
    }
    const [miss, hit1, hit2] = await Promise.all(responses.slice(0, 3).map((r) => r.json()));
    expect(hit1).toEqual(miss);
    expect(hit2).toEqual(miss);
    expect(runs - before).toBe(3); // one for the cached key, one bypass (no tenant), one 404
    expect(responses[1]!.headers.get('etag')).toBe(responses[0]!.headers.get('etag'));
    expect(responses[4]!.status).toBe(404);
  });

  it('is a boot error when not a boolean', async () => {
    await expect(
      createTestApp(platform, { imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, diagnosticHeaders: 'no' as never })], controllers: [DiagController] }),
    ).rejects.toThrow(/diagnosticHeaders/);
  });
});
