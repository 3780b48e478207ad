/**
 * The open-loop rows (run by run.mjs against the app processes it started): each case gets the
 * same fixed request rate (OPEN_LOOP_RATE) from lib/open-loop-client.mjs, in interleaved rounds
 * (A B C, B C A, ...), and reports the latency of its answers, measured from each request's
 * scheduled send time, and the server's CPU time per response.
 *
 * Why: autocannon is closed-loop (each of its 50 connections waits for an answer before sending
 * again), so on 2 shared cores a server that answers in bursts gets its next requests in bursts
 * too and scores well on req/s. At a fixed rate every case does the same work, and what differs
 * is how long requests wait (p99, max) and what each answer costs the server (µs of CPU).
 */
import { OPEN_LOOP_CONNECTIONS, OPEN_LOOP_RATE } from './cases.mjs';
import { handlerRuns, serverCpuMicros } from './lib/app-process.mjs';
import { openLoopClient } from './lib/open-loop-client.mjs';
import { median } from './lib/stats.mjs';

async function round(entry, seconds) {
  const { c, server } = entry;
  const client = await openLoopClient(server.port, { path: c.path ?? '/item', headers: c.headers ?? entry.headers, connections: OPEN_LOOP_CONNECTIONS });
  try {
    const runsBefore = c.hit ? await handlerRuns(server.port) : 0;
    const cpuBefore = await serverCpuMicros(server);
    const r = await client.run(OPEN_LOOP_RATE, seconds);
    const cpu = (await serverCpuMicros(server)) - cpuBefore;
    const runs = c.hit ? (await handlerRuns(server.port)) - runsBefore : 0;
    return { ...r, cpuMicrosPerResponse: r.completed > 0 ? cpu / r.completed : undefined, runs };
  } finally {
    client.close();
  }
}

/** `live`: [{ c, server }] of checked HTTP cases, in the order of openLoopCases. */
export async function runOpenLoop(live, { rounds, roundSeconds, warmupSeconds, headers }, log) {
  log(`Open loop: ${OPEN_LOOP_RATE.toLocaleString('en-US')} req/s fixed rate, ${OPEN_LOOP_CONNECTIONS} keep-alive sockets; warm-up ${warmupSeconds} s per case, then ${rounds} interleaved rounds x ${roundSeconds} s of ${live.length} cases`);
  const entries = live.map((e) => ({ ...e, headers, rounds: [] }));
  for (const e of entries) await round(e, warmupSeconds);
  for (let k = 0; k < rounds; k++) {
    for (let j = 0; j < entries.length; j++) {
      const e = entries[(j + k) % entries.length];
      e.rounds.push(await round(e, roundSeconds));
    }
  }
  const out = {};
  for (const { c, rounds: rs } of entries) {
    const defined = (f) => rs.map(f).filter((x) => x !== undefined);
    out[c.id] = {
      name: c.name,
      adapter: c.adapter,
      rate: OPEN_LOOP_RATE,
      achievedRate: median(rs.map((r) => r.achievedRate)),
      p50Ms: median(defined((r) => r.p50)),
      p99Ms: median(defined((r) => r.p99)),
      p99MsMax: Math.max(...defined((r) => r.p99)),
      maxMs: Math.max(...defined((r) => r.max)),
      cpuMicrosPerResponse: median(defined((r) => r.cpuMicrosPerResponse)),
      sendLagP99Ms: median(rs.map((r) => r.sendLagP99)),
      lost: rs.reduce((a, r) => a + r.lost, 0),
      non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      ...(c.hit ? { handlerRunsWhileMeasured: rs.reduce((a, r) => a + r.runs, 0) } : {}),
      rounds: rs.length,
    };
  }
  return out;
}
