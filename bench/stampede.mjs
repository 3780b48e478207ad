/**
 * The stampede trials (run by run.mjs against the app processes it started): 200 concurrent
 * requests to one cold key (a fresh one per trial), counting how often the handler ran. A case
 * with `processes: 2` splits the requests over two app processes on the same Redis (100 each, all
 * sent in the same tick) and sums their handler runs: only a lock shared through Redis keeps that at 1.
 */
import http from 'node:http';
import { STAMPEDE_CONCURRENCY } from './cases.mjs';
import { handlerRuns, request, serverKey } from './lib/app-process.mjs';
import { summarize } from './lib/stats.mjs';

/** The app processes of a case: one, or `processes` of them (instances 0 .. n-1). */
export const stampedeServers = (c, servers) => Array.from({ length: c.processes ?? 1 }, (_, i) => servers.get(serverKey(c, i)));

async function trial(ports, path) {
  const share = STAMPEDE_CONCURRENCY / ports.length;
  const agents = ports.map(() => new http.Agent({ keepAlive: true, maxSockets: share }));
  try {
    // Open every connection first, so the cold requests arrive together rather than behind connects.
    await Promise.all(ports.flatMap((port, i) => Array.from({ length: share }, () => request(port, '/__runs', { agent: agents[i] }))));
    const runsOf = async () => (await Promise.all(ports.map(handlerRuns))).reduce((a, b) => a + b, 0);
    const before = await runsOf();
    const responses = await Promise.all(ports.flatMap((port, i) => Array.from({ length: share }, () => request(port, path, { agent: agents[i] }))));
    const runs = (await runsOf()) - before;
    const ok = responses.filter((r) => r.status === 200).length;
    const bodies = new Set(responses.map((r) => r.body)).size;
    return { runs, ok, bodies };
  } finally {
    for (const agent of agents) agent.destroy();
  }
}

export async function runStampede(cases, servers, { trials }, log) {
  const unavailable = {};
  const live = cases.filter((c) => {
    const failed = stampedeServers(c, servers).find((s) => s.failed)?.failed;
    if (failed) unavailable[c.id] = failed.split('\n')[0];
    return !failed;
  });
  const runId = Date.now().toString(36);
  log(`Stampede: ${trials} trials x ${live.length} cases, ${STAMPEDE_CONCURRENCY} concurrent requests to a fresh key each`);
  const detail = new Map(live.map((c) => [c.id, []]));
  for (let t = 0; t < trials; t++) {
    for (const c of live) {
      const ports = stampedeServers(c, servers).map((s) => s.port);
      // A key of its own per case and trial: the 2-process cases share a Redis with the 1-process ones.
      detail.get(c.id).push(await trial(ports, `/stampede/cold-${runId}-${c.id}-${t}`));
    }
  }
  const out = {};
  for (const c of live) {
    const d = detail.get(c.id);
    out[c.id] = {
      name: c.name,
      adapter: c.adapter,
      processes: c.processes ?? 1,
      ...summarize(d.map((r) => r.runs)),
      non200: d.reduce((a, r) => a + (STAMPEDE_CONCURRENCY - r.ok), 0),
      distinctBodiesMax: Math.max(...d.map((r) => r.bodies)),
    };
  }
  return { results: out, unavailable };
}
