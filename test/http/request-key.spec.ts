import { describe, expect, it } from 'vitest';
import { isNotModified } from '../../lib/http/conditional.js';
import { heapUsedAfterGc } from '../helpers/heap-used.js';
import fc from 'fast-check';
import { canonicalJson, digests, lines, requestHash, strongEtag, type RequestHashInput } from '../../lib/http/request-key.js';

const base: RequestHashInput = {
  keyVersion: '1',
  controller: 'ProductsController',
  handler: 'findOne',
  method: 'GET',
  routePath: '/products/:id',
  url: '/products/1',
  query: undefined,
  vary: ['accept', 'accept-language'],
  headers: {},
  custom: undefined,
  scope: 'tenant',
  tenant: 'acme',
  user: undefined,
};
const hash = (patch: Partial<RequestHashInput>): string => requestHash({ ...base, ...patch });
/** The canonical JSON of a parsed query, as the interceptor passes it. */
const q = (query: Record<string, unknown>): string => canonicalJson(query)!;

describe('requestHash', () => {
  // Pinned digests (computed before the digest memo existed): a change here changes every
  // stored key, which needs a keyVersion bump, not a quiet edit.
  const pinned: [Partial<RequestHashInput>, string][] = [
    [{}, '6pWdlPo69oIzsfo03H8dDYKzqmOycyiWXAtjIWRtuos'],
    [{ headers: { accept: 'text/csv' } }, '-zW43hoTyMHodW2RyQzqMD_j2VxhztkUOu0FOZO9aEA'],
    [{ url: '/products/\uD800' }, 'k7N4C-J9RU5hPukK-6kK2DUYfo1GDI_EcGgGRjrMLBA'],
    // Keyed on the parsed query since the query is the handler's (`j` + its canonical JSON);
    // requests without a query kept their digests above.
    [{ url: '/products/1?b=2&a=1', query: '{"a":"1","b":"2"}' }, 'kYEr8FGBV1ql5LnBkWyKaexJZIgrI-d5urZaC10gBNI'],
  ];

  it('gives the pinned digests, first hashed, then remembered, then after the memo has turned over', () => {
    for (const [patch, digest] of pinned) expect(hash(patch)).toBe(digest);
    for (const [patch, digest] of pinned) expect(hash(patch)).toBe(digest);
    const others = new Set<string>();
    for (let i = 0; i < 10_000; i++) others.add(hash({ url: `/products/${i}` }));
    expect(others.size).toBe(10_000);
    for (const [patch, digest] of pinned) expect(hash(patch)).toBe(digest);
    // And the same 10,000 again, now partly remembered, partly hashed anew: the same digests.
    for (let i = 0; i < 10_000; i++) expect(others.has(hash({ url: `/products/${i}` }))).toBe(true);
  });

  it('is a 43-character base64url SHA-256 of the inputs it names, and of nothing else', () => {
    const digest = hash({});
    expect(digest).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The same inputs built anew (no identity of arrays or objects counts)...
    expect(requestHash({ ...base, vary: ['accept', 'accept-language'], headers: {} })).toBe(digest);
    // ...headers the route does not vary on, and an empty query, leave the digest as it is.
    expect(hash({ headers: { 'x-request-id': 'r-1', cookie: 'sid=1', 'user-agent': 'test' } })).toBe(digest);
    expect(hash({ url: '/products/1?' })).toBe(digest);
    expect(hash({ url: '/products/1?', query: '{}' })).toBe(digest);
    expect(hash({ url: '/products/1?', headers: { accept: 'text/csv' } })).toBe(pinned[1]![1]);
    // Only the path of the target counts: the query is the parsed one.
    expect(hash({ url: '/products/1?a=1' })).toBe(digest);
  });

  it('changes with every input', () => {
    const variants: Partial<RequestHashInput>[] = [
      { keyVersion: '2' },
      { controller: 'OtherController' },
      { handler: 'findAll' },
      { method: 'POST' },
      { routePath: '/products/:slug' },
      { url: '/products/2' },
      { query: q({ a: '1' }) },
      { headers: { accept: 'text/csv' } },
      { vary: ['accept', 'accept-language', 'x-a'], headers: { 'x-a': '' } },
      { custom: 'k' },
      { scope: 'user', user: 'u1' },
      { tenant: 'globex' },
      { tenant: undefined },
      { body: '{}' },
    ];
    const seen = new Set([hash({})]);
    for (const v of variants) seen.add(hash(v));
    expect(seen.size).toBe(variants.length + 1);
  });

  it('ignores query order but keeps repeated parameters in order', () => {
    expect(hash({ query: q({ a: '1', b: '2' }) })).toBe(hash({ query: q({ b: '2', a: '1' }) }));
    expect(hash({ query: q({ x: ['1', '2'] }) })).not.toBe(hash({ query: q({ x: ['2', '1'] }) }));
    expect(hash({ query: q({ a: { c: '1', b: '2' } }) })).toBe(hash({ query: q({ a: { b: '2', c: '1' } }) }));
  });

  it('tells apart every parsed form: a string, a list, an empty value, a nested object', () => {
    const forms = [{}, { q: '' }, { q: 'a' }, { q: ['a'] }, { q: ['a', ''] }, { q: { a: '' } }, { 'q[]': 'a' }, { a: '1#', b: 'evil' }];
    expect(new Set(forms.map((query) => hash({ query: q(query) }))).size).toBe(forms.length);
  });

  it('never lets path variants share a key', () => {
    const paths = ['/a/b', '/a/b/', '/a/b.css', '/a/b;x', '/a%2Fb', '/a%2fb', '/A/b', '/a/B', '/a//b', '/a/./b', '/a/%62'];
    expect(new Set(paths.map((url) => hash({ url }))).size).toBe(paths.length);
  });

  it('keeps a value out of the path and the query from colliding with another split', () => {
    expect(hash({ url: '/a?b=c', query: q({ b: 'c' }) })).not.toBe(hash({ url: '/a%3Fb=c' }));
    expect(hash({ url: '/p?a=1%26b%3D2', query: q({ a: '1&b=2' }) })).not.toBe(hash({ url: '/p?a=1&b=2', query: q({ a: '1', b: '2' }) }));
    expect(hash({ url: '/p?a%3D1=2', query: q({ 'a=1': '2' }) })).not.toBe(hash({ url: '/p?a=1%3D2', query: q({ a: '1=2' }) }));
  });

  it('is length-safe across fields (no concatenation ambiguity)', () => {
    expect(hash({ controller: 'ab', handler: 'c' })).not.toBe(hash({ controller: 'a', handler: 'bc' }));
    expect(hash({ tenant: 'a', user: 'bc', scope: 'user' })).not.toBe(hash({ tenant: 'ab', user: 'c', scope: 'user' }));
    expect(hash({ custom: '1:a' })).not.toBe(hash({ custom: '1', tenant: 'a' }));
  });

  it('distinguishes an absent vary header, an empty one, and a repeated one', () => {
    const vary = ['x-a'];
    const values = [hash({ vary, headers: {} }), hash({ vary, headers: { 'x-a': '' } }), hash({ vary, headers: { 'x-a': ['1', '2'] } }), hash({ vary, headers: { 'x-a': '1, 2' } })];
    expect(new Set(values).size).toBe(values.length);
  });

  it('keeps lone surrogates distinct (UTF-16 hashing)', () => {
    expect(hash({ custom: '\uD800' })).not.toBe(hash({ custom: '\uDC00' }));
    expect(hash({ custom: '\uD800' })).not.toBe(hash({ custom: '\uFFFD' }));
  });
});

