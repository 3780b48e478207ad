import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CacheError, InvalidKeyError } from '../../lib/errors/cache.errors.js';
import {
  encodeSegment,
  escapeGlob,
  GLOBAL_SCOPE,
  KeyScope,
  keyHash,
  MAX_KEY_LENGTH,
  MAX_TENANT_ID_LENGTH,
  scopePattern,
  storageKey,
  type KeyKind,
  type TenantRef,
} from '../../lib/keys/storage-key.js';

// cluster-key-slot ships with ioredis (CommonJS, no types): the slot function ioredis itself uses.
const clusterKeySlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;

// ---------------------------------------------------------------------------------------------
// Generators: strings over hostile alphabets
// ---------------------------------------------------------------------------------------------

/** Characters that break naive key schemes: separators, braces (hash tags), glob metacharacters,
 * the escape characters of our own encoding (`%`, `u`, hex digits), CR/LF, NUL, an emoji (two
 * UTF-16 units), lone surrogates, and the characters of the scope/kind words (`t`, `.`, `g`, `e`). */
const HOSTILE_UNITS = [
  ':', '{', '}', '*', '?', '[', ']', '\\', '%', 'u', 'U', '^', '-', '\r', '\n', '\0', ' ',
  '😀', '\uD83D', '\uDE00', '\uD800', '\uDFFF', 'é', '\u00A0',
  'a', 'b', 'A', 'F', '0', '3', 't', '.', 'g', 'e', '_', '~',
];
const hostile = (minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...HOSTILE_UNITS), minLength, maxLength });

/** A hostile string of exactly `length` UTF-16 units (emoji may be cut into a lone surrogate). */
const hostileOfLength = (length: number): fc.Arbitrary<string> =>
  hostile(1, 12).map((unit) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length));

const SPECIAL_TENANTS = ['g', 'G', 't', 't.x', 'x', 'a', 'a:', 'a:b', 'b:c', '%3A', ':', '%u003A', '%25', '{', '}', '*', '?', '[', 'e', '%', 'u', '\\'];

const tenantArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: hostile(1, 12) },
  { weight: 2, arbitrary: hostile(1, 120) }, // at most 240 UTF-16 units, under MAX_TENANT_ID_LENGTH
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }) }, // any code point, lone surrogates included
  { weight: 2, arbitrary: fc.constantFrom(...SPECIAL_TENANTS) },
  { weight: 1, arbitrary: hostileOfLength(MAX_TENANT_ID_LENGTH) },
);
const tenantRefArb: fc.Arbitrary<TenantRef> = fc.oneof({ weight: 30, arbitrary: tenantArb }, { weight: 1, arbitrary: fc.constant(GLOBAL_SCOPE) });

// Keys must be well-formed UTF-16 (a lone surrogate is rejected: Redis would store it as
// U+FFFD, merging distinct keys), so generated keys are made well-formed; tenants keep them.
const keyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 40, arbitrary: hostile(1, 16) },
  { weight: 10, arbitrary: hostile(1, 200) },
  { weight: 10, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }) },
  { weight: 5, arbitrary: fc.constantFrom('c', 'b:c', '%3A', 'e:x', ':', '}:e:x', '*') },
  // ~10 KB strings (0.5% of keys) keep memory of the seen-map bounded.
  { weight: 1, arbitrary: fc.tuple(hostileOfLength(10_240), hostile(0, 8)).map(([big, tail]) => big + tail) },
).map((key) => key.toWellFormed());
const kindArb: fc.Arbitrary<KeyKind> = fc.constantFrom<KeyKind>('entry', 'tag', 'lock');
const namespaceArb = fc.constantFrom('cache', 'c', 'cache.x', 'cache-2', 'A_9');

type Triple = readonly [namespace: string, tenant: TenantRef, kind: KeyKind, key: string];
type KeyBuilder = (...t: Triple) => string;

/** The library's key function. */
const ours: KeyBuilder = (ns, tenant, kind, key) => storageKey(KeyScope.of(ns, tenant), kind, key).full;
/** The naive `${tenant}:${key}` join the design warns against (behind a namespace and kind prefix). */
const naive: KeyBuilder = (ns, tenant, kind, key) => `${ns}:${kind}:${tenant === GLOBAL_SCOPE ? 'g' : tenant}:${key}`;
/** Our layout, but an escape that forgets to escape its own escape character `%`. */
const forgetsPercent: KeyBuilder = (ns, tenant, kind, key) =>
  `${ns}:{${tenant === GLOBAL_SCOPE ? 'g' : `t.${tenant.replace(/[^A-Za-z0-9._~%-]/g, (c) => encodeSegment(c))}`}}:${kind}:${key}`;
