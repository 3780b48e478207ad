import { Agent, request } from 'node:http';

/** One request of a `SteadyLoad`: when it was sent and answered (`performance.now()`), and what came back. */
export interface LoadSample {
  readonly path: string;
  readonly sentAt: number;
  readonly doneAt: number;
  /** 0 when the request itself failed (socket error, hang guard). */
  readonly status: number;
  readonly xCache: string | undefined;
}

/**
 * Requests at a steady rate, the way traffic keeps arriving during a fault: every tick sends
 * the requests due since the start (so a late timer does not lower the rate), round-robin over
 * `paths`, without waiting for earlier ones. Each request is kept as a `LoadSample`.
 */
export class SteadyLoad {
  readonly samples: LoadSample[] = [];
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly pending = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly paths: readonly string[],
    private readonly headers: Record<string, string>,
    private readonly perSecond: number,
  ) {}

  start(): void {
    const startedAt = performance.now();
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - startedAt) / 1000) * this.perSecond);
      while (this.sent < due) this.send(this.paths[this.sent++ % this.paths.length]!);
    }, 2);
  }

  /** Stops sending and waits for the requests still out. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.pending);
    this.agent.destroy();
  }

  /** Samples sent at or after `from` (and before `to`), in the order they were answered. */
  sentBetween(from: number, to = Number.POSITIVE_INFINITY): LoadSample[] {
    return this.samples.filter((s) => s.sentAt >= from && s.sentAt < to).sort((a, b) => a.doneAt - b.doneAt);
  }

  private send(path: string): void {
    const sentAt = performance.now();
    const done = new Promise<void>((resolve) => {
      let finished = false;
      const finish = (status: number, xCache: string | undefined): void => {
        if (finished) return;
        finished = true;
        this.samples.push({ path, sentAt, doneAt: performance.now(), status, xCache });
        this.pending.delete(done);
        resolve();
      };
      const req = request(`${this.baseUrl}${path}`, { agent: this.agent, headers: this.headers }, (res) => {
        res.resume();
        res.on('end', () => finish(res.statusCode ?? 0, res.headers['x-cache'] as string | undefined));
        res.on('error', () => finish(0, undefined));
      });
      // A hang guard, far above any figure a test asserts: a lost request must not hang the test.
      req.setTimeout(10_000, () => req.destroy());
      req.on('error', () => finish(0, undefined));
      req.end();
    });
    this.pending.add(done);
  }
}

/** The `p`-th percentile (0-100) of `values`, nearest rank; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Polls `check` every `intervalMs` until it returns a value other than `undefined`, or `timeoutMs` passes. */
export async function pollFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, intervalMs = 10): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    // Polling a real process and real sockets: there is no clock to move here.
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
