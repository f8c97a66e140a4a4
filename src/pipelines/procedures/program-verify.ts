/**
 * Program-and-verify to a target conductance map.
 *
 *   read block ─▶ compare with targets ─┬─ all settled ─▶ done (report)
 *        ▲                              └─ pulse list (one PLIST: n pulses per device, polarity by sign)
 *        └───────────────────────────────────────┘
 *
 * Per device, the host learns the conductance change per pulse from the last round (starting with one
 * pulse) and sizes the next train to cover 80 % of the remaining error. A device is
 * - converged when |G − target| ≤ tolerance × target,
 * - stuck when `stuckAfter` consecutive rounds of pulses moved it by less than 0.1 % of its target
 *   (a device stuck at low or high conductance, or a target beyond the device's range),
 * - capped when it used `maxPulses` without converging.
 */
import { concatMap, EMPTY, expand, from, map, mergeMap, type Observable, reduce, takeWhile } from "rxjs";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import type { Board, ConductanceMap } from "../../board/board.ts";
import { abortOnUnsubscribe } from "../operators/abort-on-unsubscribe.ts";
import { withProgress } from "../operators/with-progress.ts";
import { DEFAULT_PULSE } from "./characterize.ts";

export interface Target {
  row: number;
  col: number;
  /** Target conductance, S (> 0). */
  target: number;
}

export interface ProgramOptions {
  /** Relative tolerance; default 0.05 (5 % of the target). */
  tolerance?: number;
  /** Absolute tolerance, S: a device is also converged within this of its target; default 0. */
  absTolerance?: number;
  /** Pulses one device may receive in total; default 1000. */
  maxPulses?: number;
  /** Most pulses in one train; default 32. */
  maxTrain?: number;
  /** Rounds of pulse-then-read; default 200. */
  maxRounds?: number;
  /** Rounds without response before a device is declared stuck; default 4. */
  stuckAfter?: number;
  /** Potentiating and depressing amplitude, V, and width, s; defaults as for characterize. */
  setAmplitude?: number;
  resetAmplitude?: number;
  width?: number;
}

export type DeviceStatus = "pending" | "converged" | "stuck" | "capped";

export interface DeviceOutcome extends Target {
  status: DeviceStatus;
  conductance: number;
  pulses: number;
}

export interface ProgramProgress {
  round: number;
  converged: number;
  stuck: number;
  capped: number;
  pending: number;
  /** Pulses applied so far by this operation. */
  pulses: number;
  done: boolean;
  /** Per-device outcome; filled on the last emission. */
  devices?: DeviceOutcome[];
}

/**
 * Refuses a target far above what the board's devices reach: more than twice the largest
 * conductance the board reports (LIM gmax, the nominal device's maximum; devices spread around it
 * from device to device, so a target a little above it may still be reached). Such a target is named
 * up front instead of ending as "stuck" after the whole pulse budget.
 */
export function checkReachable(board: Board, target: number, where: string): void {
  const gmax = board.limits.gmax;
  if (gmax !== undefined && target > 2 * gmax)
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `${where}: target ${target} S is far above the largest conductance of the devices of ${board.url} (${gmax} S nominal)`,
    );
}

