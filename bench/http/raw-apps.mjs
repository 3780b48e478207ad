/**
 * The raw limits: the same 215-byte JSON body served with no Nest at all, one per process like
 * the Nest apps. Each factory resolves `{ server, close() }` listening on 127.0.0.1 (port 0).
 *
 * The body is serialised once at start: a cache hit sends stored bytes, so the limit a hit is
 * compared with is the framework sending those bytes, not serialising an object per request.
 *
 * Every app serves GET /item and GET /__runs (how often /item ran), like the Nest apps.
 */
import http from 'node:http';
import { PAYLOAD } from '../lib/payload.mjs';

const BODY = JSON.stringify(PAYLOAD);
const BODY_BYTES = String(Buffer.byteLength(BODY));
const JSON_TYPE = 'application/json; charset=utf-8';

let runs = 0;
const runsBody = () => JSON.stringify({ runs });

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

export const rawApps = {
  /** node:http with the headers a Fastify reply carries (content-type, content-length; keep-alive timeout 72 s as Fastify sets it). */
  async rawHttp() {
    const server = http.createServer((req, res) => {
      if (req.url === '/item') {
        runs++;
        res.writeHead(200, { 'content-type': JSON_TYPE, 'content-length': BODY_BYTES });
        res.end(BODY);
      } else if (req.url === '/__runs') {
        res.writeHead(200, { 'content-type': JSON_TYPE });
        res.end(runsBody());
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    server.keepAliveTimeout = 72_000;
    await listen(server);
    return { server, close: () => new Promise((r) => server.close(r)) };
  },

  /** A plain Fastify route (Fastify's defaults, as @nestjs/platform-fastify creates it: no logger). */
  async rawFastify() {
    const { default: Fastify } = await import('fastify');
    const app = Fastify();
    app.get('/item', (_req, reply) => {
      runs++;
      reply.type(JSON_TYPE).send(BODY);
    });
    app.get('/__runs', (_req, reply) => reply.type(JSON_TYPE).send(runsBody()));
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { server: app.server, close: () => app.close() };
  },

  /** A plain Express route (Express's defaults, as Nest keeps them: weak ETag of the body, X-Powered-By). */
  async rawExpress() {
    const { default: express } = await import('express');
    const app = express();
    app.get('/item', (_req, res) => {
      runs++;
      res.type(JSON_TYPE).send(BODY);
    });
    app.get('/__runs', (_req, res) => res.type(JSON_TYPE).send(runsBody()));
    const server = await listen(http.createServer(app));
    return { server, close: () => new Promise((r) => server.close(r)) };
  },
};
