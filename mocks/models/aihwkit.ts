/**
 * IBM aihwkit's pulsed step devices (aihwkit `simulator/configs/devices.py` and the `update_once`
 * functions of `src/rpucuda/rpu_*_device.cpp`), so that results can be compared with that toolkit:
 *
 *   ConstantStep  w ± Δw·(1 + σξ)
 *   LinearStep    w ± (γ'·w + Δw)·(1 + σξ),  γ' = −|γ + γ_dtod ξ|·Δw / w_bound   (multiplicative noise)
 *   SoftBounds    LinearStep with γ = 1 on each device's own bounds (step → 0 at the bound)
 *   ExpStep       w ± Δw·max(1 − A·e^(±γ z), 0)·(1 + σξ),  z = 2a·w/(b_max − b_min) + b
 *   PowStep       w + Δw·((b_max − w)/range)^γ (up),  w − Δw·((w − b_min)/range)^γ (down)
 *
 * with aihwkit's device-to-device spread drawn once per device at boot (PulsedDevice.populate):
 * b_max = w_max(1 + σ_wmax ξ), b_min = w_min(1 + σ_wmin ξ), Δw_up/down = |(bias + 1 + σ_dw ξ ± σ_ud ξ')|·dw_min.
 * Weights are clipped to [b_min, b_max] after every pulse, one `update_once` per pulse.
 *
 * aihwkit's weights are abstract; the board needs conductances. Our choice: G = gmid + gscale·w
 * (default 50 µS + 40 µS·w, so aihwkit's default range ±0.6 is 26–74 µS), clipped at 0 S for the rare
 * device whose spread bound goes below w = −gmid/gscale.
 */
import type { Rng } from "../../firmware-protocol/random.ts";
import { bytesOf, DeviceArray, type DeviceContext, strength } from "./common.ts";

export type AihwKind = "constant" | "linear" | "softbounds" | "exp" | "pow";

/** aihwkit PulsedDevice parameters (names as in aihwkit, camel-cased). */
export interface PulsedParams {
  readonly dwMin: number;
  readonly dwMinDtod: number;
  readonly dwMinStd: number;
  readonly upDown: number;
  readonly upDownDtod: number;
  readonly wMax: number;
  readonly wMaxDtod: number;
  readonly wMin: number;
  readonly wMinDtod: number;
}

export interface ExpStepParams {
  readonly aUp: number;
  readonly aDown: number;
  readonly gammaUp: number;
  readonly gammaDown: number;
  readonly a: number;
  readonly b: number;
  /** Complex cycle-to-cycle noise: σ·(|Δw| + add + slope·|w|) instead of σ·|Δw| (0 = simple). */
  readonly dwMinStdAdd: number;
  readonly dwMinStdSlope: number;
}

export interface AihwParams extends PulsedParams {
  readonly kind: AihwKind;
  /** LinearStep: γ up/down and their device-to-device spread. */
  readonly gammaUp?: number;
  readonly gammaDown?: number;
  readonly gammaUpDtod?: number;
  readonly gammaDownDtod?: number;
  /** ExpStep parameters. */
  readonly exp?: ExpStepParams;
  /** PowStep: γ, its spread, up/down bias and its spread. */
  readonly powGamma?: number;
  readonly powGammaDtod?: number;
  readonly powUpDown?: number;
  readonly powUpDownDtod?: number;
  /** Weight → conductance map G = gmid + gscale·w, S. */
  readonly gmid: number;
  readonly gscale: number;
  readonly vth: number;
  readonly vset: number;
  readonly vreset: number;
  readonly width: number;
}

/** aihwkit PulsedDevice defaults (configs/devices.py). */
export const PULSED_DEFAULTS: PulsedParams = {
  dwMin: 0.001,
  dwMinDtod: 0.3,
  dwMinStd: 0.3,
  upDown: 0,
  upDownDtod: 0.01,
  wMax: 0.6,
  wMaxDtod: 0.3,
  wMin: -0.6,
  wMinDtod: 0.3,
};

