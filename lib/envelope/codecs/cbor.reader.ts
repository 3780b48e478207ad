/**
 * Reads the CBOR that `CborWriter` writes, and nothing it would not write: a tag it does not
 * know, a simple value other than false/true/null/undefined, an integer beyond 2^53, a map key
 * that is not text in a plain object, or a tag around the wrong kind of item is a `DecodeError`
 * (the entry is then a miss), never a value of some other type. It runs after `scanCbor`, which
 * has checked well-formedness, depth and sizes; it recurses at most that deep.
 */
import { DecodeError } from '../../errors/cache.errors.js';
import { TYPED_ARRAY_BY_CBOR_TAG } from '../binary.js';
import { defineData } from '../cacheable.js';
import { TAG_BIGNUM, TAG_DATE_MS, TAG_MAP, TAG_NEGATIVE_BIGNUM, TAG_SET, TAG_UTF16 } from './cbor.writer.js';

/** The Date range of ECMAScript, in milliseconds either side of the epoch. */
const MAX_DATE_MS = 8.64e15;
const BREAK = 0xff;

export class CborReader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    start: number,
    private readonly end: number,
  ) {
    this.pos = start;
  }

  /** One item; throws `DecodeError` if anything is left after it. */
  readAll(): unknown {
    const value = this.read();
    if (this.pos !== this.end) throw new DecodeError('trailing bytes after CBOR item');
    return value;
  }

  private read(): unknown {
    const initial = this.buf[this.pos++]!;
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (major === 7) return this.simple(info);
    if (info === 31) return this.indefinite(major);
    const n = this.argument(info);
    switch (major) {
      case 0:
        return n;
      case 1:
        return -1 - n;
      case 2:
        return Buffer.from(this.slice(n));
      case 3:
        return this.text(n);
      case 4: {
        const items = new Array<unknown>(n);
        for (let i = 0; i < n; i++) items[i] = this.read();
        return items;
      }
      case 5: {
        const record: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) this.entry(record);
        return record;
      }
      default:
        return this.tagged(n);
    }
  }

  /** Indefinite-length arrays and maps (other CBOR writers use them); indefinite strings are refused. */
  private indefinite(major: number): unknown {
    if (major === 4) {
      const items: unknown[] = [];
      while (this.buf[this.pos] !== BREAK) items.push(this.read());
      this.pos++;
      return items;
    }
    if (major === 5) {
      const record: Record<string, unknown> = {};
      while (this.buf[this.pos] !== BREAK) this.entry(record);
      this.pos++;
      return record;
    }
    throw new DecodeError('an indefinite-length CBOR string (not written by this codec)');
  }

  /** One key/value pair of a plain object. Integer keys (other writers) become their decimal text. */
  private entry(record: Record<string, unknown>): void {
    const key = this.read();
    if (typeof key !== 'string' && (typeof key !== 'number' || !Number.isInteger(key))) throw new DecodeError('a CBOR map key that is neither text nor an integer');
    const name = String(key);
    const value = this.read();
    if (name === '__proto__') defineData(record, name, value);
    else record[name] = value;
  }

  private tagged(tag: number): unknown {
    switch (tag) {
      case TAG_MAP: {
        const n = this.containerHead(5, 'Map');
        const map = new Map<unknown, unknown>();
        const more = (i: number): boolean => (n < 0 ? this.buf[this.pos] !== BREAK : i < n);
        for (let i = 0; more(i); i++) map.set(this.read(), this.read());
        if (n < 0) this.pos++;
        return map;
      }
      case TAG_SET: {
        const n = this.containerHead(4, 'Set');
        const set = new Set<unknown>();
        const more = (i: number): boolean => (n < 0 ? this.buf[this.pos] !== BREAK : i < n);
        for (let i = 0; more(i); i++) set.add(this.read());
        if (n < 0) this.pos++;
        return set;
      }
      case TAG_DATE_MS: {
        const time = this.read();
        if (time === null) return new Date(Number.NaN);
        if (typeof time !== 'number' || !Number.isInteger(time) || Math.abs(time) > MAX_DATE_MS) throw new DecodeError('a malformed CBOR Date');
        return new Date(time);
      }
      case TAG_BIGNUM:
      case TAG_NEGATIVE_BIGNUM: {
        const bytes = this.byteStringContent('BigInt');
        const magnitude = bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`);
        return tag === TAG_BIGNUM ? magnitude : -1n - magnitude;
      }
      case TAG_UTF16: {
        const bytes = this.byteStringContent('string');
        if (bytes.length % 2 !== 0) throw new DecodeError('a UTF-16 CBOR string of an odd number of bytes');
        return bytes.toString('utf16le');
      }
    }
    const type = TYPED_ARRAY_BY_CBOR_TAG.get(tag);
    if (type === undefined) throw new DecodeError(`CBOR tag ${tag}, which this codec does not write`);
    const bytes = this.byteStringContent(type.name);
    if (bytes.length % type.bytesPerElement !== 0) throw new DecodeError(`a ${type.name} whose length is not a multiple of ${type.bytesPerElement} bytes`);
    return type.fromBytes(bytes);
  }

  /** The length of the container a tag wraps (-1 if indefinite), after checking its major type. */
  private containerHead(major: number, what: string): number {
    const initial = this.buf[this.pos++]!;
    if (initial >> 5 !== major) throw new DecodeError(`a CBOR ${what} tag around the wrong kind of item`);
    const info = initial & 0x1f;
    return info === 31 ? -1 : this.argument(info);
  }

  /** The bytes of the definite byte string a tag wraps (a view; callers copy what they keep). */
  private byteStringContent(what: string): Buffer {
    const initial = this.buf[this.pos++]!;
    if (initial >> 5 !== 2 || (initial & 0x1f) === 31) throw new DecodeError(`a CBOR ${what} tag around the wrong kind of item`);
    return this.slice(this.argument(initial & 0x1f));
  }

  private simple(info: number): unknown {
    switch (info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 25:
        return this.float16();
      case 26: {
        const v = this.buf.readFloatBE(this.pos);
        this.pos += 4;
        return v;
      }
      case 27: {
        const v = this.buf.readDoubleBE(this.pos);
        this.pos += 8;
        return v;
      }
    }
    throw new DecodeError('a CBOR simple value this codec does not write');
  }

  private float16(): number {
    const bits = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) return sign * fraction * 2 ** -24;
    if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : Number.NaN;
    return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }

  /** The argument of a head (`info` < 28, as scanCbor checked); above 2^53 is refused, as we never write it. */
  private argument(info: number): number {
    const buf = this.buf;
    if (info < 24) return info;
    let n: number;
    if (info === 24) n = buf[this.pos]!;
    else if (info === 25) n = buf.readUInt16BE(this.pos);
    else if (info === 26) n = buf.readUInt32BE(this.pos);
    else {
      n = buf.readUInt32BE(this.pos) * 0x100000000 + buf.readUInt32BE(this.pos + 4);
      if (n > Number.MAX_SAFE_INTEGER) throw new DecodeError('a CBOR integer beyond 2^53');
    }
    this.pos += info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 8;
    return n;
  }

  private slice(n: number): Buffer {
    if (this.pos + n > this.end) throw new DecodeError('truncated CBOR string');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private text(n: number): string {
    const start = this.pos;
    if (start + n > this.end) throw new DecodeError('truncated CBOR string');
    this.pos += n;
    const buf = this.buf;
    if (n < 24) {
      // Short ASCII (most keys) without a call into the UTF-8 decoder.
      let s = '';
      for (let i = start; i < start + n; i++) {
        const c = buf[i]!;
        if (c >= 0x80) return buf.toString('utf8', start, start + n);
        s += String.fromCharCode(c);
      }
      return s;
    }
    return buf.toString('utf8', start, start + n);
  }
}
