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
import { Admission } from "./admission.ts";
import { DEVICE_PRESETS, type DevicePreset, deviceNames } from "./devices.ts";
import { type ArrayEffects, effectsToken, isIdeal, resolveEffects } from "./effects.ts";
import type { DeviceArray } from "./models/common.ts";
import { loadPulseTable, type PulseTable } from "./models/lut.ts";
import { TsPcmArray } from "./models/pcm.ts";
import { FastRandom, Random, streamSeed } from "./random.ts";

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
  /**
   * Scale of every random part of the device model (cycle-to-cycle and programming noise, intrinsic
   * read noise, device-to-device spread); default 1 (the preset as published), 0 = its mean device.
   */
  noise?: number;
  /** Pulse-response CSV for device "lut" (the output of `xbar characterize --out`). */
  lut?: string;
  /** Array effects (all off by default); see effects.ts. */
  effects?: Partial<ArrayEffects>;
  /**
   * Access token (PROTOCOL.md §3, Sessions): when set, a session must open with `HELLO token=…`
   * before anything else is executed (403 otherwise). Default: none (loopback, in-process, serial).
   */
  token?: string;
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

/** Stream numbers of the board's independent random sequences (see streamSeed). */
const STREAM = { boot: 1, read: 2, stuck: 3 } as const;

export class EmulatedBoard {
  readonly rows: number;
  readonly cols: number;
  readonly preset: DevicePreset;
  /** The device model and its state (typed arrays, row-major). */
  readonly devices: DeviceArray;
  readonly effects: ArrayEffects;
  readonly noise: number;
  readonly seed: number;
  readonly maxLine: number;
  readonly window: number;
  /** Token a session must present in HELLO, or undefined. */
  readonly token: string | undefined;
  /** The token check and the one session that owns the board (admission.ts). */
  readonly admission: Admission<Session>;
  /** Reboots so far (RESET or a power cycle). */
  boots = 0;
  /** Noise of reads (sense path), independent of the pulse stream. */
  private readonly readRng: FastRandom;
  /** True when nothing but the ideal device is in play: the fast paths of the foundation apply. */
  private readonly plain: boolean;
  /** Devices stuck at a value (with the stuck effect), else null. */
  readonly stuck: Uint8Array | null = null;
  private sumsCache: { version: number; row: Float64Array; col: Float64Array; total: number } | null = null;
  private config: Config = defaultConfig();
  /** Virtual clock, s since boot. */
  clock = 0;
  counters = { pulses: 0, reads: 0, vmms: 0, energy: 0, cmds: 0, errors: 0 };
  private readonly errorQueue: Array<{ code: number; msg: string }> = [];
  /** Called with event lines the board sends on its own (BOOT after RESET, REJECT). */
  private readonly listeners = new Set<(line: string) => void>();
  private readonly sessions = new Set<Session>();

