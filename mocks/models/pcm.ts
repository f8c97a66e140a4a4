/**
 * Phase-change memory, and the threshold switch stacked on it (neuron and synapse in one cell).
 *
 * PCM = gradual SET, abrupt RESET, programming noise, drift and read noise:
 * - SET (positive pulses): aihwkit's PCMPresetDevice, an ExpStep fit of GST devices (Nandakumar et
 *   al., Front. Neurosci. 2020) with its complex cycle-to-cycle noise, in aihwkit's weight units
 *   w ∈ [0, b_max] (w_max = 2 with 10 % device-to-device spread); G = w · gmax / w_max.
 * - RESET (negative pulses): at or above the full-RESET amplitude, abrupt: w jumps to the device's reset
 *   level (aihwkit reset 0.01, reset_dtod 0.02, reset_std 0.01). Between the threshold and the full
 *   amplitude, a partial RESET (our choice): each pulse removes the fraction s of w above the reset
 *   level, s = (|v| − vth)/(vfull − vth).
 * - Drift (aihwkit PCMLikeNoiseModel): G(t) = Gprog · ((t − tprog + t0)/t0)^(−ν), t0 = 20 s, where tprog
 *   is the device's own clock, reset by every programming event, and ν is drawn at programming:
 *   ν = |μ + σξ|, μ = clip(−0.0155 ln ĝ + 0.0244, 0.049, 0.1), σ = clip(−0.0125 ln ĝ − 0.0059, 0.008,
 *   0.045), ĝ = Gprog/gmax.
 * - Read noise (aihwkit PCMLikeNoiseModel, accumulated 1/f): relative σ = Q · √ln((Δt + t0 + tr)/(2 tr)),
 *   Q = min(0.0088/max(ĝ^0.65, 10⁻³), 0.2), tr = 250 ns, drawn afresh for each read.
 *
 * Programming noise is the per-pulse SET/RESET noise above. aihwkit's inference-time programming
 * noise (PCMLikeNoiseModel prog_coeff, σ = 0.26348 + 1.9650 ĝ − 1.1731 ĝ² µS) describes the result of
 * a program-and-verify sequence, not of one pulse, so it is not applied here: a host that programs
 * with verify (programVerify) gets its own residual error.
 *
 * Conductances are evaluated against the board's virtual clock when read. To keep large arrays fast,
 * the array of present conductances is re-evaluated only once the clock has moved by more than
 * t0 · 10⁻⁴ (2 ms) since the last evaluation; the error this allows is below ν · 10⁻⁴ < 10⁻⁵ relative.
 * Devices programmed in between are updated at once.
 */

import { type ExpStepParams, expStep, type PulsedParams, populatePulsed } from "./aihwkit.ts";
import { bytesOf, DeviceArray, type DeviceContext, strength } from "./common.ts";

export interface PcmParams {
  /** Conductance at w = w_max, S (aihwkit g_max). */
  readonly gmax: number;
  /** aihwkit PulsedDevice part of PCMPresetDevice. */
  readonly pulsed: PulsedParams;
  /** aihwkit ExpStep part of PCMPresetDevice. */
  readonly exp: ExpStepParams;
  /** Reset level (weight units), its device-to-device and cycle-to-cycle spread. */
  readonly reset: number;
  readonly resetDtod: number;
  readonly resetStd: number;
  /** Drift: t0 (s) and the coefficients of μ(ĝ) and σ(ĝ) (see the file comment). */
  readonly t0: number;
  readonly nuMu: readonly [slope: number, offset: number, min: number, max: number];
  readonly nuSigma: readonly [slope: number, offset: number, min: number, max: number];
  /** Read noise: Q = min(q / max(ĝ^qExp, 1e-3), qMax), integration time tRead (s). */
  readonly q: number;
  readonly qExp: number;
  readonly qMax: number;
  readonly tRead: number;
  /** Pulses: threshold, nominal SET amplitude, full-RESET amplitude (magnitudes, V), width (s). */
  readonly vth: number;
  readonly vset: number;
  readonly vresetFull: number;
  readonly width: number;
}

