/**
 * The emulated board's handlers: one per verb of the command table, typed by it. A handler gets a
 * request already parsed and range-checked from the table (request.ts: keys, types, static ranges,
 * addresses, packed lengths, the envelope) and does what needs the board's state: the energy bound,
 * the reply size, the device kind; then it applies the operation and returns the reply's fields.
 */
import {
  checkCount,
  checkEnergy,
  HELD,
  type Limits,
  type ParsedRequest,
  PROTOCOL_VERSION,
  type ReplyInput,
  type Verb,
} from "../firmware-protocol/index.ts";
import type { EmulatedBoard } from "./board.ts";
import { FIRMWARE_VERSION } from "./config.ts";
import { type Job, PulseJob, type PulseOp, WaitJob } from "./job.ts";
import { pulseTime, readTime, vmmTime } from "./timing.ts";
import { vmm } from "./vmm.ts";

/**
 * A handler returns the reply's fields, or a Job for a command that takes time on the board (the
 * session runs it in slices, reading its input meanwhile, so ABORT can stop it part-way).
 */
export type Handler<V extends Verb> = (
  board: EmulatedBoard,
  req: ParsedRequest<V>,
  lim: Limits,
) => ReplyInput<V> | Job;

/** Reads a block, and accounts for its board time (the time model, mocks/timing.ts). */
function read(b: EmulatedBoard, r0: number, c0: number, nr: number, nc: number): Float32Array {
  b.work += readTime(b.profile, nr * nc, b.config.tread);
  return b.readBlock(r0, c0, nr, nc);
}

/** A job applying validated pulse trains in order (PULSE, PLIST, PBLK, OPU). */
function pulseJob(b: EmulatedBoard, ops: PulseOp[], finish: () => ReplyInput<Verb>): Job {
  const p = b.profile;
  return new PulseJob(
    ops,
    {
      apply: (index, v, w, n) => b.applyPulses(index, v, w, n),
      time: (w, n, select) => pulseTime(p, w, n) - (select ? 0 : p.select),
      trips: (index, v) => b.trips(index, v),
    },
    finish,
  );
}

const at = (x: number | ArrayLike<number>, i: number) => (typeof x === "number" ? x : x[i]!);

export const HANDLERS: { readonly [V in Verb]: Handler<V> } = {
  NOP: () => ({}),
  // The session handles HELLO's replay window and token; the reply is the same everywhere.
  HELLO: (b) => {
    b.held.clear();
    return { proto: PROTOCOL_VERSION, fw: FIRMWARE_VERSION, minor: b.minor };
  },
  IDN: (b) => b.identity(),
  LIM: (b, _req, lim) => ({ ...lim, gmax: b.devices.gmax }),
  CFG: (b, req) => b.configure(req),
  READ: (b, { r, c }) => ({ g: read(b, r, c, 1, 1)[0]! }),
  READROW: (b, { r }) => ({ data: read(b, r, 0, 1, b.cols) }),
  READCOL: (b, { c }) => ({ data: read(b, 0, c, b.rows, 1) }),
  READBLK: (b, { r0, c0, nr, nc }) => {
    b.checkReplySize(nr * nc * 4);
    return { data: read(b, r0, c0, nr, nc) };
  },
  READALL: (b) => {
    b.checkReplySize(b.rows * b.cols * 4);
    return { rows: b.rows, cols: b.cols, data: read(b, 0, 0, b.rows, b.cols) };
  },
  PULSE: (b, { r, c, v, w, n, rd }, lim) => {
    checkEnergy(lim, b.pulseBound(v, w, n));
    return pulseJob(b, [{ index: r * b.cols + c, v, w, n }], () =>
      rd ? { n, g: read(b, r, c, 1, 1)[0]! } : { n },
    );
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
    const ops: PulseOp[] = [];
    for (let i = 0; i < k; i++)
      ops.push({ index: r[i]! * b.cols + c[i]!, v: at(v, i), w: at(w, i), n: at(n, i) });
    return pulseJob(b, ops, () => ({ k, pulses: total }));
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
    const ops: PulseOp[] = [];
    for (let i = 0; i < nr; i++) {
      for (let j = 0; j < nc; j++) {
        const n = counts[i * nc + j]!;
        if (n !== 0) ops.push({ index: (r0 + i) * b.cols + c0 + j, v: n > 0 ? vp : vn, w, n: Math.abs(n) });
      }
    }
    return pulseJob(b, ops, () => ({ pulses: total }));
  },
  OPU: outerProductUpdate,
  VMM: (b, { r0, c0, nr, nc, x, k }) => {
    b.checkReplySize(k * nc * 4);
    b.work += vmmTime(b.profile, k, nc, b.config.tread);
    const y = vmm(b, r0, c0, nr, nc, x, k, false);
    b.hold(r0, c0, nr, nc, k === 1 ? x : undefined);
    return { y };
  },
  VMMT: (b, { r0, c0, nr, nc, x, k }) => {
    b.checkReplySize(k * nr * 4);
    b.work += vmmTime(b.profile, k, nr, b.config.tread);
    return { y: vmm(b, r0, c0, nr, nc, x, k, true) };
  },
  FIRE: (b, { r0, c0, nr, nc, v, t }, lim) => {
    b.thresholdSwitches();
    b.checkReplySize(nr * nc * 4);
    checkEnergy(lim, b.fireBound(nr, nc, v, t));
    b.work += t + b.profile.select;
    return { spikes: b.fire(r0, c0, nr, nc, v, t) };
  },
  WAIT: (b, { t }) =>
    new WaitJob(
      t,
      (s) => {
        b.clock += s;
      },
      () => b.clock,
    ),
  CLK: (b) => ({ t: b.clock }),
  STAT: (b, { clear }) => b.stat(clear !== 0),
  ERRQ: (b) => b.popError(),
  // A command that takes time is stopped by the session as soon as ABORT arrives (it replies 401
  // first); when ABORT itself runs, nothing is running: the array is idle (all lines grounded).
  ABORT: () => ({ idle: 1 }),
  RESET: (b) => {
    b.restart();
    b.clearReplays();
    queueMicrotask(() => b.broadcast(b.bootLine()));
    return {};
  },
};

/**
 * Outer-product update (PROTOCOL.md §6, OPU): device (i, j) of the block receives
 * n = q(scale · x[i] · d[j]) pulses, of vp when n > 0 and of vn when n < 0, where q rounds to the
 * nearest count ("count") or keeps only the sign ("sign"), and values below `th` give no pulse.
 */
function outerProductUpdate(b: EmulatedBoard, req: ParsedRequest<"OPU">, lim: Limits): Job {
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
  const ops: PulseOp[] = [];
  for (let i = 0; i < nr; i++) {
    const xi = scale * x[i]!;
    if (xi === 0) continue;
    const base = (r0 + i) * b.cols + c0;
    for (let j = 0; j < nc; j++) {
      const n = count(xi * d[j]!);
      if (n !== 0) ops.push({ index: base + j, v: n > 0 ? vp : vn, w, n: Math.abs(n) });
    }
  }
  return pulseJob(b, ops, () => ({ pulses: total }));
}
