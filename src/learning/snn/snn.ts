/**
 * A spiking network trained with the array in the loop, and the neuromodulation-inspired stashing
 * system (docs/research.md §4, Cheong et al. 2022). A pipeline over the Board interface only.
 *
 *   image ─▶ rate code: T steps of input spikes (read pulses of vread on the rows)
 *         ─▶ one VMM of k = T vectors per run of active columns (the synapses: differential pairs)
 *         ─▶ LIF neurons on the host ─▶ spike counts c_j
 *         ─▶ teacher: e_j = target_j − c_j ─▶ one OPU: Δw_ij ∝ (input spikes_i / T) · e_j as pulses
 *         ─▶ stash monitor: a neuron whose spike counts were right on (almost) all of its last W
 *            presentations is stashed: its columns get no pulses and are left out of the VMMs
 *   end ─▶ every neuron restored; test accuracy with all columns
 *
 * Our choices (the work's full text was not available; docs/research.md): one layer of `classes` LIF
 * neurons (decay β, threshold θ in weight units, reset by subtraction), Bernoulli rate coding, a local
 * delta rule on spike counts (pre-synaptic spike rate × post-synaptic count error against a teacher:
 * `target` spikes for the label's neuron, none for the others), bidirectional updates on the pair
 * (G+ on column 2j, G− on 2j+1), the weight w = (G+ − G−)/(Gmax − Gmin). Energy is the board's own
 * account (STAT), never a host estimate.
 */

import { firstValueFrom, lastValueFrom, type Observable } from "rxjs";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import { Random } from "../../../firmware-protocol/random.ts";
import type { Board } from "../../board/board.ts";
import { type Activity, activityBetween, addActivity, NO_ACTIVITY } from "../../board/counters.ts";

export type { Activity } from "../../board/counters.ts";

import { observeExperiment } from "../../pipelines/observe-experiment.ts";
import { type Crop, type Dataset, loadMnist } from "../datasets/mnist.ts";
import { calibrateRange, type DeviceRange, type PulseShape } from "../nn/calibrate.ts";
import { CLASSES, type Evaluation, type Neurons, SpikingLayer } from "./spiking-layer.ts";
import { StashMonitor } from "./stash-monitor.ts";

export { activeRuns } from "./spiking-layer.ts";

export interface SnnOptions {
  /** The board holding the synapses: at least `inputs` rows and 2 · classes columns. */
  board: Board;
  /** Stash well-trained neurons; default false (the baseline). */
  stash?: boolean;
  /** Default 1. */
  epochs?: number;
  /** Default 3000. */
  imagesPerEpoch?: number;
  /** Default 1000. */
  testImages?: number;
  /** Time steps per image; default 16. */
  steps?: number;
  /** Largest input spike probability per step (a pixel of 1); default 0.5. */
  maxRate?: number;
  /** Membrane decay per step; default 0.9. */
  beta?: number;
  /** Firing threshold, in weight units (sum of w over the inputs that spiked); default 5. */
  theta?: number;
  /** Teacher: spikes wanted from the label's neuron over the T steps; default steps / 2. */
  target?: number;
  /** Pulses per unit of (input rate × count error); default 0.3. */
  lr?: number;
  /** Stash monitor: presentations of the neuron's own class (and of the others) looked back on; default 30. */
  window?: number;
  /** Stash a neuron when this fraction of its last `window` responses, both to its own class and to the others, were right; default 0.9. */
  stashAt?: number;
  /** A response is right when |target − count| ≤ this fraction of `target`; default 0.5. */
  tolerance?: number;
  /** Read each stashed neuron's columns when stashed and at the end, to show they did not change. */
  audit?: boolean;
  crop?: Crop;
  seed?: number;
  pulse?: PulseShape;
  /** Device range; measured on the board (device 0,0) when not given. */
  range?: DeviceRange;
  train?: Dataset;
  test?: Dataset;
}

export interface SnnEpoch {
  epoch: number;
  images: number;
  trainAccuracy: number;
  testAccuracy: number;
  /** Neurons stashed at the end of the epoch. */
  stashed: number;
  /** Training only (evaluation excluded). */
  train: Activity;
  /** Device-vectors read by the VMMs (k · rows · columns summed): what stashing saves in reads. */
  cellReads: number;
}

