import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect as connectHttp2, createServer as createHttp2Server, type Http2Server } from 'node:http2';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheRequest } from '../../lib/tenant/tenant-resolver.interface.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';

/**
 * `fromHeader()` over Node's real HTTP parser: a header sent twice is no tenant, whatever Node
 * does with the repeat (joins it with `, ` or `; `, or keeps only the first), and the resolver
 * asks `headersDistinct` (which builds an array for every header) only when the value leaves
 * a repeat possible.
 */
const NAMES = [
  // Joined with ', ' by Node.
  'x-tenant-id', 'tenant', 'x-org', 'accept-language',
  // Kept once by Node (the first wins): only headersDistinct tells.
  'authorization', 'from', 'referer', 'user-agent', 'if-modified-since', 'max-forwards', 'age', 'etag', 'server', 'location', 'expires', 'retry-after',
  'proxy-authorization', 'if-unmodified-since', 'last-modified', 'content-type',
  // Joined with '; '.
  'cookie',
];

let server: Server;
let port: number;
/** How many requests read `headersDistinct`. */
let distinctReads = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const name = decodeURIComponent(req.url!.slice(1));
    const watched = watchDistinct(req);
    const tenant = fromHeader(name)(req as unknown as CacheRequest, undefined);
    if (watched.read) distinctReads++;
    res.end(JSON.stringify({ tenant: tenant ?? null }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function watchDistinct(req: IncomingMessage): { read: boolean } {
  const watched = { read: false };
  const proto = Object.getPrototypeOf(req) as object;
  const descriptor = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(proto) as object, 'headersDistinct') ?? Object.getOwnPropertyDescriptor(proto, 'headersDistinct');
  Object.defineProperty(req, 'headersDistinct', {
    configurable: true,
    get() {
      watched.read = true;
      return descriptor?.get?.call(req);
    },
  });
  return watched;
}

/** One request on its own connection, headers as raw lines: the status and the tenant the resolver gave. */
function send(name: string, lines: readonly string[]): Promise<{ status: number; tenant: string | null }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? 0);
      const body = data.slice(data.indexOf('\r\n\r\n') + 4);
      resolve({ status, tenant: status === 200 ? (JSON.parse(body) as { tenant: string | null }).tenant : null });
    });
    socket.write(`GET /${encodeURIComponent(name)} HTTP/1.1\r\nhost: 127.0.0.1\r\n${lines.join('\r\n')}\r\nconnection: close\r\n\r\n`);
  });
}

describe('fromHeader() and a repeated header, over Node\'s HTTP parser', () => {
  it.each(NAMES)('%s sent twice is no tenant; sent once, it is', async (name) => {
    const twice = await send(name, [`${name}: acme`, `${name}: globex`]);
    // A 400 (a parser that refuses the repeat) is no tenant either.
    expect(twice.tenant, `${name} twice: ${JSON.stringify(twice)}`).toBeNull();
    const once = await send(name, [`${name}: acme`]);
    expect(once).toEqual({ status: 200, tenant: 'acme' });
  });

  it('asks headersDistinct only where the value leaves a repeat possible', async () => {
    distinctReads = 0;
    for (let i = 0; i < 20; i++) expect((await send('x-tenant-id', ['x-tenant-id: acme'])).tenant).toBe('acme');
    const single = distinctReads;
    // One line with a comma: it must look (and the value is what was sent, one header).
    expect((await send('x-tenant-id', ['x-tenant-id: acme, globex'])).tenant).toBe('acme, globex');
    expect((await send('authorization', ['authorization: acme'])).tenant).toBe('acme'); // a header whose repeats Node hides: it must look
    console.log(`[tenant header] 20 requests with one x-tenant-id: ${single} headersDistinct reads; a comma or a header Node keeps once: ${distinctReads - single}`);
    expect(single).toBe(0);
    expect(distinctReads - single).toBe(2);
  });

});

describe('fromHeader() and a repeated header, over HTTP/2 (Node\'s compat API, which has no headersDistinct)', () => {
  let h2: Http2Server;
  let url: string;
  beforeAll(async () => {
    h2 = createHttp2Server((req, res) => {
      const tenant = fromHeader('x-tenant-id')(req as unknown as CacheRequest, undefined);
      res.end(JSON.stringify({ tenant: tenant ?? null }));
    });
    await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(h2.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => h2.close(() => resolve())));

  /** The tenant the resolver gave for these request headers (an array value is sent as that many header fields). */
  async function tenantOf(headers: Record<string, string | string[]>): Promise<string | null> {
    const session = connectHttp2(url);
    try {
      return await new Promise<string | null>((resolve, reject) => {
        const stream = session.request({ ':path': '/', ...headers });
        let body = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (body += chunk));
        stream.on('end', () => resolve((JSON.parse(body) as { tenant: string | null }).tenant));
        stream.on('error', reject);
        stream.end();
      });
    } finally {
      session.close();
    }
  }

  it('a tenant header sent as two fields is no tenant; one field is its value, a comma included', async () => {
    const twice = await tenantOf({ 'x-tenant-id': ['acme', 'globex'] });
    console.log(`[tenant header] HTTP/2, x-tenant-id as two fields: ${JSON.stringify(twice)}`);
    expect(twice).toBeNull();
    expect(await tenantOf({ 'x-tenant-id': 'acme' })).toBe('acme');
    expect(await tenantOf({ 'x-tenant-id': 'acme, globex' })).toBe('acme, globex');
  });
});
