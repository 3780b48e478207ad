/**
 * `npm run bench`: builds nothing itself (the npm script runs `npm run build` first), then
 *   1. starts a private redis-server on a free port,
 *   2. starts one process per benchmark app (http/server.mjs), checks each route (and that hit
 *      cases really hit), warms every case up, then runs the HTTP cases in interleaved rounds
 *      (A B C ... A B C ..., starting one case later each round) with autocannon in this process,
 *      reading each app process's CPU time before and after every round (µs per response),
 *   3. runs the open-loop rows (a fixed request rate, open-loop.mjs) and the stampede trials
 *      (stampede.mjs) against the same apps,
 *   4. stops the apps and runs the micro benchmarks, the invalidation costs and the memory-bound
 *      runs in child processes,
 *   5. prints the tables and the targets, writes bench/results/latest.json, bench/results/chart.svg
 *      and bench/README.md.
 *
 * BENCH_QUICK=1  ~1-minute smoke run (short rounds); writes bench/results/quick.tmp.json only.
 * BENCH_ONLY=http,openloop,stampede,micro,memory,invalidation  run a subset (development); also writes quick.tmp.json only.
 * BENCH_CASES=fastify,express.ours  only the HTTP cases whose id starts with one of these (`id$`: that id only; and the open-loop
 *   rows among them); quick.tmp.json only.
 * BENCH_MICRO=^engine\.|^tenants\.  only the micro cases whose id matches this regular expression.
 * BENCH_OPEN_RATE=12000  the open-loop request rate (req/s).
 * node bench/run.mjs --render  re-render chart.svg and README.md from results/latest.json.
 */
import autocannon from 'autocannon';
import { fork } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { DEFAULT_HEADERS, OPEN_LOOP_CONNECTIONS, OPEN_LOOP_RATE, STAMPEDE_CONCURRENCY, httpCases, invalidationCases, memoryCases, openLoopCases, stampedeCases, targets } from './cases.mjs';
import { check, handlerRuns, serverCpuMicros, serverKey, startServer, stopServer } from './lib/app-process.mjs';
import { PAYLOAD_BYTES } from './lib/payload.mjs';
import { startRedis } from './lib/redis.mjs';
import { runOpenLoop } from './open-loop.mjs';
import { runStampede } from './stampede.mjs';
import { machineInfo, printReport, renderChart, renderReadme } from './lib/report.mjs';
import { summarize } from './lib/stats.mjs';
import { xorshift32 } from './lib/xorshift.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const QUICK = process.env.BENCH_QUICK === '1';
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : undefined;
/** BENCH_CASES=fastify,express.ours: only HTTP cases whose id starts with one of these (development); `fastify.ours.memory$`: that id only. */
const CASES = process.env.BENCH_CASES ? process.env.BENCH_CASES.split(',') : undefined;
const selected = (id) => CASES === undefined || CASES.some((p) => (p.endsWith('$') ? id === p.slice(0, -1) : id.startsWith(p)));
const PARTIAL = QUICK || ONLY !== undefined || CASES !== undefined || process.env.BENCH_MICRO !== undefined;
const wants = (part) => ONLY === undefined || ONLY.has(part);

// 5 rounds of 2.5 s (7 of 3 s before the raw, open-loop and tenant rows came): the full run stays
// near 15 minutes, and a median of 5 interleaved rounds still drops the 2 worst bursts.
const method = {
  connections: 50,
  pipelining: 1,
  warmupSeconds: QUICK ? 1 : 2,
  roundSeconds: QUICK ? 1 : 2.5,
  rounds: QUICK ? 2 : 5,
  openLoop: { rate: OPEN_LOOP_RATE, connections: OPEN_LOOP_CONNECTIONS, warmupSeconds: 1, roundSeconds: QUICK ? 1 : 2, rounds: QUICK ? 2 : 5 },
  stampedeTrials: QUICK ? 2 : 5,
  stampedeConcurrency: STAMPEDE_CONCURRENCY,
  memorySets: QUICK ? 250_000 : undefined,
  payloadBytes: PAYLOAD_BYTES,
};

const log = (msg) => process.stderr.write(`${msg}\n`);

// ---- HTTP -------------------------------------------------------------------------------------

