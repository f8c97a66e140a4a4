/** `xbar train`: training rules with the array in the loop (see src/learning/training/train.ts). */
import { type Command, InvalidArgumentError, Option } from "commander";
import { lastValueFrom, tap } from "rxjs";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import { XbarError } from "../../firmware-protocol/errors.ts";
import type { Board } from "../board/board.ts";
import { connect } from "../board/connect.ts";
import { composedTrainingNote } from "../board/estimate.ts";
import { type Crop, poolsOf } from "../learning/datasets/mnist.ts";
import { readCheckpoint, type TrainCheckpoint } from "../learning/training/checkpoint.ts";
import { DEFAULT_STEP_TIME, SSL_PULSE } from "../learning/training/ssl.ts";
import {
  type EpochReport,
  RULES,
  type TrainEvent,
  type TrainOptions,
  type TrainResult,
  train,
} from "../learning/training/train.ts";
import type { RunView } from "../view/run-view.ts";
import { EXIT } from "./common.ts";
import { eng } from "./format.ts";
import { interruptedError, listenForInterrupt, untilAborted } from "./interrupt.ts";
import { intArg, numArg } from "./options.ts";
import { progressBar } from "./progress.ts";
import { runSnnCommand, SNN_HELP, SNN_RULE } from "./snn.ts";
import {
  Checkpoints,
  checkBoards,
  checkUnfinished,
  RESUME_HELP,
  resumedOptions,
  resumedUrls,
  storedOptions,
} from "./train-resume.ts";
import { addViewOptions, startRunView, type ViewFlags } from "./view.ts";
import { trainFeed } from "./view-feed.ts";

export const TRAIN_DEFAULT_PORT = "emu://?rows=512&cols=256&device=agsi&seed=1";
/** Default board of `--rule ssl`: the drifting PCM preset. */
export const SSL_DEFAULT_PORT = "emu://?rows=512&cols=256&device=pcm&seed=1";

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const count = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n);

/** A positive number, or one per layer: "0.2,0.1". */
function perLayerArg(name: string) {
  return (raw: string): number | number[] => {
    const parts = raw
      .split(",")
      .map((s) => numArg(name, (v) => v > 0, "a positive number or a list like 0.2,0.1")(s));
    return parts.length === 1 ? parts[0]! : parts;
  };
}

