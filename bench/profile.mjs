/**
 * CPU profile of one HTTP case under load: `node bench/profile.mjs <case id> [seconds]`
 * (e.g. fastify.ours.memory). Starts the case's app with --cpu-prof, primes it, loads it with
 * autocannon like the bench does, stops it, and prints the heaviest functions by self time and
 * by inclusive time. The .cpuprofile (open it in Chrome DevTools) is kept in bench/results/profiles/.
 * Build first (`npm run build`).
 */
import autocannon from 'autocannon';
import { fork } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_HEADERS, httpCases } from './cases.mjs';
import { startRedis } from './lib/redis.mjs';
import { summarizeProfile } from './lib/profile-summary.mjs';

const [id, secondsArg] = process.argv.slice(2);
const c = httpCases.find((x) => x.id === id);
if (!c) {
  console.error(`usage: node bench/profile.mjs <case id> [seconds]; ids: ${httpCases.map((x) => x.id).join(', ')}`);
  process.exit(2);
}
const seconds = Number(secondsArg ?? 10);
const dir = fileURLToPath(new URL('./results/profiles/', import.meta.url));
mkdirSync(dir, { recursive: true });

const redis = c.redis ? await startRedis() : undefined;
const started = Date.now();
const child = fork(fileURLToPath(new URL('./http/server.mjs', import.meta.url)), [JSON.stringify({ app: c.app, adapter: c.adapter, options: c.options ?? {}, redisUrl: redis?.url })], {
  execArgv: ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${id}.${started}.cpuprofile`],
});
const port = await new Promise((resolve, reject) => child.once('message', (m) => (m.ready ? resolve(m.ready) : reject(new Error(m.failed)))));
const url = `http://127.0.0.1:${port}${c.path ?? '/item'}`;
await fetch(url, { headers: c.headers ?? DEFAULT_HEADERS });
let missSeq = 0;
const result = await autocannon({
  url,
  connections: 50,
  duration: seconds,
  headers: c.headers ?? DEFAULT_HEADERS,
  // A miss case asks for a new URL every time, as in the bench.
  ...(c.miss ? { requests: [{ setupRequest: (req) => ({ ...req, path: `${c.path ?? '/item'}?n=${++missSeq}` }) }] } : {}),
});
console.log(`${id}: ${Math.round(result.requests.average).toLocaleString('en-US')} req/s average over ${seconds} s (under the profiler, slower than in the bench)`);
const exited = new Promise((r) => child.once('exit', r));
child.disconnect();
await exited;
await redis?.stop();

const file = readdirSync(dir)
  .filter((f) => f.startsWith(`${id}.${started}`))
  .map((f) => dir + f)
  .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
console.log(`profile: ${file}\n`);
console.log(summarizeProfile(JSON.parse(readFileSync(file, 'utf8')), { top: Number(process.env.TOP ?? 30) }));
