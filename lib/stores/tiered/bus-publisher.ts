import type { Cluster, Redis } from 'ioredis';
import type { BusChange } from './bus-message.js';

/**
 * How a tiered store's changes reach the other instances. L2's own write scripts publish each
 * change's message (RedisStore's `bus` internals), atomically with it: no change is applied
 * without its message, and none is sent for a write Redis refused. So the tiered store's side
 * only counts what it made, and owns the bus's own connection (kept for the subscriber's
 * Cluster discovery) until close.
 */
export interface BusPublisher {
  /** Notes `change`, already published by the L2 script that applied it. */
  publish(change: BusChange): Promise<void>;
  /** Resolves at once: nothing to wait for beside L2 itself. */
  whenReady(ms: number): Promise<void>;
  stats(): BusPublisherStats;
  close(): Promise<void>;
}

export interface BusPublisherStats {
  /** Changes this instance made in L2, each published by the script that applied it. */
  readonly sent: number;
}

const DONE: Promise<void> = Promise.resolve();

/** The publisher when L2's scripts publish (see `BusPublisher`). */
export class L2ScriptPublisher implements BusPublisher {
  private sent = 0;
  private readonly onError = (): void => {
    // The connection's 'error' events are the subscriber's and L2's to log; a listener must
    // exist, or the event would crash the process.
  };

  constructor(
    /** The bus's own connection (or the client given for L2, not owned). */
    private readonly client: Redis | Cluster,
    private readonly owned: boolean,
  ) {
    if (owned) client.on('error', this.onError);
  }

  publish(_change: BusChange): Promise<void> {
    this.sent++;
    return DONE;
  }

  whenReady(_ms: number): Promise<void> {
    return DONE;
  }

  stats(): BusPublisherStats {
    return { sent: this.sent };
  }

  async close(): Promise<void> {
    if (!this.owned) return;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}