/** aihwkit ExpStepDevice defaults. */
export const EXP_DEFAULTS: ExpStepParams = {
  aUp: 0.00081,
  aDown: 0.36833,
  gammaUp: 12.44625,
  gammaDown: 12.78785,
  a: 0.244,
  b: 0.2425,
  dwMinStdAdd: 0,
  dwMinStdSlope: 0,
};

/** Bounds and step sizes of one device, drawn as aihwkit's PulsedRPUDevice::populate does. */
export function populatePulsed(
  p: PulsedParams,
  noise: number,
  r: Rng,
): { bmax: number; bmin: number; up: number; down: number } {
  const upBias = Math.min(0, p.upDown);
  const downBias = p.upDown > 0 ? -p.upDown : 0;
  let bmax = p.wMax * (1 + p.wMaxDtod * noise * (noise > 0 ? r.normal() : 0));
  let bmin = p.wMin * (1 + p.wMinDtod * noise * (noise > 0 ? r.normal() : 0));
  const gain = 1 + p.dwMinDtod * noise * (noise > 0 ? r.normal() : 0);
  const rr = p.upDownDtod * noise * (noise > 0 ? r.normal() : 0);
  // enforce_consistency (aihwkit's default)
  if (bmin > bmax) [bmin, bmax] = [bmax, bmin];
  bmax = Math.abs(bmax);
  bmin = -Math.abs(bmin);
  return {
    bmax,
    bmin,
    up: Math.abs((upBias + gain + rr) * p.dwMin),
    down: Math.abs((downBias + gain - rr) * p.dwMin),
  };
}

/** One ExpStep update (aihwkit rpu_expstep_device.cpp update_once / update_once_complex_noise). */
export function expStep(
  w: number,
  up: boolean,
  scale: number,
  bmin: number,
  bmax: number,
  e: ExpStepParams,
  std: number,
  r: Rng,
): number {
  const bDiff = bmax - bmin;
  if (!(bDiff > 0)) return w;
  const z = ((2 * w) / bDiff) * e.a + e.b;
  const y = up
    ? Math.max(1 - e.aUp * Math.exp(e.gammaUp * z), 0)
    : Math.max(1 - e.aDown * Math.exp(-e.gammaDown * z), 0);
  const dw = (up ? 1 : -1) * y * scale;
  if (e.dwMinStdAdd !== 0 || e.dwMinStdSlope !== 0) {
    const sd = std * (Math.abs(dw) + e.dwMinStdAdd + e.dwMinStdSlope * Math.abs(w));
    w += dw + (sd > 0 ? sd * r.normal() : 0);
  } else {
    w += dw * (std > 0 ? 1 + std * r.normal() : 1);
  }
  return Math.min(Math.max(w, bmin), bmax);
}

export class AihwArray extends DeviceArray {
  readonly g: Float64Array;
  /** aihwkit weight of each device (the state the update rules act on). */
  readonly w: Float64Array;
  readonly gmin: number;
  readonly gmax: number;
  readonly vthSet: number;
  readonly vthReset: number;
  private readonly bmax: Float32Array;
  private readonly bmin: Float32Array;
  private readonly up: Float32Array;
  private readonly down: Float32Array;
  /** LinearStep/SoftBounds slopes, or PowStep exponents (up, down); null for the others. */
  private readonly kUp: Float32Array | null = null;
  private readonly kDown: Float32Array | null = null;
  private readonly std: number;

