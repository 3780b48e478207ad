/**
 * `npm run bench`: builds nothing itself (the npm script runs `npm run build` first), then
 *   1. starts a private redis-server on a free port,
 *   2. starts one process per benchmark app (http/server.mjs), checks each route (and that hit
 *      cases really hit), warms every case up, then runs the HTTP cases in interleaved rounds
 *      (A B C ... A B C ..., starting one case later each round) with autocannon in this process,
 *   3. runs the stampede trials against the same apps,
 *   4. stops the apps and runs the micro benchmarks, the invalidation costs and the memory-bound
 *      runs in child processes,
 *   5. prints the tables and the targets, writes bench/results/latest.json, bench/results/chart.svg
 *      and bench/README.md.
 *
 * BENCH_QUICK=1  ~1-minute smoke run (short rounds); writes bench/results/quick.tmp.json only.
 * BENCH_ONLY=http,stampede,micro,memory,invalidation  run a subset (development); also writes quick.tmp.json only.
 * BENCH_CASES=fastify,express.ours  only the HTTP cases whose id starts with one of these; quick.tmp.json only.
 * node bench/run.mjs --render  re-render chart.svg and README.md from results/latest.json.
 */
import autocannon from 'autocannon';
import { fork } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DEFAULT_HEADERS, STAMPEDE_CONCURRENCY, httpCases, invalidationCases, memoryCases, stampedeCases, targets } from './cases.mjs';
import { PAYLOAD_BYTES } from './lib/payload.mjs';
import { startRedis } from './lib/redis.mjs';
import { machineInfo, printReport, renderChart, renderReadme } from './lib/report.mjs';
import { summarize } from './lib/stats.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const QUICK = process.env.BENCH_QUICK === '1';
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : undefined;
/** BENCH_CASES=fastify,express.ours: only HTTP cases whose id starts with one of these (development). */
const CASES = process.env.BENCH_CASES ? process.env.BENCH_CASES.split(',') : undefined;
const PARTIAL = QUICK || ONLY !== undefined || CASES !== undefined;
const wants = (part) => ONLY === undefined || ONLY.has(part);

const method = {
  connections: 50,
  pipelining: 1,
  warmupSeconds: QUICK ? 1 : 3,
  roundSeconds: QUICK ? 1 : 3,
  rounds: QUICK ? 2 : 7,
  stampedeTrials: QUICK ? 2 : 5,
  stampedeConcurrency: STAMPEDE_CONCURRENCY,
  memorySets: QUICK ? 250_000 : undefined,
  payloadBytes: PAYLOAD_BYTES,
};

const log = (msg) => process.stderr.write(`${msg}\n`);

// ---- app processes ----------------------------------------------------------------------------

const serverKey = (c) => `${c.app}|${c.adapter}|${JSON.stringify(c.options ?? {})}`;

function startServer(c, redisUrl) {
  const child = fork(here('./http/server.mjs'), [JSON.stringify({ app: c.app, adapter: c.adapter, options: c.options ?? {}, redisUrl })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m.ready ? { child, port: m.ready } : { child, failed: m.failed }));
    child.once('exit', (code) => resolve({ child, failed: `exited with code ${code}` }));
  });
}

async function stopServer(server) {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((r) => server.child.once('exit', r));
  if (server.child.connected) server.child.disconnect();
  await Promise.race([exited, sleep(3_000)]);
  if (server.child.exitCode === null) server.child.kill('SIGKILL');
}

