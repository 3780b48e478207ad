import type { Cluster } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClusterRoutes } from '../../../lib/stores/redis/cluster-routes.js';

/**
 * `ClusterRoutes.probe` against a stand-in for ioredis's Cluster (its slot map, its primaries'
 * connections, its refresh), on fake timers: the refresh and the PING of the probed node run at
 * once; yes as soon as one says yes, no once both said no. The Cluster fault test shows the whole
 * on real servers; here each interleaving is pinned down.
 */
const TIMEOUT_MS = 500;
const OLD = '127.0.0.1:7001';
const NEW = '127.0.0.1:7004';

class ClusterStandIn {
  /** The slot map: one slot is enough (every probe asks about the owners of any slot). */
  slots: string[][] = [[OLD]];
  readonly masters = new Map<string, { options: { host: string; port: number }; ping: () => Promise<string> }>();
  /** What a refresh does: `cb` when it is done (never called: it hangs). */
  onRefresh: (cb: () => void) => void = (cb) => cb();
  refreshes = 0;

  primary(node: string, ping: () => Promise<string>): void {
    const [host, port] = node.split(':');
    this.masters.set(node, { options: { host: host!, port: Number(port) }, ping });
  }
  nodes(): unknown[] {
    return [...this.masters.values()];
  }
  refreshSlotsCache(cb: () => void): void {
    this.refreshes++;
    this.onRefresh(cb);
  }
}

const never = (): Promise<string> => new Promise(() => undefined);
const pong = (): Promise<string> => Promise.resolve('PONG');
const refused = (): Promise<string> => Promise.reject(new Error('Connection is closed.'));

/** Starts a probe and reports when (fake ms) it settled, and how. */
function probeOf(cluster: ClusterStandIn) {
  const routes = new ClusterRoutes(cluster as unknown as Cluster, '', TIMEOUT_MS);
  const started = Date.now();
  const outcome: { answer?: boolean; atMs?: number } = {};
  void routes.probe(OLD).then((answer) => {
    outcome.answer = answer;
    outcome.atMs = Date.now() - started;
  });
  return outcome;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ClusterRoutes.probe: the refresh and the PING at once', () => {
  it('a stopped node (PING hangs) whose replica a refresh shows promoted: yes when the refresh is done, not after the PING timeout', async () => {
    const cluster = new ClusterStandIn();
    cluster.primary(OLD, never);
    cluster.onRefresh = (cb) => setTimeout(() => ((cluster.slots = [[NEW]]), cb()), 100);
    const outcome = probeOf(cluster);
    await vi.advanceTimersByTimeAsync(100);
    console.log(`[routes] PING hangs, refresh shows the promotion at 100 ms: ${String(outcome.answer)} at ${String(outcome.atMs)} ms`);
    expect(outcome).toEqual({ answer: true, atMs: 100 });
  });

  it('a node that answers its PING: yes at once, whatever the refresh is doing (it hangs here)', async () => {
    const cluster = new ClusterStandIn();
    cluster.primary(OLD, pong);
    cluster.onRefresh = () => undefined;
    const outcome = probeOf(cluster);
    await vi.advanceTimersByTimeAsync(0);
    expect(outcome).toEqual({ answer: true, atMs: 0 });
  });

  it('a refresh that asked the stopped node first (done after 1.5 timeouts) is still waited for: yes then; the PING alone said no at 1 timeout', async () => {
    const cluster = new ClusterStandIn();
    cluster.primary(OLD, never);
    cluster.onRefresh = (cb) => setTimeout(() => ((cluster.slots = [[NEW]]), cb()), 1.5 * TIMEOUT_MS);
    const outcome = probeOf(cluster);
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
    expect(outcome.answer).toBeUndefined(); // the PING gave up; the refresh is still on its way
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS / 2);
    console.log(`[routes] PING hangs, refresh done at 750 ms: ${String(outcome.answer)} at ${String(outcome.atMs)} ms`);
    expect(outcome).toEqual({ answer: true, atMs: 1.5 * TIMEOUT_MS });
  });

  it('no once both said no: the node still owns its slots and its PING failed (or timed out); a refresh that hangs is given up after 2 timeouts', async () => {
    const failing = new ClusterStandIn();
    failing.primary(OLD, refused);
    const outcome = probeOf(failing);
    await vi.advanceTimersByTimeAsync(0);
    expect(outcome).toEqual({ answer: false, atMs: 0 });

    const silent = new ClusterStandIn();
    silent.primary(OLD, never);
    silent.onRefresh = () => undefined;
    const late = probeOf(silent);
    await vi.advanceTimersByTimeAsync(2 * TIMEOUT_MS - 1);
    expect(late.answer).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(late).toEqual({ answer: false, atMs: 2 * TIMEOUT_MS });
  });

  it('a node ioredis had dropped (not among the primaries when the probe starts) is PINGed once a refresh knows it again', async () => {
    const cluster = new ClusterStandIn();
    cluster.onRefresh = (cb) => setTimeout(() => (cluster.primary(OLD, pong), cb()), 50);
    const outcome = probeOf(cluster);
    await vi.advanceTimersByTimeAsync(50);
    expect(outcome).toEqual({ answer: true, atMs: 50 });
    expect(cluster.refreshes).toBe(1);
  });
});
