// One app instance of the multi-process tiered tests: a CacheManager on a tiered store, in its
// own Node process (started by tiered-instance.ts through ts-child/register.mjs), driven over IPC.
// Every reply is { id, ok, result } or { id, ok: false, error }; `watch` later sends
// { event: 'gone', watch, at, lastServed, served } once the watched L1 entry is no longer served.
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { KeyScope, storageKey, type StorageKey } from '../../lib/keys/storage-key.js';
import type { StoreConfig } from '../../lib/stores/store-config.interface.js';
import type { TieredStore } from '../../lib/stores/tiered.store.js';

export interface ChildConfig {
  readonly store: StoreConfig;
  readonly namespace: string;
}

export type ChildCommand =
  | { cmd: 'set'; tenant: string; key: string; value: unknown; tags?: string[] }
  | { cmd: 'fill'; tenant: string; key: string }
  | { cmd: 'watch'; watch: number; tenant: string; key: string; stamp: string }
  | { cmd: 'act'; op: 'set' | 'delete' | 'tags' | 'clear'; tenant: string; key: string; tag?: string }
  | { cmd: 'peek'; tenant: string; key: string }
  | { cmd: 'wrap'; tenant: string; key: string; value: unknown }
  | { cmd: 'stats' }
  | { cmd: 'op'; tenant: string; op: TenantOp }
  | { cmd: 'awaitMalformed'; count: number }
  | { cmd: 'close' };

/** One call of the scoped cache of a tenant (the model-based test): values travel as JSON, `undefined` as an absent field. */
export type TenantOp =
  | { name: 'get' | 'delete'; key: string }
  | { name: 'set' | 'getOrSet' | 'wrap'; key: string; value: unknown; tags: string[] }
  | { name: 'compareAndSet'; key: string; expected?: unknown; next: unknown; tags: string[] }
  | { name: 'invalidateTags'; tags: string[] }
  | { name: 'clear' };

const config = JSON.parse(process.argv[2]!) as ChildConfig;
const logs: string[] = [];
const logger = { warn: (line: string) => void logs.push(line), error: (line: string) => void logs.push(line) };
const manager = await CacheManager.create({ store: config.store, namespace: config.namespace, logger, defaultTtl: '10m' });
const store = manager.store as TieredStore;
const keyOf = (tenant: string, key: string): StorageKey => storageKey(KeyScope.of(config.namespace, tenant), 'entry', key);
/** Wall-clock milliseconds with sub-millisecond precision, comparable across the processes of one machine. */
const now = (): number => performance.timeOrigin + performance.now();

function send(message: unknown): void {
  process.send?.(message);
}

/**
 * Polls L1 every millisecond until it no longer serves the entry stamped `stamp`; reports when
 * that was seen (`at`) and when it was last served (`lastServed`: a late poll on a busy loop
 * delays the first, never the second).
 */
function watch(id: number, key: StorageKey, stamp: string): void {
  let served = 0;
  let lastServed = now();
  const poll = (): void => {
    const held = store.getSync(key);
    if (held?.stamp === stamp) {
      served++;
      lastServed = now();
      setTimeout(poll, 1);
      return;
    }
    send({ event: 'gone', watch: id, at: now(), lastServed, served });
  };
  poll();
}

async function handle(command: ChildCommand): Promise<unknown> {
  switch (command.cmd) {
    case 'set':
      await manager.forTenant(command.tenant).set(command.key, command.value, { tags: command.tags ?? [] });
      return { at: now() };
    case 'fill': {
      // A read a message overtook does not fill L1 (the message may be for this very entry):
      // read until L1 holds it, as later requests would.
      const key = keyOf(command.tenant, command.key);
      for (let attempt = 0; attempt < 100; attempt++) {
        await manager.forTenant(command.tenant).get(command.key);
        const held = store.getSync(key);
        if (held !== undefined) return { stamp: held.stamp, value: held.value, attempts: attempt + 1 };
      }
      throw new Error(`L1 did not hold ${command.key} after 100 reads`);
    }
    case 'watch':
      watch(command.watch, keyOf(command.tenant, command.key), command.stamp);
      return {};
    case 'act': {
      const cache = manager.forTenant(command.tenant);
      const at = now();
      if (command.op === 'set') await cache.set(command.key, `v-${at}`, { tags: command.tag === undefined ? [] : [command.tag] });
      if (command.op === 'delete') await cache.delete(command.key);
      if (command.op === 'tags') await cache.invalidateTags([command.tag!]);
      if (command.op === 'clear') await cache.clear();
      return { at, done: now() };
    }
    case 'peek': {
      const held = store.getSync(keyOf(command.tenant, command.key));
      return held === undefined ? {} : { stamp: held.stamp, value: held.value };
    }
    case 'wrap': {
      const value = await manager.forTenant(command.tenant).wrap(command.key, () => command.value);
      return { value, held: store.getSync(keyOf(command.tenant, command.key))?.value };
    }
    case 'stats':
      return { stats: store.stats(), health: await manager.health(), logs };
    case 'op':
      return { result: await runOp(command.tenant, command.op) };
    case 'awaitMalformed': {
      // A marker the test published after a change: the bus delivers in order on this one
      // subscriber connection, so once it is counted, every message before it is applied.
      for (let i = 0; store.stats().bus.malformed < command.count; i++) {
        if (i > 5_000) throw new Error(`marker ${command.count} not heard within 5 s`);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      return {};
    }
    case 'close':
      await manager.close();
      setImmediate(() => process.disconnect());
      return {};
  }
}

async function runOp(tenant: string, op: TenantOp): Promise<unknown> {
  const cache = manager.forTenant(tenant);
  const opts = (tags: string[]) => (tags.length === 0 ? { ttl: 0 } : { ttl: 0, tags });
  switch (op.name) {
    case 'get':
      return cache.get(op.key);
    case 'delete':
      return cache.delete(op.key);
    case 'set':
      return cache.set(op.key, op.value, opts(op.tags));
    case 'getOrSet':
      return cache.getOrSet(op.key, op.value, opts(op.tags));
    case 'wrap':
      return cache.wrap(op.key, () => op.value, opts(op.tags));
    case 'compareAndSet':
      return cache.compareAndSet(op.key, op.expected, op.next, opts(op.tags));
    case 'invalidateTags':
      return cache.invalidateTags(op.tags);
    case 'clear':
      return cache.clear();
  }
}

process.on('message', (message: { id: number } & ChildCommand) => {
  handle(message).then(
    (result) => send({ id: message.id, ok: true, result }),
    (err: unknown) => send({ id: message.id, ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }),
  );
});
send({ ready: true, bus: store.stats().bus.state });