export interface ThresholdSwitchParams {
  /** The switch turns on above vth and releases below vhold, V. */
  readonly vth: number;
  readonly vhold: number;
  /** Capacitance of the relaxation circuit, F, and the switch's on-time per firing, s. */
  readonly capacitance: number;
  readonly tOn: number;
  /** Each firing event is a SET of this fraction of a nominal SET pulse. */
  readonly setPerFiring: number;
}

const clip = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);

export class PcmArray extends DeviceArray {
  /** Programmed conductance (at the device's last programming), S. */
  readonly g: Float64Array;
  readonly gmin: number;
  readonly gmax: number;
  readonly vthSet: number;
  readonly vthReset: number;
  override readonly drifts = true;
  /** Board time of each device's last programming, s. */
  private readonly tprog: Float64Array;
  /** Drift exponent of each device, drawn at programming. */
  private readonly nu: Float32Array;
  private readonly bmax: Float32Array;
  private readonly up: Float32Array;
  private readonly resetLevel: Float32Array;
  /** Read-noise amplitude Q of each device (depends on its programmed state only). */
  private readonly q: Float32Array;
  /** Present conductances and read-noise σ, evaluated at `evalT`. */
  private readonly now: Float64Array;
  private readonly sigma: Float32Array;
  private evalT = Number.NaN;
  private readonly k: number;
  private readonly std: number;

  constructor(
    readonly p: PcmParams,
    ctx: DeviceContext,
  ) {
    super(ctx);
    const n = this.n;
    this.k = p.gmax / p.pulsed.wMax;
    this.std = p.pulsed.dwMinStd * ctx.noise;
    this.gmin = 0;
    this.gmax = p.gmax;
    this.vthSet = p.vth;
    this.vthReset = p.vth;
    this.g = new Float64Array(n);
    this.tprog = new Float64Array(n);
    this.nu = new Float32Array(n);
    this.bmax = new Float32Array(n);
    this.up = new Float32Array(n);
    this.resetLevel = new Float32Array(n);
    this.q = new Float32Array(n);
    this.now = new Float64Array(n);
    this.sigma = new Float32Array(n);
    const r = ctx.boot;
    const noise = ctx.noise;
    for (let i = 0; i < n; i++) {
      const d = populatePulsed(p.pulsed, noise, r);
      this.bmax[i] = d.bmax;
      this.up[i] = d.up;
      const lvl = p.reset + (p.resetDtod * noise > 0 ? p.resetDtod * noise * r.normal() : 0);
      this.resetLevel[i] = clip(lvl, 0, d.bmax);
      // A fresh device is in its RESET state, programmed at t = 0.
      this.g[i] = this.resetLevel[i]! * this.k;
      this.nu[i] = this.drawNu(this.g[i]!, r.normal());
      this.q[i] = this.amplitude(this.g[i]!);
    }
  }

  /** Drift exponent for a device programmed to `g` (S), given a standard normal draw `xi`. */
  drawNu(g: number, xi: number): number {
    const p = this.p;
    const lg = Math.log(Math.max(Math.abs(g / p.gmax), 1e-7));
    const mu = clip(p.nuMu[0] * lg + p.nuMu[1], p.nuMu[2], p.nuMu[3]);
    const sg = clip(p.nuSigma[0] * lg + p.nuSigma[1], p.nuSigma[2], p.nuSigma[3]);
    return Math.abs(mu + sg * this.ctx.noise * xi);
  }

  /** Mean drift exponent μ(ĝ) of the preset for a device programmed to `g`, S. */
  meanNu(g: number): number {
    const p = this.p;
    const lg = Math.log(Math.max(Math.abs(g / p.gmax), 1e-7));
    return clip(p.nuMu[0] * lg + p.nuMu[1], p.nuMu[2], p.nuMu[3]);
  }