export function addTrainCommand(program: Command, out: (s: string) => void): void {
  addViewOptions(program.command("train"))
    .description(
      "train a 3-layer perceptron on MNIST with the array in the loop (or in software as the reference)",
    )
    .option(
      "-p, --port <url...>",
      `board URL(s); several boards tile layers that do not fit one (default ${TRAIN_DEFAULT_PORT})`,
    )
    .addOption(
      new Option("--rule <name>", "training rule (required, unless --resume)").choices([...RULES, SNN_RULE]),
    )
    .option(
      "--checkpoint <file>",
      "after every epoch, save what resuming needs to this file (default: a new file in the state folder)",
    )
    .option(
      "--resume <file>",
      "continue the training of this checkpoint with its next epoch, on the same board(s) (see below)",
    )
    .addOption(
      new Option("--update <how>", "on-chip update: both devices of a pair, or potentiation only")
        .choices(["bidirectional", "unidirectional"])
        .default("unidirectional"),
    )
    .addOption(
      new Option("--pulse-mode <mode>", "pulses per device: rounded count, or one pulse by sign (Manhattan)")
        .choices(["count", "sign"])
        .default("count"),
    )
    .option(
      "--threshold <x>",
      "smallest |ΔW|/ΔWstep that gives a pulse (0.5 = rounding)",
      numArg("--threshold", (v) => v > 0, "positive"),
      0.5,
    )
    .option(
      "--epochs <n>",
      "epochs (for hybrid: software pretraining epochs, then one hybrid epoch)",
      intArg("--epochs", 1, 1000),
      10,
    )
    .option(
      "--images-per-epoch <n>",
      "training images per epoch",
      intArg("--images-per-epoch", 1, 60000),
      8000,
    )
    .option("--hidden <n>", "hidden units", intArg("--hidden", 1, 4096), 100)
    .addOption(
      new Option("--crop <px>", "20: centre 20x20 crop (400 inputs); 28: whole image")
        .choices(["20", "28"])
        .default("20"),
    )
    .option(
      "--pool <k>",
      "average k x k pixel blocks of the crop (a divisor of it): fewer inputs, for small arrays such as a bench or an ArC ONE (--crop 20 --pool 5: 16 inputs)",
      intArg("--pool", 1, 28),
      1,
    )
    .option("--seed <n>", "seed of initialisation and image order", intArg("--seed", 0, 2 ** 31 - 1), 1)
    .option("--lr <x>", "learning rate, or one per layer: 0.2,0.1", perLayerArg("--lr"), 0.1)
    .option(
      "--lr-decay <f>",
      "factor on the learning rate after each epoch (epoch e trains at lr·f^(e-1))",
      numArg("--lr-decay", (v) => v > 0 && v <= 1, "a number in (0, 1]"),
      1,
    )
    .option(
      "--hybrid-lr <x>",
      "hybrid: learning rate of the array layer's open-loop pulses (default a tenth of --lr)",
      numArg("--hybrid-lr", (v) => v > 0, "positive"),
    )
    .option(
      "--transfer-scale <x>",
      "hybrid: factor on the open-loop transfer's pulse counts, a deliberately imprecise transfer (default 1)",
      numArg("--transfer-scale", (v) => v >= 0, "a non-negative number"),
    )
    .option("--gain <x>", "weight of a full-range pair, or one per layer: 1,4", perLayerArg("--gain"), 1)
    .option("--test-images <n>", "test images per evaluation", intArg("--test-images", 1, 10000), 10000)
    .option(
      "--refresh-fraction <x>",
      "unidirectional: look for saturated pairs after pulses worth this fraction of the levels per device (0 = never)",
      numArg("--refresh-fraction", (v) => v >= 0, "a non-negative number"),
      0.05,
    )
    .option(
      "--batch <n>",
      "images whose updates are summed before pulses are sent (mini-batch; 1 = one OPU per image)",
      intArg("--batch", 1),
      1,
    )
    .option(
      "--refresh-at <high,low>",
      "unidirectional: refresh a pair when its larger device is above high and its smaller above low (fractions of the range)",
      (raw: string) => {
        const v = raw.split(",").map(Number);
        if (v.length !== 2 || !(v[1]! >= 0 && v[1]! < v[0]! && v[0]! < 1))
          throw new InvalidArgumentError(
            `--refresh-at must be two fractions high,low with 0 <= low < high < 1, got "${raw}"`,
          );
        return { high: v[0]!, low: v[1]! };
      },
    )
    .option(
      "--vp <volts>",
      "potentiating pulse amplitude",
      numArg("--vp", (v) => v > 0, "positive"),
      3.2,
    )
    .option(
      "--vn <volts>",
      "depressing pulse amplitude",
      numArg("--vn", (v) => v < 0, "negative"),
      -2.8,
    )
    .option(
      "--width <seconds>",
      "pulse width",
      numArg("--width", (v) => v > 0, "positive"),
      300e-6,
    )
    .option(
      "--step-time <seconds>",
      `ssl: duration of one training step on the board clock; the rule waits what the step has not taken (default ${DEFAULT_STEP_TIME})`,
      numArg("--step-time", (v) => v >= 0 && v <= 86400, "in [0, 86400]"),
    )
    .addOption(
      new Option(
        "--drift <mode>",
        "ssl: on = drift acts between updates (SSL); off = no waiting (the baseline)",
      )
        .choices(["on", "off"])
        .default("on"),
    )
    .option(
      "--sparsity-threshold <x>",
      "ssl: |W| below this (fraction of the full range) counts as zero",
      numArg("--sparsity-threshold", (v) => v > 0 && v < 1, "in (0, 1)"),
      0.01,
    )
    .option(
      "--stash [window:fraction]",
      "snn: stash neurons right on that fraction of their last window presentations (default 30:0.9): no pulses, no reads, until the end",
    )
    .option("--steps <n>", "snn: time steps per image (default 16)", intArg("--steps", 1, 1000))
    .option("--json", "print the final figures and the confusion matrix as JSON")
    .addHelpText(
      "after",
      `
Rules:
  software  backpropagation in floating point (the reference; no board)
  onchip    forward = VMM, backward = transposed VMM, update = pulses (OPU), on differential pairs
  hybrid    software pretraining, open-loop transfer of layer 1, one epoch with layer 1 on the array
${SNN_HELP}
  ssl       spontaneous sparse learning on PCM: on chip, SET-only updates with refresh, drift acting for
            --step-time s of board clock after every image (--drift off: the baseline); default board
            ${SSL_DEFAULT_PORT}, pulses ${SSL_PULSE.vp} V / ${SSL_PULSE.vn} V, ${eng(SSL_PULSE.width, "s")}

Examples:
  xbar train --rule software --epochs 10
  xbar train --rule onchip --update unidirectional --epochs 10 --images-per-epoch 8000
  xbar train --rule onchip --update unidirectional --batch 10 --lr-decay 0.8  # the schedule of record (docs/experiments.md)
  xbar train --rule onchip --port "emu://?rows=512&cols=256&device=linear&seed=1" --epochs 2
  xbar train --rule hybrid --epochs 5 --json
  xbar train --rule ssl --step-time 0.05 --epochs 3 --json
  xbar train --rule onchip --epochs 3 --view 8080   # watch it at http://127.0.0.1:8080/
  xbar train --rule onchip --epochs 5 --checkpoint run.json --port "emu://?rows=512&cols=256&device=agsi&seed=1&state=board.state"
  xbar train --resume run.json                       # after Ctrl-C: the epochs left
${RESUME_HELP}`,
    )
    .action((o, cmd: Command) => {
      if (o.rule === SNN_RULE || o.stash || o.steps !== undefined) {
        if (o.view !== undefined)
          throw new XbarError(ErrorCode.BAD_INPUT, "--view is not available with --rule snn yet");
        if (o.resume || o.checkpoint)
          throw new XbarError(ErrorCode.BAD_INPUT, "--rule snn has no checkpoints: it cannot be resumed");
        return runSnnCommand(o, cmd, out);
      }
      if (o.resume) {
        const ck = readCheckpoint(o.resume);
        checkUnfinished(ck, o.resume);
        return runTraining(resumedOptions(ck, o, cmd) as Flags, resumedUrls(ck, o.port), ck, out);
      }
      if (!o.rule) throw new XbarError(ErrorCode.BAD_INPUT, "required option '--rule <name>' not specified");
      if (o.refreshAt && !((o.rule === "onchip" && o.update === "unidirectional") || o.rule === "ssl"))
        throw new XbarError(
          ErrorCode.BAD_INPUT,
          "--refresh-at applies to refreshed pairs: --rule onchip --update unidirectional, or --rule ssl",
        );
      if (o.transferScale !== undefined && o.rule !== "hybrid")
        throw new XbarError(ErrorCode.BAD_INPUT, "--transfer-scale applies to --rule hybrid only");
      if (Number(o.crop) % o.pool !== 0)
        throw new XbarError(
          ErrorCode.BAD_INPUT,
          `--pool ${o.pool} does not divide the ${o.crop}-pixel crop: one of ${poolsOf(Number(o.crop) as Crop).join(", ")}`,
        );
      const urls: string[] =
        o.rule === "software"
          ? (o.port ?? [])
          : (o.port ?? [o.rule === "ssl" ? SSL_DEFAULT_PORT : TRAIN_DEFAULT_PORT]);
      // ssl: the PCM pulses of SSL_PULSE unless given.
      const pick = (k: "vp" | "vn" | "width") =>
        o.rule === "ssl" && cmd.getOptionValueSource(k) === "default" ? SSL_PULSE[k] : (o[k] as number);
      const pulse = { vp: pick("vp"), vn: pick("vn"), width: pick("width") };
      return runTraining({ ...o, ...storedOptions(o, pulse) }, urls, undefined, out);
    });
}

