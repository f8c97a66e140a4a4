/**
 * Learns a device's conductance range and level count through the Board, as a lab would: depress it
 * until it stops falling (Gmin), then potentiate it in short trains until it stops rising (Gmax),
 * counting the pulses it took to cover 95 % of the range (levels). Leaves the device depressed.
 */
import { lastValueFrom } from "rxjs";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import type { Board } from "../../board/board.ts";

export interface DeviceRange {
  gmin: number;
  gmax: number;
  /** Pulses from Gmin to Gmax: one pulse changes W by about 1/levels. */
  levels: number;
  /**
   * The potentiation curve from Gmin: conductance after every `curveStep` pulses (made monotone),
   * for open-loop writes of a conductance on a nonlinear device.
   */
  curve?: number[];
  curveStep?: number;
}

/** Pulses from Gmin that reach conductance `g` on the calibrated curve (or on a linear one). */
export function pulsesFor(range: DeviceRange, g: number): number {
  const frac = (g - range.gmin) / (range.gmax - range.gmin);
  if (frac <= 0) return 0;
  const { curve, curveStep = 1 } = range;
  if (!curve || curve.length === 0) return Math.round(Math.min(frac, 1) * range.levels);
  let prev = range.gmin;
  for (let i = 0; i < curve.length; i++) {
    const c = curve[i]!;
    if (c >= g) return Math.round((i + (c > prev ? (g - prev) / (c - prev) : 1)) * curveStep);
    prev = c;
  }
  return curve.length * curveStep;
}

export interface PulseShape {
  vp: number;
  vn: number;
  width: number;
}

export async function calibrateRange(
  board: Board,
  row: number,
  col: number,
  p: PulseShape,
  maxPulses = 20000,
): Promise<DeviceRange> {
  const train = async (v: number, n: number) =>
    (await lastValueFrom(board.pulse({ row, col, amplitude: v, width: p.width, count: n, readAfter: true })))
      .conductance!;
  // Depress until no new minimum for 4 trains.
  let gmin = await lastValueFrom(board.read(row, col));
  for (let k = 0, stale = 0; stale < 4 && k * 64 < maxPulses; k++) {
    const g = await train(p.vn, 64);
    if (g < gmin * 0.999) {
      gmin = g;
      stale = 0;
    } else stale++;
  }
  // Potentiate in trains of 4 pulses, recording the curve, until no new maximum for 8 trains.
  const curve: number[] = [];
  let gmax = gmin;
  for (let stale = 0; stale < 8 && curve.length * 4 < maxPulses; ) {
    const g = await train(p.vp, 4);
    curve.push(g);
    if (g > gmax * 1.001) {
      gmax = g;
      stale = 0;
    } else stale++;
  }
  const level = gmin + 0.95 * (gmax - gmin);
  const idx = curve.findIndex((g) => g >= level);
  const levels = Math.max(1, Math.round(((idx < 0 ? curve.length : idx + 1) * 4) / 0.95));
  // Leave the device depressed.
  for (let k = 0; k < Math.ceil((levels * 2) / 64); k++) await train(p.vn, 64);
  if (!(gmax > gmin))
    throw new XbarError(
      ErrorCode.NOT_CONVERGED,
      `device r=${row} c=${col} did not respond to pulses: cannot calibrate`,
    );
  // Monotone envelope of the (noisy) curve, up to the first time it reaches Gmax.
  const mono: number[] = [];
  let top = gmin;
  for (const g of curve) {
    top = Math.max(top, g);
    mono.push(top);
    if (top >= gmax) break;
  }
  return { gmin, gmax, levels, curve: mono, curveStep: 4 };
}
