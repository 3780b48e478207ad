import { Controller, Get, Module } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, PLATFORMS, type TestApp } from './helpers/app-factory.js';

let calls = 0;

@Controller('smoke')
class SmokeController {
  @Get()
  @Cached({ ttl: '1m' })
  get() {
    calls++;
    return { n: calls };
  }
}

@Module({ imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false })], controllers: [SmokeController] })
class AppModule {}

describe.each(PLATFORMS)('smoke on %s', (platform) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(platform, { imports: [AppModule] });
  });
  afterAll(() => t.close());

  it('miss then hit', async () => {
    const a = await t.http().get('/smoke').set('x-tenant-id', `acme-${platform}`);
    expect(a.status).toBe(200);
    expect(a.headers['x-cache']).toBe('MISS');
    const b = await t.http().get('/smoke').set('x-tenant-id', `acme-${platform}`);
    expect(b.headers['x-cache']).toBe('HIT');
    expect(b.text).toBe(a.text);
    expect(b.headers['content-type']).toBe(a.headers['content-type']);
    expect(b.headers.etag).toBe(a.headers.etag);
  });
});
