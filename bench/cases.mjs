/**
 * Every case of `npm run bench`, as data. Adding a case is one entry here (plus, for a new app or
 * store, a factory in http/apps.mjs or an entry in micro.mjs).
 *
 * HTTP case fields:
 *   id       short stable key (results JSON, targets)
 *   name     label in the table and the chart
 *   adapter  'fastify' | 'express'
 *   app      factory name in http/apps.mjs; `options` is passed to it
 *   path     URL path (default /item); headers: request headers (default x-tenant-id: acme)
 *   limit    true for the adapter's Nest constant handler: the denominator of the "x Nest constant" column
 *   rawLimit true for the adapter's raw framework route (no Nest): the denominator of "x raw Fastify" / "x raw Express"
 *   platformLimit true for the route on the Nest app's own platform instance: the denominator of "x platform route"
 *   hit      true if every measured request must be a cache hit (checked: X-Cache and handler runs)
 *   miss     true if every measured request must be a miss: each asks for `path?n=<a new number>`
 *   redis    true if the case needs the bench's redis-server
 *   tenants  spread the requests over this many tenants (x-tenant-id t0 ... t<n-1>, one hot key each),
 *            every tenant's entry warmed before measuring (tenant scaling)
 */
export const ADAPTERS = ['fastify', 'express'];

export const DEFAULT_HEADERS = { 'x-tenant-id': 'acme', accept: 'application/json' };

/** Tenant counts of the tenant-scaling rows (HTTP and micro). */
export const TENANT_COUNTS = [1, 10_000, 100_000];
/** Hot URLs of the one-tenant row that the 100,000-tenant row is compared with. */
const HOT_URLS = 100_000;
/**
 * The memory store of the tenant-scaling rows: room for every tenant's entry with no eviction
 * (entries and bytes), and the tenant share off (1): 100,000 tenants of one entry each must all stay.
 */
const TENANT_SCALING_STORE = { maxEntries: 2 * TENANT_COUNTS.at(-1), maxBytes: 2 ** 31, maxTenantShare: 1 };

