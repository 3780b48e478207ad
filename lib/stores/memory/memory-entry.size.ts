/**
 * The memory store's size estimate of an entry, for `maxBytes`, the tenant share and
 * `stats().bytes`. Cheap and bounded: it walks at most MAX_NODES values, so a huge value costs a
 * fixed amount of work (and is under-counted beyond the cap).
 *
 * It aims at what the entry keeps alive on the V8 heap (Node 20, 64-bit, no pointer compression),
 * rounded up: strings count 2 bytes per character (V8 keeps ASCII and Latin-1 text in 1, the
 * rest in 2; telling them apart would cost a scan of every body) plus a header. The fixed costs
 * were measured with a heap snapshot diff of 20,000 entries (the envelope, index entry and
 * StorageKey objects, three timestamps as heap numbers, the key as V8 builds it from a template
 * (a tree of ~7 concatenation nodes of 32 bytes), lru-cache's slot, TTL and Map entry, the scope
 * index's Map entry): ~650 bytes per entry before its strings and value, ~900 with Map slack as
 * heapUsed sees it after a full GC. Measured that way (20 tenants, 50,000-100,000 entries), heap /
 * estimate came out at 0.91 for number values, 0.9 with two tags, 0.81 for 200-byte HTTP
 * responses, 0.6 for 1 KB strings and small objects, 0.49 for 200 KB ASCII bodies (the
 * 2-bytes-per-character margin).
 */
import type { Envelope } from '../../envelope/envelope.js';

const MAX_NODES = 1_000;
/** Objects and bookkeeping of one entry, before its strings and value (see above). */
const ENTRY_OVERHEAD = 800;
/** A string's header, or its share of the concatenation nodes of a key built from parts. */
const STRING_OVERHEAD = 24;
/** A tag, besides its text: its full storage key (namespace and scope added, built from parts) and its share of the scope's tag version records. */
const TAG_OVERHEAD = 320;
/** The HTTP metadata object and its lists. */
const HTTP_OVERHEAD = 96;
/** One [name, value] pair of the HTTP metadata (a small array). */
const PAIR_OVERHEAD = 48;
const OBJECT_OVERHEAD = 16;

export function estimateEntry(full: string, env: Envelope): number {
  let size = ENTRY_OVERHEAD + text(full) + text(env.stamp);
  if (env.tags !== undefined) for (const tag of env.tags) size += TAG_OVERHEAD + text(tag);
  const http = env.http;
  if (http !== undefined) {
    size += HTTP_OVERHEAD + text(http.etag);
    for (const [name, value] of http.headers) size += PAIR_OVERHEAD + text(name) + text(value);
    if (http.vary !== undefined) for (const [name, value] of http.vary) size += PAIR_OVERHEAD + text(name) + (value === null ? 0 : text(value));
  }
  const budget = { nodes: MAX_NODES };
  size += estimateValue(env.value, budget);
  return Math.max(1, Math.ceil(size));
}

function text(value: string): number {
  return STRING_OVERHEAD + 2 * value.length;
}

function estimateValue(value: unknown, budget: { nodes: number }): number {
  if (budget.nodes-- <= 0) return 0;
  switch (typeof value) {
    case 'string':
      return text(value);
    case 'number':
      return 8;
    case 'boolean':
      return 4;
    case 'bigint':
      return 16;
    case 'undefined':
      return 0;
    case 'symbol':
    case 'function':
      return 8;
  }
  if (value === null) return 0;
  if (ArrayBuffer.isView(value)) return OBJECT_OVERHEAD + value.byteLength;
  if (value instanceof ArrayBuffer) return OBJECT_OVERHEAD + value.byteLength;
  if (value instanceof Date) return OBJECT_OVERHEAD + 8;
  let size = OBJECT_OVERHEAD;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length && budget.nodes > 0; i++) size += 8 + estimateValue(value[i], budget);
    return size;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) {
      if (budget.nodes <= 0) break;
      size += estimateValue(k, budget) + estimateValue(v, budget);
    }
    return size;
  }
  if (value instanceof Set) {
    for (const v of value) {
      if (budget.nodes <= 0) break;
      size += 8 + estimateValue(v, budget);
    }
    return size;
  }
  const record = value as Record<string, unknown>;
  for (const k in record) {
    if (budget.nodes <= 0) break;
    if (!Object.prototype.hasOwnProperty.call(record, k)) continue;
    size += 2 * k.length + 8 + estimateValue(record[k], budget);
  }
  return size;
}