/** The command's options as commander gives them (or as a checkpoint kept them). */
// biome-ignore lint/suspicious/noExplicitAny: commander's values, checked by its parsers
type Flags = ViewFlags & Record<string, any>;

/** The library's options of a training from the command's (new, or those of a checkpoint). */
function trainOptions(o: Flags): Omit<TrainOptions, "boards"> {
  return {
    rule: o.rule,
    update: o.update,
    pulseMode: o.pulseMode,
    threshold: o.threshold,
    epochs: o.epochs,
    imagesPerEpoch: o.imagesPerEpoch,
    hidden: o.hidden,
    crop: Number(o.crop) as 20 | 28,
    pool: o.pool,
    seed: o.seed,
    lr: o.lr,
    lrDecay: o.lrDecay,
    testImages: o.testImages,
    refreshFraction: o.refreshFraction,
    batch: o.batch,
    refreshAt: o.refreshAt,
    hybridLr: o.hybridLr,
    transferScale: o.transferScale,
    gain: o.gain,
    pulse: o.pulse,
    ssl: { stepTime: o.stepTime, drift: o.drift, sparsityThreshold: o.sparsityThreshold },
  };
}

/**
 * Runs a training (or the rest of a checkpoint's, `ck`) on the boards at `urls`: progress, a line per
 * epoch, a checkpoint after each; Ctrl-C or Stop on the view stops it (exit 130, how to resume).
 */
