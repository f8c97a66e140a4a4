/**
 * The retraining experiment on neuron–synapse cells (docs/research.md §5, Sung et al. 2022): a
 * campaign over the Board interface (its `fire()` is the protocol's FIRE) on an array of threshold-switch-on-PCM
 * cells (`tech=ts-pcm`).
 *
 *   reset ─▶ naive training ─▶ forgetting ─▶ retraining        (a read of the array after each)
 *
 *   training = SET pulses on the pattern's cells that do not conduct yet, then training windows until the trained
 *              state: each window biases the pattern's cells at `v` for `t` (FIRE); a cell fires at a
 *              rate set by its PCM conductance and every firing partially SETs the PCM (positive
 *              feedback between neuron and synapse). Trained: at least `need` of the pattern's cells
 *              read at or above `target`.
 *   forgetting = partial RESET pulses on every cell (`reset`), or drift: WAIT on the board's clock
 *              (`drift`).
 *
 * The figures of each phase come from the board's own counters (pulses, energy, clock) and from FIRE
 * (windows, firings). Our choices where the work is silent: the pattern "F", the SET pulses that
 * start each training phase on cells that do not conduct (a fully RESET cell of the emulator may read
 * G = 0 and then never fires), the windows.
 */

import { firstValueFrom, lastValueFrom, type Observable } from "rxjs";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { isXbarError, XbarError } from "../../../firmware-protocol/errors.ts";
import type { Block, Board, ConductanceMap, Counters } from "../../board/board.ts";
import { activityBetween } from "../../board/counters.ts";
import { observeExperiment } from "../../pipelines/observe-experiment.ts";

/** The letter "F" on a size x size grid (size >= 5): a stem, a top bar and a shorter middle bar. */
export function letterF(size: number): Uint8Array {
  if (!(Number.isInteger(size) && size >= 5))
    throw new XbarError(ErrorCode.BAD_INPUT, `size must be an integer >= 5, not ${size}`);
  const p = new Uint8Array(size * size);
  const stem = Math.max(1, Math.round(size / 5));
  const mid = Math.floor(size / 2);
  for (let r = 0; r < size; r++) for (let c = 0; c < stem; c++) p[r * size + c] = 1;
  for (let r = 0; r < stem; r++) for (let c = 0; c < size; c++) p[r * size + c] = 1;
  for (let r = mid; r < mid + stem; r++) for (let c = 0; c < size - stem; c++) p[r * size + c] = 1;
  return p;
}

/** A pattern given as text: rows separated by "/" or newlines, "#" (or "1", "X") for on. */
export function parsePattern(text: string): { size: number; pattern: Uint8Array } {
  const rows = text
    .split(/[/\n]/)
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  const size = rows.length;
  if (size < 2 || rows.some((r) => r.length !== size))
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `a pattern must be square (n rows of n characters), got ${rows.map((r) => r.length).join("/")}`,
    );
  const pattern = new Uint8Array(size * size);
  rows.forEach((r, i) => {
    for (let j = 0; j < size; j++) pattern[i * size + j] = /[#1xX]/.test(r[j]!) ? 1 : 0;
  });
  return { size, pattern };
}

/** The pattern as blocks FIRE can bias: runs of each row, consecutive rows with the same run merged. */
export function patternBlocks(pattern: Uint8Array, size: number): Block[] {
  const blocks: Block[] = [];
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; ) {
      if (!pattern[r * size + c]) {
        c++;
        continue;
      }
      let e = c;
      while (e < size && pattern[r * size + e]) e++;
      const prev = blocks.find((b) => b.c0 === c && b.cols === e - c && b.r0 + b.rows === r);
      if (prev) prev.rows++;
      else blocks.push({ r0: r, c0: c, rows: 1, cols: e - c });
      c = e;
    }
  }
  return blocks;
}

export interface RetrainOptions {
  board: Board;
  /** Grid size (the pattern's side); default 5. */
  size?: number;
  /** The pattern (size x size, 1 = on); default the letter F. */
  pattern?: Uint8Array;
  /** FIRE bias, V; default 1.6. */
  v?: number;
  /** FIRE window per training step, s; default 1 ms. */
  window?: number;
  /** Trained when `need` of the pattern's cells read at or above this, S; default 15 µS. */
  target?: number;
  /** Fraction of the pattern's cells that must reach `target`; default 0.9. */
  need?: number;
  /** Give up a training phase after this many windows; default 200. */
  maxSteps?: number;
  /**
   * Each training phase starts with SET pulses (amplitude V, width s; default 2 V, 1 µs) on the pattern's
   * cells that read below `primeFloor` (default 1 µS), repeated up to `primeMax` times (default 10).
   */
  primeAmplitude?: number;
  primeWidth?: number;
  primeFloor?: number;
  primeMax?: number;
  /** Full RESET before the naive training: amplitude, V; default −2.5. */
  resetAmplitude?: number;
  /** Forgetting: partial RESET pulses on every cell, or drift (WAIT); default "reset". */
  forget?: "reset" | "drift";
  /** Partial RESET amplitude (V, negative) and pulses; default −1.8 V, 1. */
  forgetAmplitude?: number;
  forgetPulses?: number;
  /** Drift: board time to wait, s; default 86 400 (one day). */
  forgetSeconds?: number;
  /** Pulse width of RESET and forgetting pulses, s; default 1 µs. */
  width?: number;
}

