/**
 * The plan of a campaign before anything is sent: runs, steps, commands and an estimate of the time
 * each takes. Estimates are rough on purpose: commands × link latency (by URL kind) + pulse time +
 * waits on the board clock (zero wall time on an emulated board, whose clock is virtual).
 */
import { redactSecrets } from "../../firmware-protocol/redact.ts";
import {
  type DeviceWork,
  estimateSeconds,
  sizeOfUrl,
  timingOfUrl,
  trainImageWork,
} from "../board/estimate.ts";
import { DEFAULT_PULSE } from "../pipelines/index.ts";
import type { Campaign } from "./load.ts";
import type { Step } from "./schema.ts";

export interface StepEstimate {
  commands: number;
  /** Board-clock time of pulses and waits, s. */
  boardSeconds: number;
  /** Estimated wall time, s. */
  seconds: number;
  what: string;
}

/** Seconds per command by link kind (one request in flight at a time, as the step operators issue them; measured here). */
function latency(url: string): number {
  if (url.startsWith("emu://")) return 3e-3;
  if (url.startsWith("socket://")) return 4e-3;
  return 6e-3;
}

/** Seconds to commit one measurement to the run store (WASM SQLite, one transaction each). */
const STORE_SECONDS = 1e-4;

const virtualClock = (url: string) =>
  url.startsWith("emu://") || url.startsWith("bench-emu://") || url.startsWith("arc1-emu://");

/**
 * Device reads and pulses of a step on a board that composes everything from single-device steps
 * (bench://, arc1://): program-and-verify is taken as 30 rounds of a read and a pulse per device.
 */
function deviceWork(step: Step, url: string): DeviceWork | undefined {
  const w = (reads: number, pulses = 0, width = 0): DeviceWork => ({
    reads,
    pulses,
    pulseSeconds: pulses * width,
  });
  const size = sizeOfUrl(url);
  switch (step.kind) {
    case "characterize": {
      const b = step.body;
      return w(2 * b.pulses + 1, 2 * b.pulses, b.width ?? DEFAULT_PULSE.width);
    }
    case "program": {
      const n = step.body.block.rows * step.body.block.cols;
      return w(30 * n, 30 * n, step.body.width ?? DEFAULT_PULSE.width);
    }
    case "form": {
      const b = step.body;
      const k = Math.floor((b.stop - b.start) / b.step + 1e-9) + 1;
      return w(k, k, b.width ?? DEFAULT_PULSE.width);
    }
    case "read": {
      const bl = step.body.block;
      return w(bl ? bl.rows * bl.cols : size.rows * size.cols);
    }
    case "retention": {
      const bl = step.body.block;
      return w((step.body.count + 1) * (bl ? bl.rows * bl.cols : size.rows * size.cols));
    }
    case "train": {
      const b = step.body;
      const sizes = [(b.crop ?? 20) ** 2, b.hidden ?? 100, 10];
      const per = trainImageWork(b.rule, sizes).reads;
      const images = (b.epochs ?? 1) * ((b.imagesPerEpoch ?? 1000) + (b.testImages ?? 1000));
      return w(per * images);
    }
    default:
      return undefined;
  }
}

export function estimateStep(step: Step, url: string): StepEstimate {
  const timing = timingOfUrl(url);
  const work = timing ? deviceWork(step, url) : undefined;
  if (timing && work) {
    const base = estimateStepOnLink(step, url);
    const board = base.boardSeconds;
    const seconds = estimateSeconds(timing, work) + (virtualClock(url) ? 0 : board - work.pulseSeconds);
    return {
      commands: work.reads + work.pulses,
      boardSeconds: board,
      seconds: Math.max(seconds, estimateSeconds(timing, work)),
      what: `${base.what} [${work.reads} device reads, ${work.pulses} pulses, one at a time]`,
    };
  }
  return estimateStepOnLink(step, url);
}

