import { Cluster, type Redis } from 'ioredis';
import { connectionBurst } from '../../utils/error-reporter.js';
import type { StoreHealth } from '../cache-store.interface.js';
import { invoke, withDeadline } from './redis-command.deadline.js';
import { errorText, isConnectionFailure } from './redis.failures.js';

/** Where the lifecycle logs: the store's reporter of the moment (a cache may hand the store its own). */
export type ConnectionReport = (kind: string, message: string) => void;

/**
 * The connection side of a `RedisStore`'s client: follows whether it is up (as the client says),
 * logs what no caller is told (the connection failing or going down), tells listeners when it
 * is ready again, lets the first calls wait for the first connection, probes health and shuts
 * the client down.
 *
 * A store given a `client` does not own it (`owned: false`): closing then only detaches from it.
 */
export class RedisClientLifecycle {
  private everReady: boolean;
  /** Whether the connection is up as far as the client said last ('ready' until 'close'). */
  private up: boolean;
  private initialWait: Promise<void> | undefined;
  private endInitialWait: (() => void) | undefined;
  /** A call waited its whole timeout for the first connection: later ones fail fast instead. */
  private initialWaitOver = false;
  private closed = false;
  private readonly readyListeners = new Set<() => void>();

  private readonly onReady = (): void => {
    this.everReady = true;
    this.up = true;
    this.endInitialWait?.();
    for (const listener of this.readyListeners) listener();
  };
  /** A connection that was up went down: a state change no caller is told about, so it is logged here. */
  private readonly onClose = (): void => {
    // The first attempt failed (refused, reset, ready check failed): calls stop waiting for it.
    if (!this.everReady) this.giveUpInitialWait();
    if (!this.up || this.closed) return;
    this.up = false;
    this.report(connectionBurst(this.address), `Redis at ${this.address}: connection lost. The cache serves misses until it is reachable again.`);
  };
  /**
   * The client's 'error' events: the connection failing or going down, which no caller sees as
   * such. Reported in the connection's burst (see `connectionBurst`): one line per outage, per
   * server, whatever else fails during it.
   */
  private readonly onError = (err: unknown): void => {
    this.report(connectionBurst(this.address), `Redis at ${this.address}: ${errorText(err)}. The cache serves misses until it is reachable again.`);
  };
  /** A Cluster node's connection failing: logged in that node's burst, so one failed shard is one line (and a second one is its own). */
  private readonly onNodeError = (err: unknown, node?: unknown): void => {
    const where = typeof node === 'string' ? node : this.address;
    this.report(connectionBurst(where), `Redis at ${where}: ${errorText(err)}. The cache serves misses for the keys on its slots until it is reachable again or failed over.`);
  };
  private readonly onEnd = (): void => this.endInitialWait?.();

  constructor(
    private readonly client: Redis | Cluster,
    private readonly owned: boolean,
    /** Host and port for messages (see `RedisClientSetup.address`). */
    readonly address: string,
    private readonly report: ConnectionReport,
    private readonly timeouts: { readonly closeTimeout: number },
  ) {
    this.everReady = this.up = client.status === 'ready';
    client.on('ready', this.onReady);
    client.on('close', this.onClose);
    client.on('end', this.onEnd);
    // An 'error' event without a listener would crash the process; log it once per burst instead.
    client.on('error', this.onError);
    if (client instanceof Cluster) client.on('node error', this.onNodeError);
  }

  /** The first connection is up (or was: later disconnects fail fast, they are not waited for). */
  connected(): boolean {
    return this.everReady || this.client.status === 'ready';
  }

  /**
   * Without an offline queue, a command sent before the first connection is up fails at once.
   * So the first calls wait for that connection: until it is ready, or its first attempt fails,
   * and each no longer than its own command timeout (the caller bounds the wait, then calls
   * `giveUpInitialWait`). The client keeps connecting in the background; once the wait is over,
   * calls fail fast until it is up. Resolves at once after that, and once connected.
   */
  firstConnection(): Promise<void> {
    if (this.connected() || this.initialWaitOver || this.closed) return Promise.resolve();
    this.initialWait ??= new Promise<void>((resolve) => {
      this.endInitialWait = () => {
        this.endInitialWait = undefined;
        resolve();
      };
      if (this.owned && this.client.status === 'wait') this.client.connect().catch(() => undefined);
    });
    return this.initialWait;
  }

