import type { Clock } from './clock.js';
import { systemClock } from './clock.js';

/** Where the cache writes its warnings. Nest's `Logger` fits; so does `console`. */
export interface CacheLogger {
  warn(message: string, ...rest: unknown[]): void;
  error(message: string, ...rest: unknown[]): void;
  log?(message: string, ...rest: unknown[]): void;
}

/**
 * Where the cache logs when no logger is given and no framework logger applies (outside Nest):
 * the console, each line prefixed so it can be told from the app's own.
 */
export const consoleLogger: CacheLogger = {
  warn: (message) => console.warn(`[nestjs-tenant-cache] ${message}`),
  error: (message) => console.error(`[nestjs-tenant-cache] ${message}`),
};

/**
 * The burst kind of everything about one store connection: its going down, calls failing on it
 * (unreachable, timed out, full) and the circuit opening around it. One outage is then one line,
 * however many ways it shows. `address` is host:port (never a password) or a store's kind.
 */
export function connectionBurst(address: string): string {
  return `store ${address}`;
}

/**
 * Logs a failure once per burst and counts every occurrence. A burst is a run of failures of
 * one kind (e.g. `redis get`) with no gap longer than `burstMs`; the first failure of a burst
 * is logged, the rest are only counted, and the next burst's first line says how many were
 * suppressed. This keeps a Redis outage under load from flooding the logs while still saying
 * when it started and that it went on. Messages carry key hashes, never keys or values.
 */
export class ErrorReporter {
  private readonly bursts = new Map<string, { lastAt: number; suppressed: number }>();
  /** Total failures reported, by kind. */
  readonly counts = new Map<string, number>();

  constructor(
    private readonly logger: CacheLogger | undefined,
    private readonly burstMs = 10_000,
    private readonly clock: Clock = systemClock,
  ) {}

  /** `similar` names what the next burst's first line counts as not logged (events that are not failures say so). */
  report(kind: string, message: string, similar = 'similar failures'): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    const now = this.clock.now();
    const burst = this.bursts.get(kind);
    if (burst !== undefined && now - burst.lastAt <= this.burstMs) {
      burst.lastAt = now;
      burst.suppressed++;
      return;
    }
    const suppressed = burst?.suppressed ?? 0;
    if (this.bursts.size > 1000) this.bursts.clear(); // kinds are few; never let this grow
    this.bursts.set(kind, { lastAt: now, suppressed: 0 });
    this.logger?.warn(suppressed > 0 ? `${message} (${suppressed} ${similar} were not logged in the previous burst)` : message);
  }

  total(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }
}
