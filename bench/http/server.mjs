/**
 * One benchmark app in its own process (as in production). Started by run.mjs with fork():
 * argv[2] is JSON { app, adapter, options, redisUrl }. Replies { ready: port } over IPC, or
 * { failed: message } if the app cannot start (e.g. an API it needs is not built yet).
 *
 * `app` names a Nest app factory (apps.mjs, run on `adapter`) or a raw one (raw-apps.mjs, no
 * Nest; `adapter` only says which table it belongs to).
 *
 * CPU: on { cpu: n } it answers { cpu: n, usage: process.cpuUsage() }, so the runner can read
 * the server's own CPU time (user + system, µs, all threads) before and after each round.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { apps } from './apps.mjs';
import { rawApps } from './raw-apps.mjs';
import { PAYLOAD } from '../lib/payload.mjs';

const spec = JSON.parse(process.argv[2]);

process.on('message', (m) => {
  if (m?.cpu !== undefined) process.send({ cpu: m.cpu, usage: process.cpuUsage() });
});

const BODY = JSON.stringify(PAYLOAD);
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * `platformRoute`: GET /item registered straight on the Nest app's own Fastify or Express
 * instance, sending the bytes as the raw apps do. It runs every hook and middleware Nest adds
 * to its platform (Fastify: six onRequest hooks, middie, an onResponse hook) and none of Nest's
 * request pipeline: the floor of anything served inside a Nest app, a cache hit included. On
 * Express it is registered before `app.init()` adds Nest's body parsers, which Nest's own routes
 * pass through (quickly, for a GET without a body): there the floor is a little low.
 */
function platformRoute(instance, adapter) {
  if (adapter === 'fastify') instance.get('/item', (_req, reply) => reply.type(JSON_TYPE).send(BODY));
  else instance.get('/item', (_req, res) => res.type(JSON_TYPE).send(BODY));
}

async function startNest() {
  const factory = apps[spec.app];
  if (factory === undefined) throw new Error(`unknown app ${spec.app}`);
  const module = await factory({ ...spec.options, redisUrl: spec.redisUrl });
  let app;
  if (spec.adapter === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    app = await NestFactory.create(module, new FastifyAdapter(), { logger: ['error'] });
  } else if (spec.adapter === 'express') {
    const { ExpressAdapter } = await import('@nestjs/platform-express');
    app = await NestFactory.create(module, new ExpressAdapter(), { logger: ['error'] });
  } else {
    throw new Error(`unknown adapter ${spec.adapter}`);
  }
  app.enableShutdownHooks();
  if (spec.options?.platformRoute) platformRoute(app.getHttpAdapter().getInstance(), spec.adapter);
  await app.listen(0, '127.0.0.1');
  return { server: app.getHttpServer(), close: () => app.close() };
}

async function main() {
  const raw = rawApps[spec.app];
  const app = raw ? await raw(spec.options ?? {}) : await startNest();
  const { port } = app.server.address();
  process.send({ ready: port });
  process.on('disconnect', async () => {
    const timer = setTimeout(() => process.exit(0), 2_000);
    timer.unref();
    await app.close().catch(() => undefined);
    process.exit(0);
  });
}

main().catch((err) => {
  process.send({ failed: String(err?.stack ?? err) });
  process.exit(1);
});
