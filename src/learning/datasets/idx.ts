/**
 * The IDX file format of the original MNIST distribution (LeCun et al.):
 *   magic: 0x00 0x00 <type> <ndims>, then ndims big-endian u32 dimensions, then the data.
 * Only unsigned bytes (type 0x08) are used by MNIST, and only those are accepted here.
 */
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export function parseIdx(buf: Uint8Array, what = "IDX file"): IdxArray {
  if (buf.length < 4)
    throw new XbarError(ErrorCode.BAD_INPUT, `${what}: too short to be an IDX file (${buf.length} bytes)`);
  if (buf[0] !== 0 || buf[1] !== 0)
    throw new XbarError(ErrorCode.BAD_INPUT, `${what}: bad magic number (not an IDX file)`);
  if (buf[2] !== 0x08)
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `${what}: data type 0x${buf[2]!.toString(16)} is not unsigned byte (0x08)`,
    );
  const ndims = buf[3]!;
  if (ndims < 1 || ndims > 4) throw new XbarError(ErrorCode.BAD_INPUT, `${what}: ${ndims} dimensions`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const header = 4 + 4 * ndims;
  if (buf.length < header) throw new XbarError(ErrorCode.BAD_INPUT, `${what}: truncated header`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== header + size) {
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `${what}: expected ${header + size} bytes for dimensions ${dims.join("x")}, found ${buf.length}`,
    );
  }
  return { dims, data: buf.subarray(header) };
}