function estimateStepOnLink(step: Step, url: string): StepEstimate {
  const lat = latency(url);
  let commands = 1;
  let board = 0;
  let extra = 0;
  let what = "";
  switch (step.kind) {
    case "identify":
      commands = 2;
      what = "identity, limits and counters";
      break;
    case "characterize": {
      const b = step.body;
      commands = 2 * b.pulses + 1;
      board = 2 * b.pulses * (b.width ?? DEFAULT_PULSE.width);
      extra = commands * STORE_SECONDS;
      what = `pulse response of r=${b.row} c=${b.col}: ${b.pulses} up, ${b.pulses} down`;
      break;
    }
    case "program": {
      const b = step.body;
      const n = b.block.rows * b.block.cols;
      // Program-and-verify typically settles in some tens of rounds of one PLIST and one read.
      commands = 2 * 30 + 1;
      board = n * 20 * (b.width ?? DEFAULT_PULSE.width);
      extra = (n + 1) * STORE_SECONDS;
      what = `program ${b.pattern} over ${b.block.rows} x ${b.block.cols} at r0=${b.block.r0} c0=${b.block.c0} (${b.low}..${b.high} S)`;
      break;
    }
    case "form": {
      const b = step.body;
      commands = Math.floor((b.stop - b.start) / b.step + 1e-9) + 1;
      board = commands * (b.width ?? DEFAULT_PULSE.width);
      what = `forming r=${b.row} c=${b.col}: ${b.start} V to at most ${b.stop} V in ${b.step} V steps, until G >= ${b.target} S`;
      break;
    }
    case "read":
      what = step.body.block
        ? `read ${step.body.block.rows} x ${step.body.block.cols} block`
        : "read the whole array";
      break;
    case "retention": {
      const b = step.body;
      commands = 2 * b.count + 1;
      board = b.count * b.interval;
      extra = (b.count + 1) * STORE_SECONDS;
      what = `retention: ${b.count + 1} reads, every ${b.interval} s`;
      break;
    }
    case "wait":
      board = step.body.seconds;
      what = `wait ${step.body.seconds} s on the board clock`;
      break;
    case "iv": {
      const b = step.body;
      const sweeps = (b.cycles ?? 1) * (b.back ? 2 : 1);
      commands = sweeps * 12;
      extra = sweeps * b.points * 0.01;
      what = `I-V: ${sweeps} sweep(s) ${b.start} V to ${b.stop} V${b.back ? " and back" : ""}, ${b.points} points`;
      break;
    }
    case "train": {
      const b = step.body;
      const images = (b.epochs ?? 1) * (b.imagesPerEpoch ?? 1000);
      const tests = (b.epochs ?? 1) * (b.testImages ?? 1000);
      commands = b.rule === "software" ? 0 : images * 6 + tests;
      extra = images * 3e-4 + tests * 5e-5;
      what = `train ${b.rule}: ${b.epochs ?? 1} epoch(s) of ${b.imagesPerEpoch ?? 1000} images`;
      break;
    }
  }
  const seconds = commands * lat + extra + (virtualClock(url) ? 0 : board);
  return { commands, boardSeconds: board, seconds, what };
}

export function fmtDuration(s: number): string {
  if (s < 1) return `${Math.max(1, Math.round(s * 1000))} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** The plan as text lines, and the total estimate. */
export function describePlan(c: Campaign): { lines: string[]; seconds: number } {
  const lines: string[] = [];
  let total = 0;
  const nSteps = c.runs[0]?.steps.length ?? 0;
  lines.push(`campaign "${c.name}": ${c.runs.length} run(s) of ${nSteps} step(s)`);
  c.runs.forEach((r, i) => {
    const params = Object.entries(r.params)
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
    lines.push(`run ${i + 1}/${c.runs.length}${params ? ` (${params})` : ""} on ${redactSecrets(r.url)}`);
    r.steps.forEach((s, j) => {
      const e = estimateStep(s, r.url);
      total += e.seconds;
      lines.push(
        `  ${String(j + 1).padStart(2)}. ${s.kind.padEnd(12)} ${e.what}; ~${e.commands} commands, ~${fmtDuration(e.seconds)}${e.boardSeconds > 0 && virtualClock(r.url) ? ` (${fmtDuration(e.boardSeconds)} on the virtual clock)` : ""}`,
      );
    });
  });
  lines.push(`estimated time: ${fmtDuration(total)}`);
  return { lines, seconds: total };
}
