/**
 * The runner's side of an app process (http/server.mjs): start it, ask it for its CPU time,
 * stop it, plus the plain HTTP requests the checks and the stampede trials send.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DEFAULT_HEADERS } from '../cases.mjs';
import { PAYLOAD_BYTES } from './payload.mjs';

const SERVER = fileURLToPath(new URL('../http/server.mjs', import.meta.url));

/** One process per (app, adapter, options, instance): cases that share all four share the process. */
export const serverKey = (c, instance = 0) => `${c.app}|${c.adapter}|${JSON.stringify(c.options ?? {})}${instance ? `#${instance}` : ''}`;

/** Resolves `{ child, port }`, or `{ child, failed }` if the app could not start. */
export function startServer(c, redisUrl, execArgv = []) {
  const child = fork(SERVER, [JSON.stringify({ app: c.app, adapter: c.adapter, options: c.options ?? {}, redisUrl })], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m.ready ? { child, port: m.ready } : { child, failed: m.failed }));
    child.once('exit', (code) => resolve({ child, failed: `exited with code ${code}` }));
  });
}

export async function stopServer(server) {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((r) => server.child.once('exit', r));
  if (server.child.connected) server.child.disconnect();
  await Promise.race([exited, sleep(3_000)]);
  if (server.child.exitCode === null) server.child.kill('SIGKILL');
}

let cpuSeq = 0;
/**
 * The app process's own CPU time so far (user + system, µs), from `process.cpuUsage()` inside
 * it: µs resolution, where /proc/<pid>/stat counts clock ticks of 10 ms (1% of a 1 s round).
 */
export function serverCpuMicros(server) {
  const n = ++cpuSeq;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('app process did not report its CPU time')), 5_000);
    const onMessage = (m) => {
      if (m?.cpu !== n) return;
      clearTimeout(timer);
      server.child.off('message', onMessage);
      resolve(m.usage.user + m.usage.system);
    };
    server.child.on('message', onMessage);
    server.child.send({ cpu: n });
  });
}

export function request(port, path, { agent, headers = DEFAULT_HEADERS } = {}) {
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

/** How often the app's handlers ran so far (GET /__runs). */
export const handlerRuns = async (port) => JSON.parse((await request(port, '/__runs')).body).runs;

/** Checks a case before it is measured: status, body size, and for hit cases an X-Cache: HIT on the second request. */
export async function check(port, c) {
  const first = await request(port, c.path ?? '/item', { headers: c.headers ?? DEFAULT_HEADERS });
  if (first.status !== 200) return `GET ${c.path ?? '/item'} answered ${first.status}`;
  if (Buffer.byteLength(first.body) !== PAYLOAD_BYTES) return `body is ${Buffer.byteLength(first.body)} bytes, expected ${PAYLOAD_BYTES}`;
  if (c.hit) {
    const second = await request(port, c.path ?? '/item', { headers: c.headers ?? DEFAULT_HEADERS });
    if (second.headers['x-cache'] !== 'HIT') return `second request was not a hit (X-Cache: ${second.headers['x-cache']})`;
  }
  return undefined;
}
