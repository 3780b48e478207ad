/** Console tables, the SVG chart and bench/README.md, all from one results object. */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// ---- machine ----------------------------------------------------------------------------------

function versionOf(pkg) {
  try {
    return JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')).version;
  } catch {
    try {
      // Packages whose exports map hides package.json: walk up from the entry point.
      let dir = require.resolve(pkg);
      for (let i = 0; i < 6; i++) {
        dir = dir.slice(0, dir.lastIndexOf('/'));
        try {
          const json = JSON.parse(readFileSync(`${dir}/package.json`, 'utf8'));
          if (json.name === pkg) return json.version;
        } catch {}
      }
    } catch {}
    return 'unknown';
  }
}

export function machineInfo() {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {}
  let nproc = os.availableParallelism();
  try {
    nproc = Number(execSync('nproc', { encoding: 'utf8' }).trim());
  } catch {}
  const packages = {};
  for (const p of ['@nestjs/core', '@nestjs/platform-fastify', 'fastify', '@nestjs/platform-express', 'express', '@nestjs/cache-manager', 'cache-manager', 'keyv', '@keyv/redis', 'ioredis', 'lru-cache', 'autocannon', 'bentocache', 'cacheable']) packages[p] = versionOf(p);
  let commit = 'unknown';
  let libDirty = false;
  try {
    commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
    libDirty = execSync('git status --porcelain -- lib', { encoding: 'utf8' }).trim() !== '';
  } catch {}
  return { commit, libDirty, nproc, cpu, node: process.version, os: `${os.type()} ${os.release()} ${os.arch()}`, memoryGB: Math.round(os.totalmem() / 2 ** 30), packages };
}

// ---- formatting -------------------------------------------------------------------------------

const int = (n) => (n === undefined ? '-' : Math.round(n).toLocaleString('en-US'));
const fixed = (n, d = 2) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));
const targetValue = (t) => (t.value === undefined ? '-' : Number.isInteger(t.value) ? String(t.value) : t.threshold >= 2 ? fixed(t.value, 1) : fixed(t.value, 2));

