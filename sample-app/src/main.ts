import { Logger } from '@nestjs/common';
import { adapterFromEnv, createApp } from './app.factory.js';

function portFromEnv(value: string | undefined = process.env.PORT): number {
  if (value === undefined || value.trim() === '') return 3000;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`PORT=${JSON.stringify(value)} is not a port number (0-65535)`);
  return port;
}

async function bootstrap(): Promise<void> {
  const adapter = adapterFromEnv();
  const port = portFromEnv();
  const host = process.env.HOST?.trim() || '127.0.0.1';
  const app = await createApp(adapter);
  // SIGINT/SIGTERM close the app: in-flight requests finish, then CacheModule closes its store.
  app.enableShutdownHooks();
  await app.listen(port, host);

  const address = app.getHttpServer().address();
  const actualPort = typeof address === 'object' && address !== null ? address.port : port;
  const base = `http://${host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host}:${actualPort}`;
  const store = process.env.REDIS_URL ? `Redis (${redactUrl(process.env.REDIS_URL)})` : 'memory';
  new Logger('Bootstrap').log(`Sample app listening on ${base} (${adapter}, ${store} store). Ctrl+C stops it.`);
  console.log(
    [
      '',
      'Try it (copy-paste):',
      `  curl -i -H 'x-tenant-id: acme'   ${base}/products/1     # X-Cache: MISS`,
      `  curl -i -H 'x-tenant-id: acme'   ${base}/products/1     # again: X-Cache: HIT`,
      `  curl -i -H 'x-tenant-id: globex' ${base}/products/1     # another tenant, other data`,
      `  curl -i ${base}/products/1                              # no tenant: X-Cache: BYPASS (400)`,
      `  curl -i -X PUT -H 'x-tenant-id: acme' -H 'content-type: application/json' -d '{"priceCents": 9999}' ${base}/products/1`,
      `  curl -i -H 'x-tenant-id: acme'   ${base}/products/1     # MISS again: the PUT invalidated it`,
      `  curl -s -H 'x-tenant-id: acme'   ${base}/reports/daily  # ~300 ms the first time, instant after`,
      `  curl -s -H 'x-tenant-id: acme'   ${base}/products/1/stock # a cached service method (@CacheResult)`,
      `  curl -s ${base}/cache/stats`,
      `  curl -s ${base}/health`,
      '',
    ].join('\n'),
  );
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'unparseable URL';
  }
}

bootstrap().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
