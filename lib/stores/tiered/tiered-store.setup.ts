import type { Clock } from '../../utils/clock.js';
import type { ErrorReporter } from '../../utils/error-reporter.js';
import type { CacheStore } from '../cache-store.interface.js';
import type { MemoryStore } from '../memory.store.js';
import { TieredStore } from '../tiered.store.js';
import type { ResolvedTieredStoreOptions } from '../tiered-store-options.js';
import { setUpBusConnections } from './bus-connections.js';
import { L2ScriptPublisher } from './bus-publisher.js';
import { BusSubscriber } from './bus-subscriber.js';

/** What the assembler hands over: the tiers it built (L2 behind its breaker) and the cache's clock and reporter. */
export interface TieredStoreDeps {
  readonly makeL1: () => MemoryStore;
  readonly l2: CacheStore;
  readonly l2Inner: CacheStore;
  /** This instance's id on the bus, the one L2's scripts name in what they publish. */
  readonly origin: string;
  readonly clock: Clock;
  readonly reporter: ErrorReporter;
  readonly ownLogging: boolean;
}

/**
 * A `TieredStore` on the given tiers, with its bus on L2's server: a random instance id, the
 * publisher (L2's scripts publish each change, see `BusPublisher`) and the
 * subscriber, whose heartbeat is a quarter of `maxStaleness` and whose PING deadline half of it
 * (so a silent drop is seen within three quarters of the bound, and L1 drops on time).
 */
export function setUpTieredStore(options: ResolvedTieredStoreOptions, deps: TieredStoreDeps): TieredStore {
  const heartbeatMs = Math.floor(options.maxStalenessMs / 4);
  const replyTimeoutMs = Math.floor(options.maxStalenessMs / 2);
  const bus = setUpBusConnections(options.l2Resolved, replyTimeoutMs);
  const origin = deps.origin;
  return new TieredStore({
    makeL1: deps.makeL1,
    l2: deps.l2,
    l2Inner: deps.l2Inner,
    l2Writes: options.l2Writes,
    maxStalenessMs: options.maxStalenessMs,
    origin,
    publish: () => new L2ScriptPublisher(bus.publisher, bus.ownsPublisher),
    subscribe: (events, report) => new BusSubscriber(bus.subscriber, bus.channel, { heartbeatMs, replyTimeoutMs }, events, report),
    clock: deps.clock,
    reporter: deps.reporter,
    ownLogging: deps.ownLogging,
  });
}
