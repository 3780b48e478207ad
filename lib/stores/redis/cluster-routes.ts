import type { Cluster, Redis } from 'ioredis';
import type { KeyScope } from '../../keys/storage-key.js';
import { clusterSlot } from './cluster-slot.js';
import { invoke, withDeadline } from './redis-command.deadline.js';

/** Shortest time between two slot-map refreshes a failing call asks for, in milliseconds. */
const REFRESH_SPACING_MS = 100;

/** `host:port` of an ioredis node connection, as the Cluster's slot map names it. */
function nodeKey(node: Redis): string {
  return `${node.options.host ?? '127.0.0.1'}:${node.options.port ?? 6379}`;
}

/**
 * Which node of a Redis Cluster a scope's calls go to, from the client's own slot map, so the
 * circuit breaker can keep one circuit per primary: a failed shard fails fast alone while the
 * others are served. Every key of a scope shares its hash tag (`{scope id}`), hence one slot.
 *
 * The map must follow a failover quickly: ioredis refreshes it on MOVED and every
 * `slotsRefreshInterval`, but not when a node stops answering (SIGSTOP, a network partition),
 * so a failing call asks for a refresh here (`failed`) and a probe of a failed node refreshes it
 * while it PINGs the node (`probe`): once a replica is promoted, the scope's calls route to it.
 */
export class ClusterRoutes {
  private lastRefreshAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly cluster: Cluster,
    /** The client's ioredis `keyPrefix` (brace-free, checked): part of the key the slot is computed on. */
    private readonly keyPrefix: string,
    /** Bound of a probe's PING and of the refresh a failing call asks for, in milliseconds (a probe's refresh gets twice it). */
    private readonly timeoutMs: number,
  ) {}

  /** The primary (`host:port`) owning `scope`'s slot now, or `undefined` before the slot map is known. */
  nodeOf(scope: KeyScope): string | undefined {
    // The tag alone decides the slot; `x` stands for any key of the scope.
    return this.cluster.slots[clusterSlot(`${this.keyPrefix}${scope.namespace}:{${scope.id}}:x`)]?.[0];
  }

  /** The primaries owning at least one slot, as the client's slot map says now. */
  owners(): ReadonlySet<string> {
    const owners = new Set<string>();
    for (const nodes of this.cluster.slots) if (nodes?.[0] !== undefined) owners.add(nodes[0]);
    return owners;
  }

  /** A call failed for want of a node (unreachable, no reply): refresh the slot map, at most every `REFRESH_SPACING_MS`. */
  failed(): void {
    const now = performance.now();
    if (now - this.lastRefreshAt < REFRESH_SPACING_MS) return;
    this.lastRefreshAt = now;
    void this.refresh(this.timeoutMs);
  }

  /**
   * Whether calls routed to `node` can be served: yes as soon as it answers a PING within the
   * timeout, or a slot-map refresh shows it owns no slot any more (failed over: nothing routes
   * there); no once both have said no. The two run at once, so a stopped node's PING and a
   * refresh that asks that node first (it waits `slotsRefreshTimeout` before the next one) cost
   * one wait, not two; the refresh is given two timeouts, so it gets past the stopped node.
   */
  probe(node: string): Promise<boolean> {
    const refreshed = this.refresh(2 * this.timeoutMs);
    const connection = this.primary(node);
    // A node ioredis dropped (it ended) is known again only after a refresh: PING it then.
    const answers = connection !== undefined ? this.ping(connection) : refreshed.then(() => this.ping(this.primary(node)));
    const movedAway = refreshed.then(() => !this.owners().has(node));
    return new Promise((resolve) => {
      let noes = 0;
      const heard = (yes: boolean): void => {
        if (yes) resolve(true);
        else if (++noes === 2) resolve(false);
      };
      void answers.then(heard);
      void movedAway.then(heard);
    });
  }

  private primary(node: string): Redis | undefined {
    return this.cluster.nodes('master').find((n) => nodeKey(n) === node);
  }

  /** Whether `connection` answers a PING within the timeout (no connection: no). */
  private ping(connection: Redis | undefined): Promise<boolean> {
    if (connection === undefined) return Promise.resolve(false);
    return withDeadline(invoke(() => connection.ping()), this.timeoutMs, () => new Error('PING timed out')).then(
      () => true,
      () => false,
    );
  }

  /** One slot-map refresh (ioredis joins concurrent ones), given up after `deadlineMs`; never rejects. */
  private refresh(deadlineMs: number): Promise<void> {
    this.lastRefreshAt = performance.now();
    const refreshed = new Promise<void>((resolve) => {
      try {
        this.cluster.refreshSlotsCache(() => resolve());
      } catch {
        resolve();
      }
    });
    return withDeadline(refreshed, deadlineMs, () => new Error('slot refresh timed out')).catch(() => undefined);
  }
}
