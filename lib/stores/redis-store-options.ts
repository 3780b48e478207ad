import { CborCodec } from '../envelope/codecs/cbor.codec.js';
import type { Codec } from '../envelope/codecs/codec.interface.js';
import { JsonCodec } from '../envelope/codecs/json.codec.js';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from '../envelope/decode-limits.js';
import { CacheConfigError } from '../errors/cache.errors.js';
import { parseByteSize } from '../utils/byte-size.js';
import type { CacheLogger, ErrorReporter } from '../utils/error-reporter.js';
import { expectOptionsObject, kindOf, positiveInteger, rejectUnknownKeys, shown } from '../utils/option-checks.js';
import type { StoreObserver } from './cache-store.interface.js';
import type { RedisConnection, RedisStoreOptions } from './redis-store-options.interface.js';

/**
 * Defaults of `RedisStoreOptions`, stated once (`limits` defaults to `DEFAULT_DECODE_LIMITS`).
 * Beside the store for the reason given at `MEMORY_STORE_DEFAULTS`. No runtime import of
 * ioredis here: the main entry checks a Redis config without loading it.
 */
export const REDIS_STORE_DEFAULTS = Object.freeze({
  codec: 'json' as const,
  /** Milliseconds. */
  commandTimeout: 500,
  /** Milliseconds; below `commandTimeout`. */
  writeDeadlineMargin: 100,
  /** Milliseconds. */
  connectTimeout: 2_000,
  /** Milliseconds. */
  closeTimeout: 1_000,
});

const CONNECTION_KEYS = ['url', 'options', 'cluster', 'client'] as const;
const REDIS_STORE_KEYS: readonly string[] = [...CONNECTION_KEYS, 'codec', 'limits', 'commandTimeout', 'writeDeadlineMargin', 'connectTimeout', 'closeTimeout', 'logger', 'reporter', 'observer'];
const CLUSTER_KEYS: readonly string[] = ['nodes', 'options'];

const CONNECT_HINT = "pass them in options: { host, port, password, db } (ioredis options), or as url: 'redis://user:pass@host:6379/0'";
/** Names from cache-manager's Redis stores, node-redis and ioredis, and what to write here instead. */
const REDIS_STORE_HINTS: Readonly<Record<string, string>> = {
  host: CONNECT_HINT,
  port: CONNECT_HINT,
  password: CONNECT_HINT,
  username: CONNECT_HINT,
  db: CONNECT_HINT,
  tls: CONNECT_HINT,
  socket: CONNECT_HINT,
  keyPrefix: 'set keyPrefix in options: { keyPrefix } (ioredis); or keep several apps apart with the cache\'s namespace option',
  ttl: "TTLs are not a store option: set defaultTtl on the cache (milliseconds or a duration string such as '5m'), or ttl per write",
};

/** `RedisStoreOptions` checked, with the defaults applied. */
export interface ResolvedRedisStoreOptions {
  /** Exactly one way to connect (checked). */
  readonly connection: RedisConnection;
  readonly codec: Codec;
  /** Every codec reads accept, by id. */
  readonly codecs: ReadonlyMap<string, Codec>;
  readonly limits: DecodeLimits;
  readonly commandTimeout: number;
  /** Below `commandTimeout` (checked). */
  readonly writeDeadlineMargin: number;
  readonly connectTimeout: number;
  readonly closeTimeout: number;
  /** `false`: silent; `undefined`: the default console logger. */
  readonly logger: CacheLogger | false | undefined;
  readonly reporter: ErrorReporter | undefined;
  readonly observer: StoreObserver | undefined;
}

/**
 * Checks Redis store options (one connection, unknown keys, types, bounds); every error is a
 * `CacheConfigError` naming `prefix` + the option. Whether `client` is an ioredis instance is
 * checked by the store, which has ioredis loaded.
 */