let missSeq = 0;
/** The tenant sequence: tenant-scaling requests pick uniformly random tenants. */
const nextTenant = xorshift32(0x9e3779b9);
const randomTenant = (tenants) => `t${nextTenant(tenants)}`;
const tenantHeaders = (tenant) => ({ ...DEFAULT_HEADERS, 'x-tenant-id': tenant });

/** The URL sequence of the many-URLs row. */
const randomUrl = xorshift32(0x85ebca6b);

/**
 * What varies per request: a new URL (miss cases), the tenant (tenant-scaling cases, 1 tenant
 * included, so all pay the same), or the hot URL of one tenant (`urls`).
 */
function perRequest(c, tenantOf = randomTenant, urlOf = randomUrl) {
  if (c.miss) return [{ setupRequest: (req) => ({ ...req, path: `${c.path ?? '/item'}?n=${++missSeq}` }) }];
  if (c.urls) return [{ setupRequest: (req) => ({ ...req, path: `${c.path ?? '/item'}?k=${urlOf(c.urls)}`, headers: tenantHeaders('t0') }) }];
  if (c.tenants) return [{ setupRequest: (req) => ({ ...req, headers: tenantHeaders(tenantOf(c.tenants)) }) }];
  return undefined;
}

async function load(port, c, seconds, { amount, tenantOf, urlOf } = {}) {
  const requests = perRequest(c, tenantOf, urlOf);
  const result = await autocannon({
    url: `http://127.0.0.1:${port}${c.path ?? '/item'}`,
    connections: Math.min(method.connections, amount ?? Infinity),
    pipelining: method.pipelining,
    ...(amount === undefined ? { duration: seconds } : { amount }),
    headers: c.headers ?? DEFAULT_HEADERS,
    ...(requests ? { requests } : {}),
  });
  const elapsed = (new Date(result.finish) - new Date(result.start)) / 1000;
  return { rps: result.requests.total / elapsed, responses: result.requests.total, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors + result.timeouts };
}

/**
 * Tenant scaling: one request per tenant (t0 ... t<n-1>, in order), or per hot URL of the
 * many-URLs row, so every entry is cached before measuring.
 */
async function warmTenants(server, c) {
  let next = 0;
  const before = await handlerRuns(server.port);
  if (c.urls) await load(server.port, c, undefined, { amount: c.urls, urlOf: () => next++ });
  else await load(server.port, c, undefined, { amount: c.tenants, tenantOf: () => `t${next++}` });
  return (await handlerRuns(server.port)) - before;
}

