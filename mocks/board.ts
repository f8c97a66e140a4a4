/**
 * The emulated crossbar board: a protocol peer that sees only lines of text (PROTOCOL.md). It keeps
 * the array state in typed arrays, a virtual clock, counters and the error queue; each connection is
 * a `Session` with its own replay window, as each serial link to a real board would be.
 *
 *   line ─▶ decodeLine ─▶ replay window? ─▶ validate (table, envelope) ─▶ execute on ArrayState ─▶ reply
 */
import {
  type ArgInput,
  type Args,
  argInt,
  argNumber,
  argPacked,
  argScalarOrPacked,
  argToken,
  COMMANDS,
  checkAddress,
  checkAmplitude,
  checkCompliance,
  checkCount,
  checkEnergy,
  checkKeys,
  checkListLength,
  checkPulse,
  checkReadVoltage,
  checkWidth,
  decodeLine,
  ERROR_QUEUE_DEPTH,
  ErrorCode,
  encodeErr,
  encodeEvent,
  encodeOk,
  isVerb,
  type Limits,
  MAX_LINE,
  PROTOCOL_VERSION,
  ProtocolError,
  REPLAY_MAX_REPLY,
  REPLAY_WINDOW,
  type Request,
  SCHEMES,
  type Scheme,
} from "../firmware-protocol/index.ts";
import { DEVICE_PRESETS, DeviceModel, deviceNames } from "./devices.ts";
import { Random } from "./random.ts";

export const FIRMWARE_VERSION = "0.1.0";

export interface BoardOptions {
  /** Array size; default 64 x 64, at most 4096 x 4096. */
  rows?: number;
  cols?: number;
  /** Device preset name (see DEVICE_PRESETS); default "agsi". */
  device?: string;
  /** Seed of all randomness; default 1. */
  seed?: number;
  /** Longest line accepted and sent, bytes; default MAX_LINE. */
  maxLine?: number;
  /** Requests the host may keep in flight; default 16. */
  window?: number;
}

/** The board's hard limits: what LIM reports before any CFG narrowing. */
export const HARD_LIMITS: Readonly<Limits> = {
  vmax: 5,
  wmin: 1e-8,
  wmax: 1e-2,
  nmax: 10000,
  plmax: 65536,
  vrmax: 1,
  ccmax: 1e-3,
  emax: 1,
};

interface Config {
  vread: number;
  scheme: Scheme;
  cc: number;
  tread: number;
  vmax: number;
  wmax: number;
  nmax: number;
  emax: number;
}

const defaultConfig = (): Config => ({
  vread: 0.2,
  scheme: "V/2",
  cc: 1e-4,
  tread: 1e-6,
  vmax: HARD_LIMITS.vmax,
  wmax: HARD_LIMITS.wmax,
  nmax: HARD_LIMITS.nmax,
  emax: HARD_LIMITS.emax,
});

const OPS = Object.keys(COMMANDS).join(",");

export class EmulatedBoard {
  readonly rows: number;
  readonly cols: number;
  readonly model: DeviceModel;
  readonly seed: number;
  readonly maxLine: number;
  readonly window: number;
  /** Device conductances, S, row-major. */
  readonly g: Float64Array;
  private readonly rng: Random;
  private config: Config = defaultConfig();
  /** Virtual clock, s since boot. */
  clock = 0;
  counters = { pulses: 0, reads: 0, vmms: 0, energy: 0, cmds: 0, errors: 0 };
  private readonly errorQueue: Array<{ code: number; msg: string }> = [];
  /** Called with event lines the board sends on its own (BOOT after RESET, REJECT). */
  private readonly listeners = new Set<(line: string) => void>();
  private readonly sessions = new Set<Session>();

