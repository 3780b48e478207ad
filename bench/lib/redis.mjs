/** A private redis-server for the bench: a free port, no persistence, killed at the end (never the machine's 6379). */
import { spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function ping(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' }, () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    socket.on('error', () => resolve(false));
  });
}

export async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  let exited = false;
  child.on('exit', () => (exited = true));
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const deadline = Date.now() + 10_000;
  while (!(await ping(port))) {
    if (exited || Date.now() > deadline) throw new Error(`redis-server did not start on port ${port} (is redis-server installed?)`);
    await sleep(50);
  }
  const version = await new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' }, () => socket.write('INFO server\r\n'));
    let buf = '';
    socket.on('data', (d) => {
      buf += d;
      const m = /redis_version:([^\r\n]+)/.exec(buf);
      if (m) {
        socket.destroy();
        resolve(m[1]);
      }
    });
    socket.on('error', () => resolve('unknown'));
  });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    version,
    async stop() {
      process.off('exit', killOnExit);
      if (exited) return;
      child.kill('SIGTERM');
      const until = Date.now() + 3_000;
      while (!exited && Date.now() < until) await sleep(20);
      if (!exited) child.kill('SIGKILL');
    },
  };
}
