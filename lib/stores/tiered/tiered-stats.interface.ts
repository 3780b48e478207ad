import type { StoreStats } from '../cache-store.interface.js';
import type { BusPublisherStats } from './bus-publisher.js';
import type { BusState } from './bus-subscriber.js';

/** The invalidation bus of one tiered store instance. */
export interface TieredBusStats extends BusPublisherStats {
  /** `'up'` while subscribed and answering its heartbeat. */
  readonly state: BusState;
  /** Messages heard on the channel, this instance's own included. */
  readonly received: number;
  /** Other instances' messages applied to L1. */
  readonly applied: number;
  /** This instance's own messages, heard back (nothing to do). */
  readonly ignored: number;
  /** Messages that were not ours to read (garbage, another version). */
  readonly malformed: number;
  /** Times the bus went down. */
  readonly outages: number;
  /** Times L1 was dropped for the bus: its bound passed while the bus was down, or it was reconciled once the bus was back. */
  readonly l1Drops: number;
}

/** `stats()` of a tiered store: L1's entries, bytes and evictions, L2's decode errors, the store's failures, and each part. */
export interface TieredStoreStats extends StoreStats {
  readonly l1: StoreStats;
  readonly l2: StoreStats;
  readonly bus: TieredBusStats;
  /** Background L2 writes (`l2Writes: 'background'`) that failed; their L1 entries were taken back. Also in `errors`. */
  readonly backgroundWriteFailures: number;
}
