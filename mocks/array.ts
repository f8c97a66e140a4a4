/**
 * The array physics of the emulated board: device states in typed arrays (the device model), the
 * array effects (sneak paths, half-select disturb, stuck devices, read noise, ADC, line resistance),
 * the virtual clock, the counters and energy account, and the read conditions set by CFG. It knows
 * nothing of the protocol: the protocol peer (board.ts) validates requests and calls in here.
 */
import { ErrorCode, ProtocolError } from "../firmware-protocol/index.ts";
import { FastRandom, Random, streamSeed } from "../firmware-protocol/random.ts";
import { type Config, type Counters, defaultConfig, HARD_LIMITS, zeroCounters } from "./config.ts";
import { DEVICE_PRESETS, type DevicePreset, deviceNames } from "./devices.ts";
import { type ArrayEffects, isIdeal, resolveEffects } from "./effects.ts";
import type { DeviceArray } from "./models/common.ts";
import { loadPulseTable, type PulseTable } from "./models/lut.ts";
import { TsPcmArray } from "./models/pcm.ts";

export interface ArrayOptions {
  /** Array size; default 64 x 64, at most 4096 x 4096. */
  rows?: number;
  cols?: number;
  /** Device preset name (see DEVICE_PRESETS); default "agsi". */
  device?: string;
  /** Seed of all randomness; default 1. */
  seed?: number;
  /**
   * Scale of every random part of the device model (cycle-to-cycle and programming noise, intrinsic
   * read noise, device-to-device spread); default 1 (the preset as published), 0 = its mean device.
   */
  noise?: number;
  /** Pulse-response CSV for device "lut" (the output of `xbar characterize --out`). */
  lut?: string;
  /** Array effects (all off by default); see effects.ts. */
  effects?: Partial<ArrayEffects>;
}

/** Stream numbers of the board's independent random sequences (see streamSeed). */
const STREAM = { boot: 1, read: 2, stuck: 3 } as const;

export class ArrayModel {
  readonly rows: number;
  readonly cols: number;
  readonly preset: DevicePreset;
  /** The device model and its state (typed arrays, row-major). */
  readonly devices: DeviceArray;
  readonly effects: ArrayEffects;
  readonly noise: number;
  readonly seed: number;
  /** Noise of reads (sense path), independent of the pulse stream. */
  readonly readRng: FastRandom;
  /** True when nothing but the ideal device is in play: the fast paths of the foundation apply. */
  readonly plain: boolean;
  /** Devices stuck at a value (with the stuck effect), else null. */
  readonly stuck: Uint8Array | null = null;
  private sumsCache: { version: number; row: Float64Array; col: Float64Array; total: number } | null = null;
  /** Read conditions and the narrowed envelope (CFG). */
  config: Config = defaultConfig();
  /** Virtual clock, s since boot. */
  clock = 0;
  counters: Counters = zeroCounters();

  constructor(opts: ArrayOptions = {}) {
    const { rows = 64, cols = 64, device = "agsi", seed = 1, noise = 1 } = opts;
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
    this.noise = noise;
    this.preset = preset;
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
  readEffects(G: Float64Array, r0: number, c0: number, nr: number, nc: number, out: Float32Array): number {
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
  adcRange(): number {
    return this.effects.adcRange || HARD_LIMITS.vrmax * this.devices.gmax;
  }

  /** A sensed current through the ADC (identity when the adc effect is off). */
  adc(I: number): number {
    const bits = this.effects.adcBits;
    if (bits === 0) return I;
    const range = this.adcRange();
    const step = (2 * range) / 2 ** bits;
    return Math.min(Math.max(Math.round(I / step) * step, -range), range);
  }

  /** Row sums, column sums and the total of the present conductances (cached per state version). */
  sums(G: Float64Array): { row: Float64Array; col: Float64Array; total: number } {
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
  pulseBound(v: number, w: number, n: number): number {
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

  applyPulses(index: number, v: number, w: number, n: number): void {
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
  disturb(sel: number, v: number, w: number, n: number, t: number): void {
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

  /** The threshold-switch devices of the array, or a 203 for a board whose devices have none. */
  thresholdSwitches(): TsPcmArray {
    const dev = this.devices;
    if (!(dev instanceof TsPcmArray))
      throw new ProtocolError(
        ErrorCode.BAD_ARGUMENT,
        `FIRE needs a threshold-switch device (tech=ts-pcm); this board's devices are ${this.preset.name}`,
      );
    return dev;
  }

  /**
   * FIRE (threshold-switch devices): biases every device of the block at `v` for `t` seconds and
   * returns each one's number of firing events; counts the energy of every firing.
   */
  fire(r0: number, c0: number, nr: number, nc: number, v: number, t: number): Uint32Array {
    const dev = this.thresholdSwitches();
    const perFiring = v * dev.ts.capacitance * (dev.ts.vth - dev.ts.vhold);
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
    return spikes;
  }

  /** Upper bound of the energy of a FIRE (checked against emax before anything is applied). */
  fireBound(nr: number, nc: number, v: number, t: number): number {
    const dev = this.thresholdSwitches();
    const perFiring = v * dev.ts.capacitance * (dev.ts.vth - dev.ts.vhold);
    return dev.maxFirings(v, t) * perFiring * nr * nc;
  }
}