async function runHttp(cases, servers) {
  const live = [];
  const unavailable = {};
  const loads = [];
  for (const c of cases) {
    const server = servers.get(serverKey(c));
    const problem = server.failed ?? (await check(server.port, c));
    if (problem) {
      unavailable[c.id] = problem.split('\n')[0];
      log(`  skip ${c.name}: ${unavailable[c.id]}`);
    } else live.push({ c, server, port: server.port, samples: [], cpu: [], p50: [], p99: [], non2xx: 0, errors: 0, runsDuringHits: 0 });
  }
  for (const entry of live.filter((e) => e.c.tenants)) {
    const runs = await warmTenants(entry.server, entry.c);
    log(`  ${entry.c.id}: warmed ${(entry.c.urls ?? entry.c.tenants).toLocaleString('en-US')} ${entry.c.urls ? 'URLs' : 'tenants'} (${runs.toLocaleString('en-US')} handler runs)`);
  }
  log(`HTTP: warm-up ${method.warmupSeconds} s per case, then ${method.rounds} interleaved rounds x ${method.roundSeconds} s of ${live.length} cases`);
  for (const entry of live) await load(entry.port, entry.c, method.warmupSeconds);
  for (let round = 0; round < method.rounds; round++) {
    for (let k = 0; k < live.length; k++) {
      const entry = live[(k + round) % live.length];
      const runsBefore = entry.c.hit ? await handlerRuns(entry.port) : 0;
      // The app's CPU time around the round only (the /__runs requests are outside it).
      const cpuBefore = await serverCpuMicros(entry.server);
      const r = await load(entry.port, entry.c, method.roundSeconds);
      const cpu = (await serverCpuMicros(entry.server)) - cpuBefore;
      if (entry.c.hit) entry.runsDuringHits += (await handlerRuns(entry.port)) - runsBefore;
      entry.samples.push(r.rps);
      if (r.responses > 0) entry.cpu.push(cpu / r.responses);
      entry.p50.push(r.p50);
      entry.p99.push(r.p99);
      entry.non2xx += r.non2xx;
      entry.errors += r.errors;
    }
    loads.push(os.loadavg()[0]);
    log(`  round ${round + 1}/${method.rounds} done (1-min load average ${os.loadavg()[0].toFixed(2)})`);
  }
  const out = {};
  for (const e of live) {
    const s = summarize(e.samples);
    const cpu = e.cpu.length > 0 ? summarize(e.cpu) : undefined;
    out[e.c.id] = {
      name: e.c.name,
      adapter: e.c.adapter,
      ...(e.c.tenants ? { tenants: e.c.tenants } : {}),
      ...(e.c.urls ? { urls: e.c.urls } : {}),
      ...s,
      cpuMicrosPerResponse: cpu?.median,
      cpuMicrosPerResponseMin: cpu?.min,
      cpuMicrosPerResponseMax: cpu?.max,
      p50Ms: summarize(e.p50).median,
      p99Ms: summarize(e.p99).median,
      non2xx: e.non2xx,
      errors: e.errors,
      ...(e.c.hit ? { handlerRunsWhileMeasured: e.runsDuringHits } : {}),
    };
  }
  // Ratios to the Nest constant handler and the platform route of the row's adapter, and to each raw framework route.
  const rawOf = (adapter) => cases.find((x) => x.rawLimit && x.adapter === adapter)?.id;
  for (const e of live) {
    const limit = cases.find((x) => x.limit && x.adapter === e.c.adapter);
    const row = out[e.c.id];
    if (limit && out[limit.id]) row.ratioToLimit = row.median / out[limit.id].median;
    const platform = cases.find((x) => x.platformLimit && x.adapter === e.c.adapter);
    if (platform && out[platform.id]) row.ratioToPlatform = row.median / out[platform.id].median;
    for (const [field, adapter] of [['ratioToRawFastify', 'fastify'], ['ratioToRawExpress', 'express']]) {
      const raw = out[rawOf(adapter)];
      if (raw) row[field] = row.median / raw.median;
    }
  }
  return { results: out, unavailable, loads };
}

// ---- child-process parts ------------------------------------------------------------------------

