/**
 * The binary types a cached value may hold: `Buffer`, and every typed array with a fixed element
 * size. Both codecs store the elements' bytes little-endian, whatever the host's byte order, so
 * an entry written on one machine reads the same on any other.
 */

/** One typed array type: its name, its short code in JSON tags, its RFC 8746 CBOR tag (little-endian). */
export interface TypedArrayType {
  readonly name: string;
  readonly code: string;
  readonly cborTag: number;
  readonly bytesPerElement: number;
  /** A new array of this type over `bytes` (copied; `bytes.byteLength` is a multiple of `bytesPerElement`). */
  fromBytes(bytes: Uint8Array): ArrayBufferView;
}

type TypedArrayCtor = { new (buffer: ArrayBuffer): ArrayBufferView; readonly prototype: object; readonly BYTES_PER_ELEMENT: number; readonly name: string };

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function typed(ctor: TypedArrayCtor, code: string, cborTag: number): TypedArrayType {
  const size = ctor.BYTES_PER_ELEMENT;
  return {
    name: ctor.name,
    code,
    cborTag,
    bytesPerElement: size,
    fromBytes(bytes) {
      const copy = new Uint8Array(bytes.byteLength);
      copy.set(bytes);
      if (!LITTLE_ENDIAN && size > 1) swapInPlace(copy, size);
      return new ctor(copy.buffer);
    },
  };
}

/** Typed arrays by prototype. `Buffer` is not here: it is a kind of its own (a plain byte string). */
const TYPED_ARRAYS = new Map<object, TypedArrayType>(
  (
    [
      [Uint8Array, 'u8', 64],
      [Uint8ClampedArray, 'u8c', 68],
      [Uint16Array, 'u16', 69],
      [Uint32Array, 'u32', 70],
      [BigUint64Array, 'u64', 71],
      [Int8Array, 'i8', 72],
      [Int16Array, 'i16', 77],
      [Int32Array, 'i32', 78],
      [BigInt64Array, 'i64', 79],
      [Float32Array, 'f32', 85],
      [Float64Array, 'f64', 86],
    ] as Array<[TypedArrayCtor, string, number]>
  ).map(([ctor, code, tag]) => [ctor.prototype, typed(ctor, code, tag)]),
);

export const TYPED_ARRAY_BY_CODE: ReadonlyMap<string, TypedArrayType> = new Map([...TYPED_ARRAYS.values()].map((t) => [t.code, t]));
export const TYPED_ARRAY_BY_CBOR_TAG: ReadonlyMap<number, TypedArrayType> = new Map([...TYPED_ARRAYS.values()].map((t) => [t.cborTag, t]));

/** The type of a typed array whose prototype is exactly one of the built-in ones, else undefined. */
export function typedArrayTypeOf(proto: object | null): TypedArrayType | undefined {
  return proto === null ? undefined : TYPED_ARRAYS.get(proto);
}

/** The elements' bytes, little-endian: a view on the host's little-endian machines, a swapped copy otherwise. */
export function littleEndianBytes(view: ArrayBufferView): Uint8Array {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  const size = (view as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  if (LITTLE_ENDIAN || size === 1) return bytes;
  const copy = Uint8Array.from(bytes);
  swapInPlace(copy, size);
  return copy;
}

function swapInPlace(bytes: Uint8Array, size: number): void {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (size === 2) buf.swap16();
  else if (size === 4) buf.swap32();
  else buf.swap64();
}
