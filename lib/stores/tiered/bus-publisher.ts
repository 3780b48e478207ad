import type { Cluster, Redis } from 'ioredis';
import { connectionBurst } from '../../utils/error-reporter.js';
import { withDeadline } from '../redis/redis-command.deadline.js';
import { errorText } from '../redis/redis.failures.js';
import { encodeBusMessage, type BusChange } from './bus-message.js';

/**
 * How a tiered store tells the other instances about a change it made in L2, once L2 applied it.
 * An interface of its own so the separate PUBLISH below can give way to one sent by L2's own
 * write script (atomic with the write: no change applied without its message); the tiered store
 * then gets a publisher that does nothing, or only counts.
 */
export interface BusPublisher {
  /** Sends `change`; resolves once it was sent or handed to the retry. Never rejects. */
  publish(change: BusChange): Promise<void>;
  /** Resolves once it can send (connected), or after `ms`. */
  whenReady(ms: number): Promise<void>;
  stats(): BusPublisherStats;
  close(): Promise<void>;
}

export interface BusPublisherStats {
  /** Messages Redis took. */
  readonly sent: number;
  /** PUBLISH calls that failed (each is retried). */
  readonly publishFailures: number;
  /** Messages waiting to be sent again. */
  readonly unsent: number;
  /** Messages given up because more than `MAX_UNSENT` were waiting (other instances keep those entries until their TTL). */
  readonly dropped: number;
}

/** Most messages kept for a retry; past it the oldest are dropped (and counted). */
export const MAX_UNSENT = 1_000;

/**
 * PUBLISH on a connection of the bus's own, after L2 applied the change. Its one gap: L2 applied
 * the change but the PUBLISH failed. A failed message is kept (bounded) and sent again on every
 * retry tick until Redis takes it (messages only drop L1 entries, so a late or repeated one is
 * harmless). Usually L2's connection fails with it, and then the other instances' subscribers
 * fail too: their L1s are bounded by `maxStaleness` and dropped when they resubscribe, so
 * nothing is missed; the retry covers this connection failing alone.
 */
export class RedisBusPublisher implements BusPublisher {
  private sent = 0;
  private failures = 0;
  private dropped = 0;
  /** Encoded messages to send again, oldest first (a Set: the same message once). */
  private readonly unsent = new Set<string>();
  private readonly retryTimer: NodeJS.Timeout;
  private retrying = false;
  private closed = false;
  private readonly onError = (): void => {
    // The client's 'error' events (its connection failing) are the subscriber's and L2's to log;
    // a listener must exist, or the event would crash the process.
  };

  constructor(
    private readonly client: Redis | Cluster,
    private readonly owned: boolean,
    private readonly channel: string,
    private readonly origin: string,
    private readonly timeoutMs: number,
    /** Where it is, for one log line per outage (the connection's burst). */
    private readonly address: string,
    private readonly report: (kind: string, message: string) => void,
    retryMs: number,
  ) {
    if (owned) client.on('error', this.onError);
    this.retryTimer = setInterval(() => void this.retry(), retryMs);
    this.retryTimer.unref();
  }

  async publish(change: BusChange): Promise<void> {
    if (this.closed) return;
    await this.send(encodeBusMessage(this.origin, change));
  }

  whenReady(ms: number): Promise<void> {
    if (this.client.status === 'ready' || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.client.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.client.once('ready', done);
    });
  }

  stats(): BusPublisherStats {
    return { sent: this.sent, publishFailures: this.failures, unsent: this.unsent.size, dropped: this.dropped };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.retryTimer);
    // What is still unsent cannot be sent without a connection anyway: one last try, bounded.
    if (this.unsent.size > 0) await this.retry();
    if (!this.owned) return;
    try {
      await withDeadline(this.client.quit(), this.timeoutMs, () => new Error('QUIT timed out'));
    } catch {
      // Down or slow: dropping the connection is all that is left.
    }
    this.client.disconnect();
  }

  /** One PUBLISH within the timeout; a failure keeps the message for the retry. Resolves whether it was sent. */
  private async send(text: string): Promise<boolean> {
    try {
      await withDeadline(this.client.publish(this.channel, text), this.timeoutMs, () => new Error(`PUBLISH timed out after ${this.timeoutMs} ms`));
      this.sent++;
      this.unsent.delete(text);
      return true;
    } catch (err) {
      this.failures++;
      this.keep(text);
      this.report(connectionBurst(this.address), `Invalidation bus at ${this.address}: a PUBLISH failed (${errorText(err)}); it is sent again until Redis takes it, and other instances keep the entry it drops until then (at most their maxStaleness if their bus is down too).`);
      return false;
    }
  }

  private keep(text: string): void {
    this.unsent.delete(text);
    this.unsent.add(text);
    if (this.unsent.size <= MAX_UNSENT) return;
    const oldest = this.unsent.values().next().value as string;
    this.unsent.delete(oldest);
    this.dropped++;
  }

  /** Sends the kept messages, oldest first, until one fails (the connection is still down). */
  private async retry(): Promise<void> {
    if (this.retrying || this.unsent.size === 0) return;
    this.retrying = true;
    try {
      for (const text of [...this.unsent]) if (!(await this.send(text))) break;
    } finally {
      this.retrying = false;
    }
  }
}
