import { describe, expect, it } from 'vitest';
import { KeyScope, keyHash, storageKey } from '../../lib/keys/storage-key.js';
import * as errors from '../../lib/errors/cache.errors.js';
import {
  CacheClosedError,
  CacheConfigError,
  CacheConnectionError,
  CacheError,
  CacheMissError,
  CacheOperationError,
  CacheStoreFullError,
  CacheTimeoutError,
  CacheUnsupportedError,
  CasConflictError,
  CircuitOpenError,
  DecodeError,
  EncodeError,
  FactoryFailedError,
  FactoryTimeoutError,
  InvalidKeyError,
  InvalidTtlError,
  PayloadTooLargeError,
  TenantRequiredError,
  UnkeyedHeaderError,
} from '../../lib/errors/cache.errors.js';

const cause = new Error('socket hang up');

/** One instance of every error class, with its expected code, and whether it was given `cause`. */
const CASES: Array<{ make: () => CacheError; cls: new (...args: never[]) => CacheError; code: string; withCause: boolean }> = [
  { make: () => new CacheError('ERR_CUSTOM', 'custom', { cause }), cls: CacheError, code: 'ERR_CUSTOM', withCause: true },
  { make: () => new CacheMissError('abc123'), cls: CacheMissError, code: 'ERR_CACHE_MISS', withCause: false },
  { make: () => new CasConflictError('abc123'), cls: CasConflictError, code: 'ERR_CAS_CONFLICT', withCause: false },
  { make: () => new CacheClosedError(), cls: CacheClosedError, code: 'ERR_CACHE_CLOSED', withCause: false },
  { make: () => new InvalidTtlError(-5), cls: InvalidTtlError, code: 'ERR_INVALID_TTL', withCause: false },
  { make: () => new CacheConfigError('store.url', 'it is not a URL', 'use redis://host:6379', { cause }), cls: CacheConfigError, code: 'ERR_CACHE_CONFIG', withCause: true },
  { make: () => new CacheConnectionError('get', 'localhost:6379', { cause }), cls: CacheConnectionError, code: 'ERR_CACHE_CONNECTION', withCause: true },
  { make: () => new CacheOperationError('set', 'abc123', { cause }), cls: CacheOperationError, code: 'ERR_CACHE_OPERATION', withCause: true },
  { make: () => new CacheTimeoutError('redis get', 'abc123', 'localhost:6379', 500, { cause }), cls: CacheTimeoutError, code: 'ERR_CACHE_TIMEOUT', withCause: true },
  { make: () => new CacheStoreFullError('redis set', 'abc123', 'localhost:6379', { cause }), cls: CacheStoreFullError, code: 'ERR_CACHE_STORE_FULL', withCause: true },
  { make: () => new CacheUnsupportedError('pull', 'the store has no atomic pull()', 'implement CacheStore.pull'), cls: CacheUnsupportedError, code: 'ERR_CACHE_UNSUPPORTED', withCause: false },
  { make: () => new PayloadTooLargeError(2_000_000, 1_048_576), cls: PayloadTooLargeError, code: 'ERR_PAYLOAD_TOO_LARGE', withCause: false },
  { make: () => new DecodeError('truncated CBOR', { cause }), cls: DecodeError, code: 'ERR_DECODE', withCause: true },
  { make: () => new EncodeError('a BigInt', { cause }), cls: EncodeError, code: 'ERR_ENCODE', withCause: true },
  { make: () => new InvalidKeyError('key', 'it is empty', 'Use a non-empty key.'), cls: InvalidKeyError, code: 'ERR_INVALID_KEY', withCause: false },
  { make: () => new InvalidKeyError('tenant id', 'it is empty', 'Resolve a tenant.'), cls: InvalidKeyError, code: 'ERR_INVALID_TENANT', withCause: false },
  { make: () => new TenantRequiredError(), cls: TenantRequiredError, code: 'ERR_TENANT_REQUIRED', withCause: false },
  { make: () => new CircuitOpenError('get', 'redis localhost:6379', 1234.2), cls: CircuitOpenError, code: 'ERR_CIRCUIT_OPEN', withCause: false },
  { make: () => new FactoryTimeoutError(2000), cls: FactoryTimeoutError, code: 'ERR_FACTORY_TIMEOUT', withCause: false },
  { make: () => new FactoryFailedError('upstream down'), cls: FactoryFailedError, code: 'ERR_FACTORY_FAILED', withCause: false },
  { make: () => new UnkeyedHeaderError('LinksController.home', ['x-forwarded-host']), cls: UnkeyedHeaderError, code: 'ERR_UNKEYED_HEADER', withCause: false },
];

