/**
 * A multilayer perceptron whose layers live in software or on arrays (see nn/layer.ts), trained by
 * backpropagation one image at a time. Hidden units are sigmoids, the output is a softmax with the
 * cross-entropy loss.
 *
 *   x ─▶ L1.forward ─▶ σ ─▶ L2.forward ─▶ softmax ─▶ δ2 = p − y ─▶ L2.backward ─▶ δ1 = e ⊙ σ'
 *                                                                   └─▶ L2.update(h, δ2) ∥ L1.update(x, δ1)
 */
import { concatMap, from, map, type Observable, of, toArray } from "rxjs";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import type { Layer } from "../nn/layer.ts";

export function sigmoid(z: Float32Array): Float32Array {
  const h = new Float32Array(z.length);
  for (let i = 0; i < z.length; i++) h[i] = 1 / (1 + Math.exp(-z[i]!));
  return h;
}

/** Softmax of each row of a `k x n` matrix, in place; returns it. */
export function softmaxRows(z: Float32Array, n: number): Float32Array {
  for (let o = 0; o < z.length; o += n) {
    let m = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < n; j++) m = Math.max(m, z[o + j]!);
    let s = 0;
    for (let j = 0; j < n; j++) {
      const e = Math.exp(z[o + j]! - m);
      z[o + j] = e;
      s += e;
    }
    for (let j = 0; j < n; j++) z[o + j]! /= s;
  }
  return z;
}

export interface StepResult {
  loss: number;
  correct: boolean;
}

export class Mlp {
  constructor(readonly layers: Layer[]) {
    if (layers.length < 1) throw new XbarError(ErrorCode.BAD_INPUT, "a network needs at least one layer");
    for (let i = 1; i < layers.length; i++) {
      if (layers[i]!.nIn !== layers[i - 1]!.nOut) {
        throw new XbarError(
          ErrorCode.BAD_INPUT,
          `layer ${i + 1} takes ${layers[i]!.nIn} inputs but layer ${i} gives ${layers[i - 1]!.nOut}`,
        );
      }
    }
  }

  get nOut(): number {
    return this.layers[this.layers.length - 1]!.nOut;
  }

  /** Forward pass of `k` inputs; emits the softmax outputs (`k x nOut`) and every layer's input. */
  forward(x: Float32Array, k = 1): Observable<{ p: Float32Array; inputs: Float32Array[] }> {
    const inputs: Float32Array[] = [];
    let chain: Observable<Float32Array> = of(x);
    this.layers.forEach((layer, li) => {
      const last = li === this.layers.length - 1;
      chain = chain.pipe(
        concatMap((a) => {
          inputs.push(a);
          return layer.forward(a, k);
        }),
        map((z) => (last ? softmaxRows(z, layer.nOut) : sigmoid(z))),
      );
    });
    return chain.pipe(map((p) => ({ p, inputs })));
  }

  /** One step of stochastic gradient descent on one image. */
  trainStep(x: Float32Array, label: number, lr: number | number[]): Observable<StepResult> {
    const lrs = this.layers.map((_, i) => (typeof lr === "number" ? lr : lr[i]!));
    return this.forward(x).pipe(
      concatMap(({ p, inputs }) => {
        const loss = -Math.log(Math.max(p[label]!, 1e-12));
        let best = 0;
        for (let j = 1; j < p.length; j++) if (p[j]! > p[best]!) best = j;
        const correct = best === label;
        const delta = Float32Array.from(p);
        delta[label]! -= 1;
        // Backward through the layers, collecting each layer's error before any weight changes.
        const deltas: Float32Array[] = new Array(this.layers.length);
        deltas[this.layers.length - 1] = delta;
        let chain: Observable<unknown> = of(null);
        for (let li = this.layers.length - 1; li > 0; li--) {
          const layer = this.layers[li]!;
          const below = inputs[li]!; // sigmoid outputs of layer li-1
          chain = chain.pipe(
            concatMap(() => layer.backward(deltas[li]!)),
            map((e) => {
              const d = new Float32Array(e.length);
              for (let i = 0; i < e.length; i++) d[i] = e[i]! * below[i]! * (1 - below[i]!);
              deltas[li - 1] = d;
              return d;
            }),
          );
        }
        return chain.pipe(
          // One layer after the other: layers that share a board must send it their requests in one
          // order whatever the timing of the replies, so that a seeded run is reproducible.
          concatMap(() => from(this.layers.entries())),
          concatMap(([li, layer]) => layer.update(inputs[li]!, deltas[li]!, { lr: lrs[li]! })),
          toArray(),
          map(() => ({ loss, correct })),
        );
      }),
    );
  }
}
