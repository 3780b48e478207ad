import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GLOBAL_SCOPE, KeyScope, storageKey, userKeyOf } from '../../../lib/keys/storage-key.js';
import { decodeBusMessage, encodeBusMessage } from '../../../lib/stores/tiered/bus-message.js';

const tenant = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' });
const key = fc.string({ minLength: 1, maxLength: 60, unit: 'grapheme' });

describe('bus messages', () => {
  it('round-trip keys, tags and clears of hostile tenants and keys to the same storage keys', () => {
    fc.assert(
      fc.property(fc.option(tenant, { nil: undefined }), key, fc.array(key, { minLength: 1, maxLength: 4 }), (t, k, tags) => {
        const scope = KeyScope.of('ns', t ?? GLOBAL_SCOPE);
        const entry = storageKey(scope, 'entry', k);
        expect(userKeyOf(entry)).toBe(k);
        const keyMsg = decodeBusMessage(encodeBusMessage('me', { op: 'key', key: entry }));
        expect(keyMsg?.origin).toBe('me');
        expect(keyMsg?.change.op === 'key' && keyMsg.change.key.full).toBe(entry.full);
        const tagMsg = decodeBusMessage(encodeBusMessage('me', { op: 'tags', scope, tags }));
        expect(tagMsg?.change.op === 'tags' && [tagMsg.change.scope.id, ...tagMsg.change.tags]).toEqual([scope.id, ...tags]);
        const clearMsg = decodeBusMessage(encodeBusMessage('me', { op: 'clear', scope }));
        expect(clearMsg?.change.op === 'clear' && clearMsg.change.scope.id).toBe(scope.id);
      }),
    );
  });

  it('reads garbage, other versions and invalid keys as no message', () => {
    for (const text of ['', 'x', '[]', '[2,"o","c","ns",null]', '[1,"o","c","bad ns!",null]', '[1,"o","k","ns","t"]', '[1,"o","k","ns","t",""]', '[1,"o","t","ns","t"]', '[1,"o","c","ns","",1]', '{"a":1}']) {
      expect(decodeBusMessage(text), text).toBeUndefined();
    }
  });
});