export function resolveRedisStoreOptions(options: RedisStoreOptions, prefix = ''): ResolvedRedisStoreOptions {
  expectOptionsObject(options as unknown, prefix === '' ? 'options' : prefix.slice(0, -1), "pass { url: 'redis://localhost:6379' }");
  rejectUnknownKeys(options, REDIS_STORE_KEYS, prefix, REDIS_STORE_HINTS);
  const opts = options as Partial<Record<(typeof CONNECTION_KEYS)[number], unknown>> & RedisStoreOptions;
  const given = CONNECTION_KEYS.filter((k) => opts[k] !== undefined);
  if (given.length !== 1) {
    throw new CacheConfigError(
      prefix === '' ? 'store' : prefix.slice(0, -1),
      given.length === 0 ? 'no Redis connection given' : `${given.join(' and ')} given together`,
      'pass exactly one of { url }, { options }, { cluster: { nodes, options } } or { client }',
    );
  }
  if (opts.url !== undefined && (typeof opts.url !== 'string' || opts.url === '')) {
    throw new CacheConfigError(`${prefix}url`, 'it is not a non-empty string', 'pass a URL such as redis://localhost:6379');
  }
  if (opts.options !== undefined) expectOptionsObject(opts.options, `${prefix}options`, 'pass ioredis RedisOptions such as { host, port }');
  if (opts.cluster !== undefined) {
    expectOptionsObject(opts.cluster, `${prefix}cluster`, 'pass { nodes: [{ host, port }], options? }');
    rejectUnknownKeys(opts.cluster, CLUSTER_KEYS, `${prefix}cluster.`);
    const nodes = (opts.cluster as { nodes?: unknown }).nodes;
    if (!Array.isArray(nodes) || nodes.length === 0) throw new CacheConfigError(`${prefix}cluster.nodes`, 'no startup node given', 'list at least one node, e.g. [{ host: "10.0.0.1", port: 7000 }]');
  }
  if (opts.client !== undefined && (typeof opts.client !== 'object' || opts.client === null)) {
    throw new CacheConfigError(`${prefix}client`, `expected an ioredis client, got ${kindOf(opts.client)}`, 'pass a client created with new Redis(...) or new Cluster(...) from ioredis');
  }
  if (opts.logger !== undefined && opts.logger !== false && (typeof opts.logger !== 'object' || opts.logger === null || typeof opts.logger.warn !== 'function')) {
    throw new CacheConfigError(`${prefix}logger`, 'expected an object with warn() and error(), or false', "pass Nest's Logger, console, or false to silence");
  }
  if (opts.observer !== undefined && (typeof opts.observer !== 'object' || opts.observer === null)) {
    throw new CacheConfigError(`${prefix}observer`, `expected an object, got ${kindOf(opts.observer)}`, 'pass { decodeFailed(key, error) {} }, or omit it');
  }
  const connection = { [given[0]!]: opts[given[0]!] } as unknown as RedisConnection;
  const commandTimeout = positiveInteger(opts.commandTimeout, REDIS_STORE_DEFAULTS.commandTimeout, `${prefix}commandTimeout`);
  const writeDeadlineMargin = positiveInteger(opts.writeDeadlineMargin, REDIS_STORE_DEFAULTS.writeDeadlineMargin, `${prefix}writeDeadlineMargin`);
  // Checked here so the error names the option's path at start-up; the store checks again with
  // the timeout its client really has (a client of one's own is only known then).
  const clientTimeout = clientCommandTimeout(opts, commandTimeout);
  if (clientTimeout !== undefined && writeDeadlineMargin >= clientTimeout) {
    throw new CacheConfigError(
      `${prefix}writeDeadlineMargin`,
      `${writeDeadlineMargin} ms is not below the commandTimeout of ${clientTimeout} ms, so every write would be past its deadline when sent`,
      'lower writeDeadlineMargin (to what the clocks of your app hosts and Redis guarantee) or raise commandTimeout',
    );
  }
  return {
    connection,
    ...resolveCodecs(opts.codec, `${prefix}codec`),
    limits: resolveLimits(opts.limits, `${prefix}limits`),
    commandTimeout,
    writeDeadlineMargin,
    connectTimeout: positiveInteger(opts.connectTimeout, REDIS_STORE_DEFAULTS.connectTimeout, `${prefix}connectTimeout`),
    closeTimeout: positiveInteger(opts.closeTimeout, REDIS_STORE_DEFAULTS.closeTimeout, `${prefix}closeTimeout`),
    logger: opts.logger,
    reporter: opts.reporter,
    observer: opts.observer,
  };
}

/** The `commandTimeout` the store's client will have, where known before it exists (not for a `client` of one's own). */
function clientCommandTimeout(opts: Partial<Record<(typeof CONNECTION_KEYS)[number], unknown>>, commandTimeout: number): number | undefined {
  if (opts.client !== undefined) return undefined;
  // ioredis options given win over our defaults (see redis-client.factory.ts).
  const own = opts.options !== undefined ? (opts.options as { commandTimeout?: unknown }).commandTimeout : (opts.cluster as { options?: { redisOptions?: { commandTimeout?: unknown } } } | undefined)?.options?.redisOptions?.commandTimeout;
  if (own === undefined) return commandTimeout;
  return typeof own === 'number' ? own : undefined;
}

function resolveLimits(limits: unknown, option: string): DecodeLimits {
  const out: DecodeLimits = { ...DEFAULT_DECODE_LIMITS };
  if (limits === undefined) return out;
  expectOptionsObject(limits, option, "pass e.g. { maxPayloadBytes: '512kb' }, or omit it");
  rejectUnknownKeys(limits, Object.keys(DEFAULT_DECODE_LIMITS), `${option}.`);
  for (const [name, value] of Object.entries(limits)) {
    if (value === undefined) continue;
    if (name === 'maxPayloadBytes') out.maxPayloadBytes = parseByteSize(value, `${option}.${name}`);
    else out[name as keyof DecodeLimits] = positiveInteger(value, DEFAULT_DECODE_LIMITS[name as keyof DecodeLimits], `${option}.${name}`);
  }
  return out;
}

function resolveCodecs(option: unknown, path: string): { codec: Codec; codecs: ReadonlyMap<string, Codec> } {
  const json = new JsonCodec();
  const cbor = new CborCodec();
  const codecs = new Map<string, Codec>([
    [json.id, json],
    [cbor.id, cbor],
  ]);
  if (option === undefined || option === 'json') return { codec: json, codecs };
  if (option === 'cbor') return { codec: cbor, codecs };
  const custom = option as Codec;
  if (typeof option !== 'object' || option === null || typeof custom.encode !== 'function' || typeof custom.decode !== 'function' || typeof custom.id !== 'string') {
    throw new CacheConfigError(path, `expected "json", "cbor" or a Codec, got ${shown(option)}`, 'pass "json" (default), "cbor" or an object implementing Codec');
  }
  if (custom.id.length !== 1 || custom.id.charCodeAt(0) > 0x7e || custom.id.charCodeAt(0) < 0x21) {
    throw new CacheConfigError(`${path}.id`, `${JSON.stringify(custom.id)} is not one printable ASCII character`, 'give the codec a one-character id');
  }
  if (codecs.has(custom.id)) throw new CacheConfigError(`${path}.id`, `"${custom.id}" is the id of a built-in codec`, 'choose another one-character id');
  codecs.set(custom.id, custom);
  return { codec: custom, codecs };
}