export interface SnnResult {
  stash: boolean;
  options: Record<string, unknown>;
  range: DeviceRange;
  epochs: SnnEpoch[];
  accuracy: number;
  perClass: number[];
  confusion: number[][];
  /** Training on the board, all epochs (evaluation and audit reads excluded). */
  train: Activity;
  cellReads: number;
  /** The final evaluation (every neuron restored). */
  test: Activity;
  /** When each neuron was stashed (image index counted over all epochs), or null. */
  stashedAt: Array<number | null>;
  /** With `audit`: largest |ΔG| (S) of each stashed neuron's columns between its stash and the end. */
  audit?: Array<{ neuron: number; maxChange: number }>;
  seconds: number;
}

export type SnnEvent =
  | { type: "info"; message: string }
  | {
      type: "progress";
      epoch: number;
      image: number;
      images: number;
      accuracy: number;
      stashed: number;
      /** Training activity of this epoch so far (board counters, audit reads excluded). */
      train: Activity;
    }
  | { type: "stash"; neuron: number; image: number }
  | { type: "epoch"; report: SnnEpoch }
  | { type: "done"; result: SnnResult };

export const SNN_DEFAULT_PORT = "emu://?rows=400&cols=20&device=srm&seed=1";
const DEFAULT_PULSE: PulseShape = { vp: 3.2, vn: -2.8, width: 100e-6 };

export function trainSnn(opts: SnnOptions): Observable<SnnEvent> {
  return observeExperiment<SnnEvent, SnnResult>([opts.board], (emit, cancelled) =>
    runSnn(opts, emit, cancelled),
  );
}

/** The options with their defaults, checked; in the order of the result's `options`. */
interface Settings extends Neurons {
  epochs: number;
  imagesPerEpoch: number;
  testImages: number;
  target: number;
  lr: number;
  window: number;
  stashAt: number;
  tolerance: number;
  crop: Crop;
  seed: number;
  pulse: PulseShape;
}

/**
 * One training run: the layer on the board, the stash monitor and what stashing has done so far.
 *
 *   settingsOf ─▶ setUp (calibrate, depress) ─▶ trainEpoch × epochs (trainImage, stashTrained, evaluate)
 *              ─▶ auditStashed ─▶ finalTest (every neuron restored) ─▶ SnnResult
 */
interface Run {
  s: Settings;
  stash: boolean;
  audit: boolean;
  range: DeviceRange;
  layer: SpikingLayer;
  monitor: StashMonitor;
  rng: Random;
  trainSet: Dataset;
  testSet: Dataset;
  /** The neurons not stashed. */
  active: boolean[];
  /** When each neuron was stashed (image index counted over all epochs), or null. */
  stashedAt: Array<number | null>;
  /** Images trained on, all epochs. */
  seen: number;
  /** With `audit`: each stashed neuron's pair when stashed, and what reading them cost. */
  stashedPairs: Map<number, Float32Array>;
  auditCost: Activity;
  /** The error of each column for the update (pairs: +e, −e), reused from image to image. */
  d: Float32Array;
  emit: (e: SnnEvent) => void;
  cancelled: () => boolean;
}

