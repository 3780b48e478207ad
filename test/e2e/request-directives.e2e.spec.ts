import { Controller, Get, Module } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { createTestApp, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX } from './helpers/fast-path-probe.js';

/**
 * The request's own Cache-Control (RFC 9111 §5.2.1, §5.4): ignored by default (a client must
 * not be able to make the server recompute at will), honoured with `honorRequestCacheControl`.
 */
let runs = 0;

@Controller('d')
class DirectivesController {
  @Get()
  @Cached({ ttl: '1h' })
  report() {
    return { run: ++runs };
  }
}

describe.each(FAST_PATH_MATRIX)("the request's Cache-Control on %s, fast path %s", (platform, mode) => {
  let ignoring: TestApp;
  let honouring: TestApp;
  const clock = new ManualClock();
  let tenantSeq = 0;
  const freshTenant = (): string => `${platform}-${mode}-${++tenantSeq}`;

  beforeAll(async () => {
    const boot = async (honorRequestCacheControl: boolean | undefined) => {
      @Module({
        imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, clock, fastPath: mode === 'on', ...(honorRequestCacheControl === undefined ? {} : { honorRequestCacheControl }) })],
        controllers: [DirectivesController],
      })
      class DirectivesModule {}
      return createTestApp(platform, { imports: [DirectivesModule] });
    };
    ignoring = await boot(undefined);
    honouring = await boot(true);
  });
  afterAll(async () => {
    await ignoring?.close();
    await honouring?.close();
  });

  const directives: readonly [string, Record<string, string>][] = [
    ['Cache-Control: no-cache', { 'cache-control': 'no-cache' }],
    ['Cache-Control: max-age=0', { 'cache-control': 'max-age=0' }],
    ['Pragma: no-cache', { pragma: 'no-cache' }],
    ['Cache-Control: no-store', { 'cache-control': 'no-store' }],
  ];

  it.each(directives)('%s is ignored by default: the stored response is served (HIT), the handler does not run', async (_name, headers) => {
    const tenant = freshTenant();
    const first = await ignoring.http().get('/d').set('x-tenant-id', tenant).expect(200);
    clock.advance(1_000);
    const asked = await ignoring.http().get('/d').set('x-tenant-id', tenant).set(headers).expect(200);
    console.log(`[request directives] ${platform}/${mode} default, ${_name}: ${String(asked.headers['x-cache'])}, run ${asked.body.run} (first ${first.body.run})`);
    expect(asked.headers['x-cache']).toBe('HIT');
    expect(asked.body).toEqual(first.body);
  });

  it.each(directives.slice(0, 3))('%s with honorRequestCacheControl: recomputed and stored; the next plain request hits the new response', async (_name, headers) => {
    const tenant = freshTenant();
    const first = await honouring.http().get('/d').set('x-tenant-id', tenant).expect(200);
    clock.advance(1_000);
    const asked = await honouring.http().get('/d').set('x-tenant-id', tenant).set(headers).expect(200);
    const after = await honouring.http().get('/d').set('x-tenant-id', tenant).expect(200);
    console.log(`[request directives] ${platform}/${mode} honoured, ${_name}: ${String(asked.headers['x-cache'])} run ${asked.body.run} (first ${first.body.run}); next ${String(after.headers['x-cache'])} run ${after.body.run}`);
    expect(asked.headers['x-cache']).toBe('MISS');
    expect(asked.body.run).toBeGreaterThan(first.body.run);
    expect(after.headers['x-cache']).toBe('HIT');
    expect(after.body).toEqual(asked.body);
  });

  it('Cache-Control: no-store with honorRequestCacheControl: served by the handler, nothing read or stored', async () => {
    const tenant = freshTenant();
    const first = await honouring.http().get('/d').set('x-tenant-id', tenant).expect(200);
    const asked = await honouring.http().get('/d').set('x-tenant-id', tenant).set('cache-control', 'no-store').expect(200);
    const after = await honouring.http().get('/d').set('x-tenant-id', tenant).expect(200);
    expect(asked.headers['x-cache']).toBe('BYPASS');
    expect(asked.body.run).toBeGreaterThan(first.body.run);
    expect(after.headers['x-cache']).toBe('HIT');
    expect(after.body).toEqual(first.body);
  });

  it('other request directives (max-age=60, max-stale, only-if-cached) are ignored even when honouring', async () => {
    const tenant = freshTenant();
    const first = await honouring.http().get('/d').set('x-tenant-id', tenant).expect(200);
    clock.advance(1_000);
    for (const value of ['max-age=60', 'max-stale', 'only-if-cached', 'min-fresh=5']) {
      const asked = await honouring.http().get('/d').set('x-tenant-id', tenant).set('cache-control', value).expect(200);
      expect(asked.headers['x-cache']).toBe('HIT');
      expect(asked.body).toEqual(first.body);
    }
  });
});
