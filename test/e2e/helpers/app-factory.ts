import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import request from 'supertest';

export type Platform = 'express' | 'fastify';
export const PLATFORMS: readonly Platform[] = ['express', 'fastify'];

export interface TestApp {
  readonly app: INestApplication;
  readonly platform: Platform;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** A supertest client for the running server. */
  http(): ReturnType<typeof request>;
  close(): Promise<void>;
}

/**
 * Boots a real Nest app on Express or Fastify, listening on a random port of 127.0.0.1, so
 * requests go through the real HTTP stack of the platform. `beforeListen` runs between creating
 * the app and `listen()` (global guards, platform hooks), as `main.ts` would.
 */
export async function createTestApp(platform: Platform, metadata: ModuleMetadata, beforeListen?: (app: INestApplication) => void): Promise<TestApp> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  const app = moduleRef.createNestApplication(platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(), { logger: false });
  beforeListen?.(app);
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as { address(): AddressInfo }).address();
  const url = `http://127.0.0.1:${port}`;
  return {
    app,
    platform,
    url,
    http: () => request(url),
    close: () => app.close(),
  };
}

/** A logger that records what it is given (for "logged once per burst" assertions). */
export class RecordingLogger {
  readonly warnings: string[] = [];
  readonly errors: string[] = [];
  private waiters: { test: (message: string) => boolean; resolve: () => void }[] = [];

  warn(message: string): void {
    this.warnings.push(message);
    this.notify(message);
  }
  error(message: string): void {
    this.errors.push(message);
    this.notify(message);
  }

  /** Resolves when a message containing `text` is (or was already) logged. */
  waitFor(text: string): Promise<void> {
    if ([...this.warnings, ...this.errors].some((m) => m.includes(text))) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ test: (m) => m.includes(text), resolve }));
  }

  private notify(message: string): void {
    const ready = this.waiters.filter((w) => w.test(message));
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }
}