  constructor(opts: BoardOptions = {}) {
    const {
      rows = 64,
      cols = 64,
      device = "agsi",
      seed = 1,
      maxLine = MAX_LINE,
      window = 16,
      noise = 1,
    } = opts;
    for (const [k, v] of [
      ["rows", rows],
      ["cols", cols],
    ] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 4096)
        throw new RangeError(`${k} must be an integer in 1..4096, not ${v}`);
    }
    const preset = DEVICE_PRESETS[device];
    if (!preset)
      throw new RangeError(`unknown device "${device}": choose one of ${deviceNames().join(", ")}`);
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, not ${seed}`);
    if (!Number.isInteger(window) || window < 1 || window > 256)
      throw new RangeError(`window must be in 1..256, not ${window}`);
    if (!(Number.isFinite(noise) && noise >= 0 && noise <= 10))
      throw new RangeError(`noise must be a scale in [0, 10], not ${noise}`);
    if (opts.lut !== undefined && device !== "lut")
      throw new RangeError(`lut is only for device "lut", not "${device}"`);
    if (device === "lut" && !opts.lut)
      throw new RangeError('device "lut" needs a pulse-response table: lut=FILE (xbar characterize --out)');
    this.effects = resolveEffects(opts.effects);
    this.rows = rows;
    this.cols = cols;
    this.seed = seed;
    this.maxLine = maxLine;
    this.window = window;
    this.noise = noise;
    this.preset = preset;
    if (opts.token !== undefined && !/^[\x21-\x7e]{8,256}$/.test(opts.token))
      throw new RangeError("token must be 8..256 printable ASCII characters without spaces");
    this.token = opts.token;
    this.admission = new Admission(opts.token);
    let table: PulseTable | undefined;
    if (opts.lut) table = loadPulseTable(opts.lut);
    // The pulse stream is Random(seed), as in the foundation, so a board without the new options
    // draws exactly the numbers it always drew; every other purpose has a stream of its own.
    this.devices = preset.build(
      { rows, cols, noise, rng: new Random(seed), boot: new FastRandom(streamSeed(seed, STREAM.boot)) },
      table,
    );
    this.readRng = new FastRandom(streamSeed(seed, STREAM.read));
    const e = this.effects;
    if (e.stuckLow > 0 || e.stuckHigh > 0) {
      const r = new FastRandom(streamSeed(seed, STREAM.stuck));
      const mask = new Uint8Array(rows * cols);
      const dev = this.devices;
      for (let i = 0; i < mask.length; i++) {
        const u = r.uniform();
        if (u < e.stuckLow) {
          mask[i] = 1;
          dev.force(i, dev.gmin);
        } else if (u < e.stuckLow + e.stuckHigh) {
          mask[i] = 2;
          dev.force(i, dev.gmax);
        }
      }
      this.stuck = mask;
      dev.frozen = mask;
    }
    this.plain = isIdeal(e) && !this.devices.iv && !this.devices.drifts;
  }

  /** Device state, S, row-major (for drifting devices: the conductance at the last programming). */
  get g(): Float64Array {
    return this.devices.g;
  }

  /** Present conductances, S, row-major, at the board clock (what an ideal read would return). */
  conductances(): Float64Array {
    return this.devices.at(this.clock);
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

  /** Sends an unsolicited event to the sessions that may hear it (Session.hearsEvents). */
  broadcast(line: string): void {
    for (const s of this.sessions) if (s.hearsEvents) s.send(line);
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
        // Handled by the session (replay window, token); the reply is the same everywhere.
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
          tech: this.preset.name,
          ops: OPS,
          window: this.window,
          maxline: this.maxLine,
          effects: effectsToken(this.effects, this.noise),
        };
      case "LIM":
        return { ...lim, gmax: this.devices.gmax };
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
        checkEnergy(lim, this.pulseBound(v, w, n));
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
      case "FIRE":
        return this.fire(a, lim);
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
        this.restart();
        for (const s of this.sessions) s.clearReplay();
        queueMicrotask(() =>
          this.broadcast(encodeEvent("BOOT", { fw: FIRMWARE_VERSION, proto: PROTOCOL_VERSION })),
        );
        return {};
    }
  }

  /** What a restart clears: configuration, counters, error queue, clock. Device states are kept. */
  private restart(): void {
    this.config = defaultConfig();
    this.counters = { pulses: 0, reads: 0, vmms: 0, energy: 0, cmds: 0, errors: 0 };
    this.errorQueue.length = 0;
    this.clock = 0;
    this.boots++;
  }

  /**
   * A power cycle or watchdog reset (a fault behaviour, mocks/faults.ts): as RESET, and every
   * session also loses its replay window and its authentication; BOOT goes out at once.
   */
  reboot(): void {
    this.restart();
    for (const s of this.sessions) s.lose();
    this.broadcast(encodeEvent("BOOT", { fw: FIRMWARE_VERSION, proto: PROTOCOL_VERSION }));
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
    const G = this.devices.at(this.clock);
    // At vread = 0 there is no current to sense: report the state, as the ideal path does.
    if (this.plain || vread === 0) {
      let gsum = 0;
      for (let i = 0; i < nr; i++) {
        const base = (r0 + i) * this.cols + c0;
        for (let j = 0; j < nc; j++) {
          const g = G[base + j]!;
          out[i * nc + j] = g;
          gsum += g;
        }
      }
      this.counters.energy += vread * vread * gsum * tread;
    } else {
      this.counters.energy += this.readEffects(G, r0, c0, nr, nc, out) * tread;
    }
    this.counters.reads += nr * nc;
    this.clock += nr * nc * tread;
    return out;
  }

  /**
   * Reads through the array effects, one device at a time under the biasing scheme (a READROW reads
   * its devices one by one, as READ would). Writes conductances (sensed current / vread) into `out`
   * and returns the power drawn summed over the reads (W; times tread gives J).
   */
  private readEffects(
    G: Float64Array,
    r0: number,
    c0: number,
    nr: number,
    nc: number,
    out: Float32Array,
  ): number {
    const { vread: v, scheme } = this.config;
    const e = this.effects;
    const cols = this.cols;
    const iv = this.devices.iv;
    const h = (x: number) => (iv ? iv.h(x) : 1);
    const hv = h(v);
    const sig = this.devices.readNoise(this.clock);
    const rn2 = e.readNoise * e.readNoise;
    const s = e.sneak ? this.sums(G) : null;
    // Per-scheme factors of the half-selected and unselected cells.
    const vh = scheme === "V/3" ? v / 3 : v / 2;
    const hHalf = h(vh);
    const h3f = h(v / 3);
    const h3r = h(-v / 3);
    let power = 0;
    for (let i = 0; i < nr; i++) {
      const r = r0 + i;
      for (let j = 0; j < nc; j++) {
        const c = c0 + j;
        const idx = r * cols + c;
        const g = G[idx]!;
        let I = v * g * hv;
        power += v * I;
        if (e.wire > 0) I /= 1 + g * hv * e.wire * (c + 1 + this.rows - r);
        const s2 = (sig ? sig[idx]! * sig[idx]! : 0) + rn2;
        // Noise never turns a device's current around (aihwkit clamps noisy conductances at 0 too).
        if (s2 > 0) I *= Math.max(0, 1 + Math.sqrt(s2) * this.readRng.normal());
        if (s) {
          const row = s.row[r]! - g;
          const col = s.col[c]! - g;
          const rest = s.total - s.row[r]! - s.col[c]! + g;
          if (scheme === "FLOAT") {
            // Sneak paths through the floating lines: selected row → other columns → other rows →
            // selected column, three stages in series, the middle one reverse-biased.
            const g1 = row * h3f;
            const g2 = rest * h3r;
            const g3 = col * h3f;
            const leak = g1 > 0 && g2 > 0 && g3 > 0 ? v / (1 / g1 + 1 / g2 + 1 / g3) : 0;
            I += leak;
            power += v * leak;
          } else {
            // Half-selected cells on the sensed column add their current to the sensed one.
            I += vh * hHalf * col;
            power += vh * vh * hHalf * (row + col);
            if (scheme === "V/3") power += vh * vh * h3r * rest;
          }
        }
        out[i * nc + j] = this.adc(I) / v;
      }
    }
    return power;
  }

  /** Full scale of the ADC, A. */
  private adcRange(): number {
    return this.effects.adcRange || HARD_LIMITS.vrmax * this.devices.gmax;
  }

  /** A sensed current through the ADC (identity when the adc effect is off). */
  private adc(I: number): number {
    const bits = this.effects.adcBits;
    if (bits === 0) return I;
    const range = this.adcRange();
    const step = (2 * range) / 2 ** bits;
    return Math.min(Math.max(Math.round(I / step) * step, -range), range);
  }

  /** Row sums, column sums and the total of the present conductances (cached per state version). */
  private sums(G: Float64Array): { row: Float64Array; col: Float64Array; total: number } {
    const version = this.devices.version;
    const c = this.sumsCache;
    if (c && c.version === version) return c;
    const row = c?.row ?? new Float64Array(this.rows);
    const col = c?.col ?? new Float64Array(this.cols);
    row.fill(0);
    col.fill(0);
    let total = 0;
    for (let i = 0; i < this.rows; i++) {
      const base = i * this.cols;
      let rs = 0;
      for (let j = 0; j < this.cols; j++) {
        const g = G[base + j]!;
        rs += g;
        col[j]! += g;
      }
      row[i] = rs;
      total += rs;
    }
    this.sumsCache = { version, row, col, total };
    return this.sumsCache;
  }

  /**
   * Upper bound of the energy of `n` pulses of `v`, `w` (for the emax check before anything is
   * applied): the pulsed device at the preset's Gmax, plus the half-selected cells with disturb on,
   * plus the erase block of a flash cell.
   */
  private pulseBound(v: number, w: number, n: number): number {
    const gmax = this.devices.gmax;
    let e = v * v * gmax * w * n;
    if (this.effects.disturb) {
      const others =
        this.config.scheme === "V/3" ? (this.rows * this.cols - 1) / 9 : (this.rows + this.cols - 2) / 4;
      e += v * v * gmax * w * n * others;
    }
    if (this.preset.model === "flash" && v < 0) e += v * v * gmax * w * n * 8 * this.cols;
    return e;
  }

  private applyPulses(index: number, v: number, w: number, n: number): void {
    if (n === 0) return;
    const dev = this.devices;
    if (this.plain) {
      const g = dev.g[index]!;
      this.counters.energy += v * v * g * w * n;
      this.counters.pulses += n;
      this.clock += n * w;
      this.counters.energy += dev.pulse(index, v, w, n, this.clock);
      return;
    }
    const start = this.clock;
    const g = dev.at(start)[index]!;
    this.counters.energy += v * v * g * (dev.iv ? dev.iv.h(v) : 1) * w * n;
    if (this.effects.disturb) this.disturb(index, v, w, n, start);
    this.counters.pulses += n;
    this.clock += n * w;
    this.counters.energy += dev.pulse(index, v, w, n, this.clock);
  }

  /**
   * Half-select disturb: while device `sel` receives its pulses, the other cells of its row and
   * column see v/2 (V/2) or v/3 (V/3), and under V/3 every other cell sees −v/3. Under FLOAT the
   * floating lines divide v over three stages (selected row → other columns → other rows → selected
   * column, the middle one reverse-biased), from the present conductances. Cells whose voltage is
   * above their threshold change (the model's amplitude response); all of them spend energy.
   */
  private disturb(sel: number, v: number, w: number, n: number, t: number): void {
    const dev = this.devices;
    const cols = this.cols;
    const r = Math.floor(sel / cols);
    const c = sel - r * cols;
    const G = dev.at(t);
    const s = this.sums(G);
    const g = G[sel]!;
    const h = (x: number) => (dev.iv ? dev.iv.h(x) : 1);
    const row = s.row[r]! - g;
    const col = s.col[c]! - g;
    const rest = s.total - s.row[r]! - s.col[c]! + g;
    let vRow: number;
    let vCol: number;
    let vRest: number;
    if (this.config.scheme === "V/3") {
      vRow = vCol = v / 3;
      vRest = -v / 3;
    } else if (this.config.scheme === "V/2") {
      vRow = vCol = v / 2;
      vRest = 0;
    } else {
      const g1 = row * h(v / 3);
      const g2 = rest * h(-v / 3);
      const g3 = col * h(v / 3);
      const I = g1 > 0 && g2 > 0 && g3 > 0 ? v / (1 / g1 + 1 / g2 + 1 / g3) : 0;
      vRow = I > 0 ? I / g1 : 0;
      vCol = I > 0 ? I / g3 : 0;
      vRest = I > 0 ? -I / g2 : 0;
    }
    this.counters.energy +=
      (vRow * vRow * h(vRow) * row + vCol * vCol * h(vCol) * col + vRest * vRest * h(vRest) * rest) * w * n;
    const end = t + n * w;
    const acts = (x: number) => (x > 0 ? x >= dev.vthSet : -x >= dev.vthReset);
    if (acts(vRow))
      for (let j = 0; j < cols; j++)
        if (j !== c) this.counters.energy += dev.pulse(r * cols + j, vRow, w, n, end);
    if (acts(vCol))
      for (let i = 0; i < this.rows; i++)
        if (i !== r) this.counters.energy += dev.pulse(i * cols + c, vCol, w, n, end);
    if (acts(vRest)) {
      for (let i = 0; i < this.rows; i++) {
        if (i === r) continue;
        for (let j = 0; j < cols; j++)
          if (j !== c) this.counters.energy += dev.pulse(i * cols + j, vRest, w, n, end);
      }
    }
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
      energy += this.pulseBound(vi, wi, ni);
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
    for (let i = 0; i < nr; i++) {
      const xi = scale * x[i]!;
      if (xi === 0) continue;
      for (let j = 0; j < nc; j++) {
        const n = count(xi * d[j]!);
        if (n === 0) continue;
        checkCount(lim, Math.abs(n));
        total += Math.abs(n);
        energy += this.pulseBound(n > 0 ? vp : vn, w, Math.abs(n));
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
    for (let i = 0; i < counts.length; i++) {
      const n = counts[i]!;
      checkCount(lim, Math.abs(n));
      total += Math.abs(n);
      energy += this.pulseBound(n > 0 ? vp : vn, w, Math.abs(n));
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
    const g = this.devices.at(this.clock);
    const tread = this.config.tread;
    let energy = 0;
    const acc = new Float64Array(nout);
    if (!this.plain) {
      energy = this.vmmEffects(g, r0, c0, nr, nc, x as Float32Array, k, transposed, y);
    } else {
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
    }
    this.counters.vmms += k;
    this.counters.energy += energy * tread;
    this.clock += k * tread;
    return { y: { type: "f32", data: y } };
  }

  /**
   * VMM through the array effects. Every line is held (inputs on the block's rows — columns for
   * VMMT —, outputs at virtual ground, all other lines grounded), so there are no sneak paths; the
   * cell sees its input voltage (−x for VMMT: a rectifying cell conducts VMMT inputs in reverse).
   * Effects: the I–V shape, read noise (each cell's current, summed as Gaussians), first-order IR
   * drop on the lines (wire), the ADC, and with a passive array (sneak) the energy of the cells on
   * the driven lines outside the block. Returns the power summed over the vectors (W).
   */
  private vmmEffects(
    G: Float64Array,
    r0: number,
    c0: number,
    nr: number,
    nc: number,
    x: Float32Array,
    k: number,
    transposed: boolean,
    y: Float32Array,
  ): number {
    const e = this.effects;
    const cols = this.cols;
    const iv = this.devices.iv;
    const sig = this.devices.readNoise(this.clock);
    const rn2 = e.readNoise * e.readNoise;
    const noisy = sig !== null || rn2 > 0;
    const nin = transposed ? nc : nr;
    const nout = transposed ? nr : nc;
    const acc = new Float64Array(nout);
    const vars = noisy ? new Float64Array(nout) : null;
    const cur = e.wire > 0 ? new Float64Array(nr * nc) : null;
    const hin = new Float64Array(nin);
    const s = e.sneak ? this.sums(G) : null;
    let power = 0;
    for (let t = 0; t < k; t++) {
      acc.fill(0);
      vars?.fill(0);
      const xo = t * nin;
      for (let m = 0; m < nin; m++) {
        const xm = x[xo + m]!;
        hin[m] = iv ? iv.h(transposed ? -xm : xm) : 1;
      }
      for (let i = 0; i < nr; i++) {
        const base = (r0 + i) * cols + c0;
        for (let j = 0; j < nc; j++) {
          const m = transposed ? j : i;
          const xm = x[xo + m]!;
          if (xm === 0) continue;
          const gij = G[base + j]!;
          const I = xm * gij * hin[m]!;
          power += xm * I;
          const o = transposed ? i : j;
          acc[o]! += I;
          if (cur) cur[i * nc + j] = I;
          if (vars) {
            const sd = (sig ? sig[base + j]! * sig[base + j]! : 0) + rn2;
            vars[o]! += I * I * sd;
          }
        }
      }
      if (cur) this.irDrop(G, r0, c0, nr, nc, x, xo, hin, transposed, cur, acc);
      if (s) {
        // Cells on the driven lines outside the block are biased too (their other ends grounded).
        for (let m = 0; m < nin; m++) {
          const xm = x[xo + m]!;
          if (xm === 0) continue;
          let inBlock = 0;
          let line = 0;
          if (!transposed) {
            const base = (r0 + m) * cols + c0;
            for (let j = 0; j < nc; j++) inBlock += G[base + j]!;
            line = s.row[r0 + m]!;
          } else {
            for (let i = 0; i < nr; i++) inBlock += G[(r0 + i) * cols + c0 + m]!;
            line = s.col[c0 + m]!;
          }
          power += xm * xm * hin[m]! * (line - inBlock);
        }
      }
      for (let o = 0; o < nout; o++) {
        let out = acc[o]!;
        if (vars && vars[o]! > 0) out += Math.sqrt(vars[o]!) * this.readRng.normal();
        y[t * nout + o] = this.adc(out);
      }
    }
    return power;
  }

  /**
   * First-order IR drop (wire): with the ideal cell currents `cur`, the voltage a cell loses on its
   * two lines is the line resistance times the current through each segment between the cell and the
   * line's end (row ends at column 0, column ends below the last row; segments outside the block carry
   * the block's whole line current). The outputs are recomputed with those reduced cell voltages.
   */
  private irDrop(
    G: Float64Array,
    r0: number,
    c0: number,
    nr: number,
    nc: number,
    x: Float32Array,
    xo: number,
    hin: Float64Array,
    transposed: boolean,
    cur: Float64Array,
    acc: Float64Array,
  ): void {
    const rw = this.effects.wire;
    const cols = this.cols;
    const dRow = new Float64Array(nr * nc);
    // Rows: segment into column j carries the current of cells j.. of the row.
    for (let i = 0; i < nr; i++) {
      let total = 0;
      for (let j = 0; j < nc; j++) total += cur[i * nc + j]!;
      let drop = rw * (c0 + 1) * total;
      let right = total;
      for (let j = 0; j < nc; j++) {
        if (j > 0) {
          right -= cur[i * nc + j - 1]!;
          drop += rw * right;
        }
        dRow[i * nc + j] = drop;
      }
    }
    acc.fill(0);
    for (let j = 0; j < nc; j++) {
      let total = 0;
      for (let i = 0; i < nr; i++) total += cur[i * nc + j]!;
      // Columns: the segment below row i carries the current of cells 0..i of the column.
      let drop = rw * (this.rows - (r0 + nr - 1)) * total;
      let above = total;
      for (let i = nr - 1; i >= 0; i--) {
        if (i < nr - 1) {
          above -= cur[(i + 1) * nc + j]!;
          drop += rw * above;
        }
        const m = transposed ? j : i;
        const xm = x[xo + m]!;
        if (xm === 0) continue;
        const veff = xm - Math.sign(xm) * (dRow[i * nc + j]! + drop);
        const I = (Math.sign(veff) === Math.sign(xm) ? veff : 0) * G[(r0 + i) * cols + c0 + j]! * hin[m]!;
        acc[transposed ? i : j]! += I;
      }
    }
  }

  /**
   * FIRE (threshold-switch devices): biases every device of the block at `v` for `t` seconds and
   * returns each one's number of firing events.
   */
  private fire(a: Args, lim: Limits): ArgInput {
    const [r0, c0, nr, nc] = this.block(a);
    const v = argNumber(a, "v");
    const t = argNumber(a, "t");
    checkAmplitude(lim, v);
    if (!(t > 0 && t <= 1)) throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `t=${t} s outside (0, 1] s`);
    const dev = this.devices;
    if (!(dev instanceof TsPcmArray))
      throw new ProtocolError(
        ErrorCode.BAD_ARGUMENT,
        `FIRE needs a threshold-switch device (tech=ts-pcm); this board's devices are ${this.preset.name}`,
      );
    this.checkReplySize(nr * nc * 4);
    const perFiring = v * dev.ts.capacitance * (dev.ts.vth - dev.ts.vhold);
    checkEnergy(lim, dev.maxFirings(v, t) * perFiring * nr * nc);
    const spikes = new Uint32Array(nr * nc);
    const start = this.clock;
    let total = 0;
    for (let i = 0; i < nr; i++) {
      for (let j = 0; j < nc; j++) {
        const n = dev.fire((r0 + i) * this.cols + c0 + j, v, start, t);
        spikes[i * nc + j] = n;
        total += n;
      }
    }
    this.counters.energy += total * perFiring;
    this.clock += t;
    return { spikes: { type: "u32", data: spikes } };
  }
}

