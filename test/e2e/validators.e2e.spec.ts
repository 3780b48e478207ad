import { Controller, Get, Module, Query, Res } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { createTestApp, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX } from './helpers/fast-path-probe.js';

/** RFC 9110 §8.8, §13: the handler's own ETag is kept; If-None-Match and If-Modified-Since are answered against the stored validators. */
let seq = 0;
const LAST_MODIFIED = 'Wed, 01 Jan 2025 00:00:00 GMT';
interface PassthroughResponse {
  header(name: string, value: string): unknown;
}

@Controller('e')
class ValidatorController {
  /** `?etag=` the handler's ETag (as given), `?lm=1` a Last-Modified. */
  @Get()
  @Cached()
  respond(@Res({ passthrough: true }) res: PassthroughResponse, @Query('etag') etag?: string, @Query('lm') lm?: string) {
    if (etag !== undefined) res.header('etag', etag);
    if (lm !== undefined) res.header('last-modified', LAST_MODIFIED);
    return { n: ++seq };
  }
}

describe.each(FAST_PATH_MATRIX)('validators (ETag, Last-Modified, 304) on %s, fast path %s', (platform, mode) => {
  let t: TestApp;
  let tenantSeq = 0;
  beforeAll(async () => {
    @Module({
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, clock: new ManualClock(), fastPath: mode === 'on' })],
      controllers: [ValidatorController],
    })
    class ValidatorModule {}
    t = await createTestApp(platform, { imports: [ValidatorModule] });
  });
  afterAll(() => t?.close());
  const freshTenant = () => `${platform}-${mode}-${++tenantSeq}`;
  const get = (path: string, tenant: string, headers: Record<string, string> = {}) => t.http().get(path).set('x-tenant-id', tenant).set(headers);

  it.each([
    ['strong', '"handler-v7"'],
    ['weak', 'W/"handler-v7"'],
  ])("keeps the handler's %s ETag on the miss and the hit, and answers If-None-Match against it (weak comparison)", async (what, etag) => {
    const tenant = freshTenant();
    const path = `/e?etag=${encodeURIComponent(etag)}`;
    const miss = await get(path, tenant);
    const hit = await get(path, tenant);
    const strong = await get(path, tenant, { 'if-none-match': '"handler-v7"' });
    const weak = await get(path, tenant, { 'if-none-match': 'W/"other", W/"handler-v7"' });
    const other = await get(path, tenant, { 'if-none-match': '"handler-v6"' });
    console.log(`[validators] ${platform}/${mode} ${what} handler ETag ${etag}: miss ${miss.headers.etag}, hit ${hit.headers['x-cache']} ${hit.headers.etag}; INM strong -> ${strong.status}, weak -> ${weak.status}, other -> ${other.status}`);
    expect(miss.headers.etag).toBe(etag);
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.headers.etag).toBe(etag);
    expect(strong.status).toBe(304);
    expect(weak.status).toBe(304);
    expect(other.status).toBe(200);
    expect(other.body).toEqual(miss.body);
  });

  it('answers If-Modified-Since against the stored Last-Modified; If-None-Match takes precedence', async () => {
    const tenant = freshTenant();
    const path = '/e?lm=1';
    const miss = await get(path, tenant);
    const etag = miss.headers.etag as string;
    const same = await get(path, tenant, { 'if-modified-since': LAST_MODIFIED });
    const later = await get(path, tenant, { 'if-modified-since': 'Thu, 02 Jan 2025 00:00:00 GMT' });
    const earlier = await get(path, tenant, { 'if-modified-since': 'Tue, 31 Dec 2024 00:00:00 GMT' });
    const inmWins = await get(path, tenant, { 'if-modified-since': LAST_MODIFIED, 'if-none-match': '"not-it"' });
    const bothMatch = await get(path, tenant, { 'if-modified-since': 'Tue, 31 Dec 2024 00:00:00 GMT', 'if-none-match': etag });
    console.log(`[validators] ${platform}/${mode} Last-Modified ${LAST_MODIFIED}: IMS same -> ${same.status} (${same.headers['x-cache']}), later -> ${later.status}, earlier -> ${earlier.status}; INM mismatch + IMS match -> ${inmWins.status}; INM match + IMS earlier -> ${bothMatch.status}`);
    expect(same.headers['x-cache']).toBe('HIT');
    expect(same.headers['last-modified']).toBe(LAST_MODIFIED);
    expect(same.status).toBe(304);
    expect(same.text ?? '').toBe('');
    expect(later.status).toBe(304);
    expect(earlier.status).toBe(200);
    expect(inmWins.status).toBe(200);
    expect(bothMatch.status).toBe(304);
  });

  it('uses its own strong ETag when the handler set none (or a malformed one)', async () => {
    const tenant = freshTenant();
    const miss = await get('/e?etag=handler-v7', tenant);
    expect(miss.headers.etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    expect((await get('/e?etag=handler-v7', tenant)).headers.etag).toBe(miss.headers.etag);
  });
});
