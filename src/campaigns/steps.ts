/**
 * What each campaign step does on the board, and what it records. Steps see only the Board
 * interface; every measurement is handed to `record` (committed to the run store at once) as it is
 * taken. Cancellation: `signal` unsubscribes the running operator, which stops issuing commands and
 * aborts the board (array idle).
 */
import { firstValueFrom, type Observable } from "rxjs";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import { XbarError } from "../../firmware-protocol/errors.ts";
import type { Block, Board } from "../board/board.ts";
import type { Smu } from "../board/instrument.ts";
import { train } from "../learning/training/train.ts";
import {
  characterize,
  DEFAULT_PULSE,
  type ProgramProgress,
  programVerify,
  readMap,
  retention,
  type Target,
} from "../pipelines/index.ts";
import type { Step, StepBody, StepKind } from "./schema.ts";
import type { Measurement } from "./store/run-store.ts";

export interface StepContext {
  board: Board;
  /** The campaign's instrument, when it has one. */
  smu?: Smu;
  record(m: Measurement): void;
  signal: AbortSignal;
  /** Progress of the step: `done` of `total` units, with a short status. */
  progress(done: number, total: number, status?: string): void;
  /** The conductance range measured by the run's last characterize step, S. */
  range?: { gmin: number; gmax: number };
}

export class StepAborted extends Error {
  constructor() {
    super("aborted");
    this.name = "StepAborted";
  }
}