describe('every error class', () => {
  it('is covered by this table (a new class must be added here)', () => {
    const exported = Object.entries(errors)
      .filter(([, v]) => typeof v === 'function' && (v === CacheError || (v as { prototype: unknown }).prototype instanceof CacheError))
      .map(([name]) => name)
      .sort();
    expect(exported).toStrictEqual([...new Set(CASES.map((c) => c.cls.name))].sort());
  });

  it.each(CASES.map((c) => [c.cls.name + (c.code === 'ERR_INVALID_TENANT' ? ' (tenant)' : ''), c] as const))('%s', (_name, c) => {
    const err = c.make();
    expect(err).toBeInstanceOf(c.cls);
    expect(err).toBeInstanceOf(CacheError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(c.code);
    expect(err.name).toBe(c.cls.name);
    expect(err.message.length).toBeGreaterThan(5);
    expect(String(err)).toBe(`${c.cls.name}: ${err.message}`);
    expect(err.stack?.split('\n')[0]).toBe(`${c.cls.name}: ${err.message.split('\n')[0]}`);
    expect(Object.prototype.toString.call(err)).toBe('[object Error]');
    if (c.withCause) {
      expect(err.cause).toBe(cause);
    } else {
      expect(err.cause).toBeUndefined();
      expect(Object.hasOwn(err, 'cause')).toBe(false);
    }
  });

  it('a subclass thrown and caught as CacheError keeps its identity', () => {
    try {
      throw new DecodeError('x');
    } catch (err) {
      expect(err instanceof CacheError && err.code).toBe('ERR_DECODE');
      expect(err).not.toBeInstanceOf(EncodeError);
    }
  });

  it('without a cause there is no own cause property (so logs do not show "cause: undefined")', () => {
    for (const err of [new CacheError('E', 'm'), new CacheConfigError('o', 'p', 'f'), new CacheConnectionError('get', 'h:1'), new CacheOperationError('get', 'h'), new DecodeError('r'), new EncodeError('r')]) {
      expect(Object.hasOwn(err, 'cause')).toBe(false);
    }
  });

  it('a non-Error cause is kept as is', () => {
    expect(new DecodeError('r', { cause: 'a string' }).cause).toBe('a string');
    expect(new CacheOperationError('get', 'h', { cause: 42 }).cause).toBe(42);
  });
});

describe('messages', () => {
  it('CacheConfigError names the option, the problem and the fix', () => {
    const err = new CacheConfigError('defaultTtl', 'expected a duration, got "soon"', "use a number of milliseconds or a string such as '5m'");
    expect(err.option).toBe('defaultTtl');
    expect(err.message).toBe(`Invalid option "defaultTtl": expected a duration, got "soon". Fix: use a number of milliseconds or a string such as '5m'`);
  });

  describe('CacheOperationError', () => {
    const key = storageKey(KeyScope.of('cache', 'acme-corp'), 'entry', 'user:42:credit-card');
    const hash = keyHash(key);

    it('contains the key hash and never the key, the tenant or the namespace', () => {
      const err = new CacheOperationError('get', hash, { cause: new Error('Command timed out') });
      expect(err.keyHash).toBe(hash);
      expect(err.op).toBe('get');
      expect(err.message).toContain(`#${hash}`);
      expect(err.message).toContain('Command timed out');
      for (const secret of [key.full, 'user:42', 'credit-card', 'acme-corp', '{t.']) expect(err.message).not.toContain(secret);
    });

    it('reads well without a key hash (an operation on no single key)', () => {
      const err = new CacheOperationError('clear', undefined);
      expect(err.message).toBe('Cache clear failed.');
      expect(err.keyHash).toBeUndefined();
    });

    it('bounds the cause text to 200 characters', () => {
      const err = new CacheOperationError('get', hash, { cause: new Error('x'.repeat(10_000)) });
      expect(err.message.length).toBeLessThan(300);
    });

    it('has two kinds the circuit breaker tells apart: a timeout (an outage) and a full store (not one), both still CacheOperationErrors', () => {
      const timeout = new CacheTimeoutError('redis get', hash, '10.0.0.1:6379', 500, { cause: new Error('Command timed out') });
      expect(timeout).toBeInstanceOf(CacheOperationError);
      expect(timeout.message).toBe(`Cache redis get on key #${hash} timed out: no reply from 10.0.0.1:6379 within 500 ms. The cache serves misses meanwhile; if the store is slow rather than down, raise "commandTimeout".`);
      expect([timeout.address, timeout.timeoutMs, timeout.keyHash]).toEqual(['10.0.0.1:6379', 500, hash]);
      const full = new CacheStoreFullError('redis set', hash, '10.0.0.1:6379', { cause: new Error("OOM command not allowed when used memory > 'maxmemory'.") });
      expect(full).toBeInstanceOf(CacheOperationError);
      expect(full.message).toMatch(/^Cache redis set on key #\S+ refused: the store at 10\.0\.0\.1:6379 is full .*reads are still served\. Fix: set maxmemory-policy to allkeys-lru/);
      for (const err of [timeout, full]) for (const secret of [key.full, 'user:42', 'acme-corp']) expect(err.message).not.toContain(secret);
    });
  });

  it('CacheMissError and CasConflictError carry the key hash', () => {
    expect(new CacheMissError('h4sh').message).toContain('#h4sh');
    expect(new CacheMissError('h4sh').keyHash).toBe('h4sh');
    expect(new CasConflictError('h4sh').message).toContain('#h4sh');
  });

  it('CacheConnectionError names the operation, the address and the cause', () => {
    const err = new CacheConnectionError('set', 'redis-1:6379', { cause: new Error('connect ECONNREFUSED') });
    expect(err.message).toMatch(/redis-1:6379 unreachable during set: connect ECONNREFUSED\. Check that the server is up/);
    expect(err.op).toBe('set');
    expect(err.address).toBe('redis-1:6379');
  });

  it('PayloadTooLargeError gives the size, the limit and the option to raise', () => {
    const err = new PayloadTooLargeError(2_000_000, 1_048_576);
    expect(err.message).toBe('Encoded entry is 2000000 bytes, over the limit of 1048576 bytes. Cache a smaller value or raise the "maxPayloadBytes" option.');
    expect([err.size, err.limit]).toStrictEqual([2_000_000, 1_048_576]);
  });

  it('DecodeError keeps its reason and says the entry is a miss', () => {
    const err = new DecodeError('truncated JSON');
    expect(err.reason).toBe('truncated JSON');
    expect(err.message).toMatch(/truncated JSON\. It is treated as a miss and deleted\./);
  });

  it.each<[unknown, RegExp]>([
    [-5, /Invalid ttl: -5\./],
    ['soon', /Invalid ttl: "soon"\./],
    ['x'.repeat(100), /Invalid ttl: "x{40}…"\./],
    [null, /Invalid ttl: null\./],
    [{}, /Invalid ttl: object\./],
    [10n, /Invalid ttl: 10\./],
  ])('InvalidTtlError describes %s briefly and gives the fix', (received, text) => {
    const err = new InvalidTtlError(received);
    expect(err.message).toMatch(text);
    expect(err.message).toMatch(/duration string such as '500ms', '30s', '5m'/);
    expect(err.received).toBe(received);
  });

  it('InvalidTtlError can name another option', () => {
    expect(new InvalidTtlError('x', 'defaultTtl').message).toMatch(/^Invalid defaultTtl: /);
  });

  it('InvalidKeyError says the problem and the fix', () => {
    expect(new InvalidKeyError('tag', 'it is empty', 'Use a non-empty tag.').message).toBe('Invalid tag: it is empty. Use a non-empty tag.');
  });

  it('CircuitOpenError is a CacheConnectionError that names the store and the next probe', () => {
    const err = new CircuitOpenError('get', 'redis localhost:6379', 1234.2);
    expect(err).toBeInstanceOf(CacheConnectionError);
    expect(err.message).toMatch(/redis localhost:6379 \(circuit open, next probe in 1235 ms\) unreachable during get/);
    expect(err.address).toBe('redis localhost:6379'); // where the store is, without the probe (logs group by it)
    expect(new CircuitOpenError('get', 's', -5).message).toMatch(/next probe in 0 ms/);
  });

  it('CacheClosedError names what is closed', () => {
    expect(new CacheClosedError('memory store').message).toMatch(/^The memory store is closed\./);
  });
});