/** Our layout, but the tenant is not encoded at all. */
const unencoded: KeyBuilder = (ns, tenant, kind, key) => `${ns}:{${tenant === GLOBAL_SCOPE ? 'g' : `t.${tenant}`}}:${kind}:${key}`;

const canonical = ([ns, tenant, kind, key]: Triple): string => JSON.stringify([ns, tenant === GLOBAL_SCOPE ? null : tenant, kind, key]);

/**
 * Pairs built to collide under weak schemes: the same characters split differently between
 * tenant and key (with and without a `:` at the cut), a tenant against its own percent-encoding,
 * a tenant against the global scope's id, and `t.x` against `x`.
 */
const adversarialPairArb: fc.Arbitrary<readonly [Triple, Triple]> = fc.oneof(
  fc.tuple(namespaceArb, kindArb, hostile(1, 8), hostile(0, 8), hostile(1, 8)).map(([ns, kind, a, b, c]): [Triple, Triple] => [
    [ns, `${a}:${b}`, kind, c],
    [ns, a, kind, `${b}:${c}`],
  ]),
  fc.tuple(namespaceArb, kindArb, hostile(1, 8), hostile(1, 8), hostile(1, 8)).map(([ns, kind, a, b, c]): [Triple, Triple] => [
    [ns, a + b, kind, c],
    [ns, a, kind, b + c],
  ]),
  // Layout injection: a tenant that carries our own `}:<kind>:` separator.
  fc.tuple(namespaceArb, kindArb, hostile(1, 8), hostile(0, 8), hostile(1, 8)).map(([ns, kind, a, b, c]): [Triple, Triple] => [
    [ns, `${a}}:${kind}:${b}`, kind, c],
    [ns, a, kind, `${b}}:${kind}:${c}`],
  ]),
  fc.tuple(namespaceArb, kindArb, hostile(1, 8), fc.nat(), keyArb).map(([ns, kind, t, at, key]): [Triple, Triple] => {
    const i = at % t.length;
    return [
      [ns, t, kind, key],
      [ns, t.slice(0, i) + encodeSegment(t[i]!) + t.slice(i + 1), kind, key],
    ];
  }),
  fc.tuple(namespaceArb, kindArb, keyArb).map(([ns, kind, key]): [Triple, Triple] => [
    [ns, 'g', kind, key],
    [ns, GLOBAL_SCOPE, kind, key],
  ]),
  fc.tuple(namespaceArb, kindArb, hostile(1, 8), keyArb).map(([ns, kind, x, key]): [Triple, Triple] => [
    [ns, `t.${x}`, kind, key],
    [ns, x, kind, key],
  ]),
  // Keys must be well-formed (lone surrogates are rejected); tenants keep theirs.
).map(([a, b]): [Triple, Triple] => [
  [a[0], a[1], a[2], a[3].toWellFormed()],
  [b[0], b[1], b[2], b[3].toWellFormed()],
]);

/**
 * Runs the injectivity property for `build` over `numRuns` random triples and `numRuns / 4`
 * adversarial pairs, remembering every full key in one map, so any two of the generated triples
 * (across runs) that map to one key fail it.
 */
function assertInjective(build: KeyBuilder, numRuns: number, seed?: number): number {
  const seen = new Map<string, string>();
  const record = (t: Triple): void => {
    const full = build(...t);
    const id = canonical(t);
    const prev = seen.get(full);
    if (prev !== undefined && prev !== id) throw new Error(`collision: ${prev} and ${id} both give ${JSON.stringify(full).slice(0, 200)}`);
    seen.set(full, id);
  };
  const params = { numRuns, seed, endOnFailure: true } as const;
  fc.assert(fc.property(namespaceArb, tenantRefArb, kindArb, keyArb, (ns, tenant, kind, key) => record([ns, tenant, kind, key])), params);
  fc.assert(
    fc.property(adversarialPairArb, ([a, b]) => {
      if (canonical(a) === canonical(b)) return; // e.g. the same split twice
      if (build(...a) === build(...b)) throw new Error(`collision: ${canonical(a)} and ${canonical(b)}`);
      record(a);
      record(b);
    }),
    { ...params, numRuns: Math.ceil(numRuns / 4) },
  );
  return seen.size;
}

