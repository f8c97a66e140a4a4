/**
 * Training rules as pipelines over the Board interface (docs/research.md §1 and §2):
 * - "software": backpropagation in floating point, no board (the reference);
 * - "onchip": every layer on arrays: forward = VMM, backward = transposed VMM, update = pulses
 *   (one OPU per layer and image), bidirectional or unidirectional with the refresh of saturated pairs,
 *   pulse counts rounded ("count") or sign-only ("sign", Manhattan), optionally thresholded;
 * - "hybrid": software pretraining, open-loop transfer of layer 1 to the array (no verify), then one
 *   epoch with layer 1 on the array and the other layers trained in software on the array's outputs,
 *   layer 1 receiving open-loop pulses n = sign(ΔW)·⌊|ΔW|/ΔWstep⌋ (Kwon et al.). The cost of a
 *   write-and-verify transfer of the same weights is measured on the same board for comparison.
 *
 * Emits progress events while it runs; unsubscribing stops it and aborts the boards.
 */

import { firstValueFrom, lastValueFrom, type Observable, tap } from "rxjs";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import { Random } from "../../../firmware-protocol/random.ts";
import type { Board, Counters } from "../../board/board.ts";
import { activityBetween, linkBetween, sumCounters } from "../../board/counters.ts";
import { observeExperiment } from "../../pipelines/observe-experiment.ts";
import { eng } from "../../units.ts";
import { type Crop, type Dataset, loadMnist } from "../datasets/mnist.ts";
import { Allocator } from "../nn/allocate.ts";
import { ArrayLayer, type UpdateRule } from "../nn/array-layer.ts";
import { calibrateRange, type DeviceRange, type PulseShape } from "../nn/calibrate.ts";
import { type Layer, SoftwareLayer } from "../nn/layer.ts";
import { addTotals, layerStates, restoreLayers, type TrainProgress } from "./checkpoint.ts";
import { type Evaluation, evaluate } from "./evaluate.ts";
import { Mlp } from "./mlp.ts";
import { DriftClock, SSL_PULSE, type SslOptions, type SslReport, sparsity, sslOptions } from "./ssl.ts";

export const RULES = ["software", "onchip", "hybrid", "ssl"] as const;
export type RuleName = (typeof RULES)[number];

export interface TrainOptions {
  rule: RuleName;
  /** Boards to place array layers on (none for "software"). */
  boards: Board[];
  update?: UpdateRule;
  pulseMode?: "count" | "sign";
  /** Smallest |ΔW|/ΔWstep that gives a pulse; default 0.5 (rounding). */
  threshold?: number;
  epochs?: number;
  imagesPerEpoch?: number;
  hidden?: number;
  crop?: Crop;
  /** Average pool x pool blocks of the crop (mnist.ts); default 1, none. */
  pool?: number;
  seed?: number;
  /** Learning rate per layer (or one for all); default 0.1. */
  lr?: number | number[];
  /**
   * Factor on the learning rate after each epoch (epoch e trains at lr·decay^(e−1); for hybrid, the
   * pretraining epochs); default 1.
   */
  lrDecay?: number;
  /**
   * Weight of a full-range pair per layer (W = gain·(G+ − G−)/ΔG); default 1 for every layer. The
   * initial weights scale with it, in software as on the array.
   */
  gain?: number | number[];
  /** Test images per evaluation; default 10 000. */
  testImages?: number;
  /** Device range; measured on the board when not given. */
  range?: DeviceRange;
  pulse?: PulseShape;
  /** Software epochs before the hybrid transfer; default `epochs`. */
  pretrainEpochs?: number;
  /**
   * Learning rate of the array layer during the hybrid epoch (its open-loop pulses); default a tenth
   * of layer 1's rate, so that the software layers above do most of the adapting (our choice).
   */
  hybridLr?: number;
  /**
   * Hybrid: factor on every pulse count of the open-loop transfer (rounded), a deliberately imprecise
   * transfer for experiments (0.5 = each device gets half its pulses); default 1.
   */
  transferScale?: number;
  refreshFraction?: number;
  /** Unidirectional: levels (fractions of the range) at which a pair is refreshed; ArrayLayerOptions. */
  refreshAt?: { high: number; low: number };
  /**
   * Mini-batch: images whose updates are summed before the weights change (on arrays: one pulse block
   * of net counts per layer and batch instead of one OPU per image); default 1.
   */
  batch?: number;
  /** "ssl" (src/learning/training/ssl.ts): step time on the board clock, drift on or off, sparsity threshold. */
  ssl?: SslOptions;
  /** Data, when the caller loaded it already. */
  train?: Dataset;
  test?: Dataset;
  /**
   * Continue a run from its checkpoint (checkpoint.ts): its epochs are kept, the range is not measured
   * again, the arrays are not initialised (the devices are on the board), the next epoch comes next.
   */
  resume?: TrainProgress;
  /** Called after every completed epoch, before its event, with what resuming after it needs. */
  onCheckpoint?: (p: TrainProgress) => void | Promise<void>;
}

