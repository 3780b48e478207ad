import type { Clock } from '../../utils/clock.js';
import type { ErrorReporter } from '../../utils/error-reporter.js';
import type { CacheStore } from '../cache-store.interface.js';
import type { MemoryStore } from '../memory.store.js';
import type { BusPublisher } from './bus-publisher.js';
import type { BusSubscriber, BusSubscriberEvents } from './bus-subscriber.js';

/** What a tiered store is made of (`setUpTieredStore` makes them from a config). */
export interface TieredStoreParts {
  /** Makes an empty L1 (again at every drop). */
  readonly makeL1: () => MemoryStore;
  /** L2 as calls reach it (behind the circuit breaker). */
  readonly l2: CacheStore;
  /** L2 itself (under its breaker): reconnects, routes and the reporter are its. */
  readonly l2Inner: CacheStore;
  readonly l2Writes: 'await' | 'background';
  readonly maxStalenessMs: number;
  /** This instance's id on the bus: its own messages come back and are ignored. */
  readonly origin: string;
  /** Makes the publisher; `report` logs once per burst through the store's reporter of the moment. */
  readonly publish: (report: (kind: string, message: string) => void) => BusPublisher;
  /** Starts the subscriber, telling `events`; `report` as for `publish`. */
  readonly subscribe: (events: BusSubscriberEvents, report: (kind: string, message: string) => void) => BusSubscriber;
  readonly clock: Clock;
  readonly reporter: ErrorReporter;
  /** Whether `l2`'s options named a logger or reporter (a cache taking the store then keeps them). */
  readonly ownLogging: boolean;
}
