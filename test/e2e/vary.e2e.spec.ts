import { Controller, Get, Headers, Module, Query, Res } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { createTestApp, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX } from './helpers/fast-path-probe.js';

/** RFC 9111 §4.1: a stored response is served only to requests sending the header values its `Vary` names. */
let seq = 0;
let gate: Promise<void> = Promise.resolve();
let entered: () => void = () => undefined;
interface PassthroughResponse {
  header(name: string, value: string): unknown;
}

@Controller('v')
class VaryController {
  /** Varies on `?on=` (default `X-Foo`) and answers with what the request sent for it. */
  @Get()
  @Cached()
  async respond(@Res({ passthrough: true }) res: PassthroughResponse, @Headers() headers: Record<string, string | undefined>, @Query('on') on = 'X-Foo') {
    entered();
    await gate;
    res.header('vary', on);
    return { n: ++seq, sent: on.split(',').map((name) => headers[name.trim().toLowerCase()] ?? null) };
  }
}

describe.each(FAST_PATH_MATRIX)("the response's Vary (RFC 9111 §4.1) on %s, fast path %s", (platform, mode) => {
  let t: TestApp;
  let tenantSeq = 0;
  beforeAll(async () => {
    @Module({
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, clock: new ManualClock(), fastPath: mode === 'on' })],
      controllers: [VaryController],
    })
    class VaryModule {}
    t = await createTestApp(platform, { imports: [VaryModule] });
  });
  afterAll(() => t?.close());
  const freshTenant = () => `${platform}-${mode}-${++tenantSeq}`;
  const get = (path: string, tenant: string, headers: Record<string, string>) => t.http().get(path).set('x-tenant-id', tenant).set(headers);

  it.each([
    ['Vary: X-Foo', '/v', 'x-foo'],
    ['Vary: Origin', '/v?on=Origin', 'origin'],
  ])("%s: alice's response is never served to bob; each gets a hit of their own variant", async (what, path, header) => {
    const tenant = freshTenant();
    const alice = await get(path, tenant, { [header]: 'https://alice.example' });
    const aliceAgain = await get(path, tenant, { [header]: 'https://alice.example' });
    const bob = await get(path, tenant, { [header]: 'https://bob.example' });
    const bobAgain = await get(path, tenant, { [header]: 'https://bob.example' });
    const none = await get(path, tenant, {});
    console.log(`[vary] ${platform}/${mode} ${what}: alice ${alice.headers['x-cache']}, ${aliceAgain.headers['x-cache']}; bob ${bob.headers['x-cache']} sees ${JSON.stringify(bob.body.sent)}, ${bobAgain.headers['x-cache']}; no header ${none.headers['x-cache']} sees ${JSON.stringify(none.body.sent)}`);
    expect(alice.headers['x-cache']).toBe('MISS');
    expect(aliceAgain.headers['x-cache']).toBe('HIT');
    expect(bob.headers['x-cache']).toBe('MISS');
    expect(bob.body.sent).toEqual(['https://bob.example']);
    expect(bobAgain.headers['x-cache']).toBe('HIT');
    expect(bobAgain.body.sent).toEqual(['https://bob.example']);
    expect(bobAgain.headers.vary).toMatch(/origin|x-foo/i);
    expect(none.body.sent).toEqual([null]);
  });

  it('varies on every header it names, case-insensitively', async () => {
    const tenant = freshTenant();
    const path = `/v?on=${encodeURIComponent('X-Foo, x-bar')}`;
    await get(path, tenant, { 'x-foo': '1', 'x-bar': '2' });
    expect((await get(path, tenant, { 'x-foo': '1', 'x-bar': '2' })).headers['x-cache']).toBe('HIT');
    const other = await get(path, tenant, { 'x-foo': '1', 'x-bar': '3' });
    expect(other.headers['x-cache']).toBe('MISS');
    expect(other.body.sent).toEqual(['1', '3']);
  });

  it("a request that joined another variant's computation runs its own handler", async () => {
    const tenant = freshTenant();
    let release!: () => void;
    gate = new Promise((r) => (release = r));
    const aliceIn = new Promise<void>((r) => (entered = r));
    const manager = t.app.get(CacheManager);
    const waits = (await manager.stats()).stampedeWaits;
    const alice = get('/v', tenant, { 'x-foo': 'alice' }).then((r) => r);
    await aliceIn; // alice leads the flight, held in her handler
    entered = () => undefined;
    const bob = get('/v', tenant, { 'x-foo': 'bob' }).then((r) => r);
    while ((await manager.stats()).stampedeWaits === waits) await new Promise((r) => setImmediate(r)); // bob joined it
    release();
    const [a, b] = await Promise.all([alice, bob]);
    gate = Promise.resolve();
    console.log(`[vary] ${platform}/${mode} concurrent: alice ${a.headers['x-cache']} ${JSON.stringify(a.body.sent)}, bob ${b.headers['x-cache']} ${JSON.stringify(b.body.sent)}`);
    expect(a.body.sent).toEqual(['alice']);
    expect(b.body.sent).toEqual(['bob']);
  });
});
