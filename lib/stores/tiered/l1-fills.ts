import type { Envelope } from '../../envelope/envelope.js';
import type { KeyScope, StorageKey } from '../../keys/storage-key.js';

/**
 * One L2 call whose answer is to go into L1 (a read to fill it, or a write to mirror). A change
 * to its key that arrives while it is in flight (from the bus, or made here) may be newer than
 * what L2 answered, so the answer must not go into L1 after it: the call is *poisoned*.
 */
export class L1Fill {
  poisoned = false;
  /** Tags of its scope invalidated while it was in flight (whether its entry has them is known only once it answers). */
  private tags: Set<string> | undefined;

  constructor(
    readonly key: StorageKey,
    /** `performance.now()` when the call was made: what it answers is no older than this. */
    readonly startedAt: number,
  ) {}

  /** Whether `env`, its answer, may go into L1. */
  usable(env: Envelope): boolean {
    if (this.poisoned) return false;
    const tags = this.tags;
    return tags === undefined || env.tags === undefined || !env.tags.some((tag) => tags.has(tag));
  }

  invalidated(tags: readonly string[]): void {
    this.tags ??= new Set();
    for (const tag of tags) this.tags.add(tag);
  }
}

/**
 * The L1 fills in flight, poisoned by the changes that arrive while they are (see `L1Fill`).
 * They are few (the L2 calls of this instance in flight), so each change looks at them all.
 */
export class L1Fills {
  private readonly inFlight = new Set<L1Fill>();

  start(key: StorageKey): L1Fill {
    const fill = new L1Fill(key, performance.now());
    this.inFlight.add(fill);
    return fill;
  }

  end(fill: L1Fill): void {
    this.inFlight.delete(fill);
  }

  key(key: StorageKey): void {
    for (const fill of this.inFlight) if (fill.key.full === key.full) fill.poisoned = true;
  }

  tags(scope: KeyScope, tags: readonly string[]): void {
    for (const fill of this.inFlight) if (sameScope(fill.key.scope, scope)) fill.invalidated(tags);
  }

  scope(scope: KeyScope): void {
    for (const fill of this.inFlight) if (sameScope(fill.key.scope, scope)) fill.poisoned = true;
  }

  /** Every fill in flight: messages may have been missed (the bus went down or came back). */
  all(): void {
    for (const fill of this.inFlight) fill.poisoned = true;
  }

  get size(): number {
    return this.inFlight.size;
  }
}

function sameScope(a: KeyScope, b: KeyScope): boolean {
  return a.id === b.id && a.namespace === b.namespace;
}
