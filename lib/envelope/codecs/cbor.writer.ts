/**
 * Writes a value `checkCacheable` accepted as CBOR (RFC 8949), with one encoding per type so the
 * reader gives back exactly the same types:
 *
 * - safe integers as major types 0/1; every other number as a float (`-0`, `NaN`, `±Infinity`
 *   as half floats, others as float32 when exact, else float64);
 * - strings as UTF-8 text; a string with a lone surrogate (not UTF-8 representable) as tag
 *   `TAG_UTF16` around its UTF-16LE code units;
 * - BigInt as tags 2/3 (bignums), whatever its size, so it never reads back as a number;
 * - plain objects as maps with text keys; `Map` as tag 259 around a map; `Set` as tag 258
 *   around an array; `Date` as tag `TAG_DATE_MS` around integer milliseconds (or null for an
 *   invalid Date), exact over the whole Date range;
 * - `Buffer` as a byte string; typed arrays as their RFC 8746 little-endian tags (64: Uint8Array);
 * - `undefined`, `null`, `true`, `false` as the simple values.
 */
import { EncodeError } from '../../errors/cache.errors.js';
import { littleEndianBytes, typedArrayTypeOf } from '../binary.js';
import { ARRAY, BUFFER, DATE, MAP, objectKind, PLAIN, SET, TYPED } from '../cacheable.js';

/** Our tags, in the first-come-first-served range: a Date in milliseconds; a string with lone surrogates. */
export const TAG_DATE_MS = 40_001;
export const TAG_UTF16 = 40_002;
export const TAG_SET = 258;
export const TAG_MAP = 259;
export const TAG_BIGNUM = 2;
export const TAG_NEGATIVE_BIGNUM = 3;

export class CborWriter {
  private buf = Buffer.allocUnsafe(512);
  private pos = 0;

  /** The bytes written so far (a view of this writer's buffer). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  write(value: unknown): void {
    switch (typeof value) {
      case 'string':
        return this.string(value);
      case 'number':
        return this.number(value);
      case 'boolean':
        return this.byte(value ? 0xf5 : 0xf4);
      case 'undefined':
        return this.byte(0xf7);
      case 'bigint':
        return this.bigint(value);
    }
    if (value === null) return this.byte(0xf6);
    if (typeof value !== 'object') throw notCacheable();
    this.object(value);
  }

  private object(value: object): void {
    switch (objectKind(value)) {
      case PLAIN: {
        const record = value as Record<string, unknown>;
        const keys = Object.keys(record);
        this.head(5, keys.length);
        for (const key of keys) {
          this.string(key);
          this.write(record[key]);
        }
        return;
      }
      case ARRAY: {
        const items = value as unknown[];
        this.head(4, items.length);
        for (let i = 0; i < items.length; i++) this.write(items[i]);
        return;
      }
      case MAP: {
        const map = value as Map<unknown, unknown>;
        this.head(6, TAG_MAP);
        this.head(5, map.size);
        for (const [k, v] of map) {
          this.write(k);
          this.write(v);
        }
        return;
      }
      case SET: {
        const set = value as Set<unknown>;
        this.head(6, TAG_SET);
        this.head(4, set.size);
        for (const item of set) this.write(item);
        return;
      }
      case DATE: {
        const time = (value as Date).getTime();
        this.head(6, TAG_DATE_MS);
        if (time === time) this.number(time);
        else this.byte(0xf6);
        return;
      }
      case BUFFER:
        return this.byteString(value as Buffer);
      case TYPED: {
        const type = typedArrayTypeOf(Object.getPrototypeOf(value) as object)!;
        this.head(6, type.cborTag);
        return this.byteString(littleEndianBytes(value as ArrayBufferView));
      }
    }
    throw notCacheable();
  }

  private number(value: number): void {
    if (Number.isSafeInteger(value) && !(value === 0 && 1 / value < 0)) {
      if (value >= 0) this.head(0, value);
      else this.head(1, -1 - value);
      return;
    }
    if (value !== value) return this.half(0x7e00);
    if (value === Infinity) return this.half(0x7c00);
    if (value === -Infinity) return this.half(0xfc00);
    if (value === 0) return this.half(0x8000); // -0
    this.room(9);
    if (Math.fround(value) === value) {
      this.buf[this.pos++] = 0xfa;
      this.pos = this.buf.writeFloatBE(value, this.pos);
    } else {
      this.buf[this.pos++] = 0xfb;
      this.pos = this.buf.writeDoubleBE(value, this.pos);
    }
  }

  private half(bits: number): void {
    this.room(3);
    this.buf[this.pos++] = 0xf9;
    this.buf[this.pos++] = bits >> 8;
    this.buf[this.pos++] = bits & 0xff;
  }

  private string(value: string): void {
    const length = value.length;
    if (length < 24) {
      // Short ASCII (most keys): one head byte and the characters, no UTF-8 encoder call.
      this.room(1 + length);
      const start = this.pos;
      const buf = this.buf;
      buf[start] = 0x60 | length;
      let i = 0;
      for (; i < length; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + 1 + i] = c;
      }
      if (i === length) {
        this.pos = start + 1 + length;
        return;
      }
    }
    if (!value.isWellFormed()) {
      this.head(6, TAG_UTF16);
      this.byteString(Buffer.from(value, 'utf16le'));
      return;
    }
    const bytes = Buffer.byteLength(value, 'utf8');
    this.head(3, bytes);
    this.room(bytes);
    this.pos += this.buf.write(value, this.pos, bytes, 'utf8');
  }

  private bigint(value: bigint): void {
    const negative = value < 0n;
    // RFC 8949 3.4.3: a negative bignum n stands for -1 - n.
    const magnitude = negative ? -1n - value : value;
    const hex = magnitude === 0n ? '' : magnitude.toString(16);
    this.head(6, negative ? TAG_NEGATIVE_BIGNUM : TAG_BIGNUM);
    this.byteString(Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, 'hex'));
  }

  private byteString(bytes: Uint8Array): void {
    this.head(2, bytes.byteLength);
    this.room(bytes.byteLength);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.byteLength;
  }

  private byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  /** A head: major type and argument (up to 2^53), in the shortest form. */
  private head(major: number, n: number): void {
    this.room(9);
    const buf = this.buf;
    const m = major << 5;
    if (n < 24) buf[this.pos++] = m | n;
    else if (n < 0x100) {
      buf[this.pos++] = m | 24;
      buf[this.pos++] = n;
    } else if (n < 0x10000) {
      buf[this.pos++] = m | 25;
      this.pos = buf.writeUInt16BE(n, this.pos);
    } else if (n < 0x100000000) {
      buf[this.pos++] = m | 26;
      this.pos = buf.writeUInt32BE(n, this.pos);
    } else {
      buf[this.pos++] = m | 27;
      this.pos = buf.writeUInt32BE(Math.floor(n / 0x100000000), this.pos);
      this.pos = buf.writeUInt32BE(n >>> 0, this.pos);
    }
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}

function notCacheable(): EncodeError {
  // checkCacheable refuses these first; this guards the writer's own input.
  return new EncodeError('the CBOR codec met a value checkCacheable would refuse; check values with checkCacheable before writing');
}