export const httpCases = ADAPTERS.flatMap((adapter) => [
  // The raw limits (http/raw-apps.mjs): the same bytes, no Nest. node:http sends the headers a Fastify reply carries.
  ...(adapter === 'fastify'
    ? [
        { id: 'fastify.raw.http', name: 'fastify: raw node:http (no framework, Fastify reply headers)', adapter, app: 'rawHttp' },
        { id: 'fastify.raw', name: 'fastify: raw Fastify route (no Nest)', adapter, app: 'rawFastify', rawLimit: true },
      ]
    : [{ id: 'express.raw', name: 'express: raw Express route (no Nest)', adapter, app: 'rawExpress', rawLimit: true }]),
  // The same bytes from a route on the Nest app's own platform instance: every hook Nest adds to the platform, none of its pipeline (the floor of a hit inside a Nest app).
  { id: `${adapter}.platform`, name: `${adapter}: route on Nest's ${adapter === 'fastify' ? 'Fastify' : 'Express'} instance (no Nest pipeline)`, adapter, app: 'platformRoute', options: { platformRoute: true }, platformLimit: true },
  { id: `${adapter}.constant`, name: `${adapter}: constant handler (limit)`, adapter, app: 'constant', limit: true },
  { id: `${adapter}.slow`, name: `${adapter}: 5 ms handler, uncached`, adapter, app: 'slow' },
  { id: `${adapter}.floor`, name: `${adapter}: interceptor floor (answers, no lookup)`, adapter, app: 'interceptorFloor' },
  { id: `${adapter}.ncm.memory`, name: `${adapter}: @nestjs/cache-manager hit, memory`, adapter, app: 'nestCacheManager', options: { store: 'memory' }, hit: true },
  { id: `${adapter}.ncm.redis`, name: `${adapter}: @nestjs/cache-manager hit, Redis`, adapter, app: 'nestCacheManager', options: { store: 'redis' }, hit: true, redis: true },
  { id: `${adapter}.ours.memory`, name: `${adapter}: ours hit, memory`, adapter, app: 'ours', options: { store: 'memory' }, hit: true },
  // `type: 'tiered'`: the hit comes from the instance's L1 (a memory store over Redis, its bus subscribed), on the same synchronous path.
  { id: `${adapter}.ours.tiered`, name: `${adapter}: ours hit, tiered L1 (memory over Redis)`, adapter, app: 'ours', options: { store: 'tiered' }, hit: true, redis: true },
  // The default (`tenantContext: 'auto'`) runs handlers without a tenant context in these apps: nothing injects CacheManager.
  // This row pays for one (AsyncLocalStorage), as an app whose services inject CacheManager does.
  { id: `${adapter}.ours.memory.ctx`, name: `${adapter}: ours hit, memory, tenant context on`, adapter, app: 'ours', options: { store: 'memory', tenantContext: true }, hit: true },
  { id: `${adapter}.ours.redis`, name: `${adapter}: ours hit, Redis`, adapter, app: 'ours', options: { store: 'redis' }, hit: true, redis: true },
  // The same hit served from the interceptor (what a route with a guard, or an interceptor ahead of ours, gets).
  { id: `${adapter}.ours.memory.interceptor`, name: `${adapter}: ours hit, memory, fastPath: false`, adapter, app: 'ours', options: { store: 'memory', fastPath: false }, hit: true },
  ...(adapter === 'fastify'
    ? [
        // Every request a miss (a new query string each, `miss: true`), constant handler: what a miss costs, with and without the unkeyed-input guard.
        { id: `${adapter}.ours.miss`, name: `${adapter}: ours miss, memory (headerGuard 'warn', default)`, adapter, app: 'ours', options: { store: 'memory', constantHandler: true }, miss: true },
        { id: `${adapter}.ours.miss.noguard`, name: `${adapter}: ours miss, memory, headerGuard: 'off'`, adapter, app: 'ours', options: { store: 'memory', constantHandler: true, headerGuard: 'off' }, miss: true },
        // Tenant scaling: the memory hit with the requests spread over 1, 10,000 and 100,000 tenants (one hot key each).
        ...TENANT_COUNTS.map((tenants) => ({
          id: `${adapter}.ours.memory.tenants.${tenants}`,
          name: `${adapter}: ours hit, memory, ${tenants.toLocaleString('en-US')} tenant${tenants === 1 ? '' : 's'} (x-tenant-id per request)`,
          adapter,
          app: 'ours',
          // `tenants` is not an option of the app: it gives each tenant count a process (and a store) of its own.
          options: { store: 'memory', memory: TENANT_SCALING_STORE, tenants },
          // A query on every tenant-scaling request, as the many-URLs row has one (same key work).
          path: '/item?k=0',
          hit: true,
          tenants,
        })),
        // One tenant with as many hot URLs as 100,000 tenants have hot keys: the base of the
        // tenant-count target (the same hot set; what tenants cost, not what 100,000 entries cost).
        {
          id: `${adapter}.ours.memory.urls.${HOT_URLS}`,
          name: `${adapter}: ours hit, memory, 1 tenant, ${HOT_URLS.toLocaleString('en-US')} hot URLs (?k= per request)`,
          adapter,
          app: 'ours',
          options: { store: 'memory', memory: TENANT_SCALING_STORE, tenants: 1, urls: HOT_URLS },
          path: '/item',
          hit: true,
          tenants: 1,
          urls: HOT_URLS,
        },
      ]
    : []),
  // A guard on the route (most SaaS routes have one): both caches serve hits inside Nest's pipeline, after it.
  { id: `${adapter}.ncm.memory.guarded`, name: `${adapter}: @nestjs/cache-manager hit, memory, guarded route`, adapter, app: 'nestCacheManager', options: { store: 'memory', guarded: true }, hit: true },
  { id: `${adapter}.ours.memory.guarded`, name: `${adapter}: ours hit, memory, guarded route`, adapter, app: 'ours', options: { store: 'memory', guarded: true }, hit: true },
]);

/**
 * Open loop (open-loop.mjs): each case is an HTTP case above, loaded at a fixed request rate
 * whatever the server's answers do; latency from each request's scheduled send time.
 * The rate: what the slowest of them (@nestjs/cache-manager's memory hit, 14,600-17,100 req/s
 * closed-loop on this VM) sustains with headroom, so every case serves the same load and the
 * figures compare latency and CPU per response at equal work, not capacity.
 */
export const OPEN_LOOP_RATE = Number(process.env.BENCH_OPEN_RATE ?? 12_000);
export const OPEN_LOOP_CONNECTIONS = 64;
export const openLoopCases = ['fastify.raw', 'fastify.platform', 'fastify.constant', 'fastify.ours.memory', 'fastify.ours.redis', 'fastify.ours.memory.guarded', 'fastify.ncm.memory'];

