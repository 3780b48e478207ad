import type { Envelope } from '../../envelope/envelope.js';
import { CacheConnectionError, CacheError, CacheStoreFullError, CacheTimeoutError } from '../../errors/cache.errors.js';
import { keyHash, type StorageKey } from '../../keys/storage-key.js';
import { connectionBurst } from '../../utils/error-reporter.js';
import type { BusPublisher } from './bus-publisher.js';
import type { L1Mirror } from './l1-mirror.js';

/**
 * The L2 writes of `l2Writes: 'background'`, whose callers were answered once L1 held the
 * entry. Nobody waits for them, so this is where their failure is handled: the entry is taken
 * out of L1 again (if it is still this write's), so a write that failed is never served as if
 * stored, then counted and logged once per burst.
 */
export class BackgroundWrites {
  private readonly inFlight = new Set<Promise<void>>();
  failures = 0;

  constructor(
    private readonly l1: L1Mirror,
    private readonly publisher: BusPublisher,
    private readonly report: (kind: string, message: string) => void,
  ) {}

  /** Follows `write`, L2's write of `env` under `key`: on success the change is published. */
  follow(key: StorageKey, env: Envelope, write: Promise<boolean | void>): void {
    const done = write.then(
      // Refused by its basis (an invalidation came after the computation began): not stored, so
      // not served from L1 either; not a failure.
      (applied) => (applied === false ? this.l1.takeBack(key, env.stamp) : this.publisher.publish({ op: 'key', key })),
      (err: unknown) => this.failed(key, env, err),
    );
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
  }

  /** Resolves once every write followed so far has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private failed(key: StorageKey, env: Envelope, err: unknown): void {
    this.failures++;
    this.l1.takeBack(key, env.stamp);
    const code = err instanceof CacheError ? err.code : ((err as Error)?.name ?? 'Error');
    const line = `A background write to L2 failed on key #${keyHash(key)} (${code}); its L1 entry was taken back, so it is not served as if stored.`;
    // An outage's failures share its connection's burst: one line per outage.
    if (err instanceof CacheConnectionError || err instanceof CacheTimeoutError || err instanceof CacheStoreFullError) this.report(connectionBurst(err.address), `${line} ${err.message}`);
    else this.report('tiered background write', line);
  }
}
