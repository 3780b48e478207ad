/**
 * CPU profile of one HTTP case under load: `node bench/profile.mjs <case id> [seconds]`
 * (e.g. fastify.ours.memory). Starts the case's app with --cpu-prof, primes it, loads it with
 * autocannon like the bench does, stops it, and prints the heaviest functions by self time and
 * by inclusive time. The .cpuprofile (open it in Chrome DevTools) is kept in bench/results/profiles/.
 * Build first (`npm run build`).
 *
 * `--perf` (Linux, `perf` installed): samples the app with `perf record` instead, on
 * `--perf-basic-prof` (JavaScript frames by name), and prints the heaviest symbols by self CPU in
 * µs per response, kernel included. The V8 profiler samples wall time: on a shared machine its
 * `writev` includes the time the app was preempted by the load generator, and a few µs of CPU per
 * response hide in it; perf counts CPU only. A second table gives the same CPU by the innermost
 * JavaScript function of each sample (a function with the IC misses and builtins it called).
 * Its names come from --perf-basic-prof's map, where V8 reuses code addresses: a row named after
 * start-up code (`addJobsToDependencyGraph`, `parseSource`) under load is another function at
 * that address (here, the write path); check names against a V8 profile (run without --perf).
 */
import autocannon from 'autocannon';
import { execFileSync, fork, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_HEADERS, httpCases } from './cases.mjs';
import { startRedis } from './lib/redis.mjs';
import { summarizeProfile } from './lib/profile-summary.mjs';
import { xorshift32 } from './lib/xorshift.mjs';

const usePerf = process.argv.includes('--perf');
const [id, secondsArg] = process.argv.slice(2).filter((a) => a !== '--perf');
const c = httpCases.find((x) => x.id === id);
if (!c) {
  console.error(`usage: node bench/profile.mjs <case id> [seconds] [--perf]; ids: ${httpCases.map((x) => x.id).join(', ')}`);
  process.exit(2);
}
const seconds = Number(secondsArg ?? 10);
const dir = fileURLToPath(new URL('./results/profiles/', import.meta.url));
mkdirSync(dir, { recursive: true });