// ---------------------------------------------------------------------------------------------
// A Redis glob matcher (port of stringmatchlen in Redis util.c, over UTF-16 units)
// ---------------------------------------------------------------------------------------------

/** Matches one non-`*` pattern token at `p` against `s[i]`; returns the next pattern index or -1. */
function matchToken(pattern: string, p: number, ch: string): number {
  const c = pattern[p]!;
  if (c === '?') return p + 1;
  if (c === '\\' && p + 1 < pattern.length) return pattern[p + 1] === ch ? p + 2 : -1;
  if (c === '[') {
    let q = p + 1;
    const not = pattern[q] === '^';
    if (not) q++;
    let match = false;
    while (q < pattern.length && pattern[q] !== ']') {
      if (pattern[q] === '\\' && q + 1 < pattern.length) {
        if (pattern[q + 1] === ch) match = true;
        q += 2;
      } else if (q + 2 < pattern.length && pattern[q + 1] === '-' && pattern[q + 2] !== ']') {
        let lo = pattern.charCodeAt(q);
        let hi = pattern.charCodeAt(q + 2);
        if (lo > hi) [lo, hi] = [hi, lo];
        const x = ch.charCodeAt(0);
        if (x >= lo && x <= hi) match = true;
        q += 3;
      } else {
        if (pattern[q] === ch) match = true;
        q++;
      }
    }
    // Redis treats a missing `]` as the end of the class.
    if (not) match = !match;
    return match ? Math.min(q + 1, pattern.length) : -1;
  }
  return c === ch ? p + 1 : -1;
}

