import type { Clock } from '../../lib/utils/clock.js';

/**
 * A clock that only moves when a test moves it, so TTL tests run in microseconds and never
 * flake. Starts at a fixed, realistic epoch time (not 0: lru-cache treats a start time of 0 as
 * "no TTL", and envelopes carry epoch milliseconds).
 */
export class ManualClock implements Clock {
  static readonly DEFAULT_START = Date.UTC(2025, 0, 1);

  private current: number;

  constructor(start: number = ManualClock.DEFAULT_START) {
    this.current = ManualClock.check(start, 'start');
  }

  now(): number {
    return this.current;
  }

  /** Moves time forward by `ms` (>= 0) and returns the new time. */
  advance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`ManualClock.advance(${ms}): expected a finite, non-negative number of milliseconds`);
    this.current += ms;
    return this.current;
  }

  /** Sets the time (ms since the epoch); may go backwards, to test clock skew. */
  set(ms: number): void {
    this.current = ManualClock.check(ms, 'set');
  }

  private static check(ms: number, what: string): number {
    if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`ManualClock ${what}: expected a positive, finite epoch time in milliseconds, got ${ms}`);
    return ms;
  }
}