export interface EpochReport {
  epoch: number;
  phase: string;
  images: number;
  trainLoss: number;
  trainAccuracy: number;
  test: Evaluation;
  /** Board activity during the epoch (training and evaluation), from the boards' own counters. */
  pulses: number;
  reads: number;
  vmms: number;
  energy: number;
  /** Wall time of the epoch, evaluation included, s. */
  seconds: number;
  /** Wall time of the training images alone, s. */
  trainSeconds: number;
}

export interface TransferCost {
  method: "open-loop" | "write-verify";
  pulses: number;
  reads: number;
  energy: number;
  seconds: number;
  accuracy: number;
  /** Devices within tolerance (write-verify only). */
  converged?: number;
  devices?: number;
}

export interface TrainResult {
  rule: RuleName;
  options: Record<string, unknown>;
  range?: DeviceRange;
  epochs: EpochReport[];
  final: Evaluation;
  transfers?: TransferCost[];
  totals: {
    pulses: number;
    reads: number;
    vmms: number;
    energy: number;
    seconds: number;
    /** Bytes on the boards' links during the run (when every board counts them: STAT rx, tx). */
    link?: { sent: number; received: number };
  };
  refreshes?: number;
  /** "ssl": board time, waits and weight sparsity after each epoch. */
  ssl?: SslReport;
}

export type TrainEvent =
  | { type: "info"; message: string }
  | { type: "progress"; phase: string; epoch: number; image: number; images: number; loss: number }
  /** A completed epoch (`restored`: one of the checkpoint a resumed run continues). */
  | { type: "epoch"; report: EpochReport; restored?: boolean }
  | { type: "done"; result: TrainResult };

const DEFAULT_PULSE: PulseShape = { vp: 3.2, vn: -2.8, width: 300e-6 };

/** The counters of all the boards, summed (each board once). */
async function totals(boards: Board[]): Promise<Counters> {
  const snapshots: Counters[] = [];
  for (const b of new Set(boards)) snapshots.push(await firstValueFrom(b.counters()));
  return sumCounters(snapshots);
}

/** Pulses, reads, VMM vectors and energy between two snapshots (the clock is not summed over boards). */
const work = (before: Counters, after: Counters) => {
  const { pulses, reads, vmms, energy } = activityBetween(before, after);
  return { pulses, reads, vmms, energy };
};

/** Runs `train` to its end and gives the result (progress events are passed to `onEvent`). */
export async function trainResult(
  opts: TrainOptions,
  onEvent: (e: TrainEvent) => void = () => {},
): Promise<TrainResult> {
  let result: TrainResult | undefined;
  await lastValueFrom(
    train(opts).pipe(
      tap((e) => {
        onEvent(e);
        if (e.type === "done") result = e.result;
      }),
    ),
  );
  if (!result) throw new XbarError(ErrorCode.INTERNAL, "training ended without a result");
  return result;
}

