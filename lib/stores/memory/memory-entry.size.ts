/**
 * The memory store's size estimate of an entry, for `maxBytes` and `stats().bytes`. Cheap and
 * bounded: it walks at most MAX_NODES values, so a huge value costs a fixed amount of work (and
 * is under-counted beyond the cap). It estimates the payload, not V8's heap layout.
 */
import type { Envelope } from '../../envelope/envelope.js';

const MAX_NODES = 1_000;
const ENTRY_OVERHEAD = 128; // entry meta, envelope object, index entries
const OBJECT_OVERHEAD = 16;

export function estimateEntry(full: string, env: Envelope): number {
  let size = ENTRY_OVERHEAD + 2 * (full.length + env.stamp.length + env.scope.length);
  if (env.tags !== undefined) for (const tag of env.tags) size += 2 * tag.length + 8;
  if (env.http !== undefined) {
    size += 16 + 2 * env.http.etag.length;
    for (const [name, value] of env.http.headers) size += 2 * (name.length + value.length) + 8;
  }
  const budget = { nodes: MAX_NODES };
  size += estimateValue(env.value, budget);
  return Math.max(1, Math.ceil(size));
}

function estimateValue(value: unknown, budget: { nodes: number }): number {
  if (budget.nodes-- <= 0) return 0;
  switch (typeof value) {
    case 'string':
      return 2 * value.length;
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