  constructor(opts: BoardOptions = {}) {
    const { rows = 64, cols = 64, device = "agsi", seed = 1, maxLine = MAX_LINE, window = 16 } = opts;
    for (const [k, v] of [
      ["rows", rows],
      ["cols", cols],
    ] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 4096)
        throw new RangeError(`${k} must be an integer in 1..4096, not ${v}`);
    }
    const params = DEVICE_PRESETS[device];
    if (!params)
      throw new RangeError(`unknown device "${device}": choose one of ${deviceNames().join(", ")}`);
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, not ${seed}`);
    if (!Number.isInteger(window) || window < 1 || window > 256)
      throw new RangeError(`window must be in 1..256, not ${window}`);
    this.rows = rows;
    this.cols = cols;
    this.seed = seed;
    this.maxLine = maxLine;
    this.window = window;
    this.model = new DeviceModel(params);
    this.rng = new Random(seed);
    this.g = new Float64Array(rows * cols).fill(this.model.initial());
  }

  /** Effective limits: the hard limits narrowed by the configuration. */
  limits(): Limits {
    const c = this.config;
    return { ...HARD_LIMITS, vmax: c.vmax, wmax: c.wmax, nmax: c.nmax, emax: c.emax };
  }

  /** A new link to the board (one per serial port or TCP connection). */
  openSession(send: (line: string) => void): Session {
    const s = new Session(this, send);
    this.sessions.add(s);
    return s;
  }

  closeSession(s: Session): void {
    this.sessions.delete(s);
  }

  /** Sends an unsolicited event to every open session. */
  broadcast(line: string): void {
    for (const s of this.sessions) s.send(line);
    for (const l of this.listeners) l(line);
  }

  pushError(code: number, msg: string): void {
    this.counters.errors++;
    if (this.errorQueue.length >= ERROR_QUEUE_DEPTH) {
      this.errorQueue[ERROR_QUEUE_DEPTH - 1] = { code: ErrorCode.QUEUE_OVERFLOW, msg: "queue overflow" };
    } else {
      this.errorQueue.push({ code, msg });
    }
  }

  /** Executes one decoded request; returns the reply arguments or throws a ProtocolError. */
  execute(req: Request): ArgInput {
    const verb = req.verb;
    if (!isVerb(verb))
      throw new ProtocolError(ErrorCode.UNKNOWN_COMMAND, `unknown command ${verb.slice(0, 16)}`);
    const spec = COMMANDS[verb];
    const a = req.args;
    checkKeys(a, spec.args);
    const out = this.run(verb, a);
    this.counters.cmds++;
    return out;
  }

  private run(verb: keyof typeof COMMANDS, a: Args): ArgInput {
    const lim = this.limits();
    switch (verb) {
      case "NOP":
        return {};
      case "HELLO":
        // Handled by the session (it empties the replay window); the reply is the same everywhere.
        return { proto: PROTOCOL_VERSION, fw: FIRMWARE_VERSION };
      case "IDN":
        return {
          vendor: "xbar",
          model: "EMU-1",
          serial: `EMU-${(this.seed >>> 0).toString(16).padStart(8, "0")}`,
          fw: FIRMWARE_VERSION,
          proto: PROTOCOL_VERSION,
          rows: this.rows,
          cols: this.cols,
          tech: this.model.params.name,
          ops: OPS,
          window: this.window,
          maxline: this.maxLine,
        };
      case "LIM":
        return { ...lim };
      case "CFG":
        return this.configure(a);
      case "READ": {
        const r = argInt(a, "r");
        const c = argInt(a, "c");
        checkAddress(this.rows, this.cols, r, c);
        return { g: this.readBlock(r, c, 1, 1)[0]! };
      }
      case "READROW": {
        const r = argInt(a, "r");
        checkAddress(this.rows, this.cols, r, 0, 1, this.cols);
        return { data: { type: "f32", data: this.readBlock(r, 0, 1, this.cols) } };
      }
      case "READCOL": {
        const c = argInt(a, "c");
        checkAddress(this.rows, this.cols, 0, c, this.rows, 1);
        return { data: { type: "f32", data: this.readBlock(0, c, this.rows, 1) } };
      }
      case "READBLK": {
        const [r0, c0, nr, nc] = this.block(a);
        this.checkReplySize(nr * nc * 4);
        return { data: { type: "f32", data: this.readBlock(r0, c0, nr, nc) } };
      }
      case "READALL":
        this.checkReplySize(this.rows * this.cols * 4);
        return {
          rows: this.rows,
          cols: this.cols,
          data: { type: "f32", data: this.readBlock(0, 0, this.rows, this.cols) },
        };
      case "PULSE": {
        const r = argInt(a, "r");
        const c = argInt(a, "c");
        const v = argNumber(a, "v");
        const w = argNumber(a, "w");
        const n = argInt(a, "n", 1);
        const rd = argInt(a, "rd", 0);
        if (rd !== 0 && rd !== 1) throw new ProtocolError(ErrorCode.BAD_ARGUMENT, "rd must be 0 or 1");
        checkAddress(this.rows, this.cols, r, c);
        checkPulse(lim, v, w, n);
        checkEnergy(lim, v * v * this.model.params.gmax * w * n);
        this.applyPulses(r * this.cols + c, v, w, n);
        return rd ? { n, g: this.readBlock(r, c, 1, 1)[0]! } : { n };
      }
      case "PLIST":
        return this.pulseList(a, lim);
      case "PBLK":
        return this.pulseBlock(a, lim);
      case "OPU":
        return this.outerProductUpdate(a, lim);
      case "VMM":
      case "VMMT":
        return this.vmm(a, lim, verb === "VMMT");
      case "WAIT": {
        const t = argNumber(a, "t");
        if (!(t >= 0 && t <= 86400))
          throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `wait ${t} s outside [0, 86400] s`);
        this.clock += t;
        return { t: this.clock };
      }
      case "CLK":
        return { t: this.clock };
      case "STAT": {
        const clear = argInt(a, "clear", 0);
        const snapshot = { ...this.counters, t: this.clock };
        if (clear) this.counters = { pulses: 0, reads: 0, vmms: 0, energy: 0, cmds: 0, errors: 0 };
        return snapshot;
      }
      case "ERRQ": {
        const e = this.errorQueue.shift() ?? { code: 0, msg: "No error" };
        return { code: e.code, msg: e.msg };
      }
      case "ABORT":
        // Operations run to completion before the next line is read, so nothing is running: the
        // array is idle (all lines grounded) by construction.
        return { idle: 1 };
      case "RESET":
        this.config = defaultConfig();
        this.counters = { pulses: 0, reads: 0, vmms: 0, energy: 0, cmds: 0, errors: 0 };
        this.errorQueue.length = 0;
        this.clock = 0;
        for (const s of this.sessions) s.clearReplay();
        queueMicrotask(() =>
          this.broadcast(encodeEvent("BOOT", { fw: FIRMWARE_VERSION, proto: PROTOCOL_VERSION })),
        );
        return {};
    }
  }

  private checkReplySize(bytes: number): void {
    // base64 grows by 4/3; leave 256 bytes for the tag, keys and checksum.
    if (Math.ceil(bytes / 3) * 4 + 256 > this.maxLine) {
      throw new ProtocolError(
        ErrorCode.LINE_TOO_LONG,
        `reply would exceed the board's line limit of ${this.maxLine} bytes: read in blocks`,
      );
    }
  }

  private block(a: Args): [number, number, number, number] {
    const r0 = argInt(a, "r0");
    const c0 = argInt(a, "c0");
    const nr = argInt(a, "nr");
    const nc = argInt(a, "nc");
    checkAddress(this.rows, this.cols, r0, c0, nr, nc);
    return [r0, c0, nr, nc];
  }

  private configure(a: Args): ArgInput {
    const next = { ...this.config };
    if (a.has("vread")) {
      next.vread = argNumber(a, "vread");
      checkReadVoltage(HARD_LIMITS, next.vread);
    }
    if (a.has("scheme")) {
      const s = argToken(a, "scheme");
      if (!(SCHEMES as readonly string[]).includes(s)) {
        throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `scheme ${s} is not one of ${SCHEMES.join(", ")}`);
      }
      next.scheme = s as Scheme;
    }
    if (a.has("cc")) {
      next.cc = argNumber(a, "cc");
      checkCompliance(HARD_LIMITS, next.cc);
    }
    if (a.has("tread")) {
      next.tread = argNumber(a, "tread");
      if (!(next.tread >= 1e-9 && next.tread <= 1e-2))
        throw new ProtocolError(ErrorCode.BAD_ARGUMENT, "tread outside [1e-9, 1e-2] s");
    }
    for (const k of ["vmax", "wmax", "nmax", "emax"] as const) {
      if (!a.has(k)) continue;
      const v = k === "nmax" ? argInt(a, k) : argNumber(a, k);
      if (!(v > 0)) throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `${k} must be positive`);
      if (v > HARD_LIMITS[k])
        throw new ProtocolError(
          ErrorCode.WIDEN_REFUSED,
          `${k}=${v} would widen the board's limit of ${HARD_LIMITS[k]}`,
        );
      next[k] = v;
    }
    if (next.wmax < HARD_LIMITS.wmin)
      throw new ProtocolError(ErrorCode.BAD_ARGUMENT, "wmax below the shortest pulse the board makes");
    this.config = next;
    return { ...next };
  }

  /** Reads a block at the configured read voltage; counts reads, energy and the read time. */
  readBlock(r0: number, c0: number, nr: number, nc: number): Float32Array {
    const out = new Float32Array(nr * nc);
    const { vread, tread } = this.config;
    let gsum = 0;
    for (let i = 0; i < nr; i++) {
      const base = (r0 + i) * this.cols + c0;
      for (let j = 0; j < nc; j++) {
        const g = this.g[base + j]!;
        out[i * nc + j] = g;
        gsum += g;
      }
    }
    this.counters.reads += nr * nc;
    this.counters.energy += vread * vread * gsum * tread;
    this.clock += nr * nc * tread;
    return out;
  }

  private applyPulses(index: number, v: number, w: number, n: number): void {
    if (n === 0) return;
    const g = this.g[index]!;
    this.counters.energy += v * v * g * w * n;
    this.counters.pulses += n;
    this.clock += n * w;
    this.g[index] = this.model.pulse(g, v, n, this.rng);
  }

  private pulseList(a: Args, lim: Limits): ArgInput {
    const rowsArr = argPacked(a, "r", "u16");
    const k = rowsArr.length;
    checkListLength(lim, k);
    const colsArr = argPacked(a, "c", "u16", k);
    const v = argScalarOrPacked(a, "v", "f32", k);
    const w = argScalarOrPacked(a, "w", "f32", k);
    const n = argScalarOrPacked(a, "n", "u16", k, 1);
    const at = (x: number | ArrayLike<number>, i: number) => (typeof x === "number" ? x : x[i]!);
    // Validate everything before applying anything.
    let energy = 0;
    let total = 0;
    for (let i = 0; i < k; i++) {
      checkAddress(this.rows, this.cols, rowsArr[i]!, colsArr[i]!);
      const vi = at(v, i);
      const wi = at(w, i);
      const ni = at(n, i);
      checkPulse(lim, vi, wi, ni);
      energy += vi * vi * this.model.params.gmax * wi * ni;
      total += ni;
    }
    checkEnergy(lim, energy);
    for (let i = 0; i < k; i++)
      this.applyPulses(rowsArr[i]! * this.cols + colsArr[i]!, at(v, i), at(w, i), at(n, i));
    return { k, pulses: total };
  }

  /**
   * Outer-product update (PROTOCOL.md §6, OPU): device (i, j) of the block receives
   * n = q(scale · x[i] · d[j]) pulses, of vp when n > 0 and of vn when n < 0, where q rounds to the
   * nearest count ("count") or keeps only the sign ("sign"), and values below `th` give no pulse.
   */
  private outerProductUpdate(a: Args, lim: Limits): ArgInput {
    const [r0, c0, nr, nc] = this.block(a);
    const x = argPacked(a, "x", "f32", nr);
    const d = argPacked(a, "d", "f32", nc);
    const scale = argNumber(a, "scale", 1);
    const vp = argNumber(a, "vp");
    const vn = argNumber(a, "vn");
    const w = argNumber(a, "w");
    const mode = argToken(a, "mode", "count");
    const th = argNumber(a, "th", 0.5);
    if (mode !== "count" && mode !== "sign")
      throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `mode ${mode} is not count or sign`);
    if (!(vp > 0)) throw new ProtocolError(ErrorCode.BAD_ARGUMENT, "vp must be positive");
    if (!(vn < 0)) throw new ProtocolError(ErrorCode.BAD_ARGUMENT, "vn must be negative");
    if (!(th > 0) || !Number.isFinite(scale))
      throw new ProtocolError(ErrorCode.BAD_ARGUMENT, "th must be positive and scale finite");
    checkAmplitude(lim, vp);
    checkAmplitude(lim, vn);
    checkWidth(lim, w);
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
    const gmax = this.model.params.gmax;
    for (let i = 0; i < nr; i++) {
      const xi = scale * x[i]!;
      if (xi === 0) continue;
      for (let j = 0; j < nc; j++) {
        const n = count(xi * d[j]!);
        if (n === 0) continue;
        checkCount(lim, Math.abs(n));
        total += Math.abs(n);
        energy += (n > 0 ? vp * vp : vn * vn) * gmax * w * Math.abs(n);
      }
    }
    checkEnergy(lim, energy);
    for (let i = 0; i < nr; i++) {
      const xi = scale * x[i]!;
      if (xi === 0) continue;
      const base = (r0 + i) * this.cols + c0;
      for (let j = 0; j < nc; j++) {
        const n = count(xi * d[j]!);
        if (n !== 0) this.applyPulses(base + j, n > 0 ? vp : vn, w, Math.abs(n));
      }
    }
    return { pulses: total };
  }

  private pulseBlock(a: Args, lim: Limits): ArgInput {
    const [r0, c0, nr, nc] = this.block(a);
    const counts = argPacked(a, "n", "i16", nr * nc);
    const vp = argNumber(a, "vp");
    const vn = argNumber(a, "vn");
    const w = argNumber(a, "w");
    if (!(vp > 0)) throw new ProtocolError(ErrorCode.BAD_ARGUMENT, "vp must be positive");
    if (!(vn < 0)) throw new ProtocolError(ErrorCode.BAD_ARGUMENT, "vn must be negative");
    checkAmplitude(lim, vp);
    checkAmplitude(lim, vn);
    checkWidth(lim, w);
    let total = 0;
    let energy = 0;
    const gmax = this.model.params.gmax;
    for (let i = 0; i < counts.length; i++) {
      const n = counts[i]!;
      checkCount(lim, Math.abs(n));
      total += Math.abs(n);
      energy += (n > 0 ? vp * vp : vn * vn) * gmax * w * Math.abs(n);
    }
    checkEnergy(lim, energy);
    for (let i = 0; i < nr; i++) {
      for (let j = 0; j < nc; j++) {
        const n = counts[i * nc + j]!;
        if (n !== 0) this.applyPulses((r0 + i) * this.cols + c0 + j, n > 0 ? vp : vn, w, Math.abs(n));
      }
    }
    return { pulses: total };
  }

  private vmm(a: Args, lim: Limits, transposed: boolean): ArgInput {
    const [r0, c0, nr, nc] = this.block(a);
    const k = argInt(a, "k", 1);
    if (!(k >= 1 && k <= 65536)) throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `k=${k} outside [1, 65536]`);
    const nin = transposed ? nc : nr;
    const nout = transposed ? nr : nc;
    const x = argPacked(a, "x", "f32", k * nin);
    for (let i = 0; i < x.length; i++) checkReadVoltage(lim, x[i]!);
    this.checkReplySize(k * nout * 4);
    const y = new Float32Array(k * nout);
    const cols = this.cols;
    const g = this.g;
    const tread = this.config.tread;
    let energy = 0;
    const acc = new Float64Array(nout);
    for (let s = 0; s < k; s++) {
      acc.fill(0);
      const xo = s * nin;
      for (let i = 0; i < nr; i++) {
        const base = (r0 + i) * cols + c0;
        if (!transposed) {
          const xi = x[xo + i]!;
          if (xi === 0) continue;
          const x2 = xi * xi;
          for (let j = 0; j < nc; j++) {
            const gij = g[base + j]!;
            acc[j]! += xi * gij;
            energy += x2 * gij;
          }
        } else {
          let sum = 0;
          for (let j = 0; j < nc; j++) {
            const xj = x[xo + j]!;
            const gij = g[base + j]!;
            sum += xj * gij;
            energy += xj * xj * gij;
          }
          acc[i] = sum;
        }
      }
      y.set(acc, s * nout);
    }
    this.counters.vmms += k;
    this.counters.energy += energy * tread;
    this.clock += k * tread;
    return { y: { type: "f32", data: y } };
  }
}