async function runTraining(
  o: Flags,
  urls: string[],
  ck: TrainCheckpoint | undefined,
  out: (s: string) => void,
): Promise<void> {
  const saved = new Checkpoints(storedOptions(o, o.pulse), urls, {
    checkpoint: o.checkpoint,
    resume: o.resume,
  });
  const boards: Board[] = [];
  const stop = listenForInterrupt("the training");
  const bar = progressBar(o.imagesPerEpoch, "train");
  const epochs: EpochReport[] = [];
  let lastEpoch = 0;
  // The live view (--view): its Stop button does what Ctrl-C does.
  let rv: RunView | undefined;
  try {
    rv = await startRunView(
      o,
      "train",
      `xbar train --rule ${o.rule}${ck ? ` (resumed from ${saved.path})` : ""}`,
      () => stop.interrupt("Stop pressed on the view"),
      out,
      stop.signal,
    );
    for (const u of urls) boards.push(await connect(u));
    if (ck) checkBoards(ck, boards);
    // Time told up front on boards that compose VMM from single reads (bench, ArC ONE).
    const images = o.epochs * (o.imagesPerEpoch + o.testImages);
    for (const b of boards) {
      const note = composedTrainingNote(
        b,
        o.rule,
        [(Number(o.crop) / (o.pool ?? 1)) ** 2, o.hidden, 10],
        images,
      );
      if (note) process.stderr.write(`xbar train: ${note}\n`);
    }
    const feed = rv ? trainFeed(rv, o.imagesPerEpoch, o.epochs) : () => {};
    // Where the checkpoints go, once the network is placed and training starts (its first event).
    let announced = false;
    const onEvent = (e: TrainEvent) => {
      if (!announced) {
        announced = true;
        process.stderr.write(`xbar train: ${saved.note()}\n`);
        if (ck) process.stderr.write(`xbar train: ${resumingNote(ck, o.rule)}\n`);
      }
      if (e.type === "progress") {
        if (e.epoch !== lastEpoch) lastEpoch = e.epoch;
        bar.update(e.image, { status: `epoch ${e.epoch} ${e.phase}, loss ${e.loss.toFixed(3)}` });
      } else if (e.type === "info") {
        if (!o.json) process.stderr.write(`xbar train: ${e.message}\n`);
      } else if (e.type === "epoch") {
        bar.update(0);
        epochs.push(e.report);
        if (!o.json) out(epochLine(e.report, e.restored));
      }
    };
    const done = await lastValueFrom(
      train({
        ...trainOptions(o),
        boards: rv ? boards.map((b) => rv!.view.observe(b)) : boards,
        resume: ck?.progress,
        onCheckpoint: saved.writer(boards),
      }).pipe(tap(feed), tap(onEvent), untilAborted(stop.signal)),
      { defaultValue: undefined },
    );
    bar.stop();
    if (done?.type === "done") {
      saved.completed();
      await rv?.finish("completed", undefined, EXIT.OK);
      return report(done.result, Boolean(o.json), out);
    }
    if (stop.signal.aborted) {
      await rv?.finish("stopped", saved.resumeLine(), EXIT.INTERRUPTED);
      throw interrupted(o.rule, Math.max(lastEpoch, epochs.length + 1), epochs, saved, Boolean(o.json), out);
    }
  } finally {
    bar.stop();
    stop.dispose();
    await rv?.finish("failed", "the training ended with an error", EXIT.ERROR);
    for (const b of boards) await b.close();
  }
}

