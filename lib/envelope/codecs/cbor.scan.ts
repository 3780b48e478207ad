import { DecodeError } from '../../errors/cache.errors.js';
import type { DecodeLimits } from '../decode-limits.js';

/** Consecutive CBOR tags allowed on one item; `CborWriter` writes at most one. */
const MAX_TAG_CHAIN = 4;

/**
 * One linear, iterative pass over CBOR bytes that enforces depth, array length, map size and
 * well-formedness before `CborReader` (which recurses and trusts lengths) decodes them. Tags do
 * not add a level (a Map is tag 259 around a map) but a chain of them is bounded.
 */
export function scanCbor(bytes: Uint8Array, limits: DecodeLimits, depthLimit: number): void {
  // Per open container: items still expected (-1 = indefinite length).
  const remaining: number[] = [];
  // Items seen so far and the major type of each open container, so that indefinite-length
  // arrays and maps (0x9f, 0xbf), which have no count to check up front, are held to
  // maxArrayLength / maxMapPairs too. Kept in step with `remaining`.
  const seen: number[] = [];
  const majors: number[] = [];
  const open = (major: number, items: number): void => {
    remaining.push(items);
    seen.push(0);
    majors.push(major);
  };
  const close = (): void => {
    remaining.pop();
    seen.pop();
    majors.pop();
  };
  let pos = 0;
  let tagChain = 0;
  const len = bytes.length;
  const fail = (why: string): never => {
    throw new DecodeError(why);
  };

  const itemDone = (): void => {
    while (remaining.length > 0) {
      const top = remaining.length - 1;
      if (remaining[top] === -1) {
        const n = ++seen[top]!;
        if (majors[top] === 4 && n > limits.maxArrayLength) fail(`array longer than ${limits.maxArrayLength} elements`);
        if (majors[top] === 5 && n > limits.maxMapPairs * 2) fail(`map with more than ${limits.maxMapPairs} pairs`);
        return;
      }
      remaining[top]!--;
      if (remaining[top]! > 0) return;
      close();
    }
  };

  do {
    if (pos >= len) fail('truncated CBOR');
    const initial = bytes[pos++]!;
    if (initial === 0xff) {
      if (remaining.length === 0 || remaining[remaining.length - 1] !== -1) fail('unexpected CBOR break');
      close();
      itemDone();
      continue;
    }
    const major = initial >> 5;
    const info = initial & 0x1f;
    let arg = info;
    let indefinite = false;
    if (info === 24) {
      if (pos + 1 > len) fail('truncated CBOR');
      arg = bytes[pos]!;
      pos += 1;
    } else if (info === 25) {
      if (pos + 2 > len) fail('truncated CBOR');
      arg = (bytes[pos]! << 8) | bytes[pos + 1]!;
      pos += 2;
    } else if (info === 26) {
      if (pos + 4 > len) fail('truncated CBOR');
      arg = bytes[pos]! * 0x1000000 + ((bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!);
      pos += 4;
    } else if (info === 27) {
      if (pos + 8 > len) fail('truncated CBOR');
      const high = bytes[pos]! * 0x1000000 + ((bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!);
      const low = bytes[pos + 4]! * 0x1000000 + ((bytes[pos + 5]! << 16) | (bytes[pos + 6]! << 8) | bytes[pos + 7]!);
      // Above 2^53 this is imprecise, but any length that large is rejected anyway.
      arg = high * 0x100000000 + low;
      pos += 8;
    } else if (info === 31) {
      indefinite = true;
    } else if (info > 24) {
      fail('reserved CBOR additional information');
    }

    if (major !== 6) tagChain = 0;
    switch (major) {
      case 0:
      case 1:
        if (indefinite) fail('indefinite integer');
        itemDone();
        break;
      case 2:
      case 3:
        if (indefinite) {
          if (remaining.length >= depthLimit) fail(`nesting deeper than ${depthLimit - 1} levels`);
          open(major, -1);
        } else {
          if (pos + arg > len) fail('truncated CBOR string');
          pos += arg;
          itemDone();
        }
        break;
      case 4:
      case 5: {
        if (remaining.length >= depthLimit) fail(`nesting deeper than ${depthLimit - 1} levels`);
        if (indefinite) {
          open(major, -1);
          break;
        }
        if (major === 4 && arg > limits.maxArrayLength) fail(`array longer than ${limits.maxArrayLength} elements`);
        if (major === 5 && arg > limits.maxMapPairs) fail(`map with more than ${limits.maxMapPairs} pairs`);
        const items = major === 4 ? arg : arg * 2;
        if (items === 0) itemDone();
        else open(major, items);
        break;
      }
      case 6:
        if (indefinite) fail('indefinite tag');
        if (++tagChain > MAX_TAG_CHAIN) fail('too many nested CBOR tags');
        // The tagged item follows; it completes the tag, so nothing to push.
        break;
      default:
        // Major 7: simple values and floats; their argument bytes were already skipped.
        if (indefinite) fail('unexpected CBOR break');
        itemDone();
    }
  } while (remaining.length > 0 || tagChain > 0);
  if (pos !== len) fail('trailing bytes after CBOR item');
}
