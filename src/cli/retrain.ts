/** `xbar retrain`: the retraining experiment on threshold-switch-on-PCM cells (src/learning/retrain/retrain.ts). */
import { writeFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { lastValueFrom, tap } from "rxjs";
import { connect } from "../board/connect.ts";
import {
  asciiMap,
  letterF,
  type PhaseResult,
  parsePattern,
  RETRAIN_DEFAULT_PORT,
  type RetrainResult,
  retrain,
  retrainDefaultPort,
} from "../learning/retrain/retrain.ts";
import { eng } from "./format.ts";
import { interruptedError, listenForInterrupt, untilAborted } from "./interrupt.ts";
import { intArg, numArg } from "./options.ts";

const TITLES: Record<PhaseResult["name"], string> = {
  reset: "after RESET",
  naive: "trained (naive)",
  forget: "forgotten",
  retrain: "retrained",
};

export function addRetrainCommand(program: Command, out: (s: string) => void): void {
  program
    .command("retrain")
    .description(
      "train threshold-switch-on-PCM cells on a pattern (the letter F), let them forget, retrain: pulses and time each way",
    )
    .option(
      "-p, --port <url>",
      `board URL with ts-pcm cells (default: an emulated ts-pcm array of the pattern's size, ${RETRAIN_DEFAULT_PORT} for 5 x 5)`,
    )
    .option("--size <n>", "grid size of the letter F", intArg("--size", 5, 64), 5)
    .option("--pattern <rows>", 'a square pattern instead of F: rows joined by "/", "#" on, "." off')
    .option(
      "--v <volts>",
      "FIRE bias of a training window",
      numArg("--v", (v) => v > 0, "positive"),
      1.6,
    )
    .option(
      "--window <seconds>",
      "FIRE window per training step",
      numArg("--window", (v) => v > 0 && v <= 1, "in (0, 1] s"),
      1e-3,
    )
    .option(
      "--target <siemens>",
      "trained: cells at or above this conductance",
      numArg("--target", (v) => v > 0, "positive"),
      15e-6,
    )
    .option(
      "--need <fraction>",
      "trained: this fraction of the pattern's cells at target",
      numArg("--need", (v) => v > 0 && v <= 1, "in (0, 1]"),
      0.9,
    )
    .option(
      "--max-steps <n>",
      "give up a training phase after this many windows",
      intArg("--max-steps", 1, 100000),
      200,
    )
    .addOption(
      new Option("--forget <how>", "forgetting: partial RESET pulses, or drift (WAIT)")
        .choices(["reset", "drift"])
        .default("reset"),
    )
    .option(
      "--forget-amplitude <volts>",
      "partial RESET amplitude",
      numArg("--forget-amplitude", (v) => v < 0, "negative"),
      -1.8,
    )
    .option("--forget-pulses <n>", "partial RESET pulses", intArg("--forget-pulses", 1, 10000), 1)
    .option(
      "--forget-seconds <s>",
      "drift: board time to wait",
      numArg("--forget-seconds", (v) => v > 0, "positive"),
      86400,
    )
    .option("--svg <file>", "write the array after each phase and the training curves as SVG")
    .option("--json", "print the figures and the maps as JSON")
    .addHelpText(
      "after",
      `
Examples:
  xbar retrain
  xbar retrain --size 8 --svg retrain.svg
  xbar retrain --forget drift --forget-seconds 1e6 --json
  xbar retrain --port socket://127.0.0.1:5025 --pattern "#####/#..../####./#..../#...."

Exit status 3 when a training phase did not reach the trained state within --max-steps.`,
    )
    .action(async (o) => {
      const { size, pattern } = o.pattern
        ? parsePattern(o.pattern)
        : { size: o.size, pattern: letterF(o.size) };
      const board = await connect(o.port ?? retrainDefaultPort(size));
      const stop = listenForInterrupt("the retraining experiment");
      let phases = 0;
      try {
        const done = await lastValueFrom(
          retrain({
            board,
            size,
            pattern,
            v: o.v,
            window: o.window,
            target: o.target,
            need: o.need,
            maxSteps: o.maxSteps,
            forget: o.forget,
            forgetAmplitude: o.forgetAmplitude,
            forgetPulses: o.forgetPulses,
            forgetSeconds: o.forgetSeconds,
          }).pipe(
            tap((e) => {
              if (e.type !== "phase") return;
              phases++;
              if (!o.json) printPhase(e.phase, o.target, out);
            }),
            untilAborted(stop.signal),
          ),
          { defaultValue: undefined },
        );
        if (done?.type !== "done") {
          if (!stop.signal.aborted) return;
          throw interruptedError(
            `retraining stopped after ${phases} completed phase(s)${phases && !o.json ? " (printed above)" : ""}; the board was left idle`,
          );
        }
        const r = done.result;
        if (o.svg) {
          const { retrainSvg } = await import("../learning/retrain/svg.ts");
          writeFileSync(o.svg, await retrainSvg(r));
        }
        if (o.json) out(JSON.stringify(toJson(r)));
        else summary(r, out);
        if (!r.phases.every((p) => p.name === "reset" || p.name === "forget" || p.reached))
          process.exitCode = 3;
      } finally {
        stop.dispose();
        await board.close();
      }
    });
}

function printPhase(p: PhaseResult, target: number, out: (s: string) => void): void {
  const what =
    p.name === "naive" || p.name === "retrain"
      ? `${p.reached ? "" : "NOT reached: "}${p.steps} windows, ${p.firings} firings, ${p.pulses} pulses, board time ${eng(p.time, "s")}, energy ${eng(p.energy, "J")}`
      : `${p.pulses} pulses, board time ${eng(p.time, "s")}`;
  out(`${TITLES[p.name]}: ${what}; ${p.onCells} pattern cells at or above ${eng(target, "S")}`);
  for (const l of asciiMap(p.map, 25e-6)) out(`  ${l}`);
}

function summary(r: RetrainResult, out: (s: string) => void): void {
  const n = r.phases.find((p) => p.name === "naive")!;
  const a = r.phases.find((p) => p.name === "retrain")!;
  out(`shades " .:-=+*#%@" from 0 to 25 µS`);
  out(
    `naive training ${n.steps} windows (${eng(n.time, "s")} board time, ${n.firings} firings); retraining ${a.steps} windows (${eng(a.time, "s")}, ${a.firings} firings): ${(r.ratio.steps * 100).toFixed(0)} % of the windows`,
  );
}

function toJson(r: RetrainResult) {
  return {
    ...r,
    phases: r.phases.map((p) => ({
      ...p,
      map: { rows: p.map.rows, cols: p.map.cols, data: Array.from(p.map.data) },
    })),
  };
}