/** 200 concurrent requests to one cold key (a fresh one per trial); the figure is how often the handler ran. */
export const STAMPEDE_CONCURRENCY = 200;
export const stampedeCases = [
  { id: 'stampede.ours.memory', name: 'ours, memory', adapter: 'fastify', app: 'ours', options: { store: 'memory' } },
  { id: 'stampede.ncm.memory', name: '@nestjs/cache-manager, memory', adapter: 'fastify', app: 'nestCacheManager', options: { store: 'memory' } },
  { id: 'stampede.ours.redis', name: 'ours, Redis', adapter: 'fastify', app: 'ours', options: { store: 'redis' }, redis: true },
  { id: 'stampede.ncm.redis', name: '@nestjs/cache-manager, Redis', adapter: 'fastify', app: 'nestCacheManager', options: { store: 'redis' }, redis: true },
  // Two app processes on one Redis, half of the requests to each, at the same time: only a lock held in Redis keeps it at 1.
  { id: 'stampede.ours.redis.2proc', name: 'ours, Redis, 2 processes', adapter: 'fastify', app: 'ours', options: { store: 'redis' }, redis: true, processes: 2 },
  { id: 'stampede.ncm.redis.2proc', name: '@nestjs/cache-manager, Redis, 2 processes', adapter: 'fastify', app: 'nestCacheManager', options: { store: 'redis' }, redis: true, processes: 2 },
];

/**
 * Memory-bound runs (each in its own process, with --expose-gc): 1,000,000 sets of 1 KB values
 * into a MemoryStore with maxBytes 64 MiB. The `bytesOnly` cases give maxBytes alone (no entry
 * bound: lru-cache preallocates nothing); the others add a `maxEntries` high enough that bytes,
 * not the entry count, bound the store, to show what preallocating that many slots costs.
 * `value` is 'string' (a distinct flat 1,024-byte string per set) or 'object' (a distinct ~1 KB
 * JSON-shaped object per set). `maxEntries` undefined = not passed to the store.
 */
export const MEMORY_BOUND_BYTES = 64 * 1024 * 1024;
export const memoryCases = [
  { id: 'memory.string.bytesOnly', name: '1 KB strings, { maxBytes: 64 MiB } only, no maxEntries', value: 'string', maxEntries: undefined, sets: 1_000_000 },
  { id: 'memory.string.100k', name: '1 KB strings, maxBytes 64 MiB + maxEntries 100,000', value: 'string', maxEntries: 100_000, sets: 1_000_000 },
  { id: 'memory.string.1m', name: '1 KB strings, maxBytes 64 MiB + maxEntries 1,000,000', value: 'string', maxEntries: 1_000_000, sets: 1_000_000 },
  { id: 'memory.object.bytesOnly', name: '1 KB objects, { maxBytes: 64 MiB } only, no maxEntries', value: 'object', maxEntries: undefined, sets: 1_000_000 },
];

/**
 * Invalidation cost against the number of entries (invalidation.mjs): one `invalidateTags` of a
 * tag every entry of a tenant carries, or one `clearScope` of the tenant, timed on a fresh
 * tenant of 1,000, 10,000 and 100,000 entries, on each store. O(1): the rows of one operation
 * stay flat (and on Redis, so does the number of commands).
 */
export const invalidationCases = ['memory', 'redis'].flatMap((store) =>
  ['invalidateTags', 'clearScope'].flatMap((op) =>
    [1_000, 10_000, 100_000].map((entries) => ({
      id: `invalidation.${store}.${op}.${entries / 1_000}k`,
      name: `${store === 'redis' ? 'Redis' : 'memory'} ${op} (${op === 'clearScope' ? 'a tenant of' : 'a tag on'} ${entries.toLocaleString('en-US')} entries)`,
      store,
      op,
      entries,
      redis: store === 'redis',
    })),
  ),
);

// ---- targets: ratios from one run -------------------------------------------------------------

const http = (r, id) => r.http[id]?.median;
const ratio = (a, b) => (a === undefined || b === undefined ? undefined : a / b);
const micro = (r, id) => r.micro[id]?.median;

const cpu = (r, id) => r.http[id]?.cpuMicrosPerResponse;
const diff = (a, b) => (a === undefined || b === undefined ? undefined : a - b);
const tenantsId = (n) => `fastify.ours.memory.tenants.${n}`;