export function train(opts: TrainOptions): Observable<TrainEvent> {
  return observeExperiment<TrainEvent, TrainResult>(opts.boards, (emit, cancelled) =>
    run(opts, emit, cancelled),
  );
}

async function run(
  o: TrainOptions,
  emit: (e: TrainEvent) => void,
  cancelled: () => boolean,
): Promise<TrainResult> {
  const {
    rule,
    boards,
    update = "unidirectional",
    pulseMode = "count",
    threshold = 0.5,
    epochs = 10,
    imagesPerEpoch = 8000,
    hidden = 100,
    crop = 20,
    pool = 1,
    seed = 1,
    lr = 0.1,
    testImages = 10000,
    pulse = rule === "ssl" ? SSL_PULSE : DEFAULT_PULSE,
    refreshFraction = 0.05,
    gain = 1,
    batch = 1,
    lrDecay = 1,
  } = o;
  if (!(lrDecay > 0 && lrDecay <= 1))
    throw new XbarError(ErrorCode.BAD_INPUT, `lrDecay must be in (0, 1], not ${lrDecay}`);
  if (!(RULES as readonly string[]).includes(rule))
    throw new XbarError(ErrorCode.BAD_INPUT, `unknown rule "${rule}": choose ${RULES.join(", ")}`);
  if (rule !== "software" && boards.length === 0)
    throw new XbarError(ErrorCode.BAD_INPUT, `rule ${rule} needs a board`);
  for (const [k, v, min] of [
    ["epochs", epochs, 1],
    ["imagesPerEpoch", imagesPerEpoch, 1],
    ["hidden", hidden, 1],
    ["testImages", testImages, 1],
    ["batch", batch, 1],
  ] as const) {
    if (!(Number.isInteger(v) && v >= min))
      throw new XbarError(ErrorCode.BAD_INPUT, `${k} must be an integer >= ${min}, not ${v}`);
  }
  const total = rule === "hybrid" ? (o.pretrainEpochs ?? epochs) + 1 : epochs;
  if (o.resume && o.resume.reports.length >= total)
    throw new XbarError(ErrorCode.CANNOT_RESUME, `the training is complete: its ${total} epoch(s) are done`);
  const sslOpts = rule === "ssl" ? sslOptions(o.ssl) : undefined;
  const t0 = performance.now();
  const trainSet = o.train ?? loadMnist("train", { crop, pool });
  const testSet = o.test ?? loadMnist("test", { crop, pool, limit: testImages });
  if (imagesPerEpoch > trainSet.count)
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `imagesPerEpoch ${imagesPerEpoch} is more than the ${trainSet.count} training images`,
    );
  let rng = new Random(seed);
  const subset = rng.permutation(trainSet.count).slice(0, imagesPerEpoch);
  const nIn = trainSet.inputs;
  const sizes = [nIn, hidden, 10];
  const start = await totals(boards);

  // --- Layers. Every array layer is placed before anything is sent (placement checks the boards are
  // big enough), then the device range is measured on the first device of layer 1.
  const resume = o.resume;
  let range = o.range ?? resume?.range;
  const arrayLayers: ArrayLayer[] = [];
  const gains = typeof gain === "number" ? [gain, gain] : gain;
  for (const g of gains)
    if (!(g > 0)) throw new XbarError(ErrorCode.BAD_INPUT, `gain must be positive, not ${g}`);
  const software = (i: number) =>
    new SoftwareLayer(sizes[i]!, sizes[i + 1]!, { rng, scale: 0.1 * (gains[i] ?? 1) }, { batch });
  let layers: Layer[];
  if (rule === "software") {
    layers = [software(0), software(1)];
  } else {
    const allocator = new Allocator(boards);
    const onArrays = rule === "onchip" || rule === "ssl" ? [0, 1] : [0];
    const placements = onArrays.map((i) =>
      allocator.place(sizes[i]! + 1, 2 * sizes[i + 1]!, `layer ${i + 1} (${sizes[i]}+1 x 2*${sizes[i + 1]})`),
    );
    const t = placements[0]!.tiles[0]!;
    if (!range) {
      emit({ type: "info", message: `calibrating device r=${t.r0} c=${t.c0} on ${t.board.url}` });
      range = await calibrateRange(t.board, t.r0, t.c0, pulse);
      emit({
        type: "info",
        message: `device range ${eng(range.gmin, "S")} .. ${eng(range.gmax, "S")}, ${range.levels} levels`,
      });
    }
    for (const [k, placement] of placements.entries()) {
      const i = onArrays[k]!;
      arrayLayers.push(
        new ArrayLayer(sizes[i]!, sizes[i + 1]!, placement, {
          range,
          pulse,
          rule: update,
          mode: pulseMode,
          threshold,
          refreshFraction,
          gain: gains[i] ?? 1,
          batch,
          refreshAt: o.refreshAt,
        }),
      );
    }
    if (rule === "onchip" || rule === "ssl") {
      if (!resume) {
        emit({ type: "info", message: "initialising the arrays with small random weights" });
        for (const l of arrayLayers) await l.initRandom(rng);
      }
      layers = [...arrayLayers];
    } else {
      layers = [software(0), software(1)];
    }
  }

  const reports: EpochReport[] = [];
  if (resume) {
    restoreLayers(layers, resume.layers);
    rng = Random.fromState(resume.rng);
    for (const report of resume.reports) {
      reports.push(report);
      emit({ type: "epoch", report, restored: true });
    }
  }
  const runEpoch = async (
    net: Mlp,
    epoch: number,
    phase: string,
    rates: number | number[],
  ): Promise<EpochReport> => {
    const before = await totals(boards);
    const te = performance.now();
    const order = rng.permutation(subset.length);
    let loss = 0;
    let correct = 0;
    const x = new Float32Array(nIn);
    await drift?.resume();
    for (let k = 0; k < order.length; k++) {
      // Software layers never wait for I/O: let signals, the view's Stop and timers in now and then.
      if (k % 25 === 0) await new Promise((r) => setImmediate(r));
      if (cancelled()) throw new XbarError(ErrorCode.INTERRUPTED, "training cancelled");
      const idx = subset[order[k]!]!;
      x.set(trainSet.images.subarray(idx * nIn, (idx + 1) * nIn));
      const r = await lastValueFrom(net.trainStep(x, trainSet.labels[idx]!, rates));
      await drift?.step();
      loss += r.loss;
      if (r.correct) correct++;
      if (k % 100 === 99 || k === order.length - 1)
        emit({ type: "progress", phase, epoch, image: k + 1, images: order.length, loss: loss / (k + 1) });
    }
    // What a last, partial mini-batch has summed reaches the weights before the test.
    for (const l of net.layers) if (l.flush) await lastValueFrom(l.flush());
    const trainSeconds = (performance.now() - te) / 1000;
    const test = await evaluate(net, testSet, testImages);
    const after = await totals(boards);
    const report: EpochReport = {
      epoch,
      phase,
      images: order.length,
      trainLoss: loss / order.length,
      trainAccuracy: correct / order.length,
      test,
      ...work(before, after),
      seconds: (performance.now() - te) / 1000,
      trainSeconds,
    };
    reports.push(report);
    // SSL's sparsity, then the checkpoint, then the event: a stop at the event keeps this epoch.
    if (sslOpts) sparsities.push(await sparsity(arrayLayers, sslOpts.sparsityThreshold));
    await o.onCheckpoint?.(await progress(net));
    emit({ type: "epoch", report });
    return report;
  };
  /** What a resumption after the epoch just completed needs. */
  const progress = async (net: Mlp): Promise<TrainProgress> => ({
    reports: [...reports],
    range,
    rng: rng.state(),
    layers: layerStates(net.layers),
    drift: drift && { trainClock: drift.trainClock, waited: drift.waited },
    sparsity: [...sparsities],
    totals: runTotals(await totals(boards)),
  });
  /** The totals from the run's start (and those of the checkpoint it resumed) to `now`. */
  const runTotals = (now: Counters): TrainResult["totals"] => {
    const here = {
      ...work(start, now),
      seconds: (performance.now() - t0) / 1000,
      link: linkBetween(start, now),
    };
    return resume ? addTotals(resume.totals, here) : here;
  };

  /** The learning rate(s) of epoch `e` (1-based) under the decay. */
  const rateAt = (e: number): number | number[] => {
    const f = lrDecay ** (e - 1);
    return typeof lr === "number" ? lr * f : lr.map((x) => x * f);
  };
  let transfers: TransferCost[] | undefined;
  const drift = sslOpts && new DriftClock(boards, sslOpts.stepTime, sslOpts.drift === "on");
  const sparsities: SslReport["sparsity"] = [...(resume?.sparsity ?? [])];
  if (drift && resume?.drift) Object.assign(drift, resume.drift);
  const first = reports.length + 1;
  let net = new Mlp(layers);
  if (rule === "hybrid") {
    const pretrain = o.pretrainEpochs ?? epochs;
    for (let e = first; e <= pretrain; e++) await runEpoch(net, e, "pretrain (software)", rateAt(e));
    const l1 = arrayLayers[0]!;
    const w1 = (layers[0] as SoftwareLayer).w;
    // Both transfers start from a depressed array (the reset is common to both and not counted):
    // first the costly write-and-verify baseline, then the open-loop transfer that training goes on with.
    transfers = [];
    for (const method of ["write-verify", "open-loop"] as const) {
      emit({ type: "info", message: `resetting layer 1, then ${method} transfer to the array` });
      await l1.depressAll();
      const b = await totals(boards);
      const ts = performance.now();
      let wv: { converged: number; devices: number } | undefined;
      if (method === "write-verify") wv = await l1.writeVerified(w1, { reset: false });
      else await l1.writeOpenLoop(w1, { reset: false, scale: o.transferScale ?? 1 });
      const a = await totals(boards);
      const acc = (await evaluate(new Mlp([l1, layers[1]!]), testSet, testImages)).accuracy;
      transfers.push({
        method,
        ...work(b, a),
        seconds: (performance.now() - ts) / 1000,
        accuracy: acc,
        ...(wv ?? {}),
      });
    }
    // One epoch with layer 1 on the array, open-loop updates n = sign·floor(|ΔW|/ΔWstep).
    const onArray = new ArrayLayer(sizes[0]!, sizes[1]!, l1.placement, {
      range: range!,
      pulse,
      rule: "bidirectional",
      mode: "count",
      threshold: 1,
      refreshFraction: 0,
      batch,
    });
    net = new Mlp([onArray, layers[1]!]);
    const lrs = typeof lr === "number" ? [lr, lr] : lr;
    await runEpoch(net, pretrain + 1, "hybrid (layer 1 on the array)", [o.hybridLr ?? lrs[0]! / 10, lrs[1]!]);
  } else {
    for (let e = first; e <= epochs; e++) await runEpoch(net, e, rule, rateAt(e));
  }
  const end = await totals(boards);
  const final = reports[reports.length - 1]!.test;
  return {
    rule,
    options: {
      update,
      pulseMode,
      threshold,
      epochs,
      imagesPerEpoch,
      hidden,
      crop,
      pool,
      seed,
      lr,
      lrDecay,
      testImages,
      refreshFraction,
      batch,
      refreshAt: o.refreshAt,
      boards: boards.map((b) => b.url),
    },
    range,
    epochs: reports,
    final,
    transfers,
    totals: runTotals(end),
    refreshes: arrayLayers.reduce((a, l) => a + l.stats.refreshedPairs, 0) || undefined,
    ssl: drift && {
      stepTime: drift.stepTime,
      drift: sslOpts!.drift,
      trainClock: drift.trainClock,
      waited: drift.waited,
      sparsity: sparsities,
    },
  };
}