  constructor(
    readonly p: AihwParams,
    ctx: DeviceContext,
  ) {
    super(ctx);
    const n = this.n;
    const noise = ctx.noise;
    this.std = p.dwMinStd * noise;
    this.gmin = Math.max(0, p.gmid + p.gscale * p.wMin);
    this.gmax = p.gmid + p.gscale * p.wMax;
    this.vthSet = p.vth;
    this.vthReset = p.vth;
    this.w = new Float64Array(n);
    this.g = new Float64Array(n);
    this.bmax = new Float32Array(n);
    this.bmin = new Float32Array(n);
    this.up = new Float32Array(n);
    this.down = new Float32Array(n);
    if (p.kind === "linear" || p.kind === "softbounds" || p.kind === "pow") {
      this.kUp = new Float32Array(n);
      this.kDown = new Float32Array(n);
    }
    const r = ctx.boot;
    const draw = (s: number) => (s * noise > 0 ? s * noise * r.normal() : 0);
    for (let i = 0; i < n; i++) {
      const d = populatePulsed(p, noise, r);
      this.bmax[i] = d.bmax;
      this.bmin[i] = d.bmin;
      this.up[i] = d.up;
      this.down[i] = d.down;
      if (p.kind === "linear") {
        // mean_bound_reference (default): slopes relative to the mean bounds w_max, w_min.
        const gu = Math.abs((p.gammaUp ?? 0) + draw(p.gammaUpDtod ?? 0));
        const gd = Math.abs((p.gammaDown ?? 0) + draw(p.gammaDownDtod ?? 0));
        this.kUp![i] = (-gu * d.up) / p.wMax;
        this.kDown![i] = (-gd * d.down) / p.wMin;
      } else if (p.kind === "softbounds") {
        this.kUp![i] = -d.up / d.bmax;
        this.kDown![i] = -d.down / d.bmin;
      } else if (p.kind === "pow") {
        const ud = p.powUpDown ?? 0;
        const upBias = Math.min(0, ud);
        const downBias = ud > 0 ? -ud : 0;
        const gain = 1 + draw(p.powGammaDtod ?? 0);
        const rr = draw(p.powUpDownDtod ?? 0);
        const gamma = p.powGamma ?? 1;
        this.kUp![i] = Math.abs((upBias + gain + rr) * gamma);
        this.kDown![i] = Math.abs((downBias + gain - rr) * gamma);
      }
      // aihwkit weights start at 0 (the middle of the range).
      this.g[i] = Math.max(0, p.gmid);
    }
  }

  pulse(i: number, v: number, _w: number, n: number, _t: number): number {
    if (n <= 0 || this.frozen?.[i]) return 0;
    const isUp = v > 0;
    const s = strength(v, this.p.vth, isUp ? this.p.vset : -this.p.vreset);
    if (s === 0) return 0;
    const p = this.p;
    const r = this.ctx.rng;
    const std = this.std;
    const bmax = this.bmax[i]!;
    const bmin = this.bmin[i]!;
    const scale = (isUp ? this.up[i]! : this.down[i]!) * s;
    let w = this.w[i]!;
    for (let k = 0; k < n; k++) {
      const xi = std > 0 && p.kind !== "exp" ? 1 + std * r.normal() : 1;
      switch (p.kind) {
        case "constant":
          w += (isUp ? scale : -scale) * xi;
          break;
        case "linear":
        case "softbounds": {
          const slope = (isUp ? this.kUp![i]! : this.kDown![i]!) * s;
          w += (isUp ? 1 : -1) * (slope * w + scale) * xi;
          break;
        }
        case "exp":
          w = expStep(w, isUp, scale, bmin, bmax, p.exp ?? EXP_DEFAULTS, std, r);
          break;
        case "pow": {
          const range = bmax - bmin;
          if (range > 0) {
            if (isUp) w += scale * ((bmax - w) / range) ** this.kUp![i]! * xi;
            else w -= scale * ((w - bmin) / range) ** this.kDown![i]! * xi;
          }
          break;
        }
      }
      w = Math.min(Math.max(w, bmin), bmax);
    }
    this.w[i] = w;
    this.g[i] = Math.max(0, p.gmid + p.gscale * w);
    this.version++;
    return 0;
  }

  override force(i: number, g: number): void {
    this.g[i] = g;
    this.w[i] = (g - this.p.gmid) / this.p.gscale;
    this.version++;
  }

  stateBytes(): number {
    return bytesOf(this.g, this.w, this.bmax, this.bmin, this.up, this.down, this.kUp, this.kDown);
  }
}