export function redisGlobMatch(pattern: string, str: string): boolean {
  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = -1;
  while (s < str.length) {
    if (p < pattern.length && pattern[p] === '*') {
      while (p < pattern.length && pattern[p] === '*') p++;
      if (p === pattern.length) return true;
      starP = p;
      starS = s;
      continue;
    }
    const next = p < pattern.length ? matchToken(pattern, p, str[s]!) : -1;
    if (next >= 0) {
      p = next;
      s++;
    } else if (starP >= 0) {
      p = starP;
      s = ++starS;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

// ---------------------------------------------------------------------------------------------

describe('storageKey: injectivity', () => {
  it('100,000 random (namespace, tenant, kind, key) triples and 25,000 adversarial pairs never share a full key', () => {
    const started = performance.now();
    let distinct = 0;
    // Four batches with different seeds, each with its own map (bounded memory, 4 x 25,000 + 4 x 6,250).
    for (let batch = 0; batch < 4; batch++) distinct += assertInjective(ours, 25_000, 0x5eed + batch);
    console.log(`keys injectivity: ${distinct} distinct keys in ${Math.round(performance.now() - started)} ms`);
    expect(distinct).toBeGreaterThan(90_000);
  });

  it('the same property catches weak encoders (so it can fail)', () => {
    // fast-check reports the property's own error as the `cause` of its failure.
    const failure = (build: KeyBuilder, seed: number): string => {
      try {
        assertInjective(build, 2_000, seed);
      } catch (err) {
        let e: unknown = err;
        while (e instanceof Error && e.cause instanceof Error) e = e.cause;
        return (e as Error).message;
      }
      return 'no failure';
    };
    expect(failure(naive, 1)).toMatch(/^collision: /);
    expect(failure(unencoded, 2)).toMatch(/^collision: /);
    expect(failure(forgetsPercent, 3)).toMatch(/^collision: /);
  });

  it.each<[string, Triple, Triple, boolean]>([
    ["('a:b','c') vs ('a','b:c')", ['cache', 'a:b', 'entry', 'c'], ['cache', 'a', 'entry', 'b:c'], true],
    ["('a','%3A') vs ('a:','%3A')", ['cache', 'a', 'entry', '%3A'], ['cache', 'a:', 'entry', '%3A'], false],
    ["tenant 'a:' vs tenant 'a%3A'", ['cache', 'a:', 'entry', 'k'], ['cache', 'a%3A', 'entry', 'k'], false],
    ["tenant 'a:' key 'b' vs tenant 'a' key ':b'", ['cache', 'a:', 'entry', 'b'], ['cache', 'a', 'entry', ':b'], true],
    ["tenant 'g' vs the global scope", ['cache', 'g', 'entry', 'k'], ['cache', GLOBAL_SCOPE, 'entry', 'k'], true],
    ["tenant 't.x' vs tenant 'x'", ['cache', 't.x', 'entry', 'k'], ['cache', 'x', 'entry', 'k'], false],
    ["kind tag key 'k' vs kind e key 'tag:k'", ['cache', 'a', 'tag', 'k'], ['cache', 'a', 'entry', 'tag:k'], false],
    ['tenant with `}:entry:` vs the split', ['cache', 'a}:entry:b', 'entry', 'k'], ['cache', 'a', 'entry', 'b}:entry:k'], false],
    ['lone surrogates in tenants', ['cache', '\uD800', 'entry', 'k'], ['cache', '\uDFFF', 'entry', 'k'], false],
  ])('known pair differs under ours: %s', (_name, a, b, naiveCollides) => {
    expect(ours(...a)).not.toBe(ours(...b));
    // The pairs a naive join confuses (the reason the property exists).
    if (naiveCollides) expect(naive(...a)).toBe(naive(...b));
  });

  it('the layout-injection pair collides when the tenant is not encoded', () => {
    expect(unencoded('cache', 'a}:entry:b', 'entry', 'k')).toBe(unencoded('cache', 'a', 'entry', 'b}:entry:k'));
    expect(forgetsPercent('cache', 'a:', 'entry', 'k')).toBe(forgetsPercent('cache', 'a%3A', 'entry', 'k'));
  });

  it('the tenant part of the key is ASCII and holds no separator, brace or glob character', () => {
    fc.assert(
      fc.property(tenantArb, (tenant) => {
        const id = KeyScope.of('cache', tenant).id;
        expect(id).toMatch(/^t\.[A-Za-z0-9._~%-]+$/);
        // Decoding the encoding gives the tenant back (so the encoding is injective).
        const decoded = id.slice(2).replace(/%u([0-9A-F]{4})|%([0-9A-F]{2})/g, (_m, u: string | undefined, h: string | undefined) => String.fromCharCode(parseInt(u ?? h!, 16)));
        expect(decoded).toBe(tenant);
      }),
      { numRuns: 20_000 },
    );
  });

  it('different scopes differ in the UTF-8 bytes of their keys too (what Redis stores)', () => {
    // The prefix `<ns>:{<scope>}:<kind>:` is ASCII, so the bytes before the user key identify the scope.
    fc.assert(
      fc.property(namespaceArb, tenantRefArb, kindArb, keyArb, (ns, tenant, kind, key) => {
        const full = ours(ns, tenant, kind, key);
        const prefix = full.slice(0, full.length - key.length);
        expect(Buffer.from(prefix, 'utf8').toString('latin1')).toBe(prefix);
      }),
      { numRuns: 5_000 },
    );
  });
});

describe('storageKey: Redis Cluster hash tag', () => {
  const hashTag = (full: string): string | undefined => {
    const open = full.indexOf('{');
    if (open < 0) return undefined;
    const close = full.indexOf('}', open + 1);
    return close < 0 ? undefined : full.slice(open + 1, close);
  };

  it('every key of a tenant carries exactly scope.id as hash tag, in one slot; different tenants, different tags', () => {
    const tenantOfTag = new Map<string, string>();
    fc.assert(
      fc.property(namespaceArb, tenantRefArb, fc.array(fc.tuple(kindArb, keyArb), { minLength: 1, maxLength: 8 }), (ns, tenant, keys) => {
        const scope = KeyScope.of(ns, tenant);
        const slot = clusterKeySlot(scope.id);
        for (const [kind, key] of keys) {
          const full = storageKey(scope, kind, key).full;
          expect(hashTag(full)).toBe(scope.id);
          expect(clusterKeySlot(full)).toBe(slot);
        }
        const who = tenant === GLOBAL_SCOPE ? '<global>' : JSON.stringify(tenant);
        const prev = tenantOfTag.get(scope.id);
        expect(prev === undefined || prev === who).toBe(true);
        tenantOfTag.set(scope.id, who);
      }),
      { numRuns: 10_000 },
    );
  });

  it('the slot check itself would notice a key without the tag', () => {
    // Sanity of the oracle: a key whose tenant is not in braces usually lands elsewhere.
    expect(clusterKeySlot('cache:t.a:e:k1')).not.toBe(clusterKeySlot('cache:t.a:e:k2'));
    expect(clusterKeySlot('cache:{t.a}:e:k1')).toBe(clusterKeySlot('cache:{t.a}:e:k2'));
  });
});

describe('scopePattern', () => {
  it('the glob matcher follows Redis rules', () => {
    expect(redisGlobMatch('a*', 'abc')).toBe(true);
    expect(redisGlobMatch('a?c', 'abc')).toBe(true);
    expect(redisGlobMatch('a[bx]c', 'abc')).toBe(true);
    expect(redisGlobMatch('a[^b]c', 'abc')).toBe(false);
    expect(redisGlobMatch('a[a-c]c', 'abc')).toBe(true);
    expect(redisGlobMatch('a\\*c', 'abc')).toBe(false);
    expect(redisGlobMatch('a\\*c', 'a*c')).toBe(true);
    expect(redisGlobMatch('*b*', 'abc')).toBe(true);
    expect(redisGlobMatch('x{t.a}:*', 'x{t.ab}:e:k')).toBe(false);
    // An unescaped pattern from a tenant with glob characters would over-match: the escape matters.
    expect(redisGlobMatch('c:{t.*}:*', 'c:{t.b}:e:k')).toBe(true);
  });

  it('escapeGlob(s) matches s and only s', () => {
    fc.assert(
      fc.property(hostile(0, 20), hostile(0, 20), (s, other) => {
        expect(redisGlobMatch(escapeGlob(s), s)).toBe(true);
        expect(redisGlobMatch(escapeGlob(s), other)).toBe(s === other);
      }),
      { numRuns: 20_000 },
    );
  });

  /** Tenants with their relatives: prefixes, extensions, and glob-character variants. */
  const scopeSetArb = fc
    .tuple(namespaceArb, fc.uniqueArray(tenantArb, { minLength: 1, maxLength: 12 }), fc.constantFrom('cache', 'cache.x', 'c'))
    .map(([ns, tenants, otherNs]) => {
      const refs = new Set<TenantRef>([GLOBAL_SCOPE, 'g']);
      for (const t of tenants) {
        refs.add(t);
        if (t.length > 1) refs.add(t.slice(0, -1));
        if (t.length < MAX_TENANT_ID_LENGTH) refs.add(`${t}x`);
        if (t.length < MAX_TENANT_ID_LENGTH - 1) {
          refs.add(`${t}*`);
          refs.add(`${t}?`);
        }
      }
      const scopes = [...refs].map((r) => KeyScope.of(ns, r));
      if (otherNs !== ns) for (const r of [...refs].slice(0, 4)) scopes.push(KeyScope.of(otherNs, r));
      return scopes;
    });

  it('matches every key of its scope and no key of any other scope', () => {
    let checks = 0;
    fc.assert(
      fc.property(scopeSetArb, fc.array(fc.tuple(kindArb, keyArb), { minLength: 1, maxLength: 4 }), (scopes, keys) => {
        const all = scopes.map((scope) => ({ scope, fulls: keys.map(([kind, key]) => storageKey(scope, kind, key).full) }));
        for (const { scope } of all) {
          const pattern = scopePattern(scope);
          for (const other of all) {
            const same = other.scope.namespace === scope.namespace && other.scope.id === scope.id;
            for (const full of other.fulls) {
              checks++;
              if (redisGlobMatch(pattern, full) !== same) {
                throw new Error(`pattern ${JSON.stringify(pattern)} ${same ? 'misses' : 'matches'} ${JSON.stringify(full.slice(0, 120))}`);
              }
            }
          }
        }
      }),
      { numRuns: 300 },
    );
    console.log(`scopePattern: ${checks} pattern/key checks`);
  });

  it('is the escaped prefix `<ns>:{<scope id>}:*`', () => {
    expect(scopePattern(KeyScope.of('cache', 'a*b'))).toBe('cache:{t.a%2Ab}:*');
    expect(scopePattern(KeyScope.of('cache', GLOBAL_SCOPE))).toBe('cache:{g}:*');
  });
});

describe('keyHash', () => {
  it('is short, stable, and does not contain the key', () => {
    const key = storageKey(KeyScope.of('cache', 'acme'), 'entry', 'secret-user-42');
    expect(keyHash(key)).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(keyHash(key)).toBe(keyHash(key.full));
    expect(keyHash(key)).not.toContain('secret');
    expect(keyHash(storageKey(KeyScope.of('cache', 'acme'), 'entry', 'secret-user-43'))).not.toBe(keyHash(key));
  });
});

describe('rejections', () => {
  const rejects = (fn: () => unknown, code: string, ...fragments: RegExp[]): void => {
    let caught: unknown;
    try {
      fn();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidKeyError);
    expect(caught).toBeInstanceOf(CacheError);
    expect((caught as CacheError).code).toBe(code);
    for (const f of fragments) expect((caught as Error).message).toMatch(f);
  };

  it('empty tenant', () => rejects(() => KeyScope.of('cache', ''), 'ERR_INVALID_TENANT', /tenant id/, /empty/, /resolve a real tenant id or bypass/));
  it('tenant of 257 characters (256 is accepted)', () => {
    expect(KeyScope.of('cache', 'x'.repeat(MAX_TENANT_ID_LENGTH)).tenant).toHaveLength(256);
    rejects(() => KeyScope.of('cache', 'x'.repeat(MAX_TENANT_ID_LENGTH + 1)), 'ERR_INVALID_TENANT', /257 characters, over 256/, /short stable id/);
  });
  it('a 10 KB tenant', () => rejects(() => KeyScope.of('cache', 'x'.repeat(10_240)), 'ERR_INVALID_TENANT', /over 256/));
  it.each([42, null, undefined, {}, Symbol('t'), ['a']])('non-string tenant %s', (tenant) => {
    rejects(() => KeyScope.of('cache', tenant as unknown as string), 'ERR_INVALID_TENANT', /expected a string, got/, /Resolve the tenant to a string id/);
  });
  it.each(['k\uD800', 'k\uDC00x', '\uDFFF\uD800'])('a key or tag with a lone surrogate %j (Redis would merge it with U+FFFD)', (key) => {
    const scope = KeyScope.of('cache', 'acme');
    rejects(() => storageKey(scope, 'entry', key), 'ERR_INVALID_KEY', /lone UTF-16 surrogate/, /toWellFormed/);
    rejects(() => storageKey(scope, 'tag', key), 'ERR_INVALID_KEY', /Invalid tag/);
    expect(storageKey(scope, 'entry', key.toWellFormed()).full).toContain('\uFFFD');
  });
  it('empty key and empty tag', () => {
    const scope = KeyScope.of('cache', 'acme');
    rejects(() => storageKey(scope, 'entry', ''), 'ERR_INVALID_KEY', /Invalid key: it is empty/, /Use a non-empty key/);
    rejects(() => storageKey(scope, 'tag', ''), 'ERR_INVALID_KEY', /Invalid tag: it is empty/);
  });
  it('key over 32,768 characters (32,768 is accepted)', () => {
    const scope = KeyScope.of('cache', 'acme');
    expect(storageKey(scope, 'entry', 'k'.repeat(MAX_KEY_LENGTH)).full.endsWith('k'.repeat(MAX_KEY_LENGTH))).toBe(true);
    rejects(() => storageKey(scope, 'entry', 'k'.repeat(MAX_KEY_LENGTH + 1)), 'ERR_INVALID_KEY', /32769 characters, over 32768/, /Hash long inputs/);
  });
  it('non-string key', () => {
    rejects(() => storageKey(KeyScope.of('cache', 'acme'), 'entry', 7 as unknown as string), 'ERR_INVALID_KEY', /expected a string, got number/, /Pass the key as a string/);
  });
  it.each(['', 'a:b', 'a{b}', 'a*', 'x'.repeat(65), 'ns with space', 'ü', 7, null])('bad namespace %s', (ns) => {
    rejects(() => KeyScope.of(ns as unknown as string, 'acme'), 'ERR_INVALID_KEY', /Invalid namespace/, /1-64 characters/, /Choose a short name/);
  });
  it('a good namespace is accepted', () => {
    expect(KeyScope.of('x'.repeat(64), 'acme').namespace).toHaveLength(64);
  });
});
