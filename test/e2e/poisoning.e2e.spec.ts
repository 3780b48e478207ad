import { Controller, Get, Headers, HostParam, Module, Req } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import type { HeaderGuardMode } from '../../lib/options/cache-module-options.interface.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { CACHE_CHANNELS, type CacheEvent } from '../../lib/observability/cache-channels.js';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { ManualClock } from '../helpers/manual-clock.js';
import { createTestApp, RecordingLogger, type Platform, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX } from './helpers/fast-path-probe.js';

/**
 * Cache poisoning through unkeyed inputs (issue "HTTP response caching … cannot be poisoned",
 * observation 1): a handler that reflects a request header the key does not hold. An attacker's
 * request followed by a victim's must never serve the victim the attacker's response, and the
 * route is reported once, naming the header. Each case also runs with `headerGuard: 'off'`,
 * which is how the cache behaved before the guard: there the attack succeeds, which shows the
 * probe can see a poisoned response.
 */
const EVIL = 'evil.attacker.example';
let seq = 0;
let gate: Promise<void> = Promise.resolve();
let entered: () => void = () => undefined;

interface PlatformRequest {
  headers: Record<string, string | string[] | undefined>;
  hostname?: string;
}

@Controller('p')
class ReflectingController {
  @Get('forwarded-host')
  @Cached()
  forwardedHost(@Headers('x-forwarded-host') host: string | undefined) {
    return { link: `https://${host ?? 'app.example'}/login`, n: ++seq };
  }

  @Get('forwarded-proto')
  @Cached()
  forwardedProto(@Headers('x-forwarded-proto') proto: string | undefined) {
    return { link: `${proto ?? 'https'}://app.example/login`, n: ++seq };
  }

  @Get('original-url')
  @Cached()
  originalUrl(@Req() req: PlatformRequest) {
    return { canonical: req.headers['x-original-url'] ?? '/p/original-url', n: ++seq };
  }

  @Get('host')
  @Cached()
  host(@Req() req: PlatformRequest) {
    return { host: req.headers.host, n: ++seq };
  }

  /** The platform's own getter (Express and Fastify read `Host`, or `X-Forwarded-Host`, through the headers). */
  @Get('hostname')
  @Cached()
  hostname(@Req() req: PlatformRequest) {
    return { host: req.hostname, n: ++seq };
  }

  @Get('custom')
  @Cached()
  custom(@Headers('x-theme') theme: string | undefined) {
    return { theme: theme ?? 'light', n: ++seq };
  }

  /** Shared by every tenant, yet it reads the tenant header: one tenant's response served to all. */
  @Get('global')
  @Cached({ scope: 'global' })
  global(@Headers('x-tenant-id') tenant: string | undefined) {
    return { tenant: tenant ?? null, n: ++seq };
  }

  /** Reads every header (a proxy forwarding them, a debug echo). */
  @Get('enumerate')
  @Cached()
  enumerate(@Headers() headers: Record<string, string>) {
    return { echo: Object.entries(headers).filter(([name]) => name.startsWith('x-theme')), n: ++seq };
  }

  /** Node's raw list of names and values (Express `req`, Fastify `request.raw`). */
  @Get('raw')
  @Cached()
  raw(@Req() req: PlatformRequest & { raw?: { rawHeaders: string[] }; rawHeaders?: string[] }) {
    const list = req.raw?.rawHeaders ?? req.rawHeaders ?? [];
    const at = list.findIndex((name) => name.toLowerCase() === 'x-theme');
    return { theme: at === -1 ? 'light' : list[at + 1], n: ++seq };
  }

  /** Node's `headersDistinct`. */
  @Get('distinct')
  @Cached()
  distinct(@Req() req: PlatformRequest & { raw?: { headersDistinct: Record<string, string[] | undefined> }; headersDistinct?: Record<string, string[] | undefined> }) {
    const distinct = req.raw?.headersDistinct ?? req.headersDistinct ?? {};
    return { theme: distinct['x-theme']?.[0] ?? 'light', n: ++seq };
  }

