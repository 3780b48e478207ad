/**
 * `npm run build && node bench/tenant-context.mjs`: what the tenant context costs a request in an
 * app that uses nestjs-cls, with the tenant kept in CLS's context (what CacheModule does when it
 * finds a ClsService) against a second AsyncLocalStorage of our own beside CLS's (what it did
 * before), against our own alone (an app without nestjs-cls), and against no tenant context at
 * all (`tenantContext` off: the tenant read from a variable), which is what the context costs.
 * Run it under each Node major (`.ci/run` keeps 22 and 24 under ~/.cache/ntc-node/): Node 24's
 * AsyncContextFrame changes what an AsyncLocalStorage costs. On 20 and 22, once any
 * AsyncLocalStorage is used in a process every promise pays for its hooks, so the `off` row
 * (same process) pays too and the difference is small; on 24 nothing but the context's own runs
 * pays: the `off` row is the real baseline. Measured on 24.22.3 (2 shared cores, other suites
 * running): `off` 1.3-1.5 M requests/s, our context 0.55-0.8 M/s: +0.5-1.4 µs per request of 5
 * awaits; on 20.20.2 +0.2 µs against an `off` row that already pays.
 *
 * One "request": a CLS context opened the way nestjs-cls's middleware opens it (when the app has
 * CLS), the tenant set in it, the handler run in the tenant context (`TenantContext.run`), and a
 * handler of HOPS awaits that reads the tenant (`TenantContext.get`) after each, as a service
 * calling `current()` would. Cases run interleaved (A B C A B C ...) for ROUND_MS each; the figure
 * is the median requests/s over ROUNDS rounds, after one warm-up round. Uses the BUILT library.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { ClsService } from 'nestjs-cls';
import { libModule } from './lib/built.mjs';

const { TenantContext } = await libModule('tenant/tenant-context.js');

const QUICK = process.env.BENCH_QUICK === '1';
const ROUNDS = QUICK ? 3 : 9;
const ROUND_MS = QUICK ? 150 : 500;
const HOPS = 5;
const BATCH = 200;
const TENANTS = ['acme', 'globex', 'initech', 'umbrella'];

// One handler per case (three copies of the same code), so no call site is shared between cases.
async function handlerA(context) {
  let seen = 0;
  for (let i = 0; i < HOPS; i++) {
    await Promise.resolve(i);
    if (context.get() !== undefined) seen++;
  }
  return seen;
}
async function handlerB(context) {
  let seen = 0;
  for (let i = 0; i < HOPS; i++) {
    await Promise.resolve(i);
    if (context.get() !== undefined) seen++;
  }
  return seen;
}
async function handlerC(context) {
  let seen = 0;
  for (let i = 0; i < HOPS; i++) {
    await Promise.resolve(i);
    if (context.get() !== undefined) seen++;
  }
  return seen;
}

/** `tenantContext` off: the same awaits, the tenant from a variable instead of the context. */
async function handlerD(tenant) {
  let seen = 0;
  for (let i = 0; i < HOPS; i++) {
    await Promise.resolve(i);
    if (tenant !== undefined) seen++;
  }
  return seen;
}

function makeCases() {
  const cls = new ClsService(new AsyncLocalStorage());
  const inCls = new TenantContext();
  inCls.useCls(cls, 'tenantId');
  const besideCls = new TenantContext(); // its own AsyncLocalStorage, next to CLS's
  const alone = new TenantContext();
  return [
    {
      name: 'nestjs-cls app, tenant in CLS (no second AsyncLocalStorage)',
      request: (tenant) => cls.run(() => {
        cls.set('tenantId', tenant);
        return inCls.run(tenant, () => handlerA(inCls));
      }),
    },
    {
      name: 'nestjs-cls app, tenant in an AsyncLocalStorage of our own',
      request: (tenant) => cls.run(() => {
        cls.set('tenantId', tenant);
        return besideCls.run(tenant, () => handlerB(besideCls));
      }),
    },
    { name: 'app without nestjs-cls, our AsyncLocalStorage', request: (tenant) => alone.run(tenant, () => handlerC(alone)) },
    { name: 'app without nestjs-cls, tenantContext off', request: (tenant) => handlerD(tenant) },
  ];
}

async function round(c) {
  const started = performance.now();
  let done = 0;
  let check = 0;
  while (performance.now() - started < ROUND_MS) {
    const batch = [];
    for (let i = 0; i < BATCH; i++) batch.push(c.request(TENANTS[i & 3]));
    for (const seen of await Promise.all(batch)) check += seen;
    done += BATCH;
  }
  if (check !== done * HOPS) throw new Error(`${c.name}: the tenant was lost (${check} of ${done * HOPS} reads)`);
  return done / ((performance.now() - started) / 1000);
}

const cases = makeCases();
const figures = cases.map(() => []);
for (let r = 0; r <= ROUNDS; r++) {
  for (let i = 0; i < cases.length; i++) {
    const k = (i + r) % cases.length;
    const rate = await round(cases[k]);
    if (r > 0) figures[k].push(rate);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(figures[1]);
console.log(`Tenant context, ${HOPS} awaits and reads per request, Node ${process.versions.node}, ${ROUNDS} rounds of ${ROUND_MS} ms (median requests/s)`);
for (let i = 0; i < cases.length; i++) {
  const m = median(figures[i]);
  console.log(`  ${cases[i].name.padEnd(62)} ${Math.round(m).toLocaleString('en-US').padStart(10)} /s  x${(m / base).toFixed(2)}`);
}
const [alone, off] = [median(figures[2]), median(figures[3])];
console.log(`  tenantContext on costs ${Math.round(1e9 / alone - 1e9 / off)} ns per request here (our AsyncLocalStorage against off)`);
