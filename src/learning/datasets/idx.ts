/**
 * The IDX file format of the original MNIST distribution (LeCun et al.):
 *   magic: 0x00 0x00 <type> <ndims>, then ndims big-endian u32 dimensions, then the data.
 * Only unsigned bytes (type 0x08) are used by MNIST, and only those are accepted here.
 */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export function parseIdx(buf: Uint8Array, what = "IDX file"): IdxArray {
  if (buf.length < 4) throw new Error(`${what}: too short to be an IDX file (${buf.length} bytes)`);
  if (buf[0] !== 0 || buf[1] !== 0) throw new Error(`${what}: bad magic number (not an IDX file)`);
  if (buf[2] !== 0x08)
    throw new Error(`${what}: data type 0x${buf[2]!.toString(16)} is not unsigned byte (0x08)`);
  const ndims = buf[3]!;
  if (ndims < 1 || ndims > 4) throw new Error(`${what}: ${ndims} dimensions`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const header = 4 + 4 * ndims;
  if (buf.length < header) throw new Error(`${what}: truncated header`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== header + size) {
    throw new Error(
      `${what}: expected ${header + size} bytes for dimensions ${dims.join("x")}, found ${buf.length}`,
    );
  }
  return { dims, data: buf.subarray(header) };
}
