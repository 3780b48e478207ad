import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as publicApi from '../../lib/index.js';

const LIB = fileURLToPath(new URL('../../lib/', import.meta.url));
const DEFAULTS: Record<string, Record<string, unknown>> = Object.fromEntries(Object.entries(publicApi).filter(([name]) => name.endsWith('_DEFAULTS'))) as never;

/** `@default X_DEFAULTS.key: <value>` lines of every lib file, with the value as written. */
function documentedDefaults(): { file: string; object: string; key: string; written: string }[] {
  const found: { file: string; object: string; key: string; written: string }[] = [];
  for (const entry of readdirSync(LIB, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = join(entry.parentPath, entry.name);
    for (const match of readFileSync(file, 'utf8').matchAll(/@default ([A-Z_]+_DEFAULTS)\.(\w+): ('[^']*'|\[[^\]]*\]|-?[\d.]+|true|false)/g)) {
      found.push({ file: file.slice(LIB.length), object: match[1]!, key: match[2]!, written: match[3]! });
    }
  }
  return found;
}

describe('documented defaults', () => {
  const documented = documentedDefaults();

  it('every defaults object is public and frozen', () => {
    expect(Object.keys(DEFAULTS).sort()).toEqual([
      'CACHED_DEFAULTS',
      'CIRCUIT_BREAKER_DEFAULTS',
      'INVALIDATE_TAGS_DEFAULTS',
      'INVALIDATION_RETRY_DEFAULTS',
      'MANAGER_DEFAULTS',
      'MEMORY_STORE_DEFAULTS',
      'METHOD_CACHE_DEFAULTS',
      'MODULE_DEFAULTS',
      'REDIS_STORE_DEFAULTS',
      'TELEMETRY_DEFAULTS',
      'TENANT_STORES_DEFAULTS',
      'TIERED_STORE_DEFAULTS',
    ]);
    for (const object of Object.values(DEFAULTS)) expect(Object.isFrozen(object)).toBe(true);
  });

  it('each JSDoc @default that names a defaults object states its value', () => {
    expect(documented.length).toBeGreaterThan(25);
    for (const { file, object, key, written } of documented) {
      const where = `${file}: @default ${object}.${key}`;
      expect(DEFAULTS[object], where).toBeDefined();
      expect(Object.hasOwn(DEFAULTS[object]!, key), where).toBe(true);
      expect(DEFAULTS[object]![key], where).toEqual(JSON.parse(written.replaceAll("'", '"')));
    }
  });
});
