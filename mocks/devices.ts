/**
 * Device models of the emulated board. State lives in the array's typed arrays (one conductance per
 * device), never in an object per device; a model is a set of pure functions over that state.
 *
 * Sources (see also ../shared/RESEARCH.md, "Device models to offer"):
 * - `agsi`: the Ag:a-Si device of MLP_NeuroSim V3.0 (Gmax 38.462 nS, Gmin 3.0769 nS, 97 LTP / 100 LTD
 *   levels, nonlinearity +2.4 / −4.88, cycle-to-cycle noise 3.5 % of the range, write 3.2 V / −2.8 V,
 *   300 µs).
 * - `linear`: an ideal linear, high-dynamic-range device (our choice: 1 µS … 100 µS, 1000 levels,
 *   no noise), the reference against which nonlinear devices are compared.
 */
import type { Random } from "./random.ts";

export interface DeviceParams {
  /** Preset name, as reported by IDN tech=. */
  readonly name: string;
  readonly description: string;
  /** Conductance bounds, S. */
  readonly gmin: number;
  readonly gmax: number;
  /** Pulses from gmin to gmax (potentiation) and from gmax to gmin (depression). */
  readonly levelsLtp: number;
  readonly levelsLtd: number;
  /** NeuroSim nonlinearity labels (0 = linear). The sign of the LTD label sets the curvature. */
  readonly nlLtp: number;
  readonly nlLtd: number;
  /** Cycle-to-cycle noise: standard deviation per sqrt(pulse), as a fraction of the range. */
  readonly c2c: number;
  /** Pulses with |v| below this do not change the device, V. */
  readonly vth: number;
  /** Nominal programming pulses (what the demo and the host defaults use). */
  readonly vset: number;
  readonly vreset: number;
  readonly width: number;
}

export const DEVICE_PRESETS: Record<string, DeviceParams> = {
  linear: {
    name: "linear",
    description: "ideal linear high-dynamic-range device: 1-100 uS, 1000 levels, no noise (our choice)",
    gmin: 1e-6,
    gmax: 1e-4,
    levelsLtp: 1000,
    levelsLtd: 1000,
    nlLtp: 0,
    nlLtd: 0,
    c2c: 0,
    vth: 1.0,
    vset: 2.0,
    vreset: -2.0,
    width: 1e-4,
  },
  agsi: {
    name: "agsi",
    description: "Ag:a-Si, MLP_NeuroSim V3.0: 3.08-38.5 nS, 97/100 levels, NL +2.4/-4.88, 3.5% C2C",
    gmin: 3.0769e-9,
    gmax: 38.462e-9,
    levelsLtp: 97,
    levelsLtd: 100,
    nlLtp: 2.4,
    nlLtd: -4.88,
    c2c: 0.035,
    vth: 1.5,
    vset: 3.2,
    vreset: -2.8,
    width: 3e-4,
  },
};

/**
 * Our calibration of the NeuroSim nonlinearity label: the exponent Pmax/(2A) at which the normalised
 * conductance after half the pulses, 1/(1+e^(−Pmax/2A)), is 0.5 (NL 0), 0.73 (NL 2.4) and 0.92
 * (NL 4.88), the reference points of the NeuroSim device table; linear in between, extrapolated beyond.
 */
const NL_ANCHORS: Array<[nl: number, halfExponent: number]> = [
  [0, 0],
  [2.4, Math.log(0.73 / 0.27)],
  [4.88, Math.log(0.92 / 0.08)],
];

export function halfExponent(nl: number): number {
  const a = Math.abs(nl);
  for (let i = 1; i < NL_ANCHORS.length; i++) {
    const [n0, e0] = NL_ANCHORS[i - 1]!;
    const [n1, e1] = NL_ANCHORS[i]!;
    if (a <= n1 || i === NL_ANCHORS.length - 1) return e0 + ((a - n0) * (e1 - e0)) / (n1 - n0);
  }
  return 0;
}

/** One branch (LTP or LTD) of the NeuroSim curve G(x) = B(1 − e^(−x/A)) + Gmin, x in [0, P]. */
export interface Branch {
  readonly linear: boolean;
  readonly a: number;
  readonly b: number;
  readonly p: number;
}

export function branch(p: DeviceParams, which: "ltp" | "ltd"): Branch {
  const levels = which === "ltp" ? p.levelsLtp : p.levelsLtd;
  const nl = which === "ltp" ? p.nlLtp : p.nlLtd;
  const range = p.gmax - p.gmin;
  const e = halfExponent(nl);
  if (e < 1e-9) return { linear: true, a: 0, b: range / levels, p: levels };
  // A > 0: concave in x (fast first); a negative label flips the curvature (A < 0).
  const a = (Math.sign(nl) || 1) * (levels / (2 * e));
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

/** A compiled device model: pure function of (conductance, pulse) → new conductance. */
export class DeviceModel {
  readonly ltp: Branch;
  readonly ltd: Branch;
  constructor(readonly params: DeviceParams) {
    this.ltp = branch(params, "ltp");
    this.ltd = branch(params, "ltd");
  }

  /** Conductance of a fresh device. */
  initial(): number {
    return this.params.gmin;
  }

  /**
   * Applies `n` pulses of amplitude `v` (V) to a device of conductance `g`; returns the new conductance.
   * Positive v potentiates along the LTP branch, negative depresses along the LTD branch.
   */
  pulse(g: number, v: number, n: number, rng: Random): number {
    const p = this.params;
    if (Math.abs(v) < p.vth || n <= 0) return g;
    const br = v > 0 ? this.ltp : this.ltd;
    const x = toX(br, g, p.gmin);
    const x2 = Math.min(Math.max(v > 0 ? x + n : x - n, 0), br.p);
    let g2 = fromX(br, x2, p.gmin);
    // Cycle-to-cycle noise grows with the pulse count (σ·√n, as NeuroSim), except that a train which
    // drives the device into its bound leaves it at the bound (our choice: NeuroSim adds the noise
    // after clamping the state, so a long depression train would end far above Gmin).
    const target = v > 0 ? x + n : x - n;
    const saturated = target <= 0 || target >= br.p;
    if (p.c2c > 0 && !saturated) g2 += rng.normal() * p.c2c * Math.sqrt(n) * (p.gmax - p.gmin);
    return Math.min(Math.max(g2, p.gmin), p.gmax);
  }
}

export function deviceNames(): string[] {
  return Object.keys(DEVICE_PRESETS);
}