  /** Conductance of device `i` at time `t`, S (no noise). */
  valueAt(i: number, t: number): number {
    const dt = t - this.tprog[i]!;
    const g = this.g[i]!;
    if (!(dt > 0)) return g;
    const t0 = this.p.t0;
    return g * ((dt + t0) / t0) ** -this.nu[i]!;
  }

  override at(t: number): Float64Array {
    if (!(Math.abs(t - this.evalT) <= this.p.t0 * 1e-4)) this.evaluate(t);
    return this.now;
  }

  override readNoise(t: number): Float32Array | null {
    if (this.ctx.noise === 0) return null;
    this.at(t);
    return this.sigma;
  }

  /** Read-noise amplitude Q for a device programmed to `g` (S). */
  private amplitude(g: number): number {
    const p = this.p;
    return Math.min(p.q / Math.max((Math.abs(g) / p.gmax) ** p.qExp, 1e-3), p.qMax);
  }

  /**
   * Present conductances and read-noise σ of every device. One logarithm serves both:
   * L = ln((Δt + t0)/t0), G = Gprog·e^(−νL), σ = Q·√(L + ln(t0/(2 tr))) (aihwkit's
   * ln((Δt + t0 + tr)/(2 tr)) with tr ≪ t0 dropped from the numerator: a relative change below 10⁻⁸).
   */
  private evaluate(t: number): void {
    const p = this.p;
    const noise = this.ctx.noise;
    const t0 = p.t0;
    const c = Math.log(t0 / (2 * p.tRead));
    for (let i = 0; i < this.n; i++) {
      const dt = t - this.tprog[i]!;
      const L = dt > 0 ? Math.log((dt + t0) / t0) : 0;
      this.now[i] = L > 0 ? this.g[i]! * Math.exp(-this.nu[i]! * L) : this.g[i]!;
      if (noise > 0) this.sigma[i] = this.q[i]! * Math.sqrt(L + c) * noise;
    }
    this.evalT = t;
    this.version++;
  }

  private noiseSigma(i: number, t: number): number {
    const p = this.p;
    const dt = Math.max(t - this.tprog[i]!, 0);
    return this.q[i]! * Math.sqrt(Math.log((dt + p.t0) / p.t0) + Math.log(p.t0 / (2 * p.tRead)));
  }

  /** Records that device `i` was programmed to `g` (S) at time `t`. */
  protected programmed(i: number, g: number, t: number): void {
    this.g[i] = g;
    this.tprog[i] = t;
    this.nu[i] = this.drawNu(g, this.ctx.noise > 0 ? this.ctx.rng.normal() : 0);
    this.q[i] = this.amplitude(g);
    if (!Number.isNaN(this.evalT)) {
      this.now[i] = this.valueAt(i, this.evalT);
      if (this.ctx.noise > 0) this.sigma[i] = this.noiseSigma(i, this.evalT) * this.ctx.noise;
    }
    this.version++;
  }

  /** Weight of device `i` now (its drifted conductance in aihwkit's units). */
  protected weightAt(i: number, t: number): number {
    return this.valueAt(i, t) / this.k;
  }

  /** One SET event of strength `s` (fraction of a nominal pulse) on weight `w`. */
  protected setStep(i: number, w: number, s: number): number {
    return expStep(w, true, this.up[i]! * s, 0, this.bmax[i]!, this.p.exp, this.std * s, this.ctx.rng);
  }