  /** A value that reads the request only when it is serialized (a getter, `toJSON`). */
  @Get('lazy')
  @Cached()
  lazy(@Req() req: PlatformRequest) {
    const n = ++seq;
    return { toJSON: () => ({ theme: req.headers['x-theme'] ?? 'light', n }) };
  }

  /** The fix: the header is in the key, so each value has its own entry. */
  @Get('keyed')
  @Cached({ vary: ['x-forwarded-host'] })
  keyed(@Headers('x-forwarded-host') host: string | undefined) {
    return { link: `https://${host ?? 'app.example'}/login`, n: ++seq };
  }

  /** Reads only what is keyed or safe: the tenant header (in a tenant's key), `accept` (default vary), conditionals. */
  @Get('clean')
  @Cached()
  clean(@Headers('x-tenant-id') tenant: string, @Headers('accept') accept: string | undefined, @Headers('if-none-match') inm: string | undefined) {
    return { tenant, accept: accept ?? null, conditional: inm !== undefined, n: ++seq };
  }

  /** Waits on the gate, so a victim's request joins the attacker's computation. */
  @Get('slow')
  @Cached()
  async slow(@Headers('x-forwarded-host') host: string | undefined) {
    entered();
    await gate;
    return { link: `https://${host ?? 'app.example'}/login`, n: ++seq };
  }
}

/** Routed by host name before any interceptor: `@HostParam()` is read from `Host`, which the key must hold. */
@Controller({ host: ':account.example.com', path: 'h' })
class HostBoundController {
  @Get()
  @Cached()
  account(@HostParam('account') account: string) {
    return { account, n: ++seq };
  }
}

/** Each unkeyed input: its route, the header it reads, the attacker's request headers. */
const INPUTS: readonly { readonly name: string; readonly path: string; readonly header: string; readonly attack: Record<string, string>; readonly global?: boolean }[] = [
  { name: 'X-Forwarded-Host', path: '/p/forwarded-host', header: 'x-forwarded-host', attack: { 'x-forwarded-host': EVIL } },
  { name: 'X-Forwarded-Proto', path: '/p/forwarded-proto', header: 'x-forwarded-proto', attack: { 'x-forwarded-proto': 'javascript' } },
  { name: 'X-Original-URL', path: '/p/original-url', header: 'x-original-url', attack: { 'x-original-url': `/${EVIL}` } },
  { name: 'Host', path: '/p/host', header: 'host', attack: { host: EVIL } },
  { name: "the platform's hostname", path: '/p/hostname', header: 'host', attack: { host: EVIL } },
  { name: 'a custom header', path: '/p/custom', header: 'x-theme', attack: { 'x-theme': `"><script>${EVIL}</script>` } },
  { name: "the tenant header on a scope: 'global' route", path: '/p/global', header: 'x-tenant-id', attack: {}, global: true },
  { name: 'every header (enumerated)', path: '/p/enumerate', header: '*', attack: { 'x-theme': EVIL } },
  { name: 'rawHeaders', path: '/p/raw', header: '*', attack: { 'x-theme': EVIL } },
  { name: 'headersDistinct', path: '/p/distinct', header: 'x-theme', attack: { 'x-theme': EVIL } },
  { name: 'a value that reads the request when serialized (toJSON)', path: '/p/lazy', header: 'x-theme', attack: { 'x-theme': EVIL } },
];

async function bootApp(platform: Platform, fastPath: boolean, headerGuard: HeaderGuardMode, logger: RecordingLogger): Promise<TestApp> {
  @Module({
    imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger, clock: new ManualClock(), fastPath, headerGuard })],
    controllers: [ReflectingController, HostBoundController],
  })
  class PoisoningModule {}
  return createTestApp(platform, { imports: [PoisoningModule] });
}

/** Whether a response body carries what the attacker sent. */
function poisoned(body: unknown, input: (typeof INPUTS)[number], attackerTenant: string): boolean {
  const text = JSON.stringify(body);
  if (input.global === true) return text.includes(attackerTenant);
  return text.includes(EVIL) || text.includes('javascript');
}

