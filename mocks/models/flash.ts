/**
 * Charge-trap / TFT-type analog flash cell (behavioural, our choice of form after the standard
 * charge-trap picture): programming (positive pulses) traps charge and shifts the threshold voltage
 * logarithmically in the programming time, ΔVth ∝ ln(1 + t/τ), so the read conductance rises fast
 * then ever slower — strongly nonlinear and one-directional:
 *
 *   G = Gmin + (Gmax − Gmin) · ln(1 + tp/τ) / ln(1 + tfull/τ)   (clipped at Gmax)
 *
 * where tp is the cell's accumulated effective programming time. A pulse of width w and amplitude v
 * adds w · e^((|v| − vprog)/vslope) (Fowler–Nordheim tunnelling is exponential in the field), with a
 * log-normal cycle-to-cycle spread; nothing below vth. There is no gradual depression: a negative pulse
 * at or above the erase threshold on any device erases its whole **block** (`blockRows` consecutive
 * rows, every column) back to Gmin, as flash erases a block at a time (PROTOCOL.md, "Device notes").
 * Device-to-device spread: τ is log-normal per device.
 */
import { bytesOf, DeviceArray, type DeviceContext } from "./common.ts";

export interface FlashParams {
  readonly gmin: number;
  readonly gmax: number;
  /** Characteristic programming time τ and the effective time that reaches Gmax, s. */
  readonly tau: number;
  readonly tfull: number;
  /** Programming: threshold, nominal amplitude, amplitude per e-fold of programming speed, V. */
  readonly vth: number;
  readonly vprog: number;
  readonly vslope: number;
  /** Erase: |v| of a negative pulse at or above this erases the block, V. */
  readonly verase: number;
  /** Rows per erase block. */
  readonly blockRows: number;
  /** Log-normal σ of each pulse's effective time (cycle-to-cycle) and of τ (device-to-device). */
  readonly c2c: number;
  readonly d2dTau: number;
  readonly width: number;
}

export class FlashArray extends DeviceArray {
  readonly g: Float64Array;
  readonly gmin: number;
  readonly gmax: number;
  readonly vthSet: number;
  readonly vthReset: number;
  /** Accumulated effective programming time, s. */
  private readonly tp: Float64Array;
  private readonly tau: Float32Array | null = null;
  private readonly norm: number;

  constructor(
    readonly p: FlashParams,
    ctx: DeviceContext,
  ) {
    super(ctx);
    this.gmin = p.gmin;
    this.gmax = p.gmax;
    this.vthSet = p.vth;
    this.vthReset = p.verase;
    this.g = new Float64Array(this.n).fill(p.gmin);
    this.tp = new Float64Array(this.n);
    this.norm = Math.log(1 + p.tfull / p.tau);
    const s = p.d2dTau * ctx.noise;
    if (s > 0) {
      this.tau = new Float32Array(this.n);
      for (let i = 0; i < this.n; i++) this.tau[i] = p.tau * Math.exp(s * ctx.boot.normal());
    }
  }

  /** The erase block of device `i`: [first, end) device indices. */
  block(i: number): [number, number] {
    const cols = this.ctx.cols;
    const r0 = Math.floor(i / cols / this.p.blockRows) * this.p.blockRows;
    const r1 = Math.min(r0 + this.p.blockRows, this.ctx.rows);
    return [r0 * cols, r1 * cols];
  }

  pulse(i: number, v: number, w: number, n: number, _t: number): number {
    if (n <= 0) return 0;
    const p = this.p;
    if (v < 0) {
      if (-v < p.verase) return 0;
      const [a, b] = this.block(i);
      let extra = 0;
      for (let j = a; j < b; j++) {
        if (j !== i) extra += v * v * this.g[j]! * w * n;
        if (this.frozen?.[j]) continue;
        this.tp[j] = 0;
        this.g[j] = p.gmin;
      }
      this.version++;
      return extra;
    }
    if (v < p.vth || this.frozen?.[i]) return 0;
    const sigma = p.c2c * this.ctx.noise;
    const dt =
      n * w * Math.exp((v - p.vprog) / p.vslope) * (sigma > 0 ? Math.exp(sigma * this.ctx.rng.normal()) : 1);
    const tp = this.tp[i]! + dt;
    this.tp[i] = tp;
    const tau = this.tau ? this.tau[i]! : p.tau;
    const g = p.gmin + ((p.gmax - p.gmin) * Math.log(1 + tp / tau)) / this.norm;
    this.g[i] = Math.min(g, p.gmax);
    this.version++;
    return 0;
  }

  stateBytes(): number {
    return bytesOf(this.g, this.tp, this.tau);
  }
}
