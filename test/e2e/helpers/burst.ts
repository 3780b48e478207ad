import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Agent, request } from 'node:http';
import { CACHE_CHANNELS } from '../../../lib/observability/cache-channels.js';

/**
 * Bursts of really concurrent requests, and a gate that holds a handler until every request of
 * the burst has either joined a computation (counted on the `stampede-wait` diagnostics
 * channel) or started its own handler run: the runs of a burst are then counted without
 * depending on timing.
 */

/** What a test looks at in one response. */
export interface Reply {
  readonly status: number;
  readonly xCache: string | undefined;
  readonly body: string;
}

/**
 * A keep-alive agent with a socket per request of the largest burst (fetch's default pool
 * would queue them, and a held handler would never see the whole burst).
 */
export function burstAgent(sockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
}

/** One GET through `agent`. */
export function get(agent: Agent, url: string, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const xCache = res.headers['x-cache'];
        resolve({ status: res.statusCode ?? 0, xCache: Array.isArray(xCache) ? xCache.join(',') : xCache, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** `n` GETs of `url` sent at once. */
export function getMany(agent: Agent, url: string, n: number, headers: Record<string, string>): Promise<Reply[]> {
  return Promise.all(Array.from({ length: n }, () => get(agent, url, headers)));
}

/**
 * Holds handler runs of a burst until `expected` requests have joined a computation or started
 * a run. The handler calls `enter()`; `arm()` starts a burst. A burst that never gets there
 * (a request lost on the way would hang the test) opens the gate after `hangMs` and says so in
 * `timedOut`, so the assertions show the counts instead of a test timeout.
 */
export class BurstGate {
  /** Handler runs since the last `arm()`. */
  runs = 0;
  /** Requests that waited for a computation (this process's `stampede-wait` events) since the last `arm()`. */
  joins = 0;
  timedOut = false;
  private expected = Number.POSITIVE_INFINITY;
  private opened: Promise<void> = Promise.resolve();
  private openGate: () => void = () => undefined;
  private onReached: () => void = () => undefined;
  private onRun: () => void = () => undefined;
  private guard: NodeJS.Timeout | undefined;
  private readonly listener = (): void => {
    this.joins++;
    this.check();
  };

  /** Counts `stampede-wait` events until `close()`. */
  static listen(): BurstGate {
    const gate = new BurstGate();
    subscribe(CACHE_CHANNELS.stampedeWait, gate.listener);
    return gate;
  }

  close(): void {
    unsubscribe(CACHE_CHANNELS.stampedeWait, this.listener);
    this.open();
  }

  /**
   * Resets the counters and closes the gate until `open()`; `reached` resolves once `expected`
   * requests joined or ran, `ran` once a handler run started. With `autoOpen` the gate opens
   * once `reached`.
   */
  arm(expected: number, opts: { autoOpen: boolean; hangMs?: number }): { readonly reached: Promise<void>; readonly ran: Promise<void> } {
    this.runs = 0;
    this.joins = 0;
    this.timedOut = false;
    this.expected = expected;
    this.opened = new Promise((resolve) => (this.openGate = resolve));
    const reached = new Promise<void>((resolve) => (this.onReached = resolve));
    const ran = new Promise<void>((resolve) => (this.onRun = resolve));
    if (opts.autoOpen) void reached.then(() => this.open());
    clearTimeout(this.guard);
    this.guard = setTimeout(() => {
      this.timedOut = true;
      this.open();
    }, opts.hangMs ?? 20_000);
    this.guard.unref();
    return { reached, ran };
  }

  /** Lets every held and later handler run go on. */
  open(): void {
    clearTimeout(this.guard);
    this.expected = Number.POSITIVE_INFINITY;
    this.openGate();
  }

  /** For the handler: counts a run, then waits for the gate. */
  enter(): Promise<void> {
    this.runs++;
    this.onRun();
    this.check();
    return this.opened;
  }

  private check(): void {
    if (this.joins + this.runs >= this.expected) this.onReached();
  }
}

/** `[1, 1, 2]` as `1,1,2`. */
export const figures = (counts: readonly number[]): string => counts.join(',');
