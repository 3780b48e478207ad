/**
 * Promise steps of one RedisStore.get hit, against the raw ioredis call it wraps:
 * `node bench/promise-steps.mjs` (the built library; BENCH_LIB=<dir>/ for another build).
 *
 * No server: the store's client is created with lazyConnect and its `getBuffer` is replaced by
 * one that returns an already resolved promise of a real entry's bytes, and the store is marked
 * connected, as it is after its first 'ready'. Then, for `await store.get(key)` and for
 * `await client.getBuffer(key)`:
 *   - microtask ticks until the awaiting function resumes (a counter loop of `await null` runs
 *     beside it, so "ticks" = how many microtask turns the call's promise chain takes);
 *   - promises created per call (async_hooks init of type PROMISE; async functions and `then`
 *     each create one).
 * The difference between the two is what the store adds per get.
 */
import { createHook } from 'node:async_hooks';
import { libModule } from './lib/built.mjs';
import { PAYLOAD } from './lib/payload.mjs';

const { newStamp } = await libModule('envelope/envelope.js');
const { KeyScope, storageKey } = await libModule('keys/storage-key.js');
const { encodeEntry } = await libModule('envelope/wire.js');
const { JsonCodec } = await libModule('envelope/codecs/json.codec.js');
const { DEFAULT_DECODE_LIMITS } = await libModule('envelope/decode-limits.js');
const { RedisStore } = await libModule('stores/redis.store.js');

const scope = KeyScope.of('bench', 'acme');
const key = storageKey(scope, 'entry', 'item:1');
const now = Date.now();
const bytes = encodeEntry({ value: PAYLOAD, createdAt: now, expiresAt: now + 60_000, stamp: newStamp(), scope: scope.id }, new JsonCodec(), DEFAULT_DECODE_LIMITS);

const store = new RedisStore({ options: { lazyConnect: true }, logger: { error() {}, warn() {} } });
const client = store.client;
client.getBuffer = () => Promise.resolve(bytes);
store.lifecycle.everReady = true; // as after the first 'ready' event

async function ticks(op) {
  let settled = false;
  (async () => {
    await op();
    settled = true;
  })();
  let n = 0;
  while (!settled) {
    await null;
    n++;
  }
  return n;
}

let promises = 0;
const hook = createHook({
  init(_id, type) {
    if (type === 'PROMISE') promises++;
  },
});
async function promisesPer(op) {
  await op(); // warm
  hook.enable();
  promises = 0;
  await op();
  const n = promises;
  hook.disable();
  return n;
}

const ops = {
  'raw ioredis getBuffer': () => client.getBuffer(key.full),
  'RedisStore.get': () => store.get(key),
};
const base = {};
for (const [name, op] of Object.entries(ops)) {
  if ((await op()) == null) throw new Error(`${name} missed`);
  const t = await ticks(op);
  const p = await promisesPer(op);
  base[name] ??= { t, p };
  const raw = base['raw ioredis getBuffer'];
  console.log(`${name.padEnd(24)} ticks ${t}  promises ${p}${name === 'RedisStore.get' ? `  (store adds ${t - raw.t} ticks, ${p - raw.p} promises)` : ''}`);
}
await store.close();
