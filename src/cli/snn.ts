/**
 * `xbar train --rule snn [--stash]`: the spiking network with the stashing system (src/learning/snn/snn.ts),
 * dispatched from `xbar train` (src/cli/train.ts), whose general options it shares.
 */
import type { Command } from "commander";
import { lastValueFrom, tap } from "rxjs";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import { XbarError } from "../../firmware-protocol/errors.ts";
import { connect } from "../board/connect.ts";
import { SNN_DEFAULT_PORT, type SnnResult, trainSnn } from "../learning/snn/snn.ts";
import { eng } from "./format.ts";
import { interruptedError, listenForInterrupt, untilAborted } from "./interrupt.ts";
import { progressBar } from "./progress.ts";

export const SNN_RULE = "snn";

export const SNN_HELP = `  snn       spiking network: LIF neurons on the host, synapses on a self-rectifying array, input spikes
            as VMM read pulses, a delta rule on spike counts as pulses (OPU); --stash sets aside
            neurons whose spike counts are right (no pulses, left out of the VMMs); default board
            ${SNN_DEFAULT_PORT}`;

/** Options of `xbar train` as parsed by commander (those the snn rule uses). */
interface TrainCliOptions {
  rule: string;
  port?: string[];
  /** `--stash` alone, or `--stash W:P` (window and fraction of the stash criterion). */
  stash?: boolean | string;
  steps?: number;
  epochs: number;
  imagesPerEpoch: number;
  testImages: number;
  seed: number;
  lr: number | number[];
  json?: boolean;
}

export async function runSnnCommand(
  o: TrainCliOptions,
  cmd: Command,
  out: (s: string) => void,
): Promise<void> {
  // Where the user left a general option at its MLP default, the spiking network's own default applies.
  if (o.rule !== SNN_RULE)
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `--stash and --steps apply to --rule snn only, not to --rule ${o.rule}`,
    );
  const given = (k: string) => cmd.getOptionValueSource(k) !== "default";
  for (const [k, flag] of [
    ["batch", "--batch"],
    ["lrDecay", "--lr-decay"],
    ["refreshAt", "--refresh-at"],
  ] as const)
    if (cmd.getOptionValueSource(k) === "cli")
      throw new XbarError(
        ErrorCode.BAD_INPUT,
        `${flag} applies to the perceptron rules (software, onchip, hybrid, ssl), not to --rule snn`,
      );
  if (o.port && o.port.length > 1) throw new XbarError(ErrorCode.BAD_INPUT, "--rule snn uses one board");
  if (Array.isArray(o.lr)) throw new XbarError(ErrorCode.BAD_INPUT, "--rule snn takes one --lr");
  let criterion: { window?: number; stashAt?: number } = {};
  if (typeof o.stash === "string") {
    const m = /^(\d+):(0?\.\d+|1(?:\.0*)?)$/.exec(o.stash);
    if (!m || Number(m[1]) < 1)
      throw new XbarError(
        ErrorCode.BAD_INPUT,
        `--stash takes WINDOW:FRACTION, e.g. 20:0.85, not "${o.stash}"`,
      );
    criterion = { window: Number(m[1]), stashAt: Number(m[2]) };
  }
  const board = await connect(o.port?.[0] ?? SNN_DEFAULT_PORT);
  const stop = listenForInterrupt("the training");
  const images = given("imagesPerEpoch") ? o.imagesPerEpoch : 3000;
  const bar = progressBar(images, "snn");
  let epochs = 0;
  try {
    const done = await lastValueFrom(
      trainSnn({
        board,
        stash: Boolean(o.stash),
        steps: o.steps,
        epochs: given("epochs") ? o.epochs : 1,
        imagesPerEpoch: images,
        testImages: given("testImages") ? o.testImages : 1000,
        seed: o.seed,
        lr: given("lr") ? o.lr : undefined,
        ...criterion,
      }).pipe(
        tap((e) => {
          if (e.type === "progress")
            bar.update(e.image, {
              status: `epoch ${e.epoch}, train ${pct(e.accuracy)}, stashed ${e.stashed}`,
            });
          else if (e.type === "info" && !o.json) process.stderr.write(`xbar train: ${e.message}\n`);
          else if (e.type === "epoch") {
            bar.update(0);
            epochs++;
            const r = e.report;
            if (!o.json)
              out(
                `epoch ${r.epoch}: test ${pct(r.testAccuracy)}, train ${pct(r.trainAccuracy)}, ${r.stashed} neurons stashed, training: ${r.train.pulses} pulses, ${r.train.vmms} VMM vectors, ${r.cellReads} device-vector reads, energy ${eng(r.train.energy, "J")}`,
              );
          }
        }),
        untilAborted(stop.signal),
      ),
      { defaultValue: undefined },
    );
    bar.stop();
    if (done?.type === "done") return report(done.result, Boolean(o.json), out);
    if (stop.signal.aborted)
      throw interruptedError(
        `training (--rule snn) stopped after ${epochs} completed epoch(s)${epochs && !o.json ? " (printed above)" : ""}; the board was left idle`,
      );
  } finally {
    bar.stop();
    stop.dispose();
    await board.close();
  }
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

function report(r: SnnResult, json: boolean, out: (s: string) => void): void {
  if (json) {
    out(
      JSON.stringify({
        rule: SNN_RULE,
        ...r,
        range: { gmin: r.range.gmin, gmax: r.range.gmax, levels: r.range.levels },
      }),
    );
    return;
  }
  out(
    `final test accuracy ${pct(r.accuracy)} (all neurons restored); per digit: ${r.perClass.map((a, d) => `${d}:${(a * 100).toFixed(0)}`).join(" ")}`,
  );
  if (r.stash) out(`stashed: ${r.stashedAt.map((s, j) => `${j}@${s ?? "-"}`).join(" ")} (neuron@image)`);
  out(
    `training (board counters): ${r.train.pulses} pulses, ${r.train.vmms} VMM vectors, ${r.cellReads} device-vector reads, energy ${eng(r.train.energy, "J")}, board time ${eng(r.train.clock, "s")}; evaluation energy ${eng(r.test.energy, "J")}; ${r.seconds.toFixed(1)} s`,
  );
}
