/**
 * What every device model of the emulated board shares: the `DeviceArray` contract (state in typed
 * arrays, one slot per device, never an object per device), the current–voltage shape used by the
 * array effects, and the pulse-amplitude response.
 *
 * A model sees device indices (row-major, `r * cols + c`), amplitudes, widths, counts and the board's
 * virtual clock. It never sees protocol frames and never reads the clock itself.
 */
import type { Rng } from "../../firmware-protocol/random.ts";

/** What a model is built with. */
export interface DeviceContext {
  readonly rows: number;
  readonly cols: number;
  /**
   * Scale of every random part of the model (cycle-to-cycle and programming noise, intrinsic read
   * noise, device-to-device spread): 1 = the preset as published, 0 = its mean device.
   */
  readonly noise: number;
  /** Randomness drawn once at boot (device-to-device spread). */
  readonly boot: Rng;
  /** Randomness drawn by pulses (cycle-to-cycle, programming noise). */
  readonly rng: Rng;
}

/**
 * Current–voltage shape of a cell: I(V) = G · V · h(V), where G is the device's state (its chord
 * conductance at the reference voltage, where h = 1). Ohmic devices have h ≡ 1 and no shape object.
 */
export interface IvShape {
  /** h(V), dimensionless, V in volts (signed). */
  h(v: number): number;
}

/**
 * Self-rectifying I–V (our choice of form, common for Schottky/tunnel-barrier memristors): forward
 * I ∝ sinh(V/v0) up to the reference voltage and ohmic (series-limited) above it, reverse current
 * divided by the rectification ratio.
 */
export function rectifyingIv(vref: number, v0: number, rectification: number): IvShape {
  const s = Math.sinh(vref / v0);
  return {
    h(v: number): number {
      const a = Math.abs(v);
      if (a === 0) return (vref / v0 / s) * (v >= 0 ? 1 : 1 / rectification); // limit V → 0
      const f = a >= vref ? 1 : (vref / a) * (Math.sinh(a / v0) / s);
      return v > 0 ? f : f / rectification;
    },
  };
}

/**
 * Fraction of a nominal pulse that a pulse of amplitude |v| delivers (our choice, the same for every
 * preset that has a threshold): none below the threshold `vth`, a full step at or above the nominal
 * amplitude `vnom`, linear in between. Half-selected cells (V/2, V/3) mostly fall in between.
 */
export function strength(v: number, vth: number, vnom: number): number {
  const a = Math.abs(v);
  if (a < vth) return 0;
  if (a >= vnom) return 1;
  return (a - vth) / (vnom - vth);
}

export abstract class DeviceArray {
  /** Number of devices. */
  readonly n: number;
  /**
   * Conductance state, S, one per device: what a read at the reference voltage sees right after
   * programming. Drifting models evaluate the present value with `at(t)`.
   */
  abstract readonly g: Float64Array;
  /** Nominal conductance range of the preset, S (stuck-at values, energy estimates, ADC auto-range). */
  abstract readonly gmin: number;
  abstract readonly gmax: number;
  /** Smallest |v| (V) that changes a device, for positive and for negative pulses. */
  abstract readonly vthSet: number;
  abstract readonly vthReset: number;
  /** I–V shape, or null for an ohmic device. */
  readonly iv: IvShape | null = null;
  /** Whether conductances change with time between programming events (drift). */
  readonly drifts: boolean = false;
  /** Devices stuck at a value (set by the board): pulses leave them alone. */
  frozen: Uint8Array | null = null;
  /** Bumped whenever a conductance changes, so that the board can cache sums over the array. */
  version = 0;

  constructor(readonly ctx: DeviceContext) {
    this.n = ctx.rows * ctx.cols;
  }

  /** Present conductances at board time `t`, S (the state itself for models that do not drift). */
  at(_t: number): Float64Array {
    return this.g;
  }

  /** Relative standard deviation of each device's intrinsic read noise at time `t`, or null if none. */
  readNoise(_t: number): Float32Array | null {
    return null;
  }

  /**
   * Applies `n` pulses of amplitude `v` (V, signed) and width `w` (s) to device `i`; `t` is the board
   * clock when the train ends. Returns the energy (J) the pulse spent in devices other than `i`
   * (a block erase); the board accounts for device `i` itself.
   */
  abstract pulse(i: number, v: number, w: number, n: number, t: number): number;

  /**
   * Sets device `i` to conductance `g` for good (stuck-at faults), with no drift. Models with more
   * state per device than `g` override it.
   */
  force(i: number, g: number): void {
    this.g[i] = g;
    this.version++;
  }

  /** Bytes of typed-array state this model holds (for the benchmark). */
  abstract stateBytes(): number;
}

/** Sum of byteLength over typed arrays (null entries count 0). */
export function bytesOf(...arrays: Array<ArrayBufferView | null | undefined>): number {
  let s = 0;
  for (const a of arrays) s += a?.byteLength ?? 0;
  return s;
}

/** A Gaussian spread factor 1 + sigma·ξ drawn from `rng`, or exactly 1 when sigma is 0 (no draw). */
export function spread(rng: Rng, sigma: number): number {
  return sigma > 0 ? 1 + sigma * rng.normal() : 1;
}