export function programVerify(
  board: Board,
  targets: Target[],
  opts: ProgramOptions = {},
): Observable<ProgramProgress> {
  const {
    tolerance = 0.05,
    absTolerance = 0,
    maxPulses = 1000,
    maxTrain = 32,
    maxRounds = 200,
    stuckAfter = 4,
    setAmplitude = DEFAULT_PULSE.setAmplitude,
    resetAmplitude = DEFAULT_PULSE.resetAmplitude,
    width = DEFAULT_PULSE.width,
  } = opts;
  if (targets.length === 0) throw new XbarError(ErrorCode.BAD_INPUT, "no targets to program");
  if (!(tolerance > 0 && tolerance < 1))
    throw new XbarError(ErrorCode.BAD_INPUT, `tolerance must be in (0, 1), not ${tolerance}`);
  for (const t of targets) {
    if (!(t.target > 0 && Number.isFinite(t.target)))
      throw new XbarError(
        ErrorCode.BAD_INPUT,
        `target at r=${t.row} c=${t.col} must be a positive conductance, not ${t.target}`,
      );
    checkReachable(board, t.target, `target at r=${t.row} c=${t.col}`);
  }
  const tol = (target: number) => Math.max(tolerance * target, absTolerance);
  const n = targets.length;
  const r0 = Math.min(...targets.map((t) => t.row));
  const c0 = Math.min(...targets.map((t) => t.col));
  const block = {
    r0,
    c0,
    rows: Math.max(...targets.map((t) => t.row)) - r0 + 1,
    cols: Math.max(...targets.map((t) => t.col)) - c0 + 1,
  };
  const status: DeviceStatus[] = new Array(n).fill("pending");
  const g = new Float64Array(n);
  const gain = new Float64Array(n).fill(Number.NaN);
  const used = new Uint32Array(n);
  const lastTrain = new Int32Array(n); // signed pulses applied in the last round
  const stall = new Uint8Array(n);
  let round = 0;
  let total = 0;
  /** Pulses the board confirmed (total minus the pulse list of a round still in flight). */
  let confirmed = 0;
  let inRound = 0;

  const progress = (done: boolean): ProgramProgress => {
    const count = (s: DeviceStatus) => status.filter((x) => x === s).length;
    return {
      round,
      converged: count("converged"),
      stuck: count("stuck"),
      capped: count("capped"),
      pending: count("pending"),
      pulses: total,
      done,
      devices: done
        ? targets.map((t, i) => ({ ...t, status: status[i]!, conductance: g[i]!, pulses: used[i]! }))
        : undefined,
    };
  };

  /** Takes a fresh read of the block; updates every device's state; returns the next pulse list. */
  const assess = (m: ConductanceMap, planning: boolean) => {
    const rows: number[] = [];
    const cols: number[] = [];
    const counts: number[] = [];
    const amps: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = targets[i]!;
      const now = m.data[(t.row - r0) * m.cols + (t.col - c0)]!;
      const before = g[i]!;
      g[i] = now;
      if (status[i] === "converged" || status[i] === "stuck" || status[i] === "capped") {
        // Re-check converged devices: a neighbour's pulses may have disturbed them.
        if (status[i] !== "converged" || Math.abs(now - t.target) <= tol(t.target)) continue;
        status[i] = "pending";
      }
      const sent = lastTrain[i]!;
      if (sent !== 0) {
        const moved = (now - before) * Math.sign(sent);
        if (moved > 1e-3 * t.target) {
          gain[i] = moved / Math.abs(sent);
          stall[i] = 0;
        } else if (++stall[i]! >= stuckAfter) {
          status[i] = "stuck";
          lastTrain[i] = 0;
          continue;
        }
      }
      const err = t.target - now;
      if (Math.abs(err) <= tol(t.target)) {
        status[i] = "converged";
        lastTrain[i] = 0;
        continue;
      }
      const left = maxPulses - used[i]!;
      if (left <= 0) {
        status[i] = "capped";
        lastTrain[i] = 0;
        continue;
      }
      if (!planning) continue;
      const want = Number.isNaN(gain[i]!) ? 1 : Math.round((0.8 * Math.abs(err)) / gain[i]!);
      // After a stall, double the train to get past a flat part of the curve.
      const k = Math.max(1, Math.min(want << stall[i]!, maxTrain, left));
      rows.push(t.row);
      cols.push(t.col);
      counts.push(k);
      amps.push(err > 0 ? setAmplitude : resetAmplitude);
      lastTrain[i] = err > 0 ? k : -k;
      used[i] = used[i]! + k;
      total += k;
    }
    return { rows, cols, counts, amps };
  };

  // Scattered targets are read one by one (pipelined) rather than through their whole bounding box.
  const sparse = n * 4 < block.rows * block.cols;
  const readTargets = (): Observable<ConductanceMap> =>
    sparse
      ? from(targets).pipe(
          mergeMap((t) => board.read(t.row, t.col).pipe(map((g) => ({ t, g }))), 16),
          reduce(
            (m, { t, g }) => {
              m.data[(t.row - r0) * block.cols + (t.col - c0)] = g;
              return m;
            },
            { ...block, data: new Float32Array(block.rows * block.cols) },
          ),
        )
      : board.readBlock(block);

  type Step = { plan: ReturnType<typeof assess>; progress: ProgramProgress };
  const readAndAssess = () =>
    readTargets().pipe(
      map((m): Step => {
        const plan = assess(m, round < maxRounds);
        const done = plan.rows.length === 0 || round >= maxRounds;
        return { plan, progress: progress(done) };
      }),
    );

  return readAndAssess().pipe(
    expand((step) => {
      if (step.progress.done) return EMPTY;
      round++;
      const { rows, cols, counts, amps } = step.plan;
      inRound = counts.reduce((a, b) => a + b, 0);
      return board
        .pulseList({
          rows: Uint16Array.from(rows),
          cols: Uint16Array.from(cols),
          count: Uint16Array.from(counts),
          amplitude: Float32Array.from(amps),
          width,
        })
        .pipe(
          concatMap(() => {
            confirmed += inRound;
            inRound = 0;
            return readAndAssess();
          }),
        );
    }),
    map((s) => s.progress),
    takeWhile((p) => !p.done, true),
    // On failure: rounds started, pulses confirmed, and those of a pulse list whose reply was lost.
    withProgress(() => ({
      round,
      pulses: confirmed,
      pulsesInFlight: inRound,
      converged: status.filter((x) => x === "converged").length,
      devices: n,
    })),
    abortOnUnsubscribe(board),
  );
}
