import type { Redis } from 'ioredis';
import { connectionBurst } from '../../utils/error-reporter.js';
import { withDeadline } from '../redis/redis-command.deadline.js';
import { errorText } from '../redis/redis.failures.js';
import type { SubscriberConnector } from './bus-connections.js';

/** What the subscriber tells its owner (the tiered store). Must not throw. */
export interface BusSubscriberEvents {
  /** A message on the channel (any instance's, ours included). */
  message(text: string): void;
  /** Subscribed (again): from now on every message is heard. */
  up(): void;
  /**
   * Not sure any more to hear every message: since `confirmedAt` (`performance.now()` of the
   * last moment every message was known to be heard), messages may have been missed.
   */
  down(confirmedAt: number, why: string): void;
}

export interface BusTiming {
  /** How often the subscriber connection is PINGed while up, in milliseconds. */
  readonly heartbeatMs: number;
  /** A PING unanswered this long makes the bus down (and the connection is replaced), in milliseconds. */
  readonly replyTimeoutMs: number;
}

export type BusState = 'up' | 'down';

/**
 * The bus's one subscriber connection and the truth about it: `up` only while subscribed and
 * answering. A connection closing is seen by its events; a silent drop (a network that stops
 * carrying packets, a paused server) is seen by the heartbeat: a PING every `heartbeatMs`,
 * answered within `replyTimeoutMs`. A PING's reply comes after every message published before
 * Redis read it (one connection, in order), so an answered PING confirms everything up to the
 * moment it was sent. A connection that fails is reconnected (with backoff, or to the next
 * Cluster node) and subscribed again on its `ready`.
 */