/**
 * One link to the board. `handle` takes a line as received (without its terminator) and sends the
 * reply; it is synchronous, so replies leave in the order requests arrived.
 */
export class Session {
  private readonly replay = new Map<number, { crc: string; reply: string }>();

  constructor(
    readonly board: EmulatedBoard,
    readonly send: (line: string) => void,
  ) {}

  clearReplay(): void {
    this.replay.clear();
  }

  close(): void {
    this.board.closeSession(this);
  }

  handle(line: string): void {
    if (line.length === 0 || line === "\r") return; // blank lines are ignored (a person pressing Enter)
    const d = decodeLine(line, this.board.maxLine);
    if (!d.ok) {
      this.reject(d.code, d.reason);
      return;
    }
    const m = d.message;
    if (m.kind !== "request") {
      this.reject(ErrorCode.MALFORMED, "a board accepts requests only");
      return;
    }
    if (m.verb === "HELLO") this.replay.clear();
    const seen = this.replay.get(m.tag);
    if (seen && seen.crc === d.crc) {
      this.send(seen.reply);
      return;
    }
    let reply: string;
    try {
      reply = encodeOk(m.tag, this.board.execute(m));
    } catch (e) {
      const code = e instanceof ProtocolError ? e.code : ErrorCode.INTERNAL;
      const msg = e instanceof ProtocolError ? e.message : `internal error: ${(e as Error).message}`;
      this.board.pushError(code, msg);
      reply = encodeErr(m.tag, code, msg);
    }
    this.replay.delete(m.tag);
    if (reply.length <= REPLAY_MAX_REPLY) {
      this.replay.set(m.tag, { crc: d.crc, reply });
      if (this.replay.size > REPLAY_WINDOW) this.replay.delete(this.replay.keys().next().value!);
    }
    this.send(reply);
  }

  private reject(code: number, msg: string): void {
    this.board.pushError(code, msg);
    this.send(encodeEvent("REJECT", { code, msg }));
  }
}