function request(port, path, { agent, headers = DEFAULT_HEADERS } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

const handlerRuns = async (port) => JSON.parse((await request(port, '/__runs')).body).runs;

// ---- HTTP -------------------------------------------------------------------------------------

let missSeq = 0;

async function load(port, c, seconds) {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}${c.path ?? '/item'}`,
    connections: method.connections,
    pipelining: method.pipelining,
    duration: seconds,
    headers: c.headers ?? DEFAULT_HEADERS,
    // A miss case asks for a new URL every time (one the cache has never seen).
    ...(c.miss ? { requests: [{ setupRequest: (req) => ({ ...req, path: `${c.path ?? '/item'}?n=${++missSeq}` }) }] } : {}),
  });
  const elapsed = (new Date(result.finish) - new Date(result.start)) / 1000;
  return { rps: result.requests.total / elapsed, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors + result.timeouts };
}

/** Checks a case before it is measured: status, body size, and for hit cases an X-Cache: HIT on the second request. */
async function check(port, c) {
  const first = await request(port, c.path ?? '/item', { headers: c.headers ?? DEFAULT_HEADERS });
  if (first.status !== 200) return `GET ${c.path ?? '/item'} answered ${first.status}`;
  if (Buffer.byteLength(first.body) !== PAYLOAD_BYTES) return `body is ${Buffer.byteLength(first.body)} bytes, expected ${PAYLOAD_BYTES}`;
  if (c.hit) {
    const second = await request(port, c.path ?? '/item', { headers: c.headers ?? DEFAULT_HEADERS });
    if (second.headers['x-cache'] !== 'HIT') return `second request was not a hit (X-Cache: ${second.headers['x-cache']})`;
  }
  return undefined;
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
    } else live.push({ c, port: server.port, samples: [], p50: [], p99: [], non2xx: 0, errors: 0, runsDuringHits: 0 });
  }
  log(`HTTP: warm-up ${method.warmupSeconds} s per case, then ${method.rounds} interleaved rounds x ${method.roundSeconds} s of ${live.length} cases`);
  for (const entry of live) await load(entry.port, entry.c, method.warmupSeconds);
  for (let round = 0; round < method.rounds; round++) {
    for (let k = 0; k < live.length; k++) {
      const entry = live[(k + round) % live.length];
      const runsBefore = entry.c.hit ? await handlerRuns(entry.port) : 0;
      const r = await load(entry.port, entry.c, method.roundSeconds);
      if (entry.c.hit) entry.runsDuringHits += (await handlerRuns(entry.port)) - runsBefore;
      entry.samples.push(r.rps);
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
    out[e.c.id] = {
      name: e.c.name,
      adapter: e.c.adapter,
      ...s,
      p50Ms: summarize(e.p50).median,
      p99Ms: summarize(e.p99).median,
      non2xx: e.non2xx,
      errors: e.errors,
      ...(e.c.hit ? { handlerRunsWhileMeasured: e.runsDuringHits } : {}),
    };
  }
  for (const e of live) {
    const limit = cases.find((x) => x.limit && x.adapter === e.c.adapter);
    if (limit && out[limit.id]) out[e.c.id].ratioToLimit = out[e.c.id].median / out[limit.id].median;
  }
  return { results: out, unavailable, loads };
}

// ---- stampede ---------------------------------------------------------------------------------

async function stampedeTrial(port, path) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: STAMPEDE_CONCURRENCY });
  try {
    // Open every connection first, so the cold requests arrive together rather than behind connects.
    await Promise.all(Array.from({ length: STAMPEDE_CONCURRENCY }, () => request(port, '/__runs', { agent })));
    const before = await handlerRuns(port);
    const responses = await Promise.all(Array.from({ length: STAMPEDE_CONCURRENCY }, () => request(port, path, { agent })));
    const runs = (await handlerRuns(port)) - before;
    const ok = responses.filter((r) => r.status === 200).length;
    const bodies = new Set(responses.map((r) => r.body)).size;
    return { runs, ok, bodies };
  } finally {
    agent.destroy();
  }
}

async function runStampede(cases, servers) {
  const samples = new Map(cases.map((c) => [c.id, []]));
  const unavailable = {};
  const live = cases.filter((c) => {
    const server = servers.get(serverKey(c));
    if (server.failed) unavailable[c.id] = server.failed.split('\n')[0];
    return !server.failed;
  });
  const runId = Date.now().toString(36);
  log(`Stampede: ${method.stampedeTrials} trials x ${live.length} cases, ${STAMPEDE_CONCURRENCY} concurrent requests to a fresh key each`);
  const detail = new Map(live.map((c) => [c.id, []]));
  for (let t = 0; t < method.stampedeTrials; t++) {
    for (const c of live) {
      const { port } = servers.get(serverKey(c));
      const r = await stampedeTrial(port, `/stampede/cold-${runId}-${t}`);
      samples.get(c.id).push(r.runs);
      detail.get(c.id).push(r);
    }
  }
  const out = {};
  for (const c of live) {
    const d = detail.get(c.id);
    out[c.id] = { name: c.name, adapter: c.adapter, ...summarize(samples.get(c.id)), non200: d.reduce((a, r) => a + (STAMPEDE_CONCURRENCY - r.ok), 0), distinctBodiesMax: Math.max(...d.map((r) => r.bodies)) };
  }
  return { results: out, unavailable };
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
  const results = { date: started.toISOString(), quick: QUICK, only: ONLY ? [...ONLY] : undefined, machine: machineInfo(), method, http: {}, stampede: {}, micro: {}, invalidation: {}, memory: {}, unavailable: {} };
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
    const httpSel = wants('http') ? httpCases.filter((c) => CASES === undefined || CASES.some((prefix) => c.id.startsWith(prefix))) : [];
    const stampedeSel = wants('stampede') ? stampedeCases : [];
    for (const c of [...httpSel, ...stampedeSel]) {
      const key = serverKey(c);
      if (servers.has(key)) continue;
      servers.set(key, await startServer(c, redis.url));
      const s = servers.get(key);
      log(s.failed ? `  app ${key} failed to start: ${s.failed.split('\n')[0]}` : `  app ${key} on port ${s.port}`);
    }
    if (httpSel.length > 0) {
      const r = await runHttp(httpSel, servers);
      results.http = r.results;
      results.loadAverage.httpRounds = r.loads.map((x) => Math.round(x * 100) / 100);
      Object.assign(results.unavailable, r.unavailable);
    }
    if (stampedeSel.length > 0) {
      const r = await runStampede(stampedeSel, servers);
      results.stampede = r.results;
      Object.assign(results.unavailable, r.unavailable);
    }
    await Promise.all([...servers.values()].map(stopServer));
    servers.clear();
    if (wants('micro')) {
      log('Micro: interleaved rounds per group');
      results.micro = (await forkJson('./micro.mjs', { quick: QUICK, redisUrl: redis.url })).results;
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