  /** A call's whole timeout passed without a first connection: stop making later calls wait for it. */
  giveUpInitialWait(): void {
    this.initialWaitOver = true;
    this.endInitialWait?.();
  }

  /**
   * Calls `listener` each time the connection is ready again (ioredis `ready`, after its ready
   * check), so a circuit breaker can probe at once. Returns the function that stops the calls.
   */
  onReconnect(listener: () => void): () => void {
    const once = (): void => listener();
    this.readyListeners.add(once);
    return () => this.readyListeners.delete(once);
  }

  /** Whether a failed call's error means the server could not be reached (see `isConnectionFailure`). */
  isConnectionError(err: unknown): boolean {
    return isConnectionFailure(err, this.client.status);
  }

  /**
   * A PING that settles within `timeoutMs` of this call, waiting for the first connection
   * included; on a Cluster, one to every primary: ok while any answers, `degraded` naming those
   * that do not (their keys are served without the cache). PING is exempt from auto-pipelining
   * (see the client defaults), so it is written at once, never held behind a stuck pipeline.
   */
  async health(timeoutMs: number): Promise<StoreHealth> {
    const client = this.client;
    if (!(client instanceof Cluster) || !this.connected()) return this.ping(() => client.ping(), this.address, timeoutMs);
    const primaries = client.nodes('master');
    const results = await Promise.all(primaries.map((node) => this.ping(() => node.ping(), `${node.options.host ?? '127.0.0.1'}:${node.options.port ?? 6379}`, timeoutMs)));
    const failing = results.filter((r) => !r.ok);
    if (results.length === 0 || failing.length === results.length) return failing[0] ?? { ok: false, detail: `Redis Cluster at ${this.address}: no primary known` };
    const latencyMs = Math.max(...results.map((r) => r.latencyMs ?? 0));
    if (failing.length === 0) return { ok: true, latencyMs };
    return { ok: true, latencyMs, degraded: `${failing.length} of ${results.length} Cluster primaries not answering (${failing.map((r) => r.detail).join('; ')}); keys on their slots are served without the cache` };
  }

  private async ping(send: () => Promise<unknown>, where: string, timeoutMs: number): Promise<StoreHealth> {
    let issuedAt: number | undefined;
    const ping = invoke(async () => {
      if (!this.connected()) await this.firstConnection();
      issuedAt = performance.now();
      return send();
    });
    try {
      await withDeadline(ping, timeoutMs, () => {
        if (issuedAt === undefined) this.giveUpInitialWait();
        return new Error(issuedAt === undefined ? `no connection within ${timeoutMs} ms` : `PING timed out after ${timeoutMs} ms`);
      });
      return { ok: true, latencyMs: Math.round((performance.now() - issuedAt!) * 1000) / 1000 };
    } catch (err) {
      return { ok: false, detail: `Redis at ${where}: ${errorText(err)}` };
    }
  }

  /** Quits an owned client (bounded by `closeTimeout`, then drops it); detaches from a given one. Call once. */
  async close(): Promise<void> {
    this.closed = true;
    this.endInitialWait?.();
    this.readyListeners.clear();
    this.client.off('ready', this.onReady);
    this.client.off('close', this.onClose);
    this.client.off('end', this.onEnd);
    if (!this.owned) {
      // Not ours: leave it connected and hand its error events back to its owner.
      this.client.off('error', this.onError);
      if (this.client instanceof Cluster) this.client.off('node error', this.onNodeError);
      return;
    }
    try {
      await withDeadline(this.client.quit(), this.timeouts.closeTimeout, () => new Error('QUIT timed out'));
    } catch {
      // Down or slow: dropping the connection below is all that is left to do.
    }
    // Our error listener stays: a late socket error on a client nobody listens to would crash the app.
    this.client.disconnect();
  }
}