  pulse(i: number, v: number, w: number, n: number, t: number): number {
    if (n <= 0 || this.frozen?.[i]) return 0;
    const p = this.p;
    const start = t - n * w;
    if (v > 0) {
      const s = strength(v, p.vth, p.vset);
      if (s === 0) return 0;
      let x = this.weightAt(i, start);
      for (let k = 0; k < n; k++) x = this.setStep(i, x, s);
      this.programmed(i, x * this.k, t);
    } else {
      const s = strength(v, p.vth, p.vresetFull);
      if (s === 0) return 0;
      const lvl = this.resetLevel[i]!;
      let x: number;
      if (s === 1) {
        const sd = p.resetStd * this.ctx.noise;
        x = clip(lvl + (sd > 0 ? sd * this.ctx.rng.normal() : 0), 0, this.bmax[i]!);
      } else {
        const x0 = this.weightAt(i, start);
        x = x0 > lvl ? lvl + (x0 - lvl) * (1 - s) ** n : x0;
      }
      this.programmed(i, x * this.k, t);
    }
    return 0;
  }

  override force(i: number, g: number): void {
    this.g[i] = g;
    this.tprog[i] = 0;
    this.nu[i] = 0;
    this.q[i] = 0;
    if (!Number.isNaN(this.evalT)) {
      this.now[i] = g;
      this.sigma[i] = 0;
    }
    this.version++;
  }

  stateBytes(): number {
    return bytesOf(
      this.g,
      this.tprog,
      this.nu,
      this.bmax,
      this.up,
      this.resetLevel,
      this.q,
      this.now,
      this.sigma,
    );
  }
}

/**
 * Threshold switch on PCM (behavioural, our choice after Sung et al., Nat. Commun. 13, 2022): biased
 * at v above the switch's threshold through the cell's own PCM conductance G, a relaxation circuit of
 * capacitance C fires every C/G · ln((v − vhold)/(v − vth)) + tOn seconds (the capacitor charges
 * through the PCM from vhold to vth, then the switch turns on and discharges it). So the firing rate
 * rises as the PCM's resistance falls; each firing is a weak SET of the PCM (positive feedback).
 * Forgetting is drift or a partial RESET (a negative pulse below the full-RESET amplitude).
 * Each firing draws the charge C·(vth − vhold) from the bias source: energy v·C·(vth − vhold).
 */
export class TsPcmArray extends PcmArray {
  constructor(
    p: PcmParams,
    readonly ts: ThresholdSwitchParams,
    ctx: DeviceContext,
  ) {
    super(p, ctx);
  }

  /** Most firings one device can make in `dur` seconds at bias `v` (for the energy estimate). */
  maxFirings(v: number, dur: number): number {
    const { vth, vhold, capacitance, tOn } = this.ts;
    if (!(v > vth)) return 0;
    const L = Math.log((v - vhold) / (v - vth));
    return Math.floor(dur / ((capacitance * L) / (this.p.gmax * 1.5) + tOn));
  }

  /**
   * Biases device `i` at `v` (V) from board time `t` for `dur` seconds; returns the number of firings.
   * The energy is firings · v · C · (vth − vhold).
   */
  fire(i: number, v: number, t: number, dur: number): number {
    const { vth, vhold, capacitance, tOn, setPerFiring } = this.ts;
    if (!(v > vth) || this.frozen?.[i]) return 0;
    const L = Math.log((v - vhold) / (v - vth));
    let x = this.weightAt(i, t);
    const k = this.p.gmax / this.p.pulsed.wMax;
    let elapsed = 0;
    let count = 0;
    const cap = 0xffffffff;
    for (;;) {
      const g = Math.max(x * k, 1e-12);
      const period = (capacitance * L) / g + tOn;
      if (elapsed + period > dur || count >= cap) break;
      elapsed += period;
      count++;
      const next = this.setStep(i, x, setPerFiring);
      if (next === x && this.ctx.noise === 0) {
        // Saturated and noiseless: the rest of the window fires at a constant rate.
        count = Math.min(cap, count + Math.floor((dur - elapsed) / period));
        break;
      }
      x = next;
    }
    if (count > 0) this.programmed(i, x * k, t + dur);
    return count;
  }
}
