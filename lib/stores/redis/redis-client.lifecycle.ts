import { Cluster, type Redis } from 'ioredis';
import type { ErrorReporter } from '../../utils/error-reporter.js';
import type { StoreHealth } from '../cache-store.interface.js';
import { errorText, isConnectionFailure } from './redis.failures.js';

/**
 * The connection side of a `RedisStore`'s client: follows whether it is up (as the client says),
 * logs what no caller is told (the connection failing or going down), lets the first calls wait
 * for the first connection, probes health and shuts the client down.
 *
 * A store given a `client` does not own it (`owned: false`): closing then only detaches from it.
 */
export class RedisClientLifecycle {
  private everReady: boolean;
  /** Whether the connection is up as far as the client said last ('ready' until 'close'). */
  private up: boolean;
  private initialWait: Promise<void> | undefined;
  private closed = false;

  private readonly onReady = (): void => {
    this.everReady = true;
    this.up = true;
  };
  /** A connection that was up went down: a state change no caller is told about, so it is logged here. */
  private readonly onClose = (): void => {
    if (!this.up || this.closed) return;
    this.up = false;
    this.reporter.report(`redis connection ${this.address}`, `Redis at ${this.address}: connection lost. The cache serves misses until it is reachable again.`);
  };
  /**
   * The client's 'error' events: the connection failing or going down, which no caller sees as
   * such. One line per burst, per server (a manager's reporter may serve several stores).
   */
  private readonly onError = (err: unknown): void => {
    this.reporter.report(`redis connection ${this.address}`, `Redis at ${this.address}: ${errorText(err)}. The cache serves misses until it is reachable again.`);
  };

  constructor(
    private readonly client: Redis | Cluster,
    private readonly owned: boolean,
    /** Host and port for messages (see `RedisClientSetup.address`). */
    readonly address: string,
    private readonly reporter: ErrorReporter,
    private readonly timeouts: { readonly connectTimeout: number; readonly closeTimeout: number },
  ) {
    this.everReady = this.up = client.status === 'ready';
    client.on('ready', this.onReady);
    client.on('close', this.onClose);
    // An 'error' event without a listener would crash the process; log it once per burst instead.
    client.on('error', this.onError);
    if (client instanceof Cluster) client.on('node error', this.onError);
  }

  /** The first connection is up (or was: later disconnects fail fast, they are not waited for). */
  connected(): boolean {
    return this.everReady || this.client.status === 'ready';
  }

  /**
   * Without an offline queue, a command sent before the first connection is up fails at once.
   * So the first calls wait for that connection, once and at most `connectTimeout`; afterwards
   * (and after any later disconnect) commands fail fast.
   */
  waitForInitialConnection(): Promise<void> {
    if (this.connected()) return Promise.resolve();
    this.initialWait ??= new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.client.off('ready', done);
        this.client.off('end', done);
        resolve();
      };
      const timer = setTimeout(done, this.timeouts.connectTimeout);
      timer.unref();
      this.client.once('ready', done);
      this.client.once('end', done);
      if (this.owned && this.client.status === 'wait') this.client.connect().catch(() => undefined);
    });
    return this.initialWait;
  }

  /** Whether a failed call's error means the server could not be reached (see `isConnectionFailure`). */
  isConnectionError(err: unknown): boolean {
    return isConnectionFailure(err, this.client.status);
  }

  /** A PING within `timeoutMs`, after the first connection (waited for as commands do). */
  async health(timeoutMs: number): Promise<StoreHealth> {
    try {
      await this.waitForInitialConnection();
      const started = performance.now();
      await withTimeout(this.client.ping(), timeoutMs, 'PING timed out');
      return { ok: true, latencyMs: Math.round((performance.now() - started) * 1000) / 1000 };
    } catch (err) {
      return { ok: false, detail: `Redis at ${this.address}: ${errorText(err)}` };
    }
  }

  /** Quits an owned client (bounded by `closeTimeout`, then drops it); detaches from a given one. Call once. */
  async close(): Promise<void> {
    this.closed = true;
    this.client.off('ready', this.onReady);
    this.client.off('close', this.onClose);
    if (!this.owned) {
      // Not ours: leave it connected and hand its error events back to its owner.
      this.client.off('error', this.onError);
      if (this.client instanceof Cluster) this.client.off('node error', this.onError);
      return;
    }
    try {
      await withTimeout(this.client.quit(), this.timeouts.closeTimeout, 'QUIT timed out');
    } catch {
      // Down or slow: dropping the connection below is all that is left to do.
    }
    // Our error listener stays: a late socket error on a client nobody listens to would crash the app.
    this.client.disconnect();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
