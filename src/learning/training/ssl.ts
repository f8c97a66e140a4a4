/**
 * Spontaneous sparse learning (SSL) on a drifting PCM array (docs/research.md §3; Lim et al.,
 * Nat. Commun. 12, 2021), as a pipeline over the Board interface only.
 *
 * The network and the update are those of the on-chip rule (both layers on differential pairs, forward
 * = VMM, backward = transposed VMM, update = one OPU per layer and image). PCM has a gradual SET and an
 * abrupt RESET, so the update is unidirectional, SET only (ΔW > 0 potentiates G+, ΔW < 0 potentiates
 * G−), and pairs that climb too high are refreshed: both devices RESET (abruptly), the difference
 * written back onto one of them with program-and-verify (ArrayLayer, rule "unidirectional").
 *
 * What SSL adds is time: after every training image the board's clock is brought forward to the
 * duration of one real training step (`stepTime`), so that the conductances drift between updates,
 *
 *   G(t) = Gprog · ((t − tprog + t0)/t0)^(−ν)      (the device's clock tprog reset by every pulse)
 *
 * Devices that the gradient keeps programming keep their state; the others decay towards Gmin, so their
 * weight W = (G+ − G−)/ΔG decays towards zero: a sparsifying weight decay at no extra cost.
 *
 * The step: after the image's update, read the board clock, and `wait` what remains of `stepTime`
 * since the end of the previous step. On an emulated board the clock only moves by the operations'
 * own durations (µs), so nearly all of `stepTime` is waited (virtually). On a real board the clock is
 * real: the step itself has already taken its time, only the remainder is waited, and a `stepTime`
 * shorter than the real step adds no waiting at all.
 *
 * The baseline (`drift: "off"`) is the same training without the waits: the board clock then moves
 * only by the pulses and reads themselves (about a millisecond per image on the emulated `pcm` board,
 * so drift is nearly absent); it is the on-chip rule with the same seed. The emulator has no option
 * that switches drift off on the same device (ν = 0), so "off" means "no time between updates".
 */
import { firstValueFrom, lastValueFrom } from "rxjs";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import type { Board } from "../../board/board.ts";
import type { ArrayLayer } from "../nn/array-layer.ts";
import type { PulseShape } from "../nn/calibrate.ts";

/**
 * Pulses of SSL: the amplitudes of the emulator's `pcm` preset (2 V SET, −2.5 V full RESET), 100 ns wide
 * (the preset's nominal width is 1 µs; in its model the width sets only the time and energy a pulse
 * takes, and 100 ns is a typical PCM programming pulse). Shorter pulses keep the clock advance of the
 * refreshes small next to the step time.
 */
export const SSL_PULSE: PulseShape = { vp: 2, vn: -2.5, width: 1e-7 };

/**
 * Default duration of one training step on the board's clock, s: about what one image takes on a real
 * test board over a serial link (three VMMs, one OPU per layer, the replies), so that on hardware the
 * rule adds little or no waiting, and drift acts on the emulator as it would on the bench.
 */
export const DEFAULT_STEP_TIME = 0.05;

/** Default |W| below which a weight counts as zero (in units of the full range, W = ΔG/(Gmax − Gmin)). */
export const DEFAULT_SPARSITY_THRESHOLD = 0.01;

export interface SslOptions {
  /** Duration of one training step on the board clock, s; default DEFAULT_STEP_TIME. */
  stepTime?: number;
  /** "on" (SSL): drift acts for `stepTime` between updates; "off": the baseline, no waiting. */
  drift?: "on" | "off";
  /** |W| below this counts as zero; default DEFAULT_SPARSITY_THRESHOLD. */
  sparsityThreshold?: number;
}

export interface SparsityReport {
  threshold: number;
  /** Fraction of the weights (biases included) with |W| < threshold, over all array layers. */
  fraction: number;
  /** The same per layer. */
  perLayer: number[];
  /** Mean |W| over all array layers. */
  meanAbs: number;
}

export interface SslReport {
  stepTime: number;
  drift: "on" | "off";
  /** Board clock advanced during training (evaluations excluded), s, on the first board. */
  trainClock: number;
  /** Of which waited by the rule, s. */
  waited: number;
  /** Weight sparsity after each epoch. */
  sparsity: SparsityReport[];
}

/** Checks SSL options; returns them with defaults filled in. */
export function sslOptions(o: SslOptions = {}): Required<SslOptions> {
  const stepTime = o.stepTime ?? DEFAULT_STEP_TIME;
  const drift = o.drift ?? "on";
  const sparsityThreshold = o.sparsityThreshold ?? DEFAULT_SPARSITY_THRESHOLD;
  if (!(Number.isFinite(stepTime) && stepTime >= 0 && stepTime <= 86400))
    throw new XbarError(ErrorCode.BAD_INPUT, `stepTime must be in [0, 86400] s, not ${stepTime}`);
  if (drift !== "on" && drift !== "off")
    throw new XbarError(ErrorCode.BAD_INPUT, `drift must be "on" or "off", not ${drift}`);
  if (!(sparsityThreshold > 0 && sparsityThreshold < 1))
    throw new XbarError(ErrorCode.BAD_INPUT, `sparsityThreshold must be in (0, 1), not ${sparsityThreshold}`);
  return { stepTime, drift, sparsityThreshold };
}

/**
 * The clock of SSL: `step()` after every training image brings every board's clock forward to one
 * `stepTime` after the end of the previous step (waiting only what the step itself has not taken).
 * `pause()`/`resume()` bracket what is not training (the evaluations), whose time is not counted.
 */
export class DriftClock {
  private readonly boards: Board[];
  private last = new Map<Board, number>();
  /** Clock advanced during training and time waited by the rule, s (first board). */
  trainClock = 0;
  waited = 0;

  constructor(
    boards: Board[],
    readonly stepTime: number,
    readonly on: boolean,
  ) {
    this.boards = [...new Set(boards)];
  }

  /** Marks the start of training (or its resumption after an evaluation). */
  async resume(): Promise<void> {
    for (const b of this.boards) this.last.set(b, await firstValueFrom(b.clock()));
  }

  /** Ends one training step: waits what remains of `stepTime` on every board. */
  async step(): Promise<void> {
    for (const [k, b] of this.boards.entries()) {
      const now = await firstValueFrom(b.clock());
      const last = this.last.get(b) ?? now;
      const left = this.on ? Math.min(86400, last + this.stepTime - now) : 0;
      const end = left > 0 ? await firstValueFrom(b.wait(left)) : now;
      if (k === 0) {
        this.trainClock += end - last;
        if (left > 0) this.waited += left;
      }
      this.last.set(b, end);
    }
  }
}

/** Weight sparsity of array layers: the fraction of |W| below `threshold`, read from the boards. */
export async function sparsity(layers: ArrayLayer[], threshold: number): Promise<SparsityReport> {
  let zero = 0;
  let total = 0;
  let sum = 0;
  const perLayer: number[] = [];
  for (const l of layers) {
    const w = await lastValueFrom(l.weights());
    let z = 0;
    for (const v of w) {
      if (Math.abs(v) < threshold) z++;
      sum += Math.abs(v);
    }
    zero += z;
    total += w.length;
    perLayer.push(z / w.length);
  }
  return { threshold, fraction: total ? zero / total : 0, perLayer, meanAbs: total ? sum / total : 0 };
}
