/**
 * The longest a computation may take from its basis (`CacheStore.basis`, taken before the
 * factory runs) to the write of its result, in milliseconds: 1 hour. A write whose basis is
 * older is not stored (it resolves all the same): when in doubt, do not store.
 *
 * Why there is a bound: what refuses a late write is a record of the invalidation it missed (a
 * tag's version, a cleared scope's epoch). A store keeps that record for as long as an entry
 * that could carry it lives, and at least this long after the invalidation, so that every
 * computation still allowed to write finds it; keeping it for ever would cost one record per
 * tag ever invalidated. A factory timeout (`hardTimeout`) longer than this bound makes the
 * results of slower runs unstored.
 */
export const MAX_COMPUTATION_MS = 3_600_000;