describe('canonicalJson', () => {
  it('sorts object keys at every depth and keeps arrays in order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  it('keeps a __proto__ key as data', () => {
    expect(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":2}'))).toBe('{"__proto__":{"x":1},"a":2}');
  });

  it('returns undefined for a cycle', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(canonicalJson(cyclic)).toBeUndefined();
  });

  /** canonicalJson as it was before parsed queries got a direct encoding: every key in requests stored since must stay the same. */
  const replacerJson = (value: unknown): string | undefined =>
    JSON.stringify(value, (_key, v: unknown) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
      const sorted: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      for (const k of Object.keys(v as object).sort()) sorted[k] = (v as Record<string, unknown>)[k];
      return sorted;
    });

  it('encodes a parsed query exactly as the replacer did: names sorted by code unit, any text, lists, numeric and __proto__ names', () => {
    const text = fc.string({ unit: 'binary', maxLength: 12 }); // lone surrogates, quotes, controls included
    const name = fc.oneof(text, fc.constantFrom('__proto__', 'constructor', 'toJSON', '0', '1', '10', '01', '4294967295', 'a', 'A', 'é', '\uD800'));
    const query = fc.dictionary(name, fc.oneof(text, fc.array(text, { maxLength: 3 }), fc.constant(1), fc.constant(null)), { maxKeys: 6, noNullPrototype: false });
    fc.assert(fc.property(query, (parsed) => canonicalJson(parsed) === replacerJson(parsed)), { numRuns: 20_000 });
  });

  it('encodes the query objects the platforms parse as before (null prototypes, a __proto__ parameter, repeated parameters)', () => {
    const parsed = Object.assign(Object.create(null) as Record<string, unknown>, { page: '2', tag: ['a', 'b'], ['__proto__']: 'x', q: 'caf\u00e9 "quoted"' });
    expect(canonicalJson(parsed)).toBe(replacerJson(parsed));
    expect(canonicalJson(parsed)).toBe('{"__proto__":"x","page":"2","q":"caf\u00e9 \\"quoted\\"","tag":["a","b"]}');
    const withToJson = { a: '1', toJSON: () => ({ z: '1', b: '2' }) };
    expect(canonicalJson(withToJson)).toBe('{"b":"2","z":"1"}');
  });
});