export interface PhaseFigures {
  /** Training windows (FIRE on every block of the pattern) until trained; 0 outside training. */
  steps: number;
  /** Whether the trained state was reached. */
  reached: boolean;
  /** Firing events over the pattern's cells. */
  firings: number;
  /** Programming pulses (board counter): the starting SET pulses, RESET or forgetting pulses. */
  pulses: number;
  /** FIRE commands sent. */
  fires: number;
  /** Board clock advanced, s. */
  time: number;
  energy: number;
}

export interface PhaseResult extends PhaseFigures {
  name: "reset" | "naive" | "forget" | "retrain";
  /** The array after the phase (size x size, S). */
  map: ConductanceMap;
  /** Pattern cells at or above target, after the phase. */
  onCells: number;
  /** Training phases: the pattern's mean conductance after each window (index 0: after the SET pulse). */
  curve?: number[];
}

export interface RetrainResult {
  size: number;
  pattern: number[];
  options: Record<string, unknown>;
  phases: PhaseResult[];
  /** Retraining windows / naive windows (below 1: forgotten information relearned faster). */
  ratio: { steps: number; time: number; firings: number };
}

export type RetrainEvent =
  | { type: "phase"; phase: PhaseResult }
  | { type: "step"; phase: "naive" | "retrain"; step: number; mean: number; on: number }
  | { type: "done"; result: RetrainResult };

export const RETRAIN_DEFAULT_PORT = "emu://?rows=5&cols=5&device=ts-pcm&seed=1";

/** The default board for a pattern of `size` x `size` cells: an emulated ts-pcm array just that big. */
export function retrainDefaultPort(size: number): string {
  return `emu://?rows=${size}&cols=${size}&device=ts-pcm&seed=1`;
}

export function retrain(opts: RetrainOptions): Observable<RetrainEvent> {
  return observeExperiment<RetrainEvent, RetrainResult>([opts.board], (emit, cancelled) =>
    run(opts, emit, cancelled),
  );
}