/** What a resumed run says first: where it goes on from, and what the devices hold. */
function resumingNote(ck: TrainCheckpoint, rule: string): string {
  const n = ck.progress.reports.length;
  const onArrays = rule === "onchip" || rule === "ssl";
  return `resuming after epoch ${n}${onArrays ? " with the devices as the board kept them (pulses of an epoch stopped part-way stay on them; that epoch is trained again)" : ""}`;
}

function epochLine(r: EpochReport, restored?: boolean): string {
  return `epoch ${r.epoch} ${r.phase}: test ${pct(r.test.accuracy)} (loss ${r.test.loss.toFixed(3)}), train ${pct(r.trainAccuracy)}, pulses ${count(r.pulses)}, reads ${count(r.reads)}, VMM vectors ${count(r.vmms)}, energy ${eng(r.energy, "J")}, ${r.seconds.toFixed(1)} s${restored ? " (from the checkpoint)" : ""}`;
}

/** What an interrupted training keeps: the completed epochs (as JSON with --json), and the error to exit with. */
function interrupted(
  rule: string,
  epoch: number,
  epochs: EpochReport[],
  saved: Checkpoints,
  json: boolean,
  out: (s: string) => void,
): Error {
  const resume = saved.resumeLine();
  if (json)
    out(
      JSON.stringify({
        rule,
        interrupted: true,
        checkpoint: saved.last,
        resume: resume.startsWith("resume with: ") ? resume.slice("resume with: ".length) : undefined,
        epochs: epochs.map((e) => ({ ...e, test: { accuracy: e.test.accuracy, loss: e.test.loss } })),
      }),
    );
  const kept = epochs.length
    ? `${epochs.length} completed epoch(s) kept (${json ? "printed as JSON" : "their figures are above"}; last test accuracy ${pct(epochs[epochs.length - 1]!.test.accuracy)})`
    : "no epoch was completed";
  return interruptedError(
    `training (--rule ${rule}) stopped in epoch ${Math.max(epoch, 1)}: ${kept}; the boards were left idle; ${resume}`,
  );
}

function report(r: TrainResult, json: boolean, out: (s: string) => void): void {
  if (json) {
    out(
      JSON.stringify({
        rule: r.rule,
        options: r.options,
        range: r.range && { gmin: r.range.gmin, gmax: r.range.gmax, levels: r.range.levels },
        accuracy: r.final.accuracy,
        loss: r.final.loss,
        perClass: r.final.perClass,
        confusion: r.final.confusion,
        epochs: r.epochs.map((e) => ({ ...e, test: { accuracy: e.test.accuracy, loss: e.test.loss } })),
        transfers: r.transfers,
        totals: r.totals,
        refreshedPairs: r.refreshes,
        ssl: r.ssl,
      }),
    );
    return;
  }
  for (const t of r.transfers ?? []) {
    out(
      `transfer of layer 1, ${t.method}: ${count(t.pulses)} pulses, ${count(t.reads)} reads, energy ${eng(t.energy, "J")}, accuracy right after ${pct(t.accuracy)}${t.devices ? `, ${t.converged}/${t.devices} devices within tolerance` : ""}`,
    );
  }
  out(
    `final test accuracy ${pct(r.final.accuracy)} on ${r.final.count} images; per digit: ${r.final.perClass.map((a, d) => `${d}:${(a * 100).toFixed(0)}`).join(" ")}`,
  );
  if (r.ssl) {
    const s = r.ssl.sparsity[r.ssl.sparsity.length - 1];
    out(
      `ssl: drift ${r.ssl.drift}, step time ${r.ssl.stepTime} s, board clock during training ${r.ssl.trainClock.toFixed(1)} s${s ? `, sparsity (|W| < ${s.threshold}) ${pct(s.fraction)}, mean |W| ${s.meanAbs.toFixed(4)}` : ""}`,
    );
  }
  out(
    `totals: ${count(r.totals.pulses)} pulses, ${count(r.totals.reads)} reads, ${count(r.totals.vmms)} VMM vectors, energy ${eng(r.totals.energy, "J")}, ${r.totals.seconds.toFixed(1)} s${r.refreshes ? `, ${r.refreshes} pair refreshes` : ""}`,
  );
  const link = r.totals.link;
  if (link) out(`link: ${count(link.sent)} bytes sent to the board, ${count(link.received)} received`);
}