function table(headers, rows, align) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const cell = (v, i) => (align?.[i] === 'l' ? String(v).padEnd(widths[i]) : String(v).padStart(widths[i]));
  const line = (r) => r.map(cell).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function markdownTable(headers, rows, align) {
  const sep = headers.map((_, i) => (align?.[i] === 'l' ? ':--' : '--:'));
  return [headers, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

// ---- sections (shared by console and README) ---------------------------------------------------

const problems = (r) => [r.non2xx ? `${r.non2xx} non-2xx` : '', r.errors ? `${r.errors} errors` : '', r.lost ? `${r.lost} unanswered` : ''].filter(Boolean).join(', ');

function httpRows(results) {
  return Object.entries(results.http).map(([, r]) => [
    r.name,
    int(r.median),
    `${int(r.min)}-${int(r.max)}`,
    fixed(r.cpuMicrosPerResponse, 1),
    fixed(r.ratioToLimit),
    fixed(r.ratioToPlatform),
    fixed(r.ratioToRawFastify),
    fixed(r.ratioToRawExpress),
    fixed(r.p99Ms, 1),
    r.handlerRunsWhileMeasured === undefined ? '' : String(r.handlerRunsWhileMeasured),
    problems(r),
  ]);
}
const HTTP_HEADERS = ['case', 'req/s (median)', 'min-max', 'server CPU µs/response', 'x Nest constant', 'x platform route', 'x raw Fastify', 'x raw Express', 'p99 ms', 'handler runs while measured', 'problems'];
const HTTP_ALIGN = ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'];

function openLoopRows(results) {
  return Object.values(results.openLoop ?? {}).map((r) => [
    r.name,
    int(r.rate),
    int(r.achievedRate),
    fixed(r.p50Ms, 2),
    fixed(r.p99Ms, 2),
    fixed(r.p99MsMax, 2),
    fixed(r.maxMs, 1),
    fixed(r.cpuMicrosPerResponse, 1),
    fixed(r.sendLagP99Ms, 2),
    r.handlerRunsWhileMeasured === undefined ? '' : String(r.handlerRunsWhileMeasured),
    problems(r),
  ]);
}
const OPEN_LOOP_HEADERS = ['case', 'rate req/s', 'answered req/s', 'p50 ms', 'p99 ms (median)', 'p99 ms (worst round)', 'max ms', 'server CPU µs/response', 'send lag p99 ms', 'handler runs while measured', 'problems'];

/** HTTP tenant-scaling rows and the micro tenant groups, each with its ratio to its 1-tenant row. */
function tenantRows(results) {
  const rows = [];
  const http = Object.entries(results.http).filter(([, r]) => r.tenants !== undefined);
  const httpBase = http.find(([, r]) => r.tenants === 1 && r.urls === undefined)?.[1];
  for (const [, r] of http) rows.push([r.name, int(r.median), fixed(r.cpuMicrosPerResponse, 1), httpBase ? fixed(r.median / httpBase.median) : '-']);
  for (const kind of ['get', 'lookup']) {
    const members = Object.entries(results.micro ?? {}).filter(([id]) => id.startsWith(`tenants.${kind}.`));
    const base = members.find(([id]) => id === `tenants.${kind}.1`)?.[1];
    for (const [, r] of members) rows.push([r.name, int(r.median), '', base ? fixed(r.median / base.median) : '-']);
  }
  return rows;
}
const TENANT_HEADERS = ['case', 'req/s or ops/s (median)', 'server CPU µs/response', 'x 1 tenant'];

function stampedeRows(results) {
  return Object.values(results.stampede).map((r) => [r.name, `${r.adapter}`, String(r.processes ?? 1), String(r.median), `${r.min}-${r.max}`, r.samples.join(', '), String(r.non200)]);
}
const STAMPEDE_HEADERS = ['case', 'adapter', 'app processes', 'handler runs (median)', 'min-max', 'per trial', 'non-200 responses'];

function microRows(results) {
  const byGroup = new Map();
  for (const [id, r] of Object.entries(results.micro)) {
    if (!byGroup.has(r.group)) byGroup.set(r.group, []);
    byGroup.get(r.group).push([id, r]);
  }
  const rows = [];
  for (const [, members] of byGroup) {
    // The group's base: raw lru-cache (memory) or raw ioredis (Redis), as named by the case id.
    const base = members.find(([id]) => id.endsWith('.lru') || id.endsWith('.raw'))?.[1];
    for (const [, r] of members) rows.push([r.name, int(r.median), `${int(r.min)}-${int(r.max)}`, base ? fixed(r.median / base.median) : '']);
  }
  return rows;
}
const MICRO_HEADERS = ['case', 'ops/s (median)', 'min-max', 'x raw'];

function invalidationRows(results) {
  return Object.values(results.invalidation ?? {}).map((r) => [r.name, fixed(r.median, 3), `${fixed(r.min, 3)}-${fixed(r.max, 3)}`, r.commands === undefined ? '' : String(r.commands), String(r.samples.length)]);
}
const INVALIDATION_HEADERS = ['case', 'ms (median)', 'min-max', 'Redis commands', 'trials'];

function memoryRows(results) {
  return Object.values(results.memory).map((r) => [
    r.name,
    int(r.sets),
    int(r.entriesHeld),
    fixed(r.estimatedBytesMB, 1),
    fixed(r.heapGrowthMB, 1),
    fixed(r.constructionHeapMB, 1),
    fixed(r.heapGrowthSinceConstructMB, 1),
    fixed(r.externalGrowthMB, 1),
    fixed(r.rssGrowthMB, 1),
    int(r.setsPerSec),
  ]);
}
const MEMORY_HEADERS = ['case (maxBytes 64 MiB)', 'sets', 'entries held', 'estimated MB', 'heap growth MB', 'of which construction', 'since construction', 'external MB', 'RSS growth MB', 'sets/s'];

function targetRows(results) {
  return results.targets.map((t) => [t.label, targetValue(t), `${t.op} ${t.threshold}`, t.status]);
}
const TARGET_HEADERS = ['target', 'measured', 'needed', 'result'];

function loadText(results) {
  const l = results.loadAverage ?? {};
  const parts = [`${l.start?.[0] ?? '?'} at start`];
  if (l.httpRounds?.length) parts.push(`${l.httpRounds.join(', ')} after each HTTP round`);
  parts.push(`${l.end?.[0] ?? '?'} at end`);
  return parts.join('; ');
}

export function printReport(results) {
  const out = [];
  const m = results.machine;
  out.push(`\nnestjs-tenant-cache bench, ${results.date}${results.quick ? ' (QUICK: smoke run, not for quoting)' : ''}`);
  out.push(`${m.nproc} cores, ${m.cpu}, Node ${m.node}, redis ${m.redis}; 1-min load average ${loadText(results)}`);
  if (Object.keys(results.http).length > 0) out.push(`\nHTTP (${results.method.connections} connections, ${results.method.rounds} rounds x ${results.method.roundSeconds} s, interleaved)\n${table(HTTP_HEADERS, httpRows(results), HTTP_ALIGN)}`);
  if (Object.keys(results.openLoop ?? {}).length > 0) out.push(`\nOpen loop (fixed request rate; latency from the scheduled send time)\n${table(OPEN_LOOP_HEADERS, openLoopRows(results), ['l'])}`);
  if (tenantRows(results).length > 0) out.push(`\nTenant scaling\n${table(TENANT_HEADERS, tenantRows(results), ['l'])}`);
  if (Object.keys(results.stampede).length > 0) out.push(`\nStampede (${results.method.stampedeConcurrency} concurrent requests to a cold key)\n${table(STAMPEDE_HEADERS, stampedeRows(results), ['l', 'l'])}`);
  if (Object.keys(results.micro).length > 0) out.push(`\nMicro\n${table(MICRO_HEADERS, microRows(results), ['l'])}`);
  if (Object.keys(results.invalidation ?? {}).length > 0) out.push(`\nInvalidation (one operation on a fresh tenant)\n${table(INVALIDATION_HEADERS, invalidationRows(results), ['l'])}`);
  if (Object.keys(results.memory).length > 0) out.push(`\nMemory bound\n${table(MEMORY_HEADERS, memoryRows(results), ['l'])}`);
  const skipped = Object.entries(results.unavailable);
  if (skipped.length > 0) out.push(`\nNot measured\n${skipped.map(([id, why]) => `  ${id}: ${why}`).join('\n')}`);
  out.push(`\nTargets (ratios within this run)\n${table(TARGET_HEADERS, targetRows(results), ['l'])}\n`);
  console.log(out.join('\n'));
}

// ---- chart ------------------------------------------------------------------------------------

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function colorOf(id) {
  if (id.includes('.raw')) return '#6b6b6b';
  if (id.endsWith('.constant')) return '#9e9e9e';
  if (id.endsWith('.slow')) return '#cfcfcf';
  if (id.endsWith('.floor')) return '#bab0ac';
  if (id.includes('.ncm.')) return '#f28e2b';
  if (id.includes('.ours.')) return '#4e79a7';
  return '#76b7b2';
}

/** Horizontal bars (median req/s, min-max whisker, ratio to the adapter's constant handler) and the targets. */
export function renderChart(results) {
  const W = 960;
  const labelW = 330;
  const barX = labelW + 10;
  const barW = 440;
  const rowH = 26;
  const rows = Object.entries(results.http);
  const maxValue = Math.max(1, ...rows.map(([, r]) => r.max));
  const scale = (v) => (v / maxValue) * barW;
  const parts = [];
  let y = 54;
  parts.push(`<text x="16" y="26" font-size="17" font-weight="bold">nestjs-tenant-cache: HTTP req/s, median of ${results.method.rounds} interleaved rounds (whisker: min-max)</text>`);
  parts.push(`<text x="16" y="44" font-size="12" fill="#555">${esc(`${results.machine.nproc} cores ${results.machine.cpu}, Node ${results.machine.node}, ${results.method.connections} connections, ${results.date.slice(0, 10)}`)}</text>`);
  let adapter;
  for (const [id, r] of rows) {
    if (r.adapter !== adapter) {
      adapter = r.adapter;
      y += 10;
      parts.push(`<text x="16" y="${y + 12}" font-size="14" font-weight="bold">${esc(adapter === 'fastify' ? 'Fastify' : 'Express')}</text>`);
      y += 22;
    }
    const w = scale(r.median);
    parts.push(`<text x="${labelW}" y="${y + 16}" font-size="12" text-anchor="end">${esc(r.name.replace(/^\w+: /, ''))}</text>`);
    parts.push(`<rect x="${barX}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${colorOf(id)}"/>`);
    const x1 = barX + scale(r.min);
    const x2 = barX + scale(r.max);
    parts.push(`<line x1="${x1.toFixed(1)}" x2="${x2.toFixed(1)}" y1="${y + rowH / 2}" y2="${y + rowH / 2}" stroke="#222" stroke-width="1"/>`);
    parts.push(`<line x1="${x1.toFixed(1)}" x2="${x1.toFixed(1)}" y1="${y + 8}" y2="${y + rowH - 8}" stroke="#222"/><line x1="${x2.toFixed(1)}" x2="${x2.toFixed(1)}" y1="${y + 8}" y2="${y + rowH - 8}" stroke="#222"/>`);
    const raw = r.adapter === 'express' ? r.ratioToRawExpress : r.ratioToRawFastify;
    const ratio = r.ratioToLimit === undefined ? '' : ` (${fixed(r.ratioToLimit)}x constant${raw === undefined ? '' : `, ${fixed(raw)}x raw`})`;
    parts.push(`<text x="${(Math.max(barX + w, x2) + 6).toFixed(1)}" y="${y + 16}" font-size="12">${esc(int(r.median) + ratio)}</text>`);
    y += rowH;
  }
  if (results.targets?.length) {
    y += 24;
    parts.push(`<text x="16" y="${y}" font-size="15" font-weight="bold">Targets (ratios within this run)</text>`);
    y += 8;
    for (const t of results.targets) {
      y += 20;
      const color = t.status === 'PASS' ? '#2e7d32' : t.status === 'MISS' ? '#c62828' : '#777';
      parts.push(`<text x="16" y="${y}" font-size="12">${esc(t.label)}</text>`);
      parts.push(`<text x="${W - 200}" y="${y}" font-size="12" text-anchor="end">${esc(`${targetValue(t)} (${t.op} ${t.threshold})`)}</text>`);
      parts.push(`<text x="${W - 16}" y="${y}" font-size="12" font-weight="bold" text-anchor="end" fill="${color}">${t.status}</text>`);
    }
  }
  const H = y + 24;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`;
}

// ---- README -----------------------------------------------------------------------------------

const NOTES_START = '<!-- notes:start (hand-written; kept across runs) -->';
const NOTES_END = '<!-- notes:end -->';

export function renderReadme(results, previous = '') {
  const m = results.machine;
  const r = results.method;
  const i = previous.indexOf(NOTES_START);
  const j = previous.indexOf(NOTES_END);
  const notes = i >= 0 && j > i ? previous.slice(i + NOTES_START.length, j).trim() : '_No notes yet._';
  const pk = Object.entries(m.packages).map(([k, v]) => `${k} ${v}`).join(', ');
  return `# Benchmarks

Side-by-side numbers for nestjs-tenant-cache against the frameworks' own limits (raw node:http,
Fastify and Express routes, Nest constant handlers), @nestjs/cache-manager, bentocache and cacheable,
produced by one command. Everything on this page below "How to run" except
the notes is generated by \`bench/run.mjs\` from \`results/latest.json\`.

## How to run

\`\`\`sh
npm run bench                 # builds the library (dist/), then runs every case (about ${Math.max(1, Math.round((results.seconds ?? 480) / 60))} minutes)
BENCH_QUICK=1 npm run bench   # ~1-minute smoke run; writes results/quick.tmp.json only
BENCH_ONLY=micro,memory npm run bench   # a subset (http, openloop, stampede, micro, invalidation, memory); also quick.tmp.json only
BENCH_ONLY=http BENCH_CASES=fastify.raw,fastify.ours.memory npm run bench   # HTTP cases whose id starts with one of these
BENCH_ONLY=micro BENCH_MICRO='^engine\\.|^tenants\\.' npm run bench   # micro cases whose id matches the regular expression
node bench/profile.mjs fastify.ours.memory 10   # CPU profile of one HTTP case's app under load (top self and inclusive time)
node bench/profile.mjs fastify.ours.memory 10 --perf   # the same with Linux perf: CPU (not wall time) per symbol, µs per response, kernel included
\`\`\`

Needs \`redis-server\` on the PATH; the runner starts its own on a free port (never 6379) and stops it.

## Last full run

- Date: ${results.date}
- Machine: ${m.nproc} cores (\`nproc\`), ${m.cpu}, ${m.memoryGB} GB RAM, ${m.os}
- Library: commit ${m.commit}${m.libDirty ? ' plus uncommitted changes in lib/ (work in progress at the time of the run)' : ''}, built to dist/
- Node ${m.node}; redis-server ${m.redis}
- Packages: ${pk}
- Duration: ${results.seconds} s
- 1-minute load average (the machine may be shared; above ~2 on 2 cores, other processes competed for the CPU): ${loadText(results)}

![HTTP throughput and targets](results/chart.svg)

### Targets

${markdownTable(TARGET_HEADERS, targetRows(results).map((row) => [row[0], row[1], row[2], `**${row[3]}**`]), ['l'])}

### HTTP

${markdownTable(HTTP_HEADERS, httpRows(results), HTTP_ALIGN)}

${Object.keys(results.openLoop ?? {}).length ? `### Open loop (fixed rate)\n\n${markdownTable(OPEN_LOOP_HEADERS, openLoopRows(results), ['l'])}\n\n` : ''}${tenantRows(results).length ? `### Tenant scaling\n\n${markdownTable(TENANT_HEADERS, tenantRows(results), ['l'])}\n\n` : ''}### Stampede

${markdownTable(STAMPEDE_HEADERS, stampedeRows(results), ['l', 'l'])}

### Micro

${markdownTable(MICRO_HEADERS, microRows(results), ['l'])}

${Object.keys(results.invalidation ?? {}).length ? `### Invalidation\n\n${markdownTable(INVALIDATION_HEADERS, invalidationRows(results), ['l'])}\n\n` : ''}### Memory bound

${markdownTable(MEMORY_HEADERS, memoryRows(results), ['l'])}
${Object.keys(results.unavailable).length ? `\n### Not measured\n\n${Object.entries(results.unavailable).map(([id, why]) => `- \`${id}\`: ${esc(why)}`).join('\n')}\n` : ''}
## Method

- **One process per app**, as in production: every HTTP app is a separate Node process
  (\`http/server.mjs\`), listening on 127.0.0.1. The load generator (autocannon ${m.packages.autocannon}, programmatic API)
  runs in the runner process, so on this ${m.nproc}-core machine the app and the load generator each
  have about one core; in the Redis cases redis-server shares them too.
- **Load**: ${r.connections} connections, pipelining ${r.pipelining}, \`GET /item\` with \`x-tenant-id: acme\`.
  Every handler returns the same ${r.payloadBytes}-byte JSON body. The uncached handler and every cached
  handler wait 5 ms (\`setTimeout\`) before answering, so a miss is visible; the cached cases are
  primed and checked before measuring (the second request must answer \`X-Cache: HIT\`), and the
  column "handler runs while measured" proves every measured request was a hit (0).
- **Interleaved rounds**: a ${r.warmupSeconds} s warm-up per case, then ${r.rounds} rounds; each round runs every case
  for ${r.roundSeconds} s, starting one case later than the previous round (A B C, B C A, ...), so drift
  (thermal, other tenants of the VM, GC) spreads over all cases. Figures are the median over rounds
  with the min-max; ratios are medians of the same run divided.
- **Server CPU per response**: before and after each measured round the runner asks the app process for
  \`process.cpuUsage()\` over IPC (user + system time of the whole process, all threads, in µs; chosen over
  \`/proc/<pid>/stat\`, whose utime + stime count 10 ms clock ticks, 1% of a round), divides the difference by
  the responses autocannon received in that round, and reports the median over rounds. It is the cost a
  response puts on the server whatever the load generator does: on ${m.nproc} shared cores req/s also moves with
  how much CPU the generator and other processes leave to the app.
- **Raw limits** (\`http/raw-apps.mjs\`, one process each, same \`/item\` and \`/__runs\`): the body serialised
  once at start and sent as is, as a cache hit sends stored bytes: \`node:http\` with the headers a Fastify
  reply carries (\`content-type: application/json; charset=utf-8\`, \`content-length\`; keep-alive timeout 72 s
  like Fastify's), a plain Fastify route (\`reply.type(...).send(body)\`, Fastify's defaults), a plain Express
  route (\`res.type(...).send(body)\`, Express's defaults: weak ETag, \`X-Powered-By\`, as Nest keeps them).
  "x raw Fastify" and "x raw Express" divide every row's median by that route's.
- **Platform route** (\`platformRoute\` in \`http/server.mjs\`): the same bytes from a route registered straight on
  the Nest app's own Fastify or Express instance. It runs every hook and middleware Nest puts on the platform
  (on Fastify six \`onRequest\` hooks, middie and an \`onResponse\` hook) and none of Nest's request pipeline: the
  floor of anything served inside a Nest app, a cache hit included. "x platform route" divides by it.
- **Open loop** (\`open-loop.mjs\`, \`lib/open-loop-client.mjs\`): autocannon is closed-loop (each connection sends
  its next request when the last is answered, \`overallRate\` included), which on 2 shared cores rewards a server
  that answers in bursts. Here requests go out on a fixed schedule (${int(r.openLoop?.rate)} req/s, request i at start + i/rate) over ${r.openLoop?.connections ?? '-'}
  keep-alive sockets, an idle one if any, else pipelined on the least busy, whether or not earlier requests
  were answered; latency runs from each request's *scheduled* time (no coordinated omission). Node timers tick
  at ~1 ms, so requests leave in bursts of rate/1000; "send lag p99" says how late the generator itself was
  (large values mean the generator was starved of CPU and the latencies include that). ${r.openLoop?.rounds ?? 5} interleaved
  rounds of ${r.openLoop?.roundSeconds ?? 2} s after a 1 s warm-up per case; p50 and p99 are medians over rounds, max the highest of all;
  "answered req/s" is the responses over the time to the last one (the sending window plus the wait, up to 2 s, for
  late answers): below the rate, the server did not keep up, and its latencies show the queue.
- **Tenant scaling**: the memory hit with each request's \`x-tenant-id\` drawn uniformly from 1, 10,000 or
  100,000 tenants (autocannon \`setupRequest\`, also for 1 tenant, so the generator's cost is the same), one
  hot key per tenant (\`/item?k=0\`), every tenant warmed by one request each before measuring; and one tenant
  with 100,000 hot URLs (\`?k=\` drawn uniformly), the base of the tenant target: the same hot set, so the ratio
  is what tenants cost, not what 100,000 entries cost over one (memory latency: raw lru-cache itself is ~10x
  slower per get at 100,000 entries than at 10,000 here). Memory store
  \`{ maxEntries: 200,000, maxBytes: 2 GiB, maxTenantShare: 1 }\`, one process per row, so nothing is evicted
  (the "handler runs while measured" column proves it). The micro rows do the same in-process: \`forTenant(t).get(key)\`
  awaited, and the HTTP lookup (the tenant's store access, then the engine's synchronous read, as the fast
  path does before writing the reply), over 1 tenant x 10,000 keys, 1 x 100,000 (the base of the tenant
  targets), 10,000 x 1 and 100,000 x 1 (2^20-long pseudo-random tenant sequence).
- **Cases are data** (\`cases.mjs\`): an HTTP case is one line naming an app factory (\`http/apps.mjs\`),
  an adapter, options and the route; micro cases live in \`micro.mjs\`; targets are declared next to
  the cases they divide.
- **@nestjs/cache-manager**: \`CacheModule.register({ ttl })\` with \`@UseInterceptors(CacheInterceptor)\`;
  memory = cache-manager's default Keyv (a \`Map\`), Redis = \`@keyv/redis\`. Dev dependencies of the bench only.
- **Ours**: the built package imported by its name (\`nestjs-tenant-cache\` resolves to \`dist/\`),
  \`CacheModule.forRoot({ store, tenant: fromHeader('x-tenant-id') })\` and \`@Cached({ ttl })\`;
  memory store \`{ maxEntries: 10_000 }\`, Redis store \`{ url }\` with its default client settings
  (defaults everywhere: \`fastPath\` on, \`tenantContext: 'auto'\`, which is off in these apps since
  nothing in them injects \`CacheManager\`). The \`tenant context on\` rows set \`tenantContext: true\`:
  what an app whose services inject \`CacheManager\` pays (AsyncLocalStorage on Node 20). The \`fastPath: false\` rows serve the
  same hit from the interceptor; the \`guarded route\` rows put a guard that lets every request
  through (\`canActivate() { return true }\`) on the route, for ours and @nestjs/cache-manager.
- **Stampede**: ${r.stampedeTrials} trials per case; each opens ${r.stampedeConcurrency} keep-alive connections first, then sends
  ${r.stampedeConcurrency} concurrent \`GET /stampede/<fresh key>\` to a 100 ms handler and counts how often it ran. The
  "2 processes" rows start two app processes on the same Redis and send half of the requests to each, all in the
  same tick, summing both processes' handler runs (\`/__runs\` of each).
- **Engines** (\`micro-engines.mjs\`): a memory \`get\` of a present key through each library's public API,
  awaited, 10,000 keys: ours \`CacheManager.forTenant(t).get\`, bentocache (memory driver, one tier, its defaults but
  \`maxItems: 20,000\`), cacheable (\`new Cacheable()\`, its in-memory primary); objects and 215-byte strings;
  raw lru-cache sync and awaited for reference. bentocache's Redis get (Redis driver, one tier) joins the Redis
  50-in-flight group.
- **Micro** (\`micro.mjs\`, own process): our stores from \`dist/\` against raw lru-cache / \`Map\` /
  ioredis with the same settings (lru-cache: same \`max\`, per-entry TTL, \`allowStale: false\`,
  \`updateAgeOnGet: false\`; ioredis: the options RedisStore gives the clients it creates, incl.
  auto-pipelining), uniformly random keys from a fixed sequence, 1 warm-up + ${results.quick ? 2 : 7} interleaved rounds (Redis rounds 1 s, memory 0.4 s)
  per group. The memory get target uses \`getSync\`, the synchronous read the HTTP hit path uses,
  against raw \`lru.get\`; the awaited \`get()\` (\`await store.get(k)\` in a loop, the async contract) has
  its own group whose base is raw \`lru.get\` behind an async function, awaited the same way.
  Raw ioredis uses \`getBuffer\`, the command RedisStore issues, so the gap is exactly the store's
  own work (key handling, decode of the wire format into an envelope). The Redis set group writes
  keys of their own: ours (\`RedisStore.set\`, a deadline-checked Lua script per write) against a
  plain \`SET PX\` of the bytes ours writes, encoded per call (\`rawEncoded\`: ours / rawEncoded is
  the script's cost plus the store's own work) or once up front (\`raw\`, the base).
- **Invalidation** (\`invalidation.mjs\`, own process): a fresh tenant filled with 1,000, 10,000 or
  100,000 entries carrying one tag, then one \`invalidateTags\` of that tag or one \`clearScope\` of the
  tenant, timed (7 trials, 3 at 100,000; a fresh tenant each); on Redis the data commands it ran,
  from \`INFO commandstats\` (the script and the commands inside it). O(1): flat rows.
- **Memory bound** (\`memory.mjs\`, own process, \`--expose-gc\`): 1,000,000 awaited sets of distinct
  1 KB values (strings: flat 1,024-byte strings; objects: JSON-shaped objects of ~1 KB serialised)
  into \`new MemoryStore({ maxBytes: 64 MiB })\` (plus \`maxEntries\` where the case names one); heap growth = \`heapUsed\` after full GCs
  minus \`heapUsed\` before the store was constructed (so lru-cache's preallocated arrays count).

## Notes

${NOTES_START}
${notes}
${NOTES_END}
`;
}