/**
 * One link to the board. `handle` takes a line as received (without its terminator) and sends the
 * reply; it is synchronous, so replies leave in the order requests arrived.
 */
export class Session {
  private readonly replay = new Map<number, { crc: string; reply: string }>();
  /** True once the session presented the board's token (always true on a board without one). */
  private authorized: boolean;

  constructor(
    readonly board: EmulatedBoard,
    readonly send: (line: string) => void,
  ) {
    this.authorized = !board.admission.required;
  }

  clearReplay(): void {
    this.replay.clear();
  }

  /** A reboot: the replay window and the authentication are gone. */
  lose(): void {
    this.replay.clear();
    this.authorized = !this.board.admission.required;
  }

  /** True when this session owns the board (admission.ts): only its lines touch board state. */
  get isOwner(): boolean {
    return this.board.admission.isOwner(this);
  }

  /**
   * Events go to the owner (also the BOOT of a reboot that ended its authentication), or to every
   * authorised session while nobody owns the board; never to a session that has not authenticated.
   */
  get hearsEvents(): boolean {
    return this.isOwner || (this.authorized && !this.board.admission.owned);
  }

  /** Size of the replay window now (bounded by REPLAY_WINDOW; for tests). */
  get replaySize(): number {
    return this.replay.size;
  }

  close(): void {
    this.board.admission.release(this);
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
    if (m.verb === "HELLO") {
      this.replay.clear();
      if (this.board.admission.required) this.authorized = this.checkToken(m.args);
    }
    // Refusals of sessions that are not (yet) admitted touch no board state: no error queue, no counter.
    if (!this.authorized) {
      const msg =
        m.verb === "HELLO"
          ? "wrong or missing token: open the session with HELLO token=..."
          : "no session: open it with HELLO token=... first";
      this.send(encodeErr(m.tag, ErrorCode.UNAUTHORIZED, msg));
      return;
    }
    if (!this.board.admission.claim(this)) {
      this.send(
        encodeErr(m.tag, ErrorCode.BUSY, "the board is in use by another connection (one at a time)"),
      );
      return;
    }
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

  private checkToken(args: Args): boolean {
    let given: string | undefined;
    try {
      given = argToken(args, "token");
    } catch {
      given = undefined;
    }
    return this.board.admission.check(given);
  }

  private reject(code: number, msg: string): void {
    if (this.authorized && this.board.admission.claim(this)) this.board.pushError(code, msg);
    this.send(encodeEvent("REJECT", { code, msg }));
  }
}