describe('ETag helpers', () => {
  it('makes a strong, quoted validator of the body', () => {
    expect(strongEtag('hello')).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    expect(strongEtag('hello')).not.toBe(strongEtag('hello!'));
  });

  it('matches If-None-Match lists, weak forms and * against it (conditional.ts)', () => {
    const etag = strongEtag('x');
    const inm = (header: string | undefined) => isNotModified('GET', { 'if-none-match': header }, etag, undefined);
    expect(inm(etag)).toBe(true);
    expect(inm(`"a", W/${etag}`)).toBe(true);
    expect(inm('*')).toBe(true);
    expect(inm('"a", "b"')).toBe(false);
    expect(inm(undefined)).toBe(false);
  });
});

describe('the memo of requestHash', () => {
  it('keeps no encoding with a request body or a vary header off its safe list, and keeps the others', () => {
    digests.clear();
    lines.clear();
    const unsafe: Partial<RequestHashInput>[] = [
      { method: 'POST', body: '{"card":"4111"}' },
      { vary: ['authorization'], headers: { authorization: 'Bearer t' } },
      { vary: ['accept', 'cookie'], headers: { cookie: 'sid=1' } },
      { vary: ['proxy-authorization'], headers: { 'proxy-authorization': 'Basic x' } },
      { vary: ['x-api-key'], headers: { 'x-api-key': 'k' } },
    ];
    for (const patch of unsafe) hash(patch);
    expect(digests.size).toBe(0);
    expect(lines.size).toBe(0);
    hash({}); // vary accept, accept-language: on the safe list
    hash({ vary: ['accept-encoding', 'origin'], headers: { origin: 'https://a.example' }, url: '/products/2' });
    expect(digests.size).toBe(2);
    expect(lines.size).toBe(2);
  });

  it('still tells apart inputs that differ only in tenant, user or scope, remembered and after turning over', () => {
    digests.clear();
    lines.clear();
    const inputs: Partial<RequestHashInput>[] = [
      { tenant: 'acme' },
      { tenant: 'acme2' },
      { tenant: 'acm' },
      { tenant: undefined, scope: 'global' },
      { scope: 'user', user: 'u1' },
      { scope: 'user', user: 'u2' },
      { scope: 'user', user: 'u1', tenant: 'globex' },
    ];
    const first = inputs.map(hash);
    expect(new Set(first).size).toBe(inputs.length);
    expect(inputs.map(hash)).toEqual(first); // now from the memo
    for (let i = 0; i < 5_000; i++) hash({ url: `/turnover/${i}` });
    expect(inputs.map(hash)).toEqual(first); // hashed again after the memo turned over
  });
});

