import type { INestApplication, LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';

export const HTTP_ADAPTERS = ['express', 'fastify'] as const;
export type HttpAdapterName = (typeof HTTP_ADAPTERS)[number];

/** The adapter named by `HTTP_ADAPTER` (`express`, the default, or `fastify`). */
export function adapterFromEnv(value: string | undefined = process.env.HTTP_ADAPTER): HttpAdapterName {
  const name = (value ?? '').trim().toLowerCase() || 'express';
  if ((HTTP_ADAPTERS as readonly string[]).includes(name)) return name as HttpAdapterName;
  throw new Error(`HTTP_ADAPTER=${JSON.stringify(value)} is not supported; use ${HTTP_ADAPTERS.join(' or ')} (default express)`);
}

/** Creates the sample app on the given HTTP adapter (not listening yet). */
export function createApp(adapter: HttpAdapterName, options: { logger?: LoggerService | LogLevel[] | false } = {}): Promise<INestApplication> {
  const httpAdapter = adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter();
  return NestFactory.create(AppModule, httpAdapter, { logger: options.logger });
}