async function run(
  o: RetrainOptions,
  emit: (e: RetrainEvent) => void,
  cancelled: () => boolean,
): Promise<RetrainResult> {
  const {
    board,
    size = 5,
    v = 1.6,
    window = 1e-3,
    target = 15e-6,
    need = 0.9,
    maxSteps = 200,
    primeAmplitude = 2,
    primeWidth = 1e-6,
    primeFloor = 1e-6,
    primeMax = 10,
    resetAmplitude = -2.5,
    forget = "reset",
    forgetAmplitude = -1.8,
    forgetPulses = 1,
    forgetSeconds = 86400,
    width = 1e-6,
  } = o;
  const pattern = o.pattern ?? letterF(size);
  if (pattern.length !== size * size)
    throw new XbarError(ErrorCode.BAD_INPUT, `the pattern has ${pattern.length} cells, not ${size}x${size}`);
  if (!(need > 0 && need <= 1))
    throw new XbarError(ErrorCode.BAD_INPUT, `need must be in (0, 1], not ${need}`);
  if (!(target > 0))
    throw new XbarError(ErrorCode.BAD_INPUT, `target must be a positive conductance, not ${target}`);
  if (!(Number.isInteger(maxSteps) && maxSteps >= 1))
    throw new XbarError(ErrorCode.BAD_INPUT, `maxSteps must be an integer >= 1`);
  if (!(forgetAmplitude < 0 && resetAmplitude < 0))
    throw new XbarError(ErrorCode.BAD_INPUT, "RESET and forgetting amplitudes must be negative");
  const { rows, cols } = board.identity;
  if (rows < size || cols < size)
    throw new XbarError(
      ErrorCode.UNSUITABLE_BOARD,
      `a ${size}x${size} pattern needs ${size}x${size} cells; ${board.url} has ${rows}x${cols}`,
    );
  // Probe FIRE harmlessly (0 V: below any threshold, no firing, no change): a board whose devices
  // have no threshold switch refuses it (PROTOCOL.md, FIRE).
  const noFire = `${board.url} has ${board.identity.technology} devices without FIRE: the retraining experiment needs threshold-switch cells (e.g. emu://?device=ts-pcm)`;
  if (!board.identity.operations.includes("FIRE")) throw new XbarError(ErrorCode.UNSUITABLE_BOARD, noFire);
  try {
    await lastValueFrom(board.fire({ r0: 0, c0: 0, rows: 1, cols: 1 }, 0, 1e-9));
  } catch (e) {
    if (isXbarError(e, ErrorCode.BAD_ARGUMENT)) throw new XbarError(ErrorCode.UNSUITABLE_BOARD, noFire);
    throw e;
  }
  const grid: Block = { r0: 0, c0: 0, rows: size, cols: size };
  const blocks = patternBlocks(pattern, size);
  const cells = pattern.reduce((a, b) => a + b, 0);
  const needCells = Math.ceil(need * cells);
  const counters = () => firstValueFrom(board.counters());
  const readGrid = () => lastValueFrom(board.readBlock(grid));
  const onCells = (m: ConductanceMap) => {
    let n = 0;
    for (let i = 0; i < m.data.length; i++) if (pattern[i] && m.data[i]! >= target) n++;
    return n;
  };
  const mean = (m: ConductanceMap) => {
    let s = 0;
    for (let i = 0; i < m.data.length; i++) if (pattern[i]) s += m.data[i]!;
    return s / cells;
  };
  const pulseAll = (amplitude: number, n: number, only?: Uint8Array) =>
    lastValueFrom(
      board.pulseBlock({
        ...grid,
        counts: Int16Array.from({ length: size * size }, (_, i) =>
          only && !only[i] ? 0 : amplitude > 0 ? n : -n,
        ),
        vp: amplitude > 0 ? amplitude : 1,
        vn: amplitude < 0 ? amplitude : -1,
        width,
      }),
    );
  const figures = (a: Counters, b: Counters, extra: Partial<PhaseFigures> = {}): PhaseFigures => {
    const done = activityBetween(a, b);
    return {
      steps: 0,
      reached: false,
      firings: 0,
      fires: 0,
      pulses: done.pulses,
      time: done.clock,
      energy: done.energy,
      ...extra,
    };
  };
  const phases: PhaseResult[] = [];
  const done = (p: PhaseResult) => {
    phases.push(p);
    emit({ type: "phase", phase: p });
    return p;
  };

  const train = async (name: "naive" | "retrain"): Promise<PhaseResult> => {
    const a = await counters();
    // Start: SET pulses on the pattern's cells that do not conduct yet (below primeFloor), until every
    // one does (at most primeMax rounds): a cell at G = 0 never fires.
    let m = await readGrid();
    for (let round = 0; round < primeMax; round++) {
      const counts = Int16Array.from(pattern, (on, i) => (on && m.data[i]! < primeFloor ? 1 : 0));
      if (!counts.some((n) => n > 0)) break;
      await lastValueFrom(
        board.pulseBlock({ ...grid, counts, vp: primeAmplitude, vn: -1, width: primeWidth }),
      );
      m = await readGrid();
    }
    const curve = [mean(m)];
    let steps = 0;
    let firings = 0;
    let fires = 0;
    while (onCells(m) < needCells && steps < maxSteps) {
      if (cancelled()) throw new XbarError(ErrorCode.INTERRUPTED, "retraining cancelled");
      for (const b of blocks) {
        const s = await lastValueFrom(board.fire(b, v, window));
        for (const n of s) firings += n;
        fires++;
      }
      steps++;
      m = await readGrid();
      curve.push(mean(m));
      emit({ type: "step", phase: name, step: steps, mean: curve[steps]!, on: onCells(m) });
    }
    const f = figures(a, await counters(), { steps, firings, fires, reached: onCells(m) >= needCells });
    return done({ name, ...f, map: m, onCells: onCells(m), curve });
  };

  // 0. A defined start: every cell fully RESET.
  {
    const a = await counters();
    await pulseAll(resetAmplitude, 1);
    const m = await readGrid();
    done({ name: "reset", ...figures(a, await counters()), map: m, onCells: onCells(m) });
  }
  const naive = await train("naive");
  // Forgetting.
  {
    const a = await counters();
    if (forget === "reset") await pulseAll(forgetAmplitude, forgetPulses);
    else {
      for (let left = forgetSeconds; left > 0; left -= 86400)
        await lastValueFrom(board.wait(Math.min(left, 86400)));
    }
    const m = await readGrid();
    done({ name: "forget", ...figures(a, await counters()), map: m, onCells: onCells(m) });
  }
  const again = await train("retrain");
  return {
    size,
    pattern: Array.from(pattern),
    options: {
      v,
      window,
      target,
      need,
      maxSteps,
      primeAmplitude,
      primeWidth,
      primeFloor,
      primeMax,
      resetAmplitude,
      forget,
      forgetAmplitude,
      forgetPulses,
      forgetSeconds,
      width,
      board: board.url,
    },
    phases,
    ratio: {
      steps: again.steps / Math.max(naive.steps, 1),
      time: again.time / Math.max(naive.time, 1e-30),
      firings: again.firings / Math.max(naive.firings, 1),
    },
  };
}

const SHADES = " .:-=+*#%@";

/** A map drawn with one character per cell (two wide), on a fixed scale 0 … `scale` S. */
export function asciiMap(m: ConductanceMap, scale: number): string[] {
  const lines: string[] = [];
  for (let r = 0; r < m.rows; r++) {
    let s = "";
    for (let c = 0; c < m.cols; c++) {
      const k = Math.round(Math.min(Math.max(m.data[r * m.cols + c]! / scale, 0), 1) * (SHADES.length - 1));
      s += SHADES[k]!.repeat(2);
    }
    lines.push(`|${s}|`);
  }
  return lines;
}
