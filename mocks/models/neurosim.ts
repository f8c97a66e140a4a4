/**
 * Gradual nonlinear device in the style of MLP_NeuroSim V3.0: separate potentiation (LTP) and
 * depression (LTD) curves G(x) = B(1 − e^(−x/A)) + Gmin over a finite pulse count x ∈ [0, P],
 * B = (Gmax − Gmin)/(1 − e^(−P/A)), A set by the nonlinearity label NL; cycle-to-cycle noise
 * σ·√n·(Gmax − Gmin) per train of n pulses; optional device-to-device spread of NL and of the range.
 *
 * State: one Float64 conductance per device; with device-to-device spread also four Float32 per
 * device (NL of each branch, Gmin, Gmax), and two more with a spread of the levels (pulse counts).
 */
import { bytesOf, DeviceArray, type DeviceContext, type IvShape, strength } from "./common.ts";

export interface NeuroSimParams {
  /** Conductance bounds, S. */
  readonly gmin: number;
  readonly gmax: number;
  /** Pulses from Gmin to Gmax (LTP) and from Gmax to Gmin (LTD). */
  readonly levelsLtp: number;
  readonly levelsLtd: number;
  /** NeuroSim nonlinearity labels (0 = linear); the sign of the LTD label sets its curvature. */
  readonly nlLtp: number;
  readonly nlLtd: number;
  /** Cycle-to-cycle noise: standard deviation per √pulse, as a fraction of the range. */
  readonly c2c: number;
  /** Device-to-device spread: standard deviation of the NL labels (absolute, label units). */
  readonly d2dNl: number;
  /** Device-to-device spread: relative standard deviation of Gmin and of Gmax. */
  readonly d2dRange: number;
  /**
   * Device-to-device spread: relative standard deviation of each branch's pulse count (the number of
   * levels, so of the step of one pulse); absent = 0. Drawn after the others, so presets without it
   * keep their devices.
   */
  readonly d2dLevels?: number;
  /** Pulses with |v| below this change nothing, V. */
  readonly vth: number;
  /** Nominal programming pulses: a pulse at or above the nominal amplitude is one full step. */
  readonly vset: number;
  readonly vreset: number;
  readonly width: number;
  /** I–V shape (self-rectifying devices); absent = ohmic. */
  readonly iv?: IvShape;
}

/**
 * NeuroSim's own mapping from the nonlinearity label NL to the normalised parameter A/Pmax:
 * getParamA() in MLP_NeuroSim V3.0 formula.cpp (the table documents/Nonlinearity-NormA.htm, labels
 * 0.01 to 9 in steps of 0.01). We keep the table's values at these labels (those of our presets among
 * them, exactly) and interpolate log A against log NL in between (within 0.2 % of the table); below
 * the first label A·NL is constant (1.2627 in the table), beyond the last the last segment goes on.
 */
const NORM_A: ReadonlyArray<readonly [nl: number, normA: number]> = [
  [0.1, 12.625807],
  [0.25, 5.048012],
  [0.5, 2.519877],
  [0.75, 1.675322],
  [1, 1.251653],
  [1.25, 0.996328],
  [1.5, 0.825164],
  [1.75, 0.702081],
  [2, 0.609035],
  [2.4, 0.499181],
  [2.5, 0.476965],
  [3, 0.38683],
  [3.5, 0.320556],
  [4, 0.269089],
  [4.5, 0.227383],
  [4.88, 0.200303],
  [5, 0.192406],
  [5.5, 0.162236],
  [6, 0.135619],
  [6.5, 0.11175],
  [7, 0.090139],
];

/** A/Pmax for a nonlinearity label (its magnitude; the sign sets the curvature elsewhere). */
export function normalisedA(nl: number): number {
  const a = Math.abs(nl);
  const [n0, a0] = NORM_A[0]!;
  if (a <= n0) return (a0 * n0) / a;
  for (let i = 1; i < NORM_A.length; i++) {
    const [x0, y0] = NORM_A[i - 1]!;
    const [x1, y1] = NORM_A[i]!;
    if (a === x1) return y1;
    if (a < x1 || i === NORM_A.length - 1) {
      const t = Math.log(a / x0) / Math.log(x1 / x0);
      return Math.exp(Math.log(y0) + t * Math.log(y1 / y0));
    }
  }
  return a0;
}

/** One branch (LTP or LTD) of the NeuroSim curve G(x) = B(1 − e^(−x/A)) + Gmin, x in [0, P]. */
export interface Branch {
  readonly linear: boolean;
  readonly a: number;
  readonly b: number;
  readonly p: number;
}

export function branchOf(levels: number, nl: number, range: number): Branch {
  if (Math.abs(nl) < 1e-6) return { linear: true, a: 0, b: range / levels, p: levels };
  // A > 0: concave in x (fast first); a negative label flips the curvature (A < 0).
  const a = (Math.sign(nl) || 1) * levels * normalisedA(nl);
  const b = range / (1 - Math.exp(-levels / a));
  return { linear: false, a, b, p: levels };
}

function toX(br: Branch, g: number, gmin: number): number {
  if (br.linear) return (g - gmin) / br.b;
  const ratio = 1 - (g - gmin) / br.b;
  return -br.a * Math.log(Math.max(ratio, 1e-12));
}