function forkJson(script, arg, execArgv = []) {
  return new Promise((resolve, reject) => {
    const child = fork(here(script), [JSON.stringify(arg)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let answered = false;
    child.on('message', (m) => {
      answered = true;
      if (m.failed) reject(new Error(m.failed));
      else resolve(m);
    });
    child.on('exit', (code) => {
      if (!answered) reject(new Error(`${script} exited with code ${code}`));
    });
  });
}

async function runMemory() {
  const out = {};
  for (const c of memoryCases) {
    const spec = { ...c, sets: method.memorySets ?? c.sets };
    log(`Memory: ${spec.sets.toLocaleString('en-US')} sets, ${c.name}`);
    out[c.id] = (await forkJson('./memory.mjs', spec, ['--expose-gc'])).result;
  }
  return out;
}

// ---- main ---------------------------------------------------------------------------------------

async function main() {
  const started = new Date();
  const results = { date: started.toISOString(), quick: QUICK, only: ONLY ? [...ONLY] : undefined, machine: machineInfo(), method, http: {}, openLoop: {}, stampede: {}, micro: {}, invalidation: {}, memory: {}, unavailable: {} };
  // One frozen copy of the built library for every process of this run, so a rebuild of dist/
  // by someone else during the run cannot change (or briefly remove) the code under test.
  const dist = here('../dist/');
  if (!existsSync(`${dist}index.js`)) throw new Error('dist/index.js is missing: run `npm run build` first (npm run bench does)');
  const snapshot = here('./.lib-snapshot/');
  rmSync(snapshot, { recursive: true, force: true });
  cpSync(dist, snapshot, { recursive: true });
  process.env.BENCH_LIB = snapshot;
  // The machine may be shared: record how busy it was, so a reader can judge the absolute numbers.
  results.loadAverage = { start: os.loadavg().map((x) => Math.round(x * 100) / 100) };
  const redis = await startRedis();
  results.machine.redis = redis.version;
  log(`redis-server ${redis.version} on port ${redis.port}`);
  const servers = new Map();
  try {
    const httpSel = wants('http') ? httpCases.filter((c) => selected(c.id)) : [];
    const openSel = wants('openloop') ? openLoopCases.filter(selected).map((id) => httpCases.find((c) => c.id === id)) : [];
    const stampedeSel = wants('stampede') ? stampedeCases : [];
    for (const c of [...httpSel, ...openSel, ...stampedeSel]) {
      for (let instance = 0; instance < (c.processes ?? 1); instance++) {
        const key = serverKey(c, instance);
        if (servers.has(key)) continue;
        servers.set(key, await startServer(c, redis.url));
        const s = servers.get(key);
        log(s.failed ? `  app ${key} failed to start: ${s.failed.split('\n')[0]}` : `  app ${key} on port ${s.port}`);
      }
    }
    if (httpSel.length > 0) {
      const r = await runHttp(httpSel, servers);
      results.http = r.results;
      results.loadAverage.httpRounds = r.loads.map((x) => Math.round(x * 100) / 100);
      Object.assign(results.unavailable, r.unavailable);
    }
    if (openSel.length > 0) {
      const live = [];
      for (const c of openSel) {
        const server = servers.get(serverKey(c));
        const problem = server.failed ?? (await check(server.port, c));
        if (problem) results.unavailable[`openloop.${c.id}`] = problem.split('\n')[0];
        else live.push({ c, server });
      }
      results.openLoop = await runOpenLoop(live, { ...method.openLoop, headers: DEFAULT_HEADERS }, log);
      results.loadAverage.afterOpenLoop = Math.round(os.loadavg()[0] * 100) / 100;
    }
    if (stampedeSel.length > 0) {
      const r = await runStampede(stampedeSel, servers, { trials: method.stampedeTrials }, log);
      results.stampede = r.results;
      Object.assign(results.unavailable, r.unavailable);
    }
    await Promise.all([...servers.values()].map(stopServer));
    servers.clear();
    if (wants('micro')) {
      log('Micro: interleaved rounds per group');
      const micro = await forkJson('./micro.mjs', { quick: QUICK, redisUrl: redis.url, only: process.env.BENCH_MICRO });
      results.micro = micro.results;
      for (const [id, why] of Object.entries(micro.unavailable ?? {})) results.unavailable[`micro.${id}`] = why;
    }
    if (wants('invalidation')) {
      log('Invalidation: one operation on a fresh tenant of 1,000, 10,000 and 100,000 entries');
      results.invalidation = (await forkJson('./invalidation.mjs', { quick: QUICK, redisUrl: redis.url, cases: invalidationCases })).results;
    }
    if (wants('memory')) results.memory = await runMemory();
  } finally {
    await Promise.all([...servers.values()].map(stopServer));
    await redis.stop();
  }
  results.loadAverage.end = os.loadavg().map((x) => Math.round(x * 100) / 100);
  results.seconds = Math.round((Date.now() - started.getTime()) / 1000);
  results.targets = targets.map((t) => {
    const value = t.value(results);
    const status = value === undefined || Number.isNaN(value) ? 'NOT MEASURED' : (t.op === '>=' ? value >= t.threshold : value <= t.threshold) ? 'PASS' : 'MISS';
    return { id: t.id, label: t.label, op: t.op, threshold: t.threshold, value, status };
  });

  printReport(results);
  mkdirSync(here('./results'), { recursive: true });
  if (PARTIAL) {
    writeFileSync(here('./results/quick.tmp.json'), `${JSON.stringify(results, null, 2)}\n`);
    log('Partial run: wrote bench/results/quick.tmp.json (latest.json, chart.svg and README.md are written by full runs only)');
  } else {
    writeFileSync(here('./results/latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(here('./results/chart.svg'), renderChart(results));
    let previous = '';
    try {
      previous = readFileSync(here('./README.md'), 'utf8');
    } catch {}
    writeFileSync(here('./README.md'), renderReadme(results, previous));
    log(`Wrote bench/results/latest.json, bench/results/chart.svg, bench/README.md (${results.seconds} s)`);
  }
}

/** `node bench/run.mjs --render`: re-renders chart.svg and README.md from results/latest.json (after editing the notes). */
function renderOnly() {
  const results = JSON.parse(readFileSync(here('./results/latest.json'), 'utf8'));
  writeFileSync(here('./results/chart.svg'), renderChart(results));
  writeFileSync(here('./README.md'), renderReadme(results, readFileSync(here('./README.md'), 'utf8')));
  printReport(results);
}

(process.argv.includes('--render') ? Promise.resolve().then(renderOnly) : main()).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
