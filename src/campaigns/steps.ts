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
import type { Step, StepBody } from "./schema.ts";
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

/** Runs one step; resolves with a small JSON summary stored with the step. */
export async function executeStep(step: Step, ctx: StepContext): Promise<Record<string, unknown>> {
  const { board, record, signal, progress } = ctx;
  switch (step.kind) {
    case "identify": {
      const c = await firstValueFrom(board.counters());
      record({
        kind: "identity",
        boardClock: c.clock,
        meta: { identity: board.identity, limits: board.limits, counters: c },
      });
      return { identity: board.identity };
    }
    case "characterize": {
      const b = step.body;
      const total = 2 * b.pulses + 1;
      let n = 0;
      let min = Number.POSITIVE_INFINITY;
      let max = 0;
      await consume(characterize(board, b), signal, (p) => {
        record({
          kind: "pulse_response",
          row: b.row,
          col: b.col,
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
    case "program": {
      let b = step.body;
      if (b.relative) {
        if (!ctx.range)
          throw new XbarError(
            ErrorCode.BAD_INPUT,
            "program: relative levels need a characterize step before",
          );
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
    case "form": {
      const b = step.body;
      const width = b.width ?? DEFAULT_PULSE.width;
      const n = Math.floor((b.stop - b.start) / b.step + 1e-9) + 1;
      let g = Number.NaN;
      let k = 0;
      for (; k < n; k++) {
        if (signal.aborted) throw new StepAborted();
        const amplitude = b.start + k * b.step;
        await consume(
          board.pulse({ row: b.row, col: b.col, amplitude, width, readAfter: true }),
          signal,
          (r) => {
            g = r.conductance!;
          },
        );
        record({ kind: "form", row: b.row, col: b.col, x: amplitude, y: g, meta: { width } });
        progress(k + 1, n, `${amplitude.toFixed(2)} V`);
        if (g >= b.target) break;
      }
      return { formed: g >= b.target ? 1 : 0, pulses: Math.min(k + 1, n), conductance: g };
    }
    case "read": {
      let mean = 0;
      await consume(readMap(board, step.body.block as Block | undefined), signal, (m) => {
        const meas = mapMeasurement("map", m);
        mean = meas.y!;
        record(meas);
      });
      return { mean };
    }
    case "retention": {
      const b = step.body;
      let n = 0;
      await consume(retention(board, b), signal, (p) => {
        record(mapMeasurement("retention", p.map, p.t));
        progress(++n, b.count + 1, `t = ${p.t.toPrecision(4)} s`);
      });
      return { reads: n };
    }
    case "wait": {
      let clock = 0;
      await consume(board.wait(step.body.seconds), signal, (t) => {
        clock = t;
      });
      return { clock };
    }
    case "iv": {
      const b = step.body;
      if (!ctx.smu) throw new XbarError(ErrorCode.BAD_INPUT, "iv: no instrument");
      const cycles = b.cycles ?? 1;
      const sweeps: Array<[number, number]> = [];
      for (let k = 0; k < cycles; k++) {
        sweeps.push([b.start, b.stop]);
        if (b.back) sweeps.push([b.stop, b.start]);
      }
      let n = 0;
      let compliance = 0;
      for (const [k, [start, stop]] of sweeps.entries()) {
        if (signal.aborted) throw new StepAborted();
        const pts = await ctx.smu.sweepVoltage({ start, stop, points: b.points, compliance: b.compliance });
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
    case "train": {
      const b = step.body;
      const opts = {
        rule: b.rule,
        boards: b.rule === "software" ? [] : [board],
        update: b.update,
        epochs: b.epochs ?? 1,
        imagesPerEpoch: b.imagesPerEpoch ?? 1000,
        testImages: b.testImages ?? 1000,
        hidden: b.hidden,
        crop: b.crop,
        seed: b.seed,
        lr: b.lr,
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
            label: b.rule,
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
  }
}
