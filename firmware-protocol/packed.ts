/**
 * Packed arrays (PROTOCOL.md §2): `type:base64` of a little-endian typed array.
 * Bulk data never travels as decimal lists.
 */

export const PACKED_TYPES = {
  u8: Uint8Array,
  u16: Uint16Array,
  i16: Int16Array,
  u32: Uint32Array,
  i32: Int32Array,
  f32: Float32Array,
  f64: Float64Array,
} as const;

export type PackedType = keyof typeof PACKED_TYPES;
export type PackedArray = InstanceType<(typeof PACKED_TYPES)[PackedType]>;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!LITTLE_ENDIAN) throw new Error("xbar: big-endian hosts are not supported");

/** True when `value` looks like a packed array (`u16:...`). */
export function isPacked(value: string): boolean {
  const i = value.indexOf(":");
  return i > 0 && i <= 3 && value.slice(0, i) in PACKED_TYPES;
}

export function pack(type: PackedType, data: ArrayLike<number>): string {
  const Ctor = PACKED_TYPES[type];
  const arr = data instanceof Ctor ? data : Ctor.from(data as ArrayLike<number>);
  return `${type}:${Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength).toString("base64")}`;
}

/** Decodes a packed value; throws a RangeError naming the problem when it is not well formed. */
export function unpack(value: string): { type: PackedType; data: PackedArray } {
  const i = value.indexOf(":");
  const type = value.slice(0, i) as PackedType;
  const Ctor = PACKED_TYPES[type];
  if (i <= 0 || !Ctor) throw new RangeError(`not a packed array: ${value.slice(0, 16)}`);
  const b64 = value.slice(i + 1);
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) {
    throw new RangeError("packed array is not valid base64");
  }
  const bytes = Buffer.from(b64, "base64");
  if (bytes.byteLength % Ctor.BYTES_PER_ELEMENT !== 0) {
    throw new RangeError(
      `packed ${type} array has ${bytes.byteLength} bytes, not a multiple of ${Ctor.BYTES_PER_ELEMENT}`,
    );
  }
  // Copy into an aligned buffer: Buffer pool slices need not be aligned for the element size.
  const aligned = new Uint8Array(bytes.byteLength);
  aligned.set(bytes);
  return { type, data: new Ctor(aligned.buffer) };
}
