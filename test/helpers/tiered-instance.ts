import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildCommand, ChildConfig } from './tiered-instance.child.js';

const CHILD = fileURLToPath(new URL('./tiered-instance.child.ts', import.meta.url));
const REGISTER = fileURLToPath(new URL('./ts-child/register.mjs', import.meta.url));
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

interface Reply {
  id?: number;
  ok?: boolean;
  result?: unknown;
  error?: string;
  event?: 'gone';
  watch?: number;
  at?: number;
  lastServed?: number;
  served?: number;
  ready?: boolean;
}

/** When a watched L1 entry was seen gone and when it was last served (wall-clock ms), and how many polls served it. */
export interface Gone {
  readonly at: number;
  readonly lastServed: number;
  readonly served: number;
}

/**
 * An app instance in a Node child process (tiered-instance.child.ts, run from its TypeScript
 * source through ts-child/register.mjs), with its own tiered store on the test's Redis.
 */
export class TieredInstance {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  private readonly watches = new Map<number, (gone: Gone) => void>();
  private stderr = '';

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    child.on('message', (m: Reply) => {
      if (m.event === 'gone') {
        this.watches.get(m.watch!)?.({ at: m.at!, lastServed: m.lastServed!, served: m.served! });
        this.watches.delete(m.watch!);
        return;
      }
      if (m.id === undefined) return;
      const waiter = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.ok) waiter?.resolve(m.result);
      else waiter?.reject(new Error(`${this.name}: ${m.error}`));
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      for (const waiter of this.pending.values()) waiter.reject(new Error(`${this.name} exited (${code ?? signal})\n${this.stderr}`));
      this.pending.clear();
    });
  }

  /** Starts the instance and resolves once its store is built (its bus subscribed, or given up waiting). */
  static async start(name: string, config: ChildConfig): Promise<TieredInstance> {
    const child = fork(CHILD, [JSON.stringify(config)], { execArgv: ['--import', REGISTER], stdio: ['ignore', 'inherit', 'pipe', 'ipc'], env: { ...process.env, NODE_OPTIONS: '' } });
    live.add(child);
    const instance = new TieredInstance(name, child);
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: Reply): void => {
        if (!m.ready) return;
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
      child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready\n${instance.stderr}`)));
    });
    return instance;
  }

  call<T = Record<string, unknown>>(command: ChildCommand): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ id, ...command });
    });
  }

  /** Starts polling the instance's L1 for the entry `stamp`; `gone` resolves when it is no longer served. */
  async watch(tenant: string, key: string, stamp: string): Promise<{ gone: Promise<Gone> }> {
    const id = this.nextId++;
    const gone = new Promise<Gone>((resolve) => this.watches.set(id, resolve));
    await this.call({ cmd: 'watch', watch: id, tenant, key, stamp });
    return { gone };
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.call({ cmd: 'close' }).catch(() => undefined);
    await exited;
    clearTimeout(killer);
  }
}

/** p50, p99 and max of `samples` (ms), rounded to 0.1 ms. */
export function percentiles(samples: readonly number[]): { p50: number; p99: number; max: number; n: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  const round = (ms: number): number => Math.round(ms * 10) / 10;
  return { p50: round(at(0.5)), p99: round(at(0.99)), max: round(sorted[sorted.length - 1]!), n: sorted.length };
}
