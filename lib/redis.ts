// `nestjs-tenant-cache/redis`: the Redis store as a class, for users who build stores
// themselves (a dedicated store per tenant, a shared client). Importing this entry loads
// ioredis; the main entry never does.
export { RedisStore, createRedisStore } from './stores/redis.store.js';
export type { RedisStoreOptions } from './stores/redis-store-options.interface.js';
