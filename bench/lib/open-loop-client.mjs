/**
 * An open-loop HTTP/1.1 load generator: requests go out on a fixed schedule (request i at
 * start + i / rate), whether or not earlier ones were answered, over keep-alive sockets; a
 * socket with a request outstanding gets the next one pipelined when no socket is idle.
 *
 * Latency is measured from each request's *scheduled* send time, not from when it was written,
 * so a server that stalls is charged for every request that should have gone out meanwhile
 * (no coordinated omission); a generator that falls behind its schedule is charged too, which
 * `sendLag` (how late requests were written) makes visible.
 *
 * Node timers tick at about 1 ms, so requests go out in small bursts (rate / 1000 per tick);
 * a finer schedule would need a spinning loop, which would take the core the server shares.
 *
 * Responses are parsed just enough to be counted: status line and Content-Length (every app of
 * the bench sends one; anything else is reported as an error and the socket is dropped).
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

const HEADER_END = Buffer.from('\r\n\r\n');

function connect(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Opens `connections` keep-alive sockets; resolves `{ run(rate, seconds), close() }`. */
export async function openLoopClient(port, { path = '/item', headers = {}, connections = 64, drainMs = 2_000 } = {}) {
  const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const requestBytes = Buffer.from(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n${head}\r\n`);
  const sockets = await Promise.all(Array.from({ length: connections }, () => connect(port)));

  // Per-run state, reset by run().
  let latencies;
  let completed = 0;
  let non2xx = 0;
  let errors = 0;
  let onCompleted = () => {};

  const conns = sockets.map((socket) => {
    const conn = { socket, scheduled: [], buffer: Buffer.alloc(0), bodyLeft: -1, alive: true };
    socket.setNoDelay(true);
    socket.on('data', (chunk) => {
      conn.buffer = conn.buffer.length === 0 ? chunk : Buffer.concat([conn.buffer, chunk]);
      for (;;) {
        if (conn.bodyLeft < 0) {
          const end = conn.buffer.indexOf(HEADER_END);
          if (end < 0) return;
          const headText = conn.buffer.toString('latin1', 0, end);
          const status = Number(headText.slice(9, 12));
          const length = /\r\ncontent-length:\s*(\d+)/i.exec(headText);
          if (length === null) {
            errors++;
            conn.alive = false;
            socket.destroy();
            return;
          }
          if (status < 200 || status >= 300) non2xx++;
          conn.buffer = conn.buffer.subarray(end + 4);
          conn.bodyLeft = Number(length[1]);
        }
        if (conn.buffer.length < conn.bodyLeft) return;
        conn.buffer = conn.buffer.subarray(conn.bodyLeft);
        conn.bodyLeft = -1;
        const scheduledAt = conn.scheduled.shift();
        if (latencies !== undefined && scheduledAt !== undefined) latencies.push(performance.now() - scheduledAt);
        completed++;
        onCompleted();
      }
    });
    socket.on('error', () => {
      errors++;
      conn.alive = false;
    });
    socket.on('close', () => (conn.alive = false));
    return conn;
  });

  /** The socket for the next request: an idle one if any, else the one with the fewest outstanding. */
  function pick() {
    let best;
    for (const c of conns) {
      if (!c.alive) continue;
      if (c.scheduled.length === 0) return c;
      if (best === undefined || c.scheduled.length < best.scheduled.length) best = c;
    }
    return best;
  }

  return {
    /** Sends `rate` requests per second for `seconds`, then waits up to drainMs for the answers. */
    run(rate, seconds) {
      latencies = [];
      completed = 0;
      non2xx = 0;
      errors = 0;
      const total = Math.round(rate * seconds);
      const interval = 1_000 / rate;
      const lags = [];
      let sent = 0;
      return new Promise((resolve) => {
        const start = performance.now();
        const finish = () => {
          clearTimeout(drainTimer);
          onCompleted = () => {};
          const sorted = Float64Array.from(latencies).sort();
          const lagSorted = Float64Array.from(lags).sort();
          resolve({
            sent,
            completed,
            lost: sent - completed,
            non2xx,
            errors,
            achievedRate: completed / ((performance.now() - start) / 1_000),
            p50: percentile(sorted, 50),
            p90: percentile(sorted, 90),
            p99: percentile(sorted, 99),
            max: sorted.length ? sorted[sorted.length - 1] : undefined,
            sendLagP99: percentile(lagSorted, 99),
          });
        };
        let drainTimer;
        const tick = () => {
          const now = performance.now();
          const due = Math.min(total, Math.floor((now - start) / interval) + 1);
          while (sent < due) {
            const conn = pick();
            if (conn === undefined) break; // every socket died: what was not sent counts as lost
            const scheduledAt = start + sent * interval;
            conn.scheduled.push(scheduledAt);
            lags.push(now - scheduledAt);
            conn.socket.write(requestBytes);
            sent++;
          }
          if (sent < total && conns.some((c) => c.alive)) {
            setTimeout(tick, 1);
            return;
          }
          if (completed >= sent) return finish();
          onCompleted = () => {
            if (completed >= sent) finish();
          };
          drainTimer = setTimeout(finish, drainMs);
        };
        tick();
      });
    },
    close() {
      for (const c of conns) c.socket.destroy();
    },
  };
}
