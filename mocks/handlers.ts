/**
 * The emulated board's handlers: one per verb of the command table, typed by it. A handler gets a
 * request already parsed and range-checked from the table (request.ts: keys, types, static ranges,
 * addresses, packed lengths, the envelope) and does what needs the board's state: the energy bound,
 * the reply size, the device kind; then it applies the operation and returns the reply's fields.
 */
import {
  checkCount,
  checkEnergy,
  encodeEvent,
  HELD,
  type Limits,
  type ParsedRequest,
  PROTOCOL_VERSION,
  type ReplyInput,
  type Verb,
} from "../firmware-protocol/index.ts";
import type { EmulatedBoard } from "./board.ts";
import { FIRMWARE_VERSION } from "./config.ts";
import { vmm } from "./vmm.ts";

export type Handler<V extends Verb> = (
  board: EmulatedBoard,
  req: ParsedRequest<V>,
  lim: Limits,
) => ReplyInput<V>;

const at = (x: number | ArrayLike<number>, i: number) => (typeof x === "number" ? x : x[i]!);

export const HANDLERS: { readonly [V in Verb]: Handler<V> } = {
  NOP: () => ({}),
  // The session handles HELLO's replay window and token; the reply is the same everywhere.
  HELLO: (b) => {
    b.held.clear();
    return { proto: PROTOCOL_VERSION, fw: FIRMWARE_VERSION };
  },
  IDN: (b) => b.identity(),
  LIM: (b, _req, lim) => ({ ...lim, gmax: b.devices.gmax }),
  CFG: (b, req) => b.configure(req),
  READ: (b, { r, c }) => ({ g: b.readBlock(r, c, 1, 1)[0]! }),
  READROW: (b, { r }) => ({ data: b.readBlock(r, 0, 1, b.cols) }),
  READCOL: (b, { c }) => ({ data: b.readBlock(0, c, b.rows, 1) }),
  READBLK: (b, { r0, c0, nr, nc }) => {
    b.checkReplySize(nr * nc * 4);
    return { data: b.readBlock(r0, c0, nr, nc) };
  },
  READALL: (b) => {
    b.checkReplySize(b.rows * b.cols * 4);
    return { rows: b.rows, cols: b.cols, data: b.readBlock(0, 0, b.rows, b.cols) };
  },
  PULSE: (b, { r, c, v, w, n, rd }, lim) => {
    checkEnergy(lim, b.pulseBound(v, w, n));
    b.applyPulses(r * b.cols + c, v, w, n);
    return rd ? { n, g: b.readBlock(r, c, 1, 1)[0]! } : { n };
  },
  PLIST: (b, { r, c, v, w, n }, lim) => {
    const k = r.length;
    let energy = 0;
    let total = 0;
    for (let i = 0; i < k; i++) {
      energy += b.pulseBound(at(v, i), at(w, i), at(n, i));
      total += at(n, i);
    }
    checkEnergy(lim, energy);
    for (let i = 0; i < k; i++) b.applyPulses(r[i]! * b.cols + c[i]!, at(v, i), at(w, i), at(n, i));
    return { k, pulses: total };
  },
  PBLK: (b, { r0, c0, nr, nc, n: counts, vp, vn, w }, lim) => {
    let total = 0;
    let energy = 0;
    for (let i = 0; i < counts.length; i++) {
      const n = counts[i]!;
      total += Math.abs(n);
      energy += b.pulseBound(n > 0 ? vp : vn, w, Math.abs(n));
    }
    checkEnergy(lim, energy);
    for (let i = 0; i < nr; i++) {
      for (let j = 0; j < nc; j++) {
        const n = counts[i * nc + j]!;
        if (n !== 0) b.applyPulses((r0 + i) * b.cols + c0 + j, n > 0 ? vp : vn, w, Math.abs(n));
      }
    }
    return { pulses: total };
  },
  OPU: outerProductUpdate,
  VMM: (b, { r0, c0, nr, nc, x, k }) => {
    b.checkReplySize(k * nc * 4);
    const y = vmm(b, r0, c0, nr, nc, x, k, false);
    b.hold(r0, c0, nr, nc, k === 1 ? x : undefined);
    return { y };
  },
  VMMT: (b, { r0, c0, nr, nc, x, k }) => {
    b.checkReplySize(k * nr * 4);
    return { y: vmm(b, r0, c0, nr, nc, x, k, true) };
  },
  FIRE: (b, { r0, c0, nr, nc, v, t }, lim) => {
    b.thresholdSwitches();
    b.checkReplySize(nr * nc * 4);
    checkEnergy(lim, b.fireBound(nr, nc, v, t));
    return { spikes: b.fire(r0, c0, nr, nc, v, t) };
  },
  WAIT: (b, { t }) => {
    b.clock += t;
    return { t: b.clock };
  },
  CLK: (b) => ({ t: b.clock }),
  STAT: (b, { clear }) => b.stat(clear !== 0),
  ERRQ: (b) => b.popError(),
  // Operations run to completion before the next line is read, so nothing is running: the array is
  // idle (all lines grounded) by construction.
  ABORT: () => ({ idle: 1 }),
  RESET: (b) => {
    b.restart();
    b.clearReplays();
    queueMicrotask(() => b.broadcast(encodeEvent("BOOT", { fw: FIRMWARE_VERSION, proto: PROTOCOL_VERSION })));
    return {};
  },
};

/**
 * Outer-product update (PROTOCOL.md §6, OPU): device (i, j) of the block receives
 * n = q(scale · x[i] · d[j]) pulses, of vp when n > 0 and of vn when n < 0, where q rounds to the
 * nearest count ("count") or keeps only the sign ("sign"), and values below `th` give no pulse.
 */
function outerProductUpdate(b: EmulatedBoard, req: ParsedRequest<"OPU">, lim: Limits): ReplyInput<"OPU"> {
  const { r0, c0, nr, nc, d, vp, vn, w, scale, mode, th } = req;
  const x = req.x === HELD ? b.heldInput(r0, c0, nr, nc) : req.x;
  const sign = mode === "sign";
  const count = (v: number) => {
    const m = Math.abs(v);
    if (!(m >= th)) return 0;
    const n = sign ? 1 : Math.round(m);
    return v > 0 ? n : -n;
  };
  // Validate the whole update before applying any of it.
  let total = 0;
  let energy = 0;
  for (let i = 0; i < nr; i++) {
    const xi = scale * x[i]!;
    if (xi === 0) continue;
    for (let j = 0; j < nc; j++) {
      const n = count(xi * d[j]!);
      if (n === 0) continue;
      checkCount(lim, Math.abs(n));
      total += Math.abs(n);
      energy += b.pulseBound(n > 0 ? vp : vn, w, Math.abs(n));
    }
  }
  checkEnergy(lim, energy);
  for (let i = 0; i < nr; i++) {
    const xi = scale * x[i]!;
    if (xi === 0) continue;
    const base = (r0 + i) * b.cols + c0;
    for (let j = 0; j < nc; j++) {
      const n = count(xi * d[j]!);
      if (n !== 0) b.applyPulses(base + j, n > 0 ? vp : vn, w, Math.abs(n));
    }
  }
  return { pulses: total };
}
