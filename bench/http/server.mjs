/**
 * One benchmark app in its own process (as in production). Started by run.mjs with fork():
 * argv[2] is JSON { app, adapter, options, redisUrl }. Replies { ready: port } over IPC, or
 * { failed: message } if the app cannot start (e.g. an API it needs is not built yet).
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { apps } from './apps.mjs';

const spec = JSON.parse(process.argv[2]);

async function main() {
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
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address();
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