function fromX(br: Branch, x: number, gmin: number): number {
  if (br.linear) return gmin + br.b * x;
  return br.b * (1 - Math.exp(-x / br.a)) + gmin;
}

export class NeuroSimArray extends DeviceArray {
  readonly g: Float64Array;
  readonly gmin: number;
  readonly gmax: number;
  readonly vthSet: number;
  readonly vthReset: number;
  override readonly iv: IvShape | null;
  private readonly ltp: Branch;
  private readonly ltd: Branch;
  private readonly sigma: number;
  /** Per-device NL labels and range, only with device-to-device spread. */
  private readonly dNlLtp: Float32Array | null = null;
  private readonly dNlLtd: Float32Array | null = null;
  private readonly dGmin: Float32Array | null = null;
  private readonly dGmax: Float32Array | null = null;
  private readonly dLevelsLtp: Float32Array | null = null;
  private readonly dLevelsLtd: Float32Array | null = null;

  constructor(
    readonly p: NeuroSimParams,
    ctx: DeviceContext,
  ) {
    super(ctx);
    this.gmin = p.gmin;
    this.gmax = p.gmax;
    this.vthSet = p.vth;
    this.vthReset = p.vth;
    this.iv = p.iv ?? null;
    const range = p.gmax - p.gmin;
    this.ltp = branchOf(p.levelsLtp, p.nlLtp, range);
    this.ltd = branchOf(p.levelsLtd, p.nlLtd, range);
    this.sigma = p.c2c * ctx.noise;
    this.g = new Float64Array(this.n).fill(p.gmin);
    const sNl = p.d2dNl * ctx.noise;
    const sRange = p.d2dRange * ctx.noise;
    const sLevels = (p.d2dLevels ?? 0) * ctx.noise;
    if (sNl > 0 || sRange > 0 || sLevels > 0) {
      const n = this.n;
      this.dNlLtp = new Float32Array(n);
      this.dNlLtd = new Float32Array(n);
      this.dGmin = new Float32Array(n);
      this.dGmax = new Float32Array(n);
      if (sLevels > 0) {
        this.dLevelsLtp = new Float32Array(n);
        this.dLevelsLtd = new Float32Array(n);
      }
      const r = ctx.boot;
      for (let i = 0; i < n; i++) {
        // The label's magnitude varies; its sign (the curvature of the branch) is the preset's.
        const mag = (x: number) => Math.max(0, Math.abs(x) + sNl * r.normal());
        this.dNlLtp[i] = (Math.sign(p.nlLtp) || 1) * mag(p.nlLtp);
        this.dNlLtd[i] = (Math.sign(p.nlLtd) || 1) * mag(p.nlLtd);
        const lo = p.gmin * Math.max(0.1, 1 + sRange * r.normal());
        const hi = p.gmax * Math.max(0.1, 1 + sRange * r.normal());
        this.dGmin[i] = lo;
        this.dGmax[i] = Math.max(hi, lo * 1.5); // keep a usable range
        this.g[i] = this.dGmin[i]!;
        if (this.dLevelsLtp && this.dLevelsLtd) {
          // At least 2 pulses from bound to bound: a device with a single level is not a synapse.
          this.dLevelsLtp[i] = Math.max(2, Math.round(p.levelsLtp * (1 + sLevels * r.normal())));
          this.dLevelsLtd[i] = Math.max(2, Math.round(p.levelsLtd * (1 + sLevels * r.normal())));
        }
      }
    }
  }

  pulse(i: number, v: number, _w: number, n: number, _t: number): number {
    if (n <= 0 || this.frozen?.[i]) return 0;
    const up = v > 0;
    const s = strength(v, this.p.vth, up ? this.p.vset : -this.p.vreset);
    if (s === 0) return 0;
    const k = s === 1 ? n : n * s;
    let gmin = this.gmin;
    let gmax = this.gmax;
    let br = up ? this.ltp : this.ltd;
    if (this.dGmin) {
      gmin = this.dGmin[i]!;
      gmax = this.dGmax![i]!;
      br = up
        ? branchOf(this.dLevelsLtp?.[i] ?? this.p.levelsLtp, this.dNlLtp![i]!, gmax - gmin)
        : branchOf(this.dLevelsLtd?.[i] ?? this.p.levelsLtd, this.dNlLtd![i]!, gmax - gmin);
    }
    const x = toX(br, this.g[i]!, gmin);
    const target = up ? x + k : x - k;
    const x2 = Math.min(Math.max(target, 0), br.p);
    let g2 = fromX(br, x2, gmin);
    // Cycle-to-cycle noise σ·√n as NeuroSim, except that a train which drives the device into its
    // bound leaves it at the bound (our choice: NeuroSim adds the noise after clamping the state, so
    // a long depression train would end far above Gmin, and a refresh could not reset a pair).
    const saturated = target <= 0 || target >= br.p;
    if (this.sigma > 0 && !saturated) g2 += this.ctx.rng.normal() * this.sigma * Math.sqrt(k) * (gmax - gmin);
    this.g[i] = Math.min(Math.max(g2, gmin), gmax);
    this.version++;
    return 0;
  }

  stateBytes(): number {
    return bytesOf(
      this.g,
      this.dNlLtp,
      this.dNlLtd,
      this.dGmin,
      this.dGmax,
      this.dLevelsLtp,
      this.dLevelsLtd,
    );
  }
}
