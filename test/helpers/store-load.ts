/** One operation of a `StoreLoad`: which target it was for, when it was sent and settled (`performance.now()`), and how. */
export interface StoreOpSample {
  /** What the operation was for (a shard, a tenant), as `op` returned it. */
  readonly target: string;
  readonly sentAt: number;
  readonly doneAt: number;
  readonly ok: boolean;
  /** The rejection's class name, when it failed. */
  readonly error?: string;
}

/**
 * Store calls at a steady rate, the way traffic keeps arriving during a fault: every tick sends
 * the calls due since the start (a late timer does not lower the rate), without waiting for
 * earlier ones. `op(n)` issues the n-th call and names its target.
 */
export class StoreLoad {
  readonly samples: StoreOpSample[] = [];
  private readonly pending = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;

  constructor(
    private readonly op: (n: number) => { readonly target: string; readonly call: Promise<unknown> },
    private readonly perSecond: number,
  ) {}

  start(): void {
    const startedAt = performance.now();
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - startedAt) / 1000) * this.perSecond);
      while (this.sent < due) this.send(this.sent++);
    }, 2);
  }

  /** Stops sending and waits for the calls still out. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.pending);
  }

  private send(n: number): void {
    const sentAt = performance.now();
    let issued: { target: string; call: Promise<unknown> };
    try {
      issued = this.op(n);
    } catch (err) {
      this.samples.push({ target: '?', sentAt, doneAt: sentAt, ok: false, error: (err as Error)?.constructor?.name ?? 'Error' });
      return;
    }
    const done = issued.call.then(
      () => void this.samples.push({ target: issued.target, sentAt, doneAt: performance.now(), ok: true }),
      (err: unknown) => void this.samples.push({ target: issued.target, sentAt, doneAt: performance.now(), ok: false, error: (err as Error)?.constructor?.name ?? 'Error' }),
    );
    const tracked = done.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }
}

/** Count, failures and the longest latency of `samples`, for a figure line. */
export function summarize(samples: readonly StoreOpSample[]): { total: number; failed: number; maxMs: number } {
  return {
    total: samples.length,
    failed: samples.filter((s) => !s.ok).length,
    maxMs: Math.round(Math.max(0, ...samples.map((s) => s.doneAt - s.sentAt))),
  };
}