/** Subscribes to `obs`, feeding `onNext`; unsubscribes (aborting the operator) when `signal` fires. */
export function consume<T>(obs: Observable<T>, signal: AbortSignal, onNext: (v: T) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(new StepAborted());
    const onAbort = () => {
      sub.unsubscribe();
      reject(new StepAborted());
    };
    const sub = obs.subscribe({
      next: (v) => {
        try {
          onNext(v);
        } catch (e) {
          sub?.unsubscribe();
          signal.removeEventListener("abort", onAbort);
          reject(e);
        }
      },
      error: (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
      complete: () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
    });
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Target conductances of a pattern over a block. */
export function patternTargets(p: StepBody<"program">): Target[] {
  const { r0, c0, rows, cols } = p.block;
  const out: Target[] = [];
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const on =
        p.pattern === "uniform"
          ? true
          : p.pattern === "checkerboard"
            ? (r + c) % 2 === 0
            : p.pattern === "diagonal"
              ? r === c
              : r === c || r + c === Math.min(rows, cols) - 1;
      out.push({ row: r0 + r, col: c0 + c, target: on ? p.high : p.low });
    }
  return out;
}

const mapMeasurement = (
  kind: string,
  m: { r0: number; c0: number; rows: number; cols: number; data: Float32Array },
  t?: number,
): Measurement => {
  let sum = 0;
  for (const v of m.data) sum += v;
  return {
    kind,
    boardClock: t,
    row: m.r0,
    col: m.c0,
    x: t,
    y: sum / m.data.length,
    array: { data: m.data, shape: [m.rows, m.cols] },
    meta: { r0: m.r0, c0: m.c0, rows: m.rows, cols: m.cols },
  };
};

/** The board's identity, limits and counters, recorded once. */
async function identifyStep(_body: StepBody<"identify">, ctx: StepContext): Promise<Record<string, unknown>> {
  const { board, record } = ctx;
  const c = await firstValueFrom(board.counters());
  record({
    kind: "identity",
    boardClock: c.clock,
    meta: { identity: board.identity, limits: board.limits, counters: c },
  });
  return { identity: board.identity };
}

/** A pulse-response curve of one device: every point recorded as it is read. */
async function characterizeStep(
  body: StepBody<"characterize">,
  ctx: StepContext,
): Promise<Record<string, unknown>> {
  const { board, record, signal, progress } = ctx;
  const total = 2 * body.pulses + 1;
  let n = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  await consume(characterize(board, body), signal, (p) => {
    record({
      kind: "pulse_response",
      row: body.row,
      col: body.col,
      x: p.pulse,
      y: p.conductance,
      label: p.phase,
      meta: { amplitude: p.amplitude, width: p.width },
    });
    min = Math.min(min, p.conductance);
    max = Math.max(max, p.conductance);
    progress(++n, total, p.phase);
  });
  return { points: n, gmin: min, gmax: max };
}

/**
 * Program-and-verify of a pattern; each device's outcome, then the map. Devices that do not converge
 * warn (default) or fail the step (`onUnconverged: fail`, E620).
 */
async function programStep(body: StepBody<"program">, ctx: StepContext): Promise<Record<string, unknown>> {
  const { board, record, signal, progress } = ctx;
  let b = body;
  if (b.relative) {
    if (!ctx.range)
      throw new XbarError(ErrorCode.BAD_INPUT, "program: relative levels need a characterize step before");
    const { gmin, gmax } = ctx.range;
    b = { ...b, low: gmin + b.low * (gmax - gmin), high: gmin + b.high * (gmax - gmin) };
  }
  const targets = patternTargets(b);
  let last: ProgramProgress | undefined;
  await consume(programVerify(board, targets, b), signal, (p) => {
    last = p;
    progress(p.converged + p.stuck + p.capped, targets.length, `round ${p.round}, ${p.pulses} pulses`);
  });
  for (const d of last!.devices ?? [])
    record({
      kind: "program",
      row: d.row,
      col: d.col,
      x: d.target,
      y: d.conductance,
      label: d.status,
      meta: { pulses: d.pulses },
    });
  await consume(readMap(board, b.block), signal, (m) => record(mapMeasurement("map", m)));
  const outcome = {
    low: b.low,
    high: b.high,
    devices: targets.length,
    converged: last!.converged,
    stuck: last!.stuck,
    capped: last!.capped,
    pending: last!.pending,
    rounds: last!.round,
    pulses: last!.pulses,
  };
  const missed = outcome.devices - outcome.converged;
  if (missed === 0) return outcome;
  const what = `${missed} of ${outcome.devices} devices did not converge (${outcome.stuck} stuck, ${outcome.capped} out of pulse budget, ${outcome.pending} not settled within ${outcome.rounds} rounds)`;
  if (b.onUnconverged === "fail") throw new XbarError(ErrorCode.NOT_CONVERGED, `program: ${what}`);
  return { ...outcome, warning: what };
}

/** Electroforming: pulses of rising amplitude until the device reaches its target conductance. */
async function formStep(body: StepBody<"form">, ctx: StepContext): Promise<Record<string, unknown>> {
  const { board, record, signal, progress } = ctx;
  const width = body.width ?? DEFAULT_PULSE.width;
  const n = Math.floor((body.stop - body.start) / body.step + 1e-9) + 1;
  let g = Number.NaN;
  let k = 0;
  for (; k < n; k++) {
    if (signal.aborted) throw new StepAborted();
    const amplitude = body.start + k * body.step;
    await consume(
      board.pulse({ row: body.row, col: body.col, amplitude, width, readAfter: true }),
      signal,
      (r) => {
        g = r.conductance!;
      },
    );
    record({ kind: "form", row: body.row, col: body.col, x: amplitude, y: g, meta: { width } });
    progress(k + 1, n, `${amplitude.toFixed(2)} V`);
    if (g >= body.target) break;
  }
  return { formed: g >= body.target ? 1 : 0, pulses: Math.min(k + 1, n), conductance: g };
}

/** A conductance map of a block (or of the whole array). */
async function readStep(body: StepBody<"read">, ctx: StepContext): Promise<Record<string, unknown>> {
  const { board, record, signal } = ctx;
  let mean = 0;
  await consume(readMap(board, body.block as Block | undefined), signal, (m) => {
    const meas = mapMeasurement("map", m);
    mean = meas.y!;
    record(meas);
  });
  return { mean };
}

/** Maps of a block over time, on the board's clock. */
async function retentionStep(
  body: StepBody<"retention">,
  ctx: StepContext,
): Promise<Record<string, unknown>> {
  const { board, record, signal, progress } = ctx;
  let n = 0;
  await consume(retention(board, body), signal, (p) => {
    record(mapMeasurement("retention", p.map, p.t));
    progress(++n, body.count + 1, `t = ${p.t.toPrecision(4)} s`);
  });
  return { reads: n };
}

/** Lets the board's clock run (devices drift, relax). */
async function waitStep(body: StepBody<"wait">, ctx: StepContext): Promise<Record<string, unknown>> {
  const { board, signal } = ctx;
  let clock = 0;
  await consume(board.wait(body.seconds), signal, (t) => {
    clock = t;
  });
  return { clock };
}

/** I-V sweeps with the campaign's SMU, there and back for each cycle. */
async function ivStep(body: StepBody<"iv">, ctx: StepContext): Promise<Record<string, unknown>> {
  const { record, signal, progress } = ctx;
  if (!ctx.smu) throw new XbarError(ErrorCode.BAD_INPUT, "iv: no instrument");
  const cycles = body.cycles ?? 1;
  const sweeps: Array<[number, number]> = [];
  for (let k = 0; k < cycles; k++) {
    sweeps.push([body.start, body.stop]);
    if (body.back) sweeps.push([body.stop, body.start]);
  }
  let n = 0;
  let compliance = 0;
  for (const [k, [start, stop]] of sweeps.entries()) {
    if (signal.aborted) throw new StepAborted();
    const pts = await ctx.smu.sweepVoltage({ start, stop, points: body.points, compliance: body.compliance });
    for (const p of pts) {
      record({
        kind: "iv",
        x: p.v,
        y: p.i,
        label: `sweep ${k + 1}`,
        meta: { t: p.t, compliance: p.compliance },
      });
      if (p.compliance) compliance++;
      n++;
    }
    progress(k + 1, sweeps.length, `sweep ${k + 1}: ${start} V to ${stop} V`);
  }
  return { points: n, sweeps: sweeps.length, inCompliance: compliance };
}

/** A training run of a rule on the board: every epoch and the final confusion matrix recorded. */
async function trainStep(body: StepBody<"train">, ctx: StepContext): Promise<Record<string, unknown>> {
  const { board, record, signal, progress } = ctx;
  const opts = {
    rule: body.rule,
    boards: body.rule === "software" ? [] : [board],
    update: body.update,
    epochs: body.epochs ?? 1,
    imagesPerEpoch: body.imagesPerEpoch ?? 1000,
    testImages: body.testImages ?? 1000,
    hidden: body.hidden,
    crop: body.crop,
    seed: body.seed,
    lr: body.lr,
  };
  let final: Record<string, unknown> = {};
  const images = opts.epochs * opts.imagesPerEpoch;
  await consume(train(opts as Parameters<typeof train>[0]), signal, (e) => {
    if (e.type === "progress")
      progress(
        Math.min(images, (e.epoch - 1) * opts.imagesPerEpoch + e.image),
        images,
        `${e.phase} loss ${e.loss.toFixed(3)}`,
      );
    if (e.type === "epoch") {
      const r = e.report;
      record({
        kind: "epoch",
        x: r.epoch,
        y: r.test.accuracy,
        label: r.phase,
        meta: {
          trainLoss: r.trainLoss,
          trainAccuracy: r.trainAccuracy,
          testLoss: r.test.loss,
          pulses: r.pulses,
          energy: r.energy,
          seconds: r.seconds,
        },
      });
    }
    if (e.type === "done") {
      const f = e.result.final;
      record({
        kind: "confusion",
        y: f.accuracy,
        label: body.rule,
        array: {
          data: Int32Array.from(f.confusion.flat()),
          shape: [f.confusion.length, f.confusion.length],
        },
      });
      final = { accuracy: f.accuracy, loss: f.loss, totals: e.result.totals };
    }
  });
  return final;
}

/** What each kind of step does. */
const EXECUTORS: {
  [K in StepKind]: (body: StepBody<K>, ctx: StepContext) => Promise<Record<string, unknown>>;
} = {
  identify: identifyStep,
  characterize: characterizeStep,
  program: programStep,
  form: formStep,
  read: readStep,
  retention: retentionStep,
  wait: waitStep,
  iv: ivStep,
  train: trainStep,
};

/** Runs one step; resolves with a small JSON summary stored with the step. */
export function executeStep(step: Step, ctx: StepContext): Promise<Record<string, unknown>> {
  return (EXECUTORS[step.kind] as (body: Step["body"], ctx: StepContext) => Promise<Record<string, unknown>>)(
    step.body,
    ctx,
  );
}
