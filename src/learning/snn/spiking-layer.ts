/**
 * The spiking network's one layer on a board: rate-coded input spikes, the synapses as differential
 * pairs of columns read by VMMs (only the active neurons' columns), LIF neurons on the host, and the
 * winner. It counts the device-vectors its VMMs read (`cellReads`): what stashing saves in reads.
 */
import { lastValueFrom } from "rxjs";
import type { Random } from "../../../firmware-protocol/random.ts";
import type { Board } from "../../board/board.ts";
import type { Dataset } from "../datasets/mnist.ts";

export const CLASSES = 10;

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

export interface Neurons {
  /** Time steps per image. */
  steps: number;
  /** Largest input spike probability per step. */
  maxRate: number;
  /** Membrane decay per step. */
  beta: number;
  /** Firing threshold, weight units. */
  theta: number;
}

export interface Evaluation {
  accuracy: number;
  perClass: number[];
  confusion: number[][];
}

export class SpikingLayer {
  /** Device-vectors read by the VMMs (k · rows · columns summed) since the last reset to 0. */
  cellReads = 0;

  constructor(
    readonly board: Board,
    /** Inputs: the rows used. */
    readonly nIn: number,
    /** Read voltage of an input spike, V. */
    readonly vread: number,
    /** Gmax − Gmin of the devices, S: a pair's weight is (G+ − G−)/dG. */
    readonly dG: number,
    readonly neurons: Neurons,
    private readonly rng: Random,
  ) {}

  /** Input spikes of `k` images, rate-coded: `(k·T) x nIn` voltages, and each image's spike rates. */
  encode(data: Dataset, idx: ArrayLike<number>): { x: Float32Array; rates: Float32Array } {
    const { nIn, vread } = this;
    const { steps, maxRate } = this.neurons;
    const k = idx.length;
    const x = new Float32Array(k * steps * nIn);
    const rates = new Float32Array(k * nIn);
    for (let s = 0; s < k; s++) {
      const img = data.images.subarray(idx[s]! * nIn, (idx[s]! + 1) * nIn);
      for (let t = 0; t < steps; t++) {
        const o = (s * steps + t) * nIn;
        for (let i = 0; i < nIn; i++) {
          if (img[i]! > 0 && this.rng.uniform() < img[i]! * maxRate) {
            x[o + i] = vread;
            rates[s * nIn + i]! += 1 / steps;
          }
        }
      }
    }
    return { x, rates };
  }

  /** LIF over the steps for `k` images of input `x`, neurons `use` only: spike counts and the potential left (k x classes). */
  async integrate(x: Float32Array, k: number, use: boolean[]) {
    const currents = await this.currents(x, k, use);
    const { steps, beta, theta } = this.neurons;
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
  }

  /** The pair currents per step, in weight units: one VMM per run of active columns. */
  private async currents(x: Float32Array, k: number, use: boolean[]): Promise<Float32Array> {
    const { nIn, vread, dG } = this;
    const { steps } = this.neurons;
    const currents = new Float32Array(k * steps * CLASSES);
    for (const [c0, nc] of activeRuns(use)) {
      const y = await lastValueFrom(this.board.vmm({ r0: 0, c0, rows: nIn, cols: nc }, x, k * steps));
      this.cellReads += k * steps * nIn * nc;
      for (let v = 0; v < k * steps; v++) {
        for (let c = 0; c < nc; c += 2)
          currents[v * CLASSES + (c0 + c) / 2] = (y[v * nc + c]! - y[v * nc + c + 1]!) / (vread * dG);
      }
    }
    return currents;
  }

  /** The winner of image `s`: most spikes, ties broken by the membrane potential left. */
  winner(counts: Float32Array, potential: Float32Array, s: number, use: boolean[]): number {
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
  }

  /** Conductances of neuron `j`'s pair of columns. */
  async readPair(j: number): Promise<Float32Array> {
    return (await lastValueFrom(this.board.readBlock({ r0: 0, c0: 2 * j, rows: this.nIn, cols: 2 }))).data;
  }

  /** Test accuracy with every neuron, on the first `images` of `testSet`, in batches of 50. */
  async evaluate(testSet: Dataset, images: number): Promise<Evaluation> {
    const all = new Array<boolean>(CLASSES).fill(true);
    const confusion = Array.from({ length: CLASSES }, () => new Array<number>(CLASSES).fill(0));
    const batch = 50;
    const n = Math.min(images, testSet.count);
    for (let s0 = 0; s0 < n; s0 += batch) {
      const idx = Array.from({ length: Math.min(batch, n - s0) }, (_, s) => s0 + s);
      const { x } = this.encode(testSet, idx);
      const { counts, potential } = await this.integrate(x, idx.length, all);
      for (let s = 0; s < idx.length; s++)
        confusion[testSet.labels[idx[s]!]!]![this.winner(counts, potential, s, all)]!++;
    }
    let right = 0;
    const perClass = confusion.map((row, c) => {
      right += row[c]!;
      const total = row.reduce((a, b) => a + b, 0);
      return total ? row[c]! / total : 0;
    });
    return { accuracy: right / n, perClass, confusion };
  }
}