describe('the request lines of requestHash (one URL, its last inputs)', () => {
  /** The digest with nothing remembered: what every remembered answer must equal. */
  const cold = (input: RequestHashInput): string => {
    lines.clear();
    digests.clear();
    return requestHash(input);
  };

  it('answers a repeated request from its line, and hashes anew whatever input differs', () => {
    lines.clear();
    digests.clear();
    const first = hash({});
    expect(lines.size).toBe(1);
    digests.clear(); // the answer below can then only come from the line
    expect(hash({})).toBe(first);
    expect(digests.size).toBe(0);
    // Same URL, one input changed each: every one is a new encoding, with the digest it has cold.
    const patches: Partial<RequestHashInput>[] = [
      { tenant: 'acme2' },
      { tenant: undefined, scope: 'global' },
      { scope: 'user', user: 'u1' },
      { scope: 'user', user: 'u2' },
      { routePath: '/products/:sku' },
      { method: 'HEAD' },
      { query: '{"a":"1"}' },
      { custom: 'k' },
      { handler: 'findTwo' },
      { controller: 'OtherController' },
      { keyVersion: '2' },
      { vary: ['accept'] },
      { headers: { accept: 'text/html' } },
      { headers: { 'accept-language': 'fr' } },
      { headers: { accept: ['a', 'b'] as unknown as string } },
      { vary: ['accept', 'origin'] }, // same length, other names
      { method: 'GET', body: '{}' },
    ];
    const seen = new Set([first]);
    for (const patch of patches) {
      const warm = hash(patch);
      expect(warm).not.toBe(first);
      seen.add(warm);
      expect(hash(patch)).toBe(warm); // now from its line
      expect(hash({})).toBe(first); // the URL's line back to the first inputs
      expect(cold({ ...base, ...patch })).toBe(warm);
    }
    expect(seen.size).toBe(patches.length + 1);
  });

  it('keeps no line for a repeated header, a URL over 512 characters, or a request body', () => {
    lines.clear();
    hash({ headers: { accept: ['a', 'b'] as unknown as string } });
    // A long query the platform parses to nothing leaves the encoding short: the URL still is not kept.
    hash({ url: `/products/1?${'&'.repeat(600)}`, query: '{}' });
    hash({ method: 'POST', body: '{"a":1}' });
    expect(lines.size).toBe(0);
  });

  it('is not misled by a vary list or a header value changed after it was remembered', () => {
    lines.clear();
    const vary = ['accept'];
    const headers: Record<string, string> = { accept: 'text/html', 'accept-language': 'text/html' };
    const first = requestHash({ ...base, vary, headers });
    vary.push('x-api-key'); // absent, and off the safe list: a new encoding, never from the line
    const longer = requestHash({ ...base, vary, headers });
    expect(longer).not.toBe(first);
    expect(longer).toBe(cold({ ...base, vary, headers }));
    vary.pop();
    requestHash({ ...base, vary, headers }); // the line of ['accept'] again
    vary[0] = 'accept-language'; // same length, another name, the same value
    const renamed = requestHash({ ...base, vary, headers });
    expect(renamed).not.toBe(first);
    expect(renamed).toBe(cold({ ...base, vary, headers }));
  });

  it('keeps its own copies of what it remembers, not the long strings they were cut from', () => {
    lines.clear();
    digests.clear();
    const before = heapUsedAfterGc();
    // 2,047 URLs (the young generation, all kept) with tenant ids of 40 characters, each cut from
    // its own 16 KB Host header (as a subdomain strategy does): held as cut, the lines would keep
    // ~32 MB of headers alive.
    for (let i = 0; i < 2_047; i++) {
      const host = `tenant-${String(i).padStart(33, '0')}.${'x'.repeat(16_384)}`;
      requestHash({ ...base, url: `/products/${i}`, tenant: host.slice(0, host.indexOf('.')) });
    }
    const growth = heapUsedAfterGc() - before;
    console.log(`2,047 lines with tenants cut from 16 KB strings: heap growth ${(growth / 2 ** 20).toFixed(1)} MB`);
    expect(lines.size).toBe(2_047);
    expect(growth).toBeLessThan(8 * 2 ** 20);
    lines.clear();
    digests.clear();
  });

  it('holds about 10 MB at most with both memos full of the longest inputs they keep (README)', () => {
    lines.clear();
    digests.clear();
    const before = heapUsedAfterGc();
    // 10,000 distinct requests, each as long as may be kept (a 512-character encoding, its URL
    // and tenant in two-byte characters): both memos turn over and stay full.
    for (let i = 0; i < 10_000; i++) {
      const tag = String(i).padStart(5, '0');
      const input: RequestHashInput = { ...base, vary: [], url: `/é/${tag}${'é'.repeat(200)}`, tenant: `t${tag}${'é'.repeat(180)}` };
      hash(input);
    }
    const growth = heapUsedAfterGc() - before;
    console.log(`digests + lines full of the longest kept inputs: ${digests.size} + ${lines.size} entries, heap growth ${(growth / 2 ** 20).toFixed(1)} MB`);
    expect(lines.size).toBeGreaterThan(2_048);
    expect(digests.size).toBeGreaterThan(2_048);
    expect(growth).toBeLessThan(10 * 2 ** 20);
    lines.clear();
    digests.clear();
  });

  it('keeps a line under its own URL when it moves back from the old generation', () => {
    lines.clear();
    digests.clear();
    const urlOf = (i: number): string => `/products/${String(i).padStart(40, '0')}`;
    for (let i = 0; i < 2_048; i++) hash({ url: urlOf(i) }); // fills the young generation: it becomes the old one
    const before = heapUsedAfterGc();
    // Each URL asked again as a piece of its own 16 KB string: its line moves back to the young
    // generation, where it must be kept under its own URL, not under the request's.
    for (let i = 0; i < 2_047; i++) {
      const url = urlOf(i);
      expect(hash({ url: `${url}#${'x'.repeat(16_384)}`.slice(0, url.length) })).toBe(hash({ url }));
    }
    const growth = heapUsedAfterGc() - before;
    console.log(`2,047 lines moved back by URLs cut from 16 KB strings: heap growth ${(growth / 2 ** 20).toFixed(1)} MB`);
    expect(growth).toBeLessThan(8 * 2 ** 20);
    lines.clear();
    digests.clear();
  });

  it('gives the cold digest for any sequence of hostile inputs on a few URLs (property)', () => {
    const text = fc.oneof(fc.constantFrom('', 'acme', 'acme\u0000', '1:a', '-', '\ud800', '__proto__'), fc.string({ maxLength: 6 }));
    const input = fc.record({
      url: fc.constantFrom('/products/1', '/products/1?a=1', '/x'),
      tenant: fc.option(text, { nil: undefined }),
      user: fc.option(text, { nil: undefined }),
      custom: fc.option(text, { nil: undefined }),
      query: fc.option(fc.constantFrom('{}', '{"a":"1"}', '{"a":["1","2"]}'), { nil: undefined }),
      routePath: fc.constantFrom('/products/:id', '/products/:sku'),
      accept: fc.option(text, { nil: undefined }),
      vary: fc.constantFrom(['accept'], ['accept', 'accept-language'], ['accept-language'], ['authorization'], []),
      scope: fc.constantFrom('tenant', 'user', 'global'),
      method: fc.constantFrom('GET', 'HEAD'),
    });
    fc.assert(
      fc.property(fc.array(input, { minLength: 1, maxLength: 30 }), (seq) => {
        lines.clear();
        digests.clear();
        const build = (i: (typeof seq)[number]): RequestHashInput => ({
          ...base,
          ...i,
          headers: i.accept === undefined ? {} : { accept: i.accept, 'accept-language': i.accept, authorization: i.accept },
        });
        const warm = seq.map((i) => requestHash(build(i)));
        const coldDigests = seq.map((i) => cold(build(i)));
        expect(warm).toEqual(coldDigests);
      }),
      { numRuns: 200 },
    );
  });
});