const redis = c.redis ? await startRedis() : undefined;
const started = Date.now();
const child = fork(fileURLToPath(new URL('./http/server.mjs', import.meta.url)), [JSON.stringify({ app: c.app, adapter: c.adapter, options: c.options ?? {}, redisUrl: redis?.url })], {
  execArgv: usePerf ? ['--perf-basic-prof'] : ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${id}.${started}.cpuprofile`],
});
const port = await new Promise((resolve, reject) => child.once('message', (m) => (m.ready ? resolve(m.ready) : reject(new Error(m.failed)))));
const url = `http://127.0.0.1:${port}${c.path ?? '/item'}`;
await fetch(url, { headers: c.headers ?? DEFAULT_HEADERS });
// A tenant-scaling or many-URLs case: every tenant or URL is cached first, then picked at random, as the bench does.
const tenantHeaders = (tenant) => ({ ...(c.headers ?? DEFAULT_HEADERS), 'x-tenant-id': tenant });
const pathOf = (k) => `${c.path ?? '/item'}?k=${k}`;
const random = xorshift32(0x9e3779b9);
if (c.tenants || c.urls) {
  let next = 0;
  const count = c.urls ?? c.tenants;
  const one = c.urls ? (req) => ({ ...req, path: pathOf(next++), headers: tenantHeaders('t0') }) : (req) => ({ ...req, headers: tenantHeaders(`t${next++}`) });
  await autocannon({ url, connections: Math.min(50, count), amount: count, requests: [{ setupRequest: one }] });
}
const scaled = c.urls
  ? [{ setupRequest: (req) => ({ ...req, path: pathOf(random(c.urls)), headers: tenantHeaders('t0') }) }]
  : c.tenants
    ? [{ setupRequest: (req) => ({ ...req, headers: tenantHeaders(`t${random(c.tenants)}`) }) }]
    : undefined;
let missSeq = 0;
const perfData = `${dir}${id}.${started}.perf.data`;
// cpu-clock samples carry their period in ns: what a symbol cost is the sum of its periods, whatever rate the kernel allowed.
const perf = usePerf ? spawn('perf', ['record', '-e', 'cpu-clock', '-F', '4999', '-g', '-p', String(child.pid), '-o', perfData], { stdio: ['ignore', 'ignore', 'inherit'] }) : undefined;
const perfExited = perf && new Promise((resolve) => perf.once('exit', resolve));
if (perf) {
  const failure = await Promise.race([
    new Promise((resolve) => perf.once('error', (err) => resolve(err))),
    perfExited.then((code) => new Error(`perf exited at once (code ${code})`)),
    new Promise((resolve) => setTimeout(resolve, 300)),
  ]);
  if (failure instanceof Error) {
    console.error(`perf could not record (${failure.message}): install it (Debian: linux-perf), allow it (kernel.perf_event_paranoid), or drop --perf`);
    child.kill();
    await redis?.stop();
    process.exit(1);
  }
}
const result = await autocannon({
  url,
  connections: 50,
  duration: seconds,
  headers: c.headers ?? DEFAULT_HEADERS,
  // A miss case asks for a new URL every time, as in the bench.
  ...(c.miss ? { requests: [{ setupRequest: (req) => ({ ...req, path: `${c.path ?? '/item'}?n=${++missSeq}` }) }] } : {}),
  ...(scaled ? { requests: scaled } : {}),
});
console.log(`${id}: ${Math.round(result.requests.average).toLocaleString('en-US')} req/s average over ${seconds} s (under the profiler, slower than in the bench)`);
if (perf) {
  if (perf.exitCode === null && perf.signalCode === null) perf.kill('SIGINT');
  await perfExited;
}
const exited = new Promise((r) => child.once('exit', r));
child.disconnect();
await exited;
await redis?.stop();

if (perf) {
  // Self CPU per symbol (the sum of its samples' periods, ns), as µs per response.
  const report = execFileSync('perf', ['report', '-i', perfData, '--no-children', '--sort', 'sym', '-F', 'period,sym', '--stdio', '-g', 'none'], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20, stdio: ['ignore', 'pipe', 'ignore'] });
  const rows = [];
  for (const line of report.split('\n')) {
    const m = /^\s*(\d+)\s+(\[.*)$/.exec(line);
    if (m) rows.push([Number(m[1]), m[2].trim()]);
  }
  rows.sort((a, b) => b[0] - a[0]);
  const responses = Math.max(1, result.requests.total);
  const perResponse = (periodNs) => periodNs / 1e3 / responses;
  const total = rows.reduce((sum, [ns]) => sum + ns, 0);
  console.log(`perf data: ${perfData}\nCPU per response, all symbols: ${perResponse(total).toFixed(2)} µs (under perf; [k] kernel, [.] user, JS:* JavaScript)\n`);
  for (const [ns, sym] of rows.slice(0, Number(process.env.TOP ?? 30))) console.log(`${perResponse(ns).toFixed(3).padStart(7)} µs  ${sym.slice(0, 140)}`);
  // The same CPU by the innermost JavaScript function of each sample: what a function costs with
  // the runtime, IC misses and builtins it calls (which the table above lists by their own names).
  const script = execFileSync('perf', ['script', '-i', perfData, '-F', 'period,ip,sym'], { encoding: 'utf8', maxBuffer: 2 ** 28, stdio: ['ignore', 'pipe', 'ignore'] });
  const byJs = new Map();
  let period = 0;
  let js;
  const flush = () => {
    const name = js ?? '(no JavaScript frame)';
    if (period > 0) byJs.set(name, (byJs.get(name) ?? 0) + period);
    period = 0;
  };
  for (const line of script.split('\n')) {
    if (line.trim() === '') flush();
    else if (!line.startsWith('\t')) {
      flush();
      period = Number(line.trim().split(/\s+/)[0]);
      js = undefined;
    } else if (js === undefined) js = /\sJS:[*~^+]?(\S+ \S+?)(?::\d+:\d+)?$/.exec(line)?.[1];
  }
  flush();
  console.log('\nBy innermost JavaScript function (self, plus the native code it called):\n');
  for (const [name, ns] of [...byJs].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 30))) console.log(`${perResponse(ns).toFixed(3).padStart(7)} µs  ${name.slice(0, 140)}`);
  rmSync(`/tmp/perf-${child.pid}.map`, { force: true }); // written by --perf-basic-prof for perf's symbols
  process.exit(0);
}
const file = readdirSync(dir)
  .filter((f) => f.startsWith(`${id}.${started}`))
  .map((f) => dir + f)
  .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
console.log(`profile: ${file}\n`);
console.log(summarizeProfile(JSON.parse(readFileSync(file, 'utf8')), { top: Number(process.env.TOP ?? 30) }));