/** Each target: a value from the results (undefined = not measured), compared with `threshold`. */
export const targets = [
  { id: 'fastify.ours.memory/raw', label: 'Fastify: ours memory hit / raw Fastify route (same bytes)', op: '>=', threshold: 0.9, value: (r) => ratio(http(r, 'fastify.ours.memory'), http(r, 'fastify.raw')) },
  { id: 'fastify.ours.redis/raw', label: 'Fastify: ours Redis hit / raw Fastify route (same bytes)', op: '>=', threshold: 0.8, value: (r) => ratio(http(r, 'fastify.ours.redis'), http(r, 'fastify.raw')) },
  { id: 'fastify.ours.memory.guarded/constant', label: 'Fastify: ours memory hit on a guarded route / Nest constant handler', op: '>=', threshold: 0.9, value: (r) => ratio(http(r, 'fastify.ours.memory.guarded'), http(r, 'fastify.constant')) },
  { id: 'fastify.ours.memory.cpu-raw', label: 'Fastify: server CPU per response, ours memory hit minus raw Fastify (µs)', op: '<=', threshold: 1.5, value: (r) => diff(cpu(r, 'fastify.ours.memory'), cpu(r, 'fastify.raw')) },
  // Proposed restatements of the two rows above (not issue 14's own): the same bounds against the floor inside a Nest app, a route on its own Fastify instance.
  { id: 'fastify.ours.memory/platform', label: 'Fastify: ours memory hit / route on the Nest app\'s Fastify instance (proposed)', op: '>=', threshold: 0.9, value: (r) => ratio(http(r, 'fastify.ours.memory'), http(r, 'fastify.platform')) },
  { id: 'fastify.ours.memory.cpu-platform', label: 'Fastify: server CPU per response, ours memory hit minus that route (µs, proposed)', op: '<=', threshold: 1.5, value: (r) => diff(cpu(r, 'fastify.ours.memory'), cpu(r, 'fastify.platform')) },
  { id: 'fastify.ours.memory/ncm.memory', label: 'Fastify: ours memory hit / @nestjs/cache-manager memory hit', op: '>=', threshold: 1.35, value: (r) => ratio(http(r, 'fastify.ours.memory'), http(r, 'fastify.ncm.memory')) },
  { id: 'fastify.ours.tiered/ours.memory', label: 'Fastify: ours tiered L1 hit / ours memory hit (within 10%)', op: '>=', threshold: 0.9, value: (r) => ratio(http(r, 'fastify.ours.tiered'), http(r, 'fastify.ours.memory')) },
  { id: 'fastify.ours.memory.tenants', label: 'Fastify: ours memory hit over 100,000 tenants / 1 tenant with 100,000 hot URLs (req/s)', op: '>=', threshold: 0.8, value: (r) => ratio(http(r, tenantsId(100_000)), http(r, `fastify.ours.memory.urls.${HOT_URLS}`)) },
  { id: 'express.ours.memory/raw', label: 'Express: ours memory hit / raw Express route (same bytes)', op: '>=', threshold: 0.95, value: (r) => ratio(http(r, 'express.ours.memory'), http(r, 'express.raw')) },
  { id: 'express.ours.memory/platform', label: 'Express: ours memory hit / route on the Nest app\'s Express instance (proposed)', op: '>=', threshold: 0.95, value: (r) => ratio(http(r, 'express.ours.memory'), http(r, 'express.platform')) },
  { id: 'express.ours.redis/constant', label: 'Express: ours Redis hit / constant handler (within 5%)', op: '>=', threshold: 0.95, value: (r) => ratio(http(r, 'express.ours.redis'), http(r, 'express.constant')) },
  { id: 'express.ours.tiered/ours.memory', label: 'Express: ours tiered L1 hit / ours memory hit (within 10%)', op: '>=', threshold: 0.9, value: (r) => ratio(http(r, 'express.ours.tiered'), http(r, 'express.ours.memory')) },
  { id: 'stampede.ours.memory', label: `Stampede: handler runs for ${STAMPEDE_CONCURRENCY} concurrent cold requests, ours memory (worst trial)`, op: '<=', threshold: 1, value: (r) => r.stampede['stampede.ours.memory']?.max },
  { id: 'stampede.ours.redis', label: `Stampede: handler runs for ${STAMPEDE_CONCURRENCY} concurrent cold requests, ours Redis (worst trial)`, op: '<=', threshold: 1, value: (r) => r.stampede['stampede.ours.redis']?.max },
  { id: 'stampede.ours.redis.2proc', label: `Stampede: handler runs for ${STAMPEDE_CONCURRENCY} concurrent cold requests over 2 processes on one Redis, ours (worst trial)`, op: '<=', threshold: 1, value: (r) => r.stampede['stampede.ours.redis.2proc']?.max },
  { id: 'fastify.ours.miss/noguard', label: "Fastify: ours miss with the unkeyed-input guard / with headerGuard: 'off' (constant handler)", op: '>=', threshold: 0.9, value: (r) => ratio(http(r, 'fastify.ours.miss'), http(r, 'fastify.ours.miss.noguard')) },
  // Engine: the public get (forTenant(t).get, awaited) against the other Node caches' memory get, awaited the same way.
  { id: 'micro.engine.get/bentocache', label: 'Micro: ours forTenant(t).get / bentocache get, memory, present key', op: '>=', threshold: 3, value: (r) => ratio(micro(r, 'engine.get.ours'), micro(r, 'engine.get.bentocache')) },
  { id: 'micro.engine.get/cacheable', label: 'Micro: ours forTenant(t).get / cacheable get, memory, present key', op: '>=', threshold: 3, value: (r) => ratio(micro(r, 'engine.get.ours'), micro(r, 'engine.get.cacheable')) },
  // The HTTP lookup: tenant to store access, then the engine's synchronous read (what a fast-path hit does before it writes the reply).
  { id: 'micro.lookup/lru', label: 'Micro: ours HTTP lookup (scope access + getSync), 1 tenant x 10,000 keys / raw lru-cache get, 10,000 entries', op: '>=', threshold: 0.25, value: (r) => ratio(micro(r, 'tenants.lookup.1'), micro(r, 'tenants.lru')) },
  // The same number of entries on both sides (100,000): what tenants cost, not what 10x the entries cost.
  { id: 'micro.engine.tenants', label: 'Micro: ours forTenant(t).get, 100,000 tenants x 1 key / 1 tenant x 100,000 keys', op: '>=', threshold: 0.8, value: (r) => ratio(micro(r, 'tenants.get.100000'), micro(r, 'tenants.get.1x100000')) },
  { id: 'micro.lookup.tenants', label: 'Micro: ours HTTP lookup, 100,000 tenants x 1 key / 1 tenant x 100,000 keys', op: '>=', threshold: 0.8, value: (r) => ratio(micro(r, 'tenants.lookup.100000'), micro(r, 'tenants.lookup.1x100000')) },
  // The HTTP hit path reads the memory store synchronously (getSync), so this compares like with like: sync with sync.
  // It reads what that path stores, HTTP responses (string bodies, handed out without a copy); object values are copied on
  // every read so a caller's mutation never reaches the cache, and their row (oursSync) shows that cost beside it.
  { id: 'micro.memory.get.10k', label: 'Micro: ours memory getSync of HTTP responses (the hit path) / raw lru-cache get of the same, 10k entries', op: '>=', threshold: 0.7, value: (r) => ratio(micro(r, 'memory.get.10k.oursSyncResponse'), micro(r, 'memory.get.10k.lruResponse')) },
  { id: 'micro.tiered.get.10k', label: 'Micro: ours TieredStore.getSync (an L1 hit) / MemoryStore.getSync, HTTP responses, 10k entries (within 10%)', op: '>=', threshold: 0.9, value: (r) => ratio(micro(r, 'memory.get.10k.tieredSyncResponse'), micro(r, 'memory.get.10k.oursSyncResponse')) },
  { id: 'micro.redis.get.50', label: 'Micro: ours Redis get / raw ioredis get, 50 in flight', op: '>=', threshold: 1, value: (r) => ratio(micro(r, 'redis.get.50.ours'), micro(r, 'redis.get.50.raw')) },
  { id: 'memory.string.bytesOnly', label: 'Memory: heap growth after 1,000,000 sets of 1 KB strings into a { maxBytes: 64 MiB } store (MB)', op: '<=', threshold: 77, value: (r) => r.memory['memory.string.bytesOnly']?.heapGrowthMB },
  // O(1) invalidation: the operation on 100,000 entries costs no more than a few times the same on 1,000 (it was ~100x).
  ...['memory', 'redis'].flatMap((store) =>
    ['invalidateTags', 'clearScope'].map((op) => ({
      id: `invalidation.${store}.${op}.flat`,
      label: `Invalidation: ${store === 'redis' ? 'Redis' : 'memory'} ${op}, 100,000 entries / 1,000 entries (time)`,
      op: '<=',
      threshold: 3,
      value: (r) => ratio(r.invalidation?.[`invalidation.${store}.${op}.100k`]?.median, r.invalidation?.[`invalidation.${store}.${op}.1k`]?.median),
    })),
  ),
];