describe.each(FAST_PATH_MATRIX)('cache poisoning through unkeyed request headers on %s, fast path %s', (platform, mode) => {
  let guarded: TestApp;
  let unguarded: TestApp;
  let strict: TestApp;
  const logger = new RecordingLogger();
  const strictLogger = new RecordingLogger();
  let tenantSeq = 0;
  const freshTenant = (): string => `${platform}-${mode}-${++tenantSeq}`;

  beforeAll(async () => {
    guarded = await bootApp(platform, mode === 'on', 'warn', logger);
    unguarded = await bootApp(platform, mode === 'on', 'off', new RecordingLogger());
    strict = await bootApp(platform, mode === 'on', 'strict', strictLogger);
  });
  afterAll(async () => {
    await guarded?.close();
    await unguarded?.close();
    await strict?.close();
  });

  /** The attacker's request, then three victims' (of another tenant for the global route); how many victims got the attacker's content. */
  async function attack(t: TestApp, input: (typeof INPUTS)[number]): Promise<{ poisoned: number; victims: string[] }> {
    const tenant = freshTenant();
    const victimTenant = input.global === true ? freshTenant() : tenant;
    const path = `${input.path}?run=${tenant}`;
    await t.http().get(path).set('x-tenant-id', tenant).set(input.attack).expect(200);
    let count = 0;
    const victims: string[] = [];
    for (let i = 0; i < 3; i++) {
      const victim = await t.http().get(path).set('x-tenant-id', victimTenant).expect(200);
      victims.push(String(victim.headers['x-cache']));
      if (poisoned(victim.body, input, tenant)) count++;
    }
    return { poisoned: count, victims };
  }

  it.each(INPUTS)('$name: 0 poisoned responses, the route reported once naming the header (without the guard: poisoned)', async (input) => {
    const withoutGuard = await attack(unguarded, input);
    const withGuard = await attack(guarded, input);
    // A second attack on the same route is not reported again.
    await attack(guarded, input);
    const route = `ReflectingController.${input.path.split('/')[2]!.replace(/-(\w)/g, (_m, c: string) => c.toUpperCase())}`;
    const reports = logger.warnings.filter((w) => w.includes(`on ${route} `));
    console.log(
      `[poisoning] ${platform}/${mode} ${input.name}: headerGuard 'off' ${withoutGuard.poisoned}/3 victims poisoned (${withoutGuard.victims.join(',')}); 'warn' ${withGuard.poisoned}/3 poisoned (${withGuard.victims.join(',')}), ${reports.length} report(s)`,
    );
    expect(withoutGuard.poisoned).toBe(3);
    expect(withGuard.poisoned).toBe(0);
    expect(withGuard.victims.every((v) => v !== 'HIT')).toBe(true);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toContain(input.header === '*' ? 'enumerated the request headers' : input.header);
    expect(reports[0]).toMatch(/vary: \[|Read the headers you need by name/);
  });

  it('a victim that joined the attacker’s computation runs its own handler (coalescing never shares an unstorable response)', async () => {
    const tenant = freshTenant();
    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const attacker = guarded.http().get('/p/slow').set('x-tenant-id', tenant).set('x-forwarded-host', EVIL).then((r) => r);
    await inside;
    entered = () => undefined;
    // The victim joins the attacker's computation (a stampede wait of its tenant) before the attacker's handler answers.
    const joined = new Promise<void>((resolve) => {
      const listener = (event: unknown): void => {
        if ((event as CacheEvent).tenant !== tenant) return;
        unsubscribe(CACHE_CHANNELS.stampedeWait, listener);
        resolve();
      };
      subscribe(CACHE_CHANNELS.stampedeWait, listener);
    });
    const victim = guarded.http().get('/p/slow').set('x-tenant-id', tenant).then((r) => r);
    await joined;
    release();
    const [a, v] = await Promise.all([attacker, victim]);
    gate = Promise.resolve();
    console.log(`[poisoning] ${platform}/${mode} coalesced victim: ${JSON.stringify(v.body)} (${String(v.headers['x-cache'])}); attacker ${JSON.stringify(a.body)}`);
    expect(a.body.link).toContain(EVIL);
    expect(v.body.link).toBe('https://app.example/login');
  });

  it('a host-bound controller (@HostParam) keys the host: attacker.example.com never reaches victim.example.com', async () => {
    const tenant = freshTenant();
    const attacker = await guarded.http().get('/h').set('x-tenant-id', tenant).set('host', 'attacker.example.com').expect(200);
    const victim = await guarded.http().get('/h').set('x-tenant-id', tenant).set('host', 'victim.example.com').expect(200);
    const victimAgain = await guarded.http().get('/h').set('x-tenant-id', tenant).set('host', 'victim.example.com').expect(200);
    console.log(`[poisoning] ${platform}/${mode} @HostParam: attacker ${JSON.stringify(attacker.body)}; victim ${String(victim.headers['x-cache'])} ${JSON.stringify(victim.body)}, again ${String(victimAgain.headers['x-cache'])}`);
    expect(attacker.body.account).toBe('attacker');
    expect(victim.body.account).toBe('victim');
    expect(victimAgain.headers['x-cache']).toBe('HIT');
    expect(victimAgain.body).toEqual(victim.body);
  });

  it('with the header in the key (vary), each value has its own entry: hits again, never crossed', async () => {
    const tenant = freshTenant();
    const path = `/p/keyed?run=${tenant}`;
    await guarded.http().get(path).set('x-tenant-id', tenant).set('x-forwarded-host', EVIL).expect(200);
    const victim = await guarded.http().get(path).set('x-tenant-id', tenant).expect(200);
    const victimAgain = await guarded.http().get(path).set('x-tenant-id', tenant).expect(200);
    const attackerAgain = await guarded.http().get(path).set('x-tenant-id', tenant).set('x-forwarded-host', EVIL).expect(200);
    expect(victim.body.link).toBe('https://app.example/login');
    expect(victimAgain.headers['x-cache']).toBe('HIT');
    expect(victimAgain.body).toEqual(victim.body);
    expect(attackerAgain.headers['x-cache']).toBe('HIT');
    expect(attackerAgain.body.link).toContain(EVIL);
    expect(logger.warnings.filter((w) => w.includes('ReflectingController.keyed'))).toHaveLength(0);
  });

  it('a handler reading only keyed and safe headers (tenant header, accept, If-None-Match) is stored and hits', async () => {
    const tenant = freshTenant();
    const path = `/p/clean?run=${tenant}`;
    const first = await guarded.http().get(path).set('x-tenant-id', tenant).expect(200);
    const second = await guarded.http().get(path).set('x-tenant-id', tenant).expect(200);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.body).toEqual(first.body);
    expect(logger.warnings.filter((w) => w.includes('ReflectingController.clean'))).toHaveLength(0);
  });

  it("headerGuard: 'strict' fails the request with UnkeyedHeaderError (logged once) and stores nothing", async () => {
    const tenant = freshTenant();
    const path = `/p/forwarded-host?run=${tenant}`;
    const first = await strict.http().get(path).set('x-tenant-id', tenant).set('x-forwarded-host', EVIL);
    const second = await strict.http().get(path).set('x-tenant-id', tenant);
    const clean = await strict.http().get(`/p/clean?run=${tenant}`).set('x-tenant-id', tenant);
    console.log(`[poisoning] ${platform}/${mode} strict: ${first.status}, ${second.status}; clean route ${clean.status}; errors logged ${strictLogger.errors.length}`);
    expect(first.status).toBe(500);
    expect(second.status).toBe(500);
    expect(JSON.stringify(second.body)).not.toContain(EVIL);
    expect(clean.status).toBe(200);
    const errors = strictLogger.errors.filter((e) => e.includes('ReflectingController.forwardedHost'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("vary: ['x-forwarded-host']");
  });
});

describe('safeHeaders', () => {
  it('a header listed in safeHeaders may be read: the response is stored and nothing is reported', async () => {
    const logger = new RecordingLogger();
    @Module({
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger, clock: new ManualClock(), safeHeaders: ['X-Theme'] })],
      controllers: [ReflectingController],
    })
    class SafeModule {}
    const t = await createTestApp('fastify', { imports: [SafeModule] });
    try {
      await t.http().get('/p/custom').set('x-tenant-id', 'acme').expect(200);
      const second = await t.http().get('/p/custom').set('x-tenant-id', 'acme').expect(200);
      expect(second.headers['x-cache']).toBe('HIT');
      expect(logger.warnings).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
