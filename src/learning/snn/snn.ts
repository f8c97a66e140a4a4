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
const CLASSES = 10;

/** Runs of consecutive active columns: [c0, nc] pairs (a neuron's pair is never split). */
export function activeRuns(active: boolean[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (let j = 0; j < active.length; j++) {
    if (!active[j]) continue;
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === 2 * j) last[1] += 2;
    else runs.push([2 * j, 2]);
  }
  return runs;
}

export function trainSnn(opts: SnnOptions): Observable<SnnEvent> {
  return observeExperiment<SnnEvent, SnnResult>([opts.board], (emit, cancelled) =>
    runSnn(opts, emit, cancelled),
  );
}

async function runSnn(
  o: SnnOptions,
  emit: (e: SnnEvent) => void,
  cancelled: () => boolean,
): Promise<SnnResult> {
  const {
    board,
    stash = false,
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
    audit = false,
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
  const t0 = performance.now();
  const trainSet = o.train ?? loadMnist("train", { crop });
  const testSet = o.test ?? loadMnist("test", { crop, limit: testImages });
  const nIn = trainSet.inputs;
  const cols = 2 * CLASSES;
  const { rows: bRows, cols: bCols } = board.identity;
  if (bRows < nIn || bCols < cols)
    throw new XbarError(
      ErrorCode.UNSUITABLE_BOARD,
      `the spiking network needs ${nIn}x${cols} devices (${nIn} inputs, ${CLASSES} neurons as pairs); ${board.url} has ${bRows}x${bCols}`,
    );
  if (imagesPerEpoch > trainSet.count)
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `imagesPerEpoch ${imagesPerEpoch} is more than the ${trainSet.count} training images`,
    );
  const vread = (await firstValueFrom(board.configure())).readVoltage;
  const counters = () => firstValueFrom(board.counters());

  let range = o.range;
  if (!range) {
    emit({ type: "info", message: `calibrating device r=0 c=0 on ${board.url}` });
    range = await calibrateRange(board, 0, 0, pulse);
  }
  const dG = range.gmax - range.gmin;
  // Start from w = 0: every synapse depressed (both devices of each pair at Gmin).
  emit({ type: "info", message: `depressing the ${nIn}x${cols} synapses` });
  const full = { r0: 0, c0: 0, rows: nIn, cols };
  await lastValueFrom(
    board.pulseBlock({
      ...full,
      counts: new Int16Array(nIn * cols).fill(-Math.min(board.limits.nmax, Math.ceil(range.levels * 1.5))),
      vp: pulse.vp,
      vn: pulse.vn,
      width: pulse.width,
    }),
  );

  const rng = new Random(seed);
  const active = new Array<boolean>(CLASSES).fill(true);
  const stashedAt: Array<number | null> = new Array(CLASSES).fill(null);
  // Per neuron, two rings: its responses to its own class and to the others (so that a silent neuron
  // is not judged well trained because it is right on the 90 % of images that are not its class).
  const ring = () => ({ ring: new Uint8Array(window), n: 0, right: 0 });
  const history = Array.from({ length: CLASSES }, () => ({ own: ring(), other: ring() }));
  const push = (h: ReturnType<typeof ring>, ok: number) => {
    const slot = h.n % window;
    if (h.n >= window) h.right -= h.ring[slot]!;
    h.ring[slot] = ok;
    h.right += ok;
    h.n++;
  };
  const trained = (h: ReturnType<typeof ring>) => h.n >= window && h.right >= stashAt * window;
  const before = new Map<number, Float32Array>();
  let auditCost = NO_ACTIVITY;
  let cellReads = 0;

  /** Input spikes of `k` images, rate-coded: `(k·T) x nIn` voltages, and each image's spike counts. */
  const encode = (data: Dataset, idx: ArrayLike<number>) => {
    const k = idx.length;
    const x = new Float32Array(k * steps * nIn);
    const rates = new Float32Array(k * nIn);
    for (let s = 0; s < k; s++) {
      const img = data.images.subarray(idx[s]! * nIn, (idx[s]! + 1) * nIn);
      for (let t = 0; t < steps; t++) {
        const o = (s * steps + t) * nIn;
        for (let i = 0; i < nIn; i++) {
          if (img[i]! > 0 && rng.uniform() < img[i]! * maxRate) {
            x[o + i] = vread;
            rates[s * nIn + i]! += 1 / steps;
          }
        }
      }
    }
    return { x, rates };
  };

  /** LIF over the steps for `k` images; `y` holds the pair currents per step. Emits counts (k x classes). */
  const integrate = async (x: Float32Array, k: number, use: boolean[]) => {
    const runs = activeRuns(use);
    const currents = new Float32Array(k * steps * CLASSES);
    for (const [c0, nc] of runs) {
      const y = await lastValueFrom(board.vmm({ r0: 0, c0, rows: nIn, cols: nc }, x, k * steps));
      cellReads += k * steps * nIn * nc;
      for (let v = 0; v < k * steps; v++) {
        for (let c = 0; c < nc; c += 2)
          currents[v * CLASSES + (c0 + c) / 2] = (y[v * nc + c]! - y[v * nc + c + 1]!) / (vread * dG);
      }
    }
    const counts = new Float32Array(k * CLASSES);
    const potential = new Float32Array(k * CLASSES);
    for (let s = 0; s < k; s++) {
      for (let j = 0; j < CLASSES; j++) {
        if (!use[j]) continue;
        let v = 0;
        let n = 0;
        for (let t = 0; t < steps; t++) {
          v = beta * v + currents[(s * steps + t) * CLASSES + j]!;
          if (v >= theta) {
            n++;
            v -= theta;
          }
        }
        counts[s * CLASSES + j] = n;
        potential[s * CLASSES + j] = v;
      }
    }
    return { counts, potential };
  };

  /** The winner: most spikes, ties broken by the membrane potential left. */
  const winner = (counts: Float32Array, potential: Float32Array, s: number, use: boolean[]) => {
    let best = -1;
    for (let j = 0; j < CLASSES; j++) {
      if (!use[j]) continue;
      const o = s * CLASSES;
      if (
        best < 0 ||
        counts[o + j]! > counts[o + best]! ||
        (counts[o + j] === counts[o + best] && potential[o + j]! > potential[o + best]!)
      )
        best = j;
    }
    return best;
  };

  const readPair = async (j: number) =>
    (await lastValueFrom(board.readBlock({ r0: 0, c0: 2 * j, rows: nIn, cols: 2 }))).data;

  const evaluate = async () => {
    const all = new Array<boolean>(CLASSES).fill(true);
    const confusion = Array.from({ length: CLASSES }, () => new Array<number>(CLASSES).fill(0));
    const batch = 50;
    const n = Math.min(testImages, testSet.count);
    for (let s0 = 0; s0 < n; s0 += batch) {
      const idx = Array.from({ length: Math.min(batch, n - s0) }, (_, s) => s0 + s);
      const { x } = encode(testSet, idx);
      const { counts, potential } = await integrate(x, idx.length, all);
      for (let s = 0; s < idx.length; s++)
        confusion[testSet.labels[idx[s]!]!]![winner(counts, potential, s, all)]!++;
    }
    let right = 0;
    const perClass = confusion.map((row, c) => {
      right += row[c]!;
      const total = row.reduce((a, b) => a + b, 0);
      return total ? row[c]! / total : 0;
    });
    return { accuracy: right / n, perClass, confusion };
  };

  const reports: SnnEpoch[] = [];
  let trainTotal = NO_ACTIVITY;
  let cellTotal = 0;
  let seen = 0;
  const d = new Float32Array(cols);
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const order = rng.permutation(trainSet.count).slice(0, imagesPerEpoch);
    const c0 = await counters();
    const audit0 = auditCost;
    /** This epoch's training so far: the board's activity less the audit's reads. */
    const trainedSoFar = async () => {
      const board = activityBetween(c0, await counters());
      return activityBetween(activityBetween(audit0, auditCost), board);
    };
    cellReads = 0;
    let right = 0;
    for (let k = 0; k < order.length; k++) {
      if (cancelled()) throw new XbarError(ErrorCode.INTERRUPTED, "training cancelled");
      const label = trainSet.labels[order[k]!]!;
      const { x, rates } = encode(trainSet, [order[k]!]);
      const { counts, potential } = await integrate(x, 1, active);
      if (winner(counts, potential, 0, active) === label) right++;
      d.fill(0);
      let any = false;
      for (let j = 0; j < CLASSES; j++) {
        if (!active[j]) continue;
        const e = (j === label ? target : 0) - counts[j]!;
        d[2 * j] = e;
        d[2 * j + 1] = -e;
        if (e !== 0) any = true;
        // The stash monitor: was this neuron's spike count right?
        const h = history[j]!;
        push(j === label ? h.own : h.other, Math.abs(e) <= tolerance * target ? 1 : 0);
      }
      if (any)
        await lastValueFrom(
          board.outerProductUpdate({
            ...full,
            x: rates,
            d,
            scale: lr,
            vp: pulse.vp,
            vn: pulse.vn,
            width: pulse.width,
            mode: "count",
            threshold: 0.5,
          }),
        );
      seen++;
      if (stash) {
        for (let j = 0; j < CLASSES; j++) {
          const h = history[j]!;
          if (!active[j] || !trained(h.own) || !trained(h.other)) continue;
          active[j] = false;
          stashedAt[j] = seen;
          emit({ type: "stash", neuron: j, image: seen });
          if (audit) {
            const a = await counters();
            before.set(j, await readPair(j));
            auditCost = addActivity(auditCost, activityBetween(a, await counters()));
          }
        }
      }
      if (k % 100 === 99 || k === order.length - 1)
        emit({
          type: "progress",
          epoch,
          image: k + 1,
          images: order.length,
          accuracy: right / (k + 1),
          stashed: active.filter((a) => !a).length,
          train: await trainedSoFar(),
        });
    }
    const trainAct = await trainedSoFar();
    trainTotal = addActivity(trainTotal, trainAct);
    const trainCells = cellReads;
    cellTotal += trainCells;
    const ev = await evaluate();
    const report: SnnEpoch = {
      epoch,
      images: order.length,
      trainAccuracy: right / order.length,
      testAccuracy: ev.accuracy,
      stashed: active.filter((a) => !a).length,
      train: trainAct,
      cellReads: trainCells,
    };
    reports.push(report);
    emit({ type: "epoch", report });
  }
  // The audit: stashed columns must be exactly as they were when stashed.
  let auditResult: SnnResult["audit"];
  if (audit) {
    auditResult = [];
    for (const [j, g0] of before) {
      const g1 = await readPair(j);
      let m = 0;
      for (let i = 0; i < g0.length; i++) m = Math.max(m, Math.abs(g1[i]! - g0[i]!));
      auditResult.push({ neuron: j, maxChange: m });
    }
  }
  // Restore every neuron, then the final evaluation with all columns.
  active.fill(true);
  const e0 = await counters();
  cellReads = 0;
  const final = await evaluate();
  const testAct = activityBetween(e0, await counters());
  return {
    stash,
    options: {
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
      board: board.url,
    },
    range,
    epochs: reports,
    accuracy: final.accuracy,
    perClass: final.perClass,
    confusion: final.confusion,
    train: trainTotal,
    cellReads: cellTotal,
    test: testAct,
    stashedAt,
    audit: auditResult,
    seconds: (performance.now() - t0) / 1000,
  };
}
