import { Body, Controller, Get, Post, Query } from '@nestjs/common';
import { request as rawRequest } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX } from './helpers/fast-path-probe.js';

/** Routes whose response is built from what the key must hold: the body, the query. */
@Controller()
class InputsController {
  @Get('fat')
  @Cached({ ttl: '1m' })
  fat(@Body() body: { msg?: unknown } | undefined) {
    return { msg: body?.msg ?? 'hello' };
  }

  @Post('fat')
  postFat() {
    return { posted: true };
  }

  @Get('q')
  @Cached({ ttl: '1m' })
  q(@Query() query: unknown) {
    qRuns++;
    return { query };
  }
}

let qRuns = 0;

/** A method-override middleware as the `method-override` package writes it. */
function methodOverride(req: { method: string; originalMethod?: string; headers: Record<string, unknown> }, _res: unknown, next: () => void): void {
  const override = req.headers['x-http-method-override'];
  if (req.method === 'POST' && typeof override === 'string') {
    req.originalMethod = req.originalMethod ?? req.method;
    req.method = override.toUpperCase();
  }
  next();
}

/** A request sent as written (the request target unnormalised), answered with its status, X-Cache and body. */
function send(t: TestApp, method: string, target: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; xCache: string | undefined; body: string }> {
  const { port } = new URL(t.url);
  // Node frames a GET body only when told how (it sends GET and HEAD unframed by default).
  if (body !== undefined && headers['transfer-encoding'] === undefined) headers = { ...headers, 'content-length': String(Buffer.byteLength(body)) };
  return new Promise((resolve, reject) => {
    const req = rawRequest({ host: '127.0.0.1', port, method, path: target, headers: { 'x-tenant-id': 'acme', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, xCache: res.headers['x-cache'] as string | undefined, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = { 'content-type': 'application/json' };

describe.each(FAST_PATH_MATRIX)('request inputs the key must hold on %s, fast path %s', (platform, mode) => {
  let t: TestApp;

  beforeEach(async () => {
    t = await createTestApp(
      platform,
      { imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store: { type: 'memory' }, logger: false, fastPath: mode === 'on' })], controllers: [InputsController] },
      (app) => {
        if (platform !== 'express') return;
        app.use(methodOverride);
        // The parser of qs (a[]=y, a[b]=c), as many Express apps set it.
        (app.getHttpAdapter().getInstance() as { set(name: string, value: string): void }).set('query parser', 'extended');
      },
    );
  });
  afterEach(async () => {
    await t.close();
  });

  it('a GET with a body bypasses the cache: the next bodiless GET never gets what the body made', async () => {
    const attack = await send(t, 'GET', '/fat', json, '{"msg":"pwned"}');
    const victim = await send(t, 'GET', '/fat');
    console.log(`${platform} fastPath=${mode}: GET /fat with {"msg":"pwned"}: ${attack.status} ${attack.xCache} ${attack.body}; the victim's bodiless GET: ${victim.xCache} ${victim.body}`);
    expect(attack.xCache).toBe('BYPASS');
    expect(JSON.parse(victim.body)).toEqual({ msg: 'hello' });
    // A chunked body too, and once the bodiless response is stored the body still cannot reach it.
    expect((await send(t, 'GET', '/fat')).xCache).toBe('HIT');
    const chunked = await send(t, 'GET', '/fat', { ...json, 'transfer-encoding': 'chunked' }, '{"msg":"pwned"}');
    expect(chunked.xCache).toBe('BYPASS');
    expect((await send(t, 'GET', '/fat', { 'content-length': '0' })).xCache).toBe('HIT');
  });

  it('a HEAD with a body bypasses the cache', async () => {
    expect((await send(t, 'HEAD', '/fat', json, '{"msg":"pwned"}')).xCache).toBe('BYPASS');
    expect(JSON.parse((await send(t, 'GET', '/fat')).body)).toEqual({ msg: 'hello' });
  });

  it('a POST turned into a GET by a method-override middleware bypasses the cache (on Fastify the header changes nothing)', async () => {
    const override = { 'x-http-method-override': 'GET' };
    const attack = await send(t, 'POST', '/fat', { ...json, ...override }, '{"msg":"pwned"}');
    const victim = await send(t, 'GET', '/fat');
    console.log(`${platform} fastPath=${mode}: POST + X-HTTP-Method-Override: GET with {"msg":"pwned"}: ${attack.xCache} ${attack.body}; the victim's GET: ${victim.xCache} ${victim.body}`);
    // Express's override middleware turns it into the GET route: bypassed. Fastify routes by the
    // method it received: the POST route answers, and no cached response is touched.
    if (platform === 'express') expect(attack.xCache).toBe('BYPASS');
    else expect(JSON.parse(attack.body)).toEqual({ posted: true });
    expect(JSON.parse(victim.body)).toEqual({ msg: 'hello' });
    // Without a body as well: the request the handler sees is not the one the platform received.
    const again = await send(t, 'POST', '/fat', override);
    if (platform === 'express') expect(again.xCache).toBe('BYPASS');
    else expect(JSON.parse(again.body)).toEqual({ posted: true });
    expect((await send(t, 'GET', '/fat')).xCache).toBe('HIT');
  });

  /** What the handler returns for `target` when the cache is out of the way (a credential makes it bypass). */
  const truth = async (target: string) => JSON.parse((await send(t, 'GET', target, { authorization: 'Bearer truth' })).body) as unknown;

  it('a fragment in the request target never lets one query reach another', async () => {
    const attack = await send(t, 'GET', '/q?id=5&a=1#&a=evil');
    const victim = await send(t, 'GET', '/q?id=5&a=1');
    console.log(`${platform} fastPath=${mode}: GET /q?id=5&a=1#&a=evil: ${attack.xCache} ${attack.body}; the victim's GET /q?id=5&a=1: ${victim.xCache} ${victim.body}`);
    expect(JSON.parse(victim.body)).toEqual({ query: { id: '5', a: '1' } });
    expect(JSON.parse(attack.body)).toEqual(await truth('/q?id=5&a=1#&a=evil'));
  });

  it('each query order gets what its own parse gives (the extended parser on Express)', async () => {
    const first = await send(t, 'GET', '/q?a=x&a[]=y');
    const second = await send(t, 'GET', '/q?a[]=y&a=x');
    console.log(`${platform} fastPath=${mode}: ?a=x&a[]=y: ${first.xCache} ${first.body}; ?a[]=y&a=x: ${second.xCache} ${second.body}`);
    expect(JSON.parse(first.body)).toEqual(await truth('/q?a=x&a[]=y'));
    expect(JSON.parse(second.body)).toEqual(await truth('/q?a[]=y&a=x'));
    // Names in another order, same parse: one entry.
    await send(t, 'GET', '/q?b=2&c=3');
    expect((await send(t, 'GET', '/q?c=3&b=2')).xCache).toBe('HIT');
  });

  it('parameters the platform does not parse do not make a new entry (no free cache-bust)', async () => {
    const params = Array.from({ length: 1_000 }, (_, i) => `p${i}=${i}`).join('&');
    qRuns = 0;
    for (let bust = 0; bust < 5; bust++) await send(t, 'GET', `/q?${params}&bust=${bust}`);
    console.log(`${platform} fastPath=${mode}: 5 requests with 1,000 parameters and a different 1,001st: ${qRuns} handler runs`);
    // Express parses 1,000 parameters: the handler sees the same query, one entry. Fastify parses them all.
    expect(qRuns).toBe(platform === 'express' ? 1 : 5);
  });
});