async function runSnn(
  o: SnnOptions,
  emit: (e: SnnEvent) => void,
  cancelled: () => boolean,
): Promise<SnnResult> {
  const s = settingsOf(o);
  const t0 = performance.now();
  const run = await setUp(o, s, emit, cancelled);
  const epochs: SnnEpoch[] = [];
  for (let epoch = 1; epoch <= s.epochs; epoch++) epochs.push(await trainEpoch(run, epoch));
  const audit = run.audit ? await auditStashed(run) : undefined;
  const { final, test } = await finalTest(run);
  return {
    stash: run.stash,
    options: { ...s, board: o.board.url },
    range: run.range,
    epochs,
    accuracy: final.accuracy,
    perClass: final.perClass,
    confusion: final.confusion,
    train: epochs.reduce((sum, e) => addActivity(sum, e.train), NO_ACTIVITY),
    cellReads: epochs.reduce((sum, e) => sum + e.cellReads, 0),
    test,
    stashedAt: run.stashedAt,
    audit,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The options with their defaults; a value out of range is refused, naming the option. */
function settingsOf(o: SnnOptions): Settings {
  const {
    epochs = 1,
    imagesPerEpoch = 3000,
    testImages = 1000,
    steps = 16,
    maxRate = 0.5,
    beta = 0.9,
    theta = 5,
    lr = 0.3,
    window = 30,
    stashAt = 0.9,
    tolerance = 0.5,
    crop = 20,
    seed = 1,
    pulse = DEFAULT_PULSE,
  } = o;
  const target = o.target ?? steps / 2;
  for (const [k, v, min] of [
    ["epochs", epochs, 1],
    ["imagesPerEpoch", imagesPerEpoch, 1],
    ["testImages", testImages, 1],
    ["steps", steps, 1],
    ["window", window, 1],
  ] as const) {
    if (!(Number.isInteger(v) && v >= min))
      throw new XbarError(ErrorCode.BAD_INPUT, `${k} must be an integer >= ${min}, not ${v}`);
  }
  for (const [k, v, ok] of [
    ["maxRate", maxRate, maxRate > 0 && maxRate <= 1],
    ["beta", beta, beta >= 0 && beta <= 1],
    ["theta", theta, theta > 0],
    ["target", target, target > 0 && target <= steps],
    ["lr", lr, lr > 0],
    ["stashAt", stashAt, stashAt > 0 && stashAt <= 1],
    ["tolerance", tolerance, tolerance >= 0 && tolerance < 1],
  ] as const) {
    if (!ok) throw new XbarError(ErrorCode.BAD_INPUT, `${k} is out of range: ${v}`);
  }
  // In the order of the result's `options`.
  return {
    epochs,
    imagesPerEpoch,
    testImages,
    steps,
    maxRate,
    beta,
    theta,
    target,
    lr,
    window,
    stashAt,
    tolerance,
    crop,
    seed,
    pulse,
  };
}

/** The data and the board checked, the device range (calibrated when not given), every synapse depressed. */
async function setUp(
  o: SnnOptions,
  s: Settings,
  emit: (e: SnnEvent) => void,
  cancelled: () => boolean,
): Promise<Run> {
  const { board, stash = false, audit = false } = o;
  const trainSet = o.train ?? loadMnist("train", { crop: s.crop });
  const testSet = o.test ?? loadMnist("test", { crop: s.crop, limit: s.testImages });
  const nIn = trainSet.inputs;
  const cols = 2 * CLASSES;
  const { rows: bRows, cols: bCols } = board.identity;
  if (bRows < nIn || bCols < cols)
    throw new XbarError(
      ErrorCode.UNSUITABLE_BOARD,
      `the spiking network needs ${nIn}x${cols} devices (${nIn} inputs, ${CLASSES} neurons as pairs); ${board.url} has ${bRows}x${bCols}`,
    );
  if (s.imagesPerEpoch > trainSet.count)
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `imagesPerEpoch ${s.imagesPerEpoch} is more than the ${trainSet.count} training images`,
    );
  const vread = (await firstValueFrom(board.configure())).readVoltage;
  let range = o.range;
  if (!range) {
    emit({ type: "info", message: `calibrating device r=0 c=0 on ${board.url}` });
    range = await calibrateRange(board, 0, 0, s.pulse);
  }
  // Start from w = 0: every synapse depressed (both devices of each pair at Gmin).
  emit({ type: "info", message: `depressing the ${nIn}x${cols} synapses` });
  await lastValueFrom(
    board.pulseBlock({
      ...synapses(nIn),
      counts: new Int16Array(nIn * cols).fill(-Math.min(board.limits.nmax, Math.ceil(range.levels * 1.5))),
      vp: s.pulse.vp,
      vn: s.pulse.vn,
      width: s.pulse.width,
    }),
  );
  const rng = new Random(s.seed);
  return {
    s,
    stash,
    audit,
    range,
    layer: new SpikingLayer(board, nIn, vread, range.gmax - range.gmin, s, rng),
    monitor: new StashMonitor(CLASSES, s.window, s.stashAt),
    rng,
    trainSet,
    testSet,
    active: new Array<boolean>(CLASSES).fill(true),
    stashedAt: new Array(CLASSES).fill(null),
    seen: 0,
    stashedPairs: new Map(),
    auditCost: NO_ACTIVITY,
    d: new Float32Array(cols),
    emit,
    cancelled,
  };
}

/** The block of the synapses: `nIn` rows, a pair of columns per neuron. */
const synapses = (nIn: number) => ({ r0: 0, c0: 0, rows: nIn, cols: 2 * CLASSES });

const counters = (run: Run) => firstValueFrom(run.layer.board.counters());

/** One epoch: each image trained on (stashing as neurons become trained), then the test. */
async function trainEpoch(run: Run, epoch: number): Promise<SnnEpoch> {
  const order = run.rng.permutation(run.trainSet.count).slice(0, run.s.imagesPerEpoch);
  const c0 = await counters(run);
  const audit0 = run.auditCost;
  /** This epoch's training so far: the board's activity less the audit's reads. */
  const trainedSoFar = async () => {
    const board = activityBetween(c0, await counters(run));
    return activityBetween(activityBetween(audit0, run.auditCost), board);
  };
  run.layer.cellReads = 0;
  let right = 0;
  for (let k = 0; k < order.length; k++) {
    if (run.cancelled()) throw new XbarError(ErrorCode.INTERRUPTED, "training cancelled");
    if (await trainImage(run, order[k]!)) right++;
    run.seen++;
    if (run.stash) await stashTrained(run);
    if (k % 100 === 99 || k === order.length - 1)
      run.emit({
        type: "progress",
        epoch,
        image: k + 1,
        images: order.length,
        accuracy: right / (k + 1),
        stashed: run.active.filter((a) => !a).length,
        train: await trainedSoFar(),
      });
  }
  const train = await trainedSoFar();
  const cellReads = run.layer.cellReads;
  const ev = await run.layer.evaluate(run.testSet, run.s.testImages);
  const report: SnnEpoch = {
    epoch,
    images: order.length,
    trainAccuracy: right / order.length,
    testAccuracy: ev.accuracy,
    stashed: run.active.filter((a) => !a).length,
    train,
    cellReads,
  };
  run.emit({ type: "epoch", report });
  return report;
}

/**
 * Training image `index`: the active neurons' spike counts, the teacher's error recorded by the
 * stash monitor, and one outer-product update when any count was off. Whether the winner was right.
 */
async function trainImage(run: Run, index: number): Promise<boolean> {
  const { layer, active, d, s } = run;
  const label = run.trainSet.labels[index]!;
  const { x, rates } = layer.encode(run.trainSet, [index]);
  const { counts, potential } = await layer.integrate(x, 1, active);
  const right = layer.winner(counts, potential, 0, active) === label;
  d.fill(0);
  let any = false;
  for (let j = 0; j < CLASSES; j++) {
    if (!active[j]) continue;
    const e = (j === label ? s.target : 0) - counts[j]!;
    d[2 * j] = e;
    d[2 * j + 1] = -e;
    if (e !== 0) any = true;
    // The stash monitor: was this neuron's spike count right?
    run.monitor.record(j, j === label, Math.abs(e) <= s.tolerance * s.target);
  }
  if (any)
    await lastValueFrom(
      layer.board.outerProductUpdate({
        ...synapses(layer.nIn),
        x: rates,
        d,
        scale: s.lr,
        vp: s.pulse.vp,
        vn: s.pulse.vn,
        width: s.pulse.width,
        mode: "count",
        threshold: 0.5,
      }),
    );
  return right;
}

/** Stashes every active neuron the monitor finds trained; with `audit`, reads its pair first. */
async function stashTrained(run: Run): Promise<void> {
  for (let j = 0; j < CLASSES; j++) {
    if (!run.active[j] || !run.monitor.trained(j)) continue;
    run.active[j] = false;
    run.stashedAt[j] = run.seen;
    run.emit({ type: "stash", neuron: j, image: run.seen });
    if (run.audit) {
      const a = await counters(run);
      run.stashedPairs.set(j, await run.layer.readPair(j));
      run.auditCost = addActivity(run.auditCost, activityBetween(a, await counters(run)));
    }
  }
}

/** The audit: stashed columns must be exactly as they were when stashed (largest |ΔG| per neuron). */
async function auditStashed(run: Run): Promise<SnnResult["audit"]> {
  const audit: NonNullable<SnnResult["audit"]> = [];
  for (const [j, g0] of run.stashedPairs) {
    const g1 = await run.layer.readPair(j);
    let m = 0;
    for (let i = 0; i < g0.length; i++) m = Math.max(m, Math.abs(g1[i]! - g0[i]!));
    audit.push({ neuron: j, maxChange: m });
  }
  return audit;
}

/** Every neuron restored, then the final evaluation with all columns, and what it cost. */
async function finalTest(run: Run): Promise<{ final: Evaluation; test: Activity }> {
  run.active.fill(true);
  const e0 = await counters(run);
  run.layer.cellReads = 0;
  const final = await run.layer.evaluate(run.testSet, run.s.testImages);
  return { final, test: activityBetween(e0, await counters(run)) };
}
