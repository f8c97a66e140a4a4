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

/** Integer types of quantised arrays, which carry a scale (protocol 1.1, PROTOCOL.md §2). */
export const SCALED_TYPES = { u8: Uint8Array, i8: Int8Array, u16: Uint16Array, i16: Int16Array } as const;
export type ScaledType = keyof typeof SCALED_TYPES;
export type ScaledArray = InstanceType<(typeof SCALED_TYPES)[ScaledType]>;

/** A packed value to send: a typed array, or integers with a scale (each value is `data[i] * scale`). */
export type PackedValue =
  | { type: PackedType; data: ArrayLike<number>; scale?: undefined }
  | { type: ScaledType; data: ArrayLike<number>; scale: number };

const HEAD_RE =
  /^(?:(?:u8|u16|i16|u32|i32|f32|f64)|(u8|i8|u16|i16)@(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)):/;

/** True when `value` looks like a packed array (`u16:...`, `i8@0.0125:...`). */
export function isPacked(value: string): boolean {
  return HEAD_RE.test(value);
}

export function pack(type: PackedType | ScaledType, data: ArrayLike<number>, scale?: number): string {
  const Ctor = scale === undefined ? PACKED_TYPES[type as PackedType] : SCALED_TYPES[type as ScaledType];
  const arr = data instanceof Ctor ? data : Ctor.from(data as ArrayLike<number>);
  const head = scale === undefined ? type : `${type}@${scale}`;
  return `${head}:${Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength).toString("base64")}`;
}

/**
 * Decodes a packed value; throws a RangeError naming the problem when it is not well formed. A
 * quantised array (`i8@0.0125:...`) comes back as its integers with `scale`.
 */
export function unpack(
  value: string,
):
  | { type: PackedType; data: PackedArray; scale?: undefined }
  | { type: ScaledType; data: ScaledArray; scale: number } {
  const i = value.indexOf(":");
  const at = value.indexOf("@");
  const scaled = at > 0 && at < i;
  const type = value.slice(0, scaled ? at : i);
  const table: Record<string, (typeof PACKED_TYPES)[PackedType] | (typeof SCALED_TYPES)[ScaledType]> = scaled
    ? SCALED_TYPES
    : PACKED_TYPES;
  const Ctor = Object.hasOwn(table, type) ? table[type] : undefined;
  if (i <= 0 || !Ctor) throw new RangeError(`not a packed array: ${value.slice(0, 16)}`);
  let scale: number | undefined;
  if (scaled) {
    const m = HEAD_RE.exec(value);
    scale = m?.[2] === undefined ? Number.NaN : Number(m[2]);
    if (!(Number.isFinite(scale) && scale > 0))
      throw new RangeError("the scale of a quantised array must be a positive number");
  }
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
  if (scale === undefined) return { type: type as PackedType, data: new Ctor(aligned.buffer) as PackedArray };
  return { type: type as ScaledType, data: new Ctor(aligned.buffer) as ScaledArray, scale };
}

/** The values of a quantised array: `data[i] * scale`, as float32. */
export function dequantise(data: ArrayLike<number>, scale: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! * scale;
  return out;
}

/**
 * Quantises values to `bits` (1..16) of resolution: the smallest integer type that holds them (u8/u16
 * when none is negative, i8/i16 otherwise), the scale set by the largest magnitude so that it maps to
 * the largest integer of `bits`. All zeros give scale 1.
 */
export function quantise(values: ArrayLike<number>, bits: number): PackedValue {
  let max = 0;
  let neg = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < 0) neg = true;
    if (Math.abs(v) > max) max = Math.abs(v);
  }
  const b = Math.max(1, Math.min(16, Math.floor(bits)));
  const top = neg ? 2 ** (b - 1) - 1 : 2 ** b - 1;
  const type: ScaledType = b <= 8 ? (neg ? "i8" : "u8") : neg ? "i16" : "u16";
  const scale = max > 0 && top > 0 ? max / top : 1;
  const data = new SCALED_TYPES[type](values.length);
  for (let i = 0; i < values.length; i++) data[i] = Math.round(values[i]! / scale);
  return { type, data, scale };
}
