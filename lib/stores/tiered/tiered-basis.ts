import type { KeyScope } from '../../keys/storage-key.js';
import type { CacheStore, StoreBasis } from '../cache-store.interface.js';

/** The value of a tiered store's basis: each tier's own, handed back to that tier's `set`. */
export interface TieredBasis {
  readonly l1: StoreBasis | undefined;
  readonly l2: StoreBasis | undefined;
  /** The L1 generation it was taken in: a dropped L1's basis means nothing to the next one. */
  readonly generation: number;
}

/**
 * `{ store: 'tiered', value: { l1, l2 } }` from both tiers' `basis()` (either may be absent, or
 * a promise). Synchronous when both are, so a computation on two synchronous tiers waits for
 * nothing.
 */
export function composeBasis(l1: CacheStore, l2: CacheStore, scope: KeyScope, generation: number): StoreBasis | Promise<StoreBasis> {
  const a = l1.basis?.(scope);
  const b = l2.basis?.(scope);
  const make = (l1Basis: StoreBasis | undefined, l2Basis: StoreBasis | undefined): StoreBasis => ({ store: 'tiered', value: { l1: l1Basis, l2: l2Basis, generation } satisfies TieredBasis });
  if (!(a instanceof Promise) && !(b instanceof Promise)) return make(a, b);
  return Promise.all([a, b]).then(([l1Basis, l2Basis]) => make(l1Basis, l2Basis));
}

/** The tiers' parts of a basis this store made; nothing of one it did not (no tier could read it). */
export function basisParts(basis: StoreBasis | undefined, generation: number): TieredBasis {
  if (basis?.store === 'tiered') return basis.value as TieredBasis;
  return { l1: undefined, l2: undefined, generation };
}
