/**
 * A layer of a network, in software or on arrays. Weights are in normalised units: on an array,
 * W = (G+ − G−) / (Gmax − Gmin) on a differential pair of columns, so |W| ≤ 1.
 * Every layer has a bias, held as an extra input fixed at 1.
 *
 *   forward(x)  = Wᵀ·[x, 1]            (nOut pre-activations)
 *   backward(δ) = W·δ without the bias   (nIn errors for the layer below)
 *   update(x,δ) : W ← W − lr·[x, 1]·δᵀ   (as exactly as the layer's hardware allows)
 */
import { type Observable, of } from "rxjs";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import type { Random } from "../../../firmware-protocol/random.ts";
import type { LayerStats } from "./array-layer-options.ts";

export interface UpdateOptions {
  lr: number;
}

/**
 * What a layer keeps on the host between epochs, all its next update depends on besides the board's
 * devices: a checkpoint holds it (training/checkpoint.ts). Taken at an epoch's end, when no mini-batch
 * is pending.
 */
export type LayerHostState =
  | { kind: "software"; w: Float32Array }
  | {
      kind: "array";
      stats: LayerStats;
      pulsesSinceRefresh: number;
    };

export interface Layer {
  readonly nIn: number;
  readonly nOut: number;
  /** Where the layer lives, for reports: "software" or "array". */
  readonly kind: "software" | "array";
  /** `k` input vectors (row-major `k x nIn`) → `k x nOut` pre-activations. */
  forward(x: Float32Array, k?: number): Observable<Float32Array>;
  /** One error vector of nOut → nIn. */
  backward(delta: Float32Array): Observable<Float32Array>;
  update(x: Float32Array, delta: Float32Array, opts: UpdateOptions): Observable<unknown>;
  /** Applies what a mini-batch has summed so far (layers that batch updates); nothing otherwise. */
  flush?(): Observable<unknown>;
  /** The weights as the layer holds them, `(nIn + 1) x nOut` (last row: bias). */
  weights(): Observable<Float32Array>;
  /** The host-side state (see LayerHostState); refused while a mini-batch is pending. */
  hostState?(): LayerHostState;
  /** Takes back a state of `hostState()` (of a layer of the same kind and size). */
  restoreHostState?(s: LayerHostState): void;
}

/** Refuses a state taken from another kind of layer. */
export function stateOfKind<K extends LayerHostState["kind"]>(
  s: LayerHostState,
  kind: K,
): Extract<LayerHostState, { kind: K }> {
  if (s.kind !== kind)
    throw new XbarError(ErrorCode.BAD_INPUT, `a ${s.kind} layer's state cannot restore a ${kind} layer`);
  return s as Extract<LayerHostState, { kind: K }>;
}

/** The state of a layer with a pending mini-batch is not at an epoch boundary: refused. */
export function checkNothingPending(pending: number): void {
  if (pending > 0)
    throw new XbarError(ErrorCode.INTERNAL, `a layer's state was taken with ${pending} update(s) pending`);
}

export class SoftwareLayer implements Layer {
  readonly kind = "software";
  /** `(nIn + 1) x nOut`, last row the bias. */
  readonly w: Float32Array;

  /** Mini-batch: updates are summed over this many images before the weights change; default 1. */
  private readonly batch: number;
  private acc?: Float32Array;
  private pending = 0;

  constructor(
    readonly nIn: number,
    readonly nOut: number,
    init: Float32Array | { rng: Random; scale: number },
    { batch = 1 }: { batch?: number } = {},
  ) {
    if (!(Number.isInteger(batch) && batch >= 1))
      throw new XbarError(ErrorCode.BAD_INPUT, `batch must be an integer >= 1, not ${batch}`);
    this.batch = batch;
    if (init instanceof Float32Array) {
      if (init.length !== (nIn + 1) * nOut)
        throw new XbarError(
          ErrorCode.BAD_INPUT,
          `weights have ${init.length} values, expected ${(nIn + 1) * nOut}`,
        );
      this.w = init.slice();
    } else {
      this.w = new Float32Array((nIn + 1) * nOut);
      // The difference of two uniforms, as an array initialised with a random number of pulses on each
      // device of a pair (ArrayLayer.initRandom): the reference starts from the same distribution.
      for (let i = 0; i < this.w.length; i++)
        this.w[i] = (init.rng.uniform() - init.rng.uniform()) * init.scale;
    }
  }

  forwardSync(x: Float32Array, k = 1): Float32Array {
    const { nIn, nOut, w } = this;
    const y = new Float32Array(k * nOut);
    for (let s = 0; s < k; s++) {
      const xo = s * nIn;
      const yo = s * nOut;
      for (let j = 0; j < nOut; j++) y[yo + j] = w[nIn * nOut + j]!;
      for (let i = 0; i < nIn; i++) {
        const xi = x[xo + i]!;
        if (xi === 0) continue;
        const row = i * nOut;
        for (let j = 0; j < nOut; j++) y[yo + j]! += xi * w[row + j]!;
      }
    }
    return y;
  }

  forward(x: Float32Array, k = 1): Observable<Float32Array> {
    return of(this.forwardSync(x, k));
  }

  backwardSync(delta: Float32Array): Float32Array {
    const { nIn, nOut, w } = this;
    const e = new Float32Array(nIn);
    for (let i = 0; i < nIn; i++) {
      let s = 0;
      const row = i * nOut;
      for (let j = 0; j < nOut; j++) s += w[row + j]! * delta[j]!;
      e[i] = s;
    }
    return e;
  }

  backward(delta: Float32Array): Observable<Float32Array> {
    return of(this.backwardSync(delta));
  }

  updateSync(x: Float32Array, delta: Float32Array, { lr }: UpdateOptions): void {
    const { nIn, nOut } = this;
    if (this.batch > 1) this.acc ??= new Float32Array(this.w.length);
    const w = this.batch > 1 ? this.acc! : this.w;
    for (let i = 0; i <= nIn; i++) {
      const xi = i === nIn ? 1 : x[i]!;
      if (xi === 0) continue;
      const row = i * nOut;
      for (let j = 0; j < nOut; j++) w[row + j]! -= lr * xi * delta[j]!;
    }
    if (this.batch > 1 && ++this.pending >= this.batch) this.flushSync();
  }

  private flushSync(): void {
    if (!this.acc || this.pending === 0) return;
    for (let i = 0; i < this.w.length; i++) this.w[i]! += this.acc[i]!;
    this.acc.fill(0);
    this.pending = 0;
  }

  flush(): Observable<void> {
    this.flushSync();
    return of(undefined);
  }

  update(x: Float32Array, delta: Float32Array, opts: UpdateOptions): Observable<void> {
    this.updateSync(x, delta, opts);
    return of(undefined);
  }

  weights(): Observable<Float32Array> {
    return of(this.w.slice());
  }

  hostState(): LayerHostState {
    checkNothingPending(this.pending);
    return { kind: "software", w: this.w.slice() };
  }

  restoreHostState(s: LayerHostState): void {
    const { w } = stateOfKind(s, "software");
    if (w.length !== this.w.length)
      throw new XbarError(ErrorCode.BAD_INPUT, `weights have ${w.length} values, expected ${this.w.length}`);
    this.w.set(w);
  }
}