export class BusSubscriber {
  private current: BusState = 'down';
  /** `performance.now()` up to which every message is known to be heard. */
  private confirmedAt = Number.NEGATIVE_INFINITY;
  private why = 'not subscribed yet';
  private downSince = performance.now();
  private client: Redis | undefined;
  private attempts = 0;
  private replaceTimer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  /** When the connection's TCP connect succeeded and its handshake (ready check) began, while it has not ended. */
  private handshakeSince: number | undefined;
  /** The PING in flight: when it was sent, and its timeout. */
  private ping: { sentAt: number; timer: NodeJS.Timeout } | undefined;
  private closed = false;
  private outages = 0;
  private received = 0;
  private lastError: string | undefined;
  /** Callers of `whenUp` still waiting. */
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly connector: SubscriberConnector,
    private readonly channel: string,
    private readonly timing: BusTiming,
    private readonly events: BusSubscriberEvents,
    private readonly report: (kind: string, message: string) => void,
  ) {
    this.heartbeat = setInterval(() => this.beat(), timing.heartbeatMs);
    this.heartbeat.unref();
    this.attach(connector.connect());
  }

  get state(): BusState {
    return this.current;
  }

  /** Why it is down and since when (ms), while down. */
  get outage(): { why: string; forMs: number } | undefined {
    return this.current === 'up' ? undefined : { why: this.why, forMs: Math.round(performance.now() - this.downSince) };
  }

  counts(): { received: number; outages: number } {
    return { received: this.received, outages: this.outages };
  }

  /** Resolves once subscribed, or after `ms` (whichever first): lets a store start coherent. */
  whenUp(ms: number): Promise<void> {
    if (this.current === 'up' || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.replaceTimer);
    this.clearPing();
    for (const done of [...this.waiters]) done();
    const client = this.client;
    this.client = undefined;
    client?.disconnect();
  }

  private attach(client: Redis): void {
    this.client = client;
    client.on('connect', () => {
      if (client === this.client) this.handshakeSince = performance.now();
    });
    client.on('ready', () => {
      this.handshakeSince = undefined;
      void this.subscribe(client);
    });
    client.on('message', (channel: string, text: string) => {
      if (client !== this.client || channel !== this.channel) return;
      this.received++;
      this.events.message(text);
    });
    client.on('close', () => client === this.client && this.setDown(this.lastError ?? 'the subscriber connection closed'));
    client.on('end', () => {
      if (client !== this.client || this.closed) return;
      this.setDown('the subscriber connection ended');
      this.replaceLater();
    });
    // Connection errors come with 'close'; the listener keeps them from crashing the process.
    client.on('error', (err: unknown) => {
      if (client === this.client) this.lastError = `the subscriber connection failed: ${errorText(err)}`;
    });
    client.connect().catch(() => undefined);
  }

  private async subscribe(client: Redis): Promise<void> {
    const sentAt = performance.now();
    try {
      // Bounded: a SUBSCRIBE lost in a silent drop would otherwise leave the bus down for good.
      await withDeadline(client.subscribe(this.channel), this.timing.replyTimeoutMs, () => new Error(`no reply within ${this.timing.replyTimeoutMs} ms`));
    } catch (err) {
      if (client !== this.client) return;
      this.setDown(`SUBSCRIBE failed: ${errorText(err)}`);
      this.restart(client);
      return;
    }
    if (client !== this.client || this.closed) return;
    this.attempts = 0;
    this.lastError = undefined;
    this.confirmedAt = sentAt;
    if (this.current === 'up') return;
    this.current = 'up';
    this.events.up();
    for (const done of [...this.waiters]) done();
  }

  /**
   * Every `heartbeatMs`: while up, a PING (unless one is still out); while down, the handshake of
   * a new connection is bounded too (ioredis bounds the TCP connect, not its ready check).
   */
  private beat(): void {
    const client = this.client;
    if (client === undefined) return;
    if (this.current !== 'up') {
      const since = this.handshakeSince;
      if (since !== undefined && client.status === 'connect' && performance.now() - since > this.timing.replyTimeoutMs) {
        this.handshakeSince = undefined;
        this.restart(client);
      }
      return;
    }
    if (this.ping !== undefined) return;
    const sentAt = performance.now();
    const timer = setTimeout(() => {
      // Replies already received but not yet read are read first (the I/O phase comes before
      // setImmediate), so a late timer on a busy loop does not take a slow loop for a dead bus.
      setImmediate(() => {
        if (this.ping?.sentAt !== sentAt || client !== this.client) return;
        this.clearPing();
        this.setDown(`PING unanswered for ${this.timing.replyTimeoutMs} ms (a silent network drop or a stalled server)`);
        this.restart(client);
      });
    }, this.timing.replyTimeoutMs);
    timer.unref();
    this.ping = { sentAt, timer };
    client.ping().then(
      () => {
        if (this.ping?.sentAt !== sentAt || client !== this.client) return;
        this.clearPing();
        this.confirmedAt = sentAt;
      },
      () => {
        // A failed PING goes with the connection closing, which makes the bus down.
        if (this.ping?.sentAt === sentAt) this.clearPing();
      },
    );
  }

  private clearPing(): void {
    if (this.ping !== undefined) clearTimeout(this.ping.timer);
    this.ping = undefined;
  }

  /** The connection is not to be trusted: drop it, and reconnect (or move to the next node). */
  private restart(client: Redis): void {
    if (this.connector.rotates) client.disconnect();
    else client.disconnect(true);
  }

  private setDown(why: string): void {
    this.clearPing();
    if (this.closed || this.current === 'down') return;
    // What started the outage (a reconnect failing later says less).
    this.why = why;
    this.current = 'down';
    this.downSince = performance.now();
    this.outages++;
    this.report(connectionBurst(this.connector.address), `Invalidation bus at ${this.connector.address}: ${why}. Until it is subscribed again, this instance serves L1 entries no staler than the bus's maxStaleness.`);
    this.events.down(this.confirmedAt, why);
  }

  /** A connection that ended (it reconnects no more): a new one after a backoff. */
  private replaceLater(): void {
    clearTimeout(this.replaceTimer);
    const delay = Math.min(50 * 2 ** Math.min(this.attempts++, 10), 300) + Math.floor(Math.random() * 100);
    this.replaceTimer = setTimeout(() => {
      if (this.closed) return;
      this.client?.removeAllListeners('message');
      const old = this.client;
      this.attach(this.connector.connect());
      // Its listeners stay, so a late socket error on it cannot crash the process.
      old?.removeAllListeners('ready');
    }, delay);
    this.replaceTimer.unref();
  }
}
