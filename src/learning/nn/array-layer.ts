/**
 * A layer on one or more crossbar arrays, through the Board interface only.
 *
 *   forward   x ─▶ voltages vin·[x, 1] on the rows ─▶ VMM per tile ─▶ Σ over row bands ─▶ (I+ − I−)/(vin·ΔG)
 *   backward  δ ─▶ voltages ±s·δ on the column pairs ─▶ VMMT per tile ─▶ Σ over column tiles ─▶ /(s·ΔG)
 *   update    OPU per tile: device (i, c) gets q(lr·levels · x_i · d_c) pulses, where d on the pair
 *             (G+, G−) is (−δ, +δ) for the bidirectional rule and (max(−δ,0), max(δ,0)) for the
 *             unidirectional rule (potentiation only: ΔW > 0 potentiates G+, ΔW < 0 potentiates G−)
 *             (mini-batch, `batch` > 1: the host sums −lr·x·δᵀ over the batch and sends the net counts
 *             as a pulse list or block, with the same rounding and the same mapping onto the pair)
 *   refresh   (unidirectional) when a pair has climbed too high (larger device above 75 % of the range
 *             and smaller above 25 % by default: `refreshAt`), read both, depress both, and write the difference back onto
 *             one device with program-and-verify (Lim et al.; counted in pulses and energy).
 *
 * W = (G+ − G−)/ΔG with ΔG = Gmax − Gmin; vin is the input voltage for x = 1.
 */
import { concatMap, from, lastValueFrom, map, type Observable, of } from "rxjs";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import type { Board } from "../../board/board.ts";
import { programVerify, type Target } from "../../pipelines/procedures/program-verify.ts";
import type { Placement, Tile } from "./allocate.ts";
import type { ArrayLayerOptions, LayerStats } from "./array-layer-options.ts";
import { inBoardOrder } from "./board-order.ts";
import { pulsesFor } from "./calibrate.ts";
import {
  checkNothingPending,
  type Layer,
  type LayerHostState,
  stateOfKind,
  type UpdateOptions,
} from "./layer.ts";

export type { ArrayLayerOptions, LayerStats, UpdateRule } from "./array-layer-options.ts";

export class ArrayLayer implements Layer {
  readonly kind = "array";
  readonly stats: LayerStats = { updates: 0, refreshes: 0, refreshedPairs: 0 };
  private readonly dG: number;
  private readonly vin: number;
  private readonly xPhys: Float32Array;
  private pulsesSinceRefresh = 0;
  private readonly gain: number;
  private readonly batch: number;
  /** Sum of −x·δᵀ over the images of the current mini-batch, `(nIn + 1) x nOut` (batch > 1). */
  private acc?: Float32Array;
  private pending = 0;
  /** The input of the last single-vector forward pass (its voltages are what the board may hold). */
  private lastInput?: Float32Array;

  constructor(
    readonly nIn: number,
    readonly nOut: number,
    readonly placement: Placement,
    readonly opts: ArrayLayerOptions,
  ) {
    this.dG = opts.range.gmax - opts.range.gmin;
    this.vin = opts.vin ?? 0.2;
    this.gain = opts.gain ?? 1;
    if (!(this.gain > 0)) throw new XbarError(ErrorCode.BAD_INPUT, `gain must be positive, not ${this.gain}`);
    this.batch = opts.batch ?? 1;
    if (!(Number.isInteger(this.batch) && this.batch >= 1))
      throw new XbarError(ErrorCode.BAD_INPUT, `batch must be an integer >= 1, not ${opts.batch}`);
    const at = opts.refreshAt;
    if (at && !(at.low >= 0 && at.low < at.high && at.high < 1))
      throw new XbarError(
        ErrorCode.BAD_INPUT,
        `refresh levels must satisfy 0 <= low < high < 1, not ${at.low} and ${at.high}`,
      );
    this.xPhys = new Float32Array(nIn + 1);
  }

  private get tiles(): Tile[] {
    return this.placement.tiles;
  }

  forward(x: Float32Array, k = 1): Observable<Float32Array> {
    const { nIn, nOut, vin } = this;
    this.lastInput = k === 1 ? x.slice(0, nIn) : undefined;
    const calls = inBoardOrder(this.tiles, (t) => {
      const xt = new Float32Array(k * t.rows);
      for (let s = 0; s < k; s++) {
        for (let i = 0; i < t.rows; i++) {
          const r = t.rowStart + i;
          xt[s * t.rows + i] = vin * (r === nIn ? 1 : x[s * nIn + r]!);
        }
      }
      return t.board
        .vmm({ r0: t.r0, c0: t.c0, rows: t.rows, cols: t.cols }, xt, k)
        .pipe(map((y) => ({ t, y })));
    });
    return calls.pipe(
      map((parts) => {
        const out = new Float32Array(k * nOut);
        const scale = this.gain / (vin * this.dG);
        for (const { t, y } of parts) {
          for (let s = 0; s < k; s++) {
            for (let c = 0; c < t.cols; c += 2) {
              const j = (t.colStart + c) / 2;
              out[s * nOut + j]! += (y[s * t.cols + c]! - y[s * t.cols + c + 1]!) * scale;
            }
          }
        }
        return out;
      }),
    );
  }

  backward(delta: Float32Array): Observable<Float32Array> {
    const { nIn } = this;
    let dmax = 0;
    for (const d of delta) dmax = Math.max(dmax, Math.abs(d));
    if (dmax === 0) return of(new Float32Array(nIn));
    const s = this.vin / dmax;
    const calls = inBoardOrder(this.tiles, (t) => {
      const v = new Float32Array(t.cols);
      for (let c = 0; c < t.cols; c += 2) {
        const dj = delta[(t.colStart + c) / 2]!;
        v[c] = s * dj;
        v[c + 1] = -s * dj;
      }
      return t.board.vmmT({ r0: t.r0, c0: t.c0, rows: t.rows, cols: t.cols }, v).pipe(map((y) => ({ t, y })));
    });
    return calls.pipe(
      map((parts) => {
        const e = new Float32Array(nIn);
        const scale = this.gain / (s * this.dG);
        for (const { t, y } of parts) {
          for (let i = 0; i < t.rows; i++) {
            const r = t.rowStart + i;
            if (r < nIn) e[r]! += y[i]! * scale;
          }
        }
        return e;
      }),
    );
  }

  update(x: Float32Array, delta: Float32Array, { lr }: UpdateOptions): Observable<unknown> {
    if (this.batch > 1) return this.accumulate(x, delta, lr);
    const { nIn, opts } = this;
    const { levels } = opts.range;
    const xp = this.xPhys;
    xp.set(x.subarray(0, nIn));
    xp[nIn] = 1;
    const scale = (lr * levels) / this.gain;
    // Updating with the input of the last forward pass: a board that holds it need not receive it.
    const held = this.isLastInput(x) ? { voltsPerUnit: this.vin } : undefined;
    // Largest pulse count the envelope allows per device per command: cap the error accordingly.
    const calls = inBoardOrder(this.tiles, (t) => {
      const nmax = t.board.limits.nmax;
      const d = new Float32Array(t.cols);
      let dmax = 0;
      for (let c = 0; c < t.cols; c += 2) {
        const dj = delta[(t.colStart + c) / 2]!;
        if (opts.rule === "bidirectional") {
          d[c] = -dj;
          d[c + 1] = dj;
        } else {
          d[c] = Math.max(-dj, 0);
          d[c + 1] = Math.max(dj, 0);
        }
        dmax = Math.max(dmax, Math.abs(dj));
      }
      const limit = nmax / scale;
      if (dmax > limit) for (let c = 0; c < t.cols; c++) d[c] = Math.max(-limit, Math.min(limit, d[c]!));
      return t.board.outerProductUpdate({
        r0: t.r0,
        c0: t.c0,
        rows: t.rows,
        cols: t.cols,
        x: xp.subarray(t.rowStart, t.rowStart + t.rows),
        d,
        scale,
        vp: opts.pulse.vp,
        vn: opts.pulse.vn,
        width: opts.pulse.width,
        mode: opts.mode ?? "count",
        threshold: opts.threshold ?? 0.5,
        heldInput: held,
      });
    });
    this.stats.updates++;
    return calls.pipe(concatMap((pulses) => this.afterPulses(pulses.reduce((a, b) => a + b, 0))));
  }

  private isLastInput(x: Float32Array): boolean {
    const last = this.lastInput;
    if (!last) return false;
    for (let i = 0; i < this.nIn; i++) if (last[i] !== x[i]) return false;
    return true;
  }

  /** Unidirectional rule: counts the pulses sent and refreshes saturated pairs when the budget is spent. */
  private afterPulses(pulses: number): Observable<number> {
    const fraction = this.opts.rule === "unidirectional" ? (this.opts.refreshFraction ?? 0.05) : 0;
    if (fraction <= 0) return of(0);
    const budget = fraction * this.opts.range.levels * (this.nIn + 1) * 2 * this.nOut;
    this.pulsesSinceRefresh += pulses;
    if (this.pulsesSinceRefresh < budget) return of(0);
    this.pulsesSinceRefresh = 0;
    return from(this.refresh());
  }

  /** Mini-batch: adds −lr·[x, 1]·δᵀ to the sum; every `batch` images, sends it (see `flush`). */
  private accumulate(x: Float32Array, delta: Float32Array, lr: number): Observable<unknown> {
    const { nIn, nOut } = this;
    this.acc ??= new Float32Array((nIn + 1) * nOut);
    const acc = this.acc;
    for (let i = 0; i <= nIn; i++) {
      const xi = i === nIn ? 1 : x[i]!;
      if (xi === 0) continue;
      const row = i * nOut;
      for (let j = 0; j < nOut; j++) acc[row + j]! -= lr * xi * delta[j]!;
    }
    if (++this.pending < this.batch) return of(0);
    return this.flush();
  }

  /**
   * Sends the summed update of the images since the last one (nothing when there is none; see
   * `sendCounts`): pair (G+, G−) of a weight that should change by ΔW gets n = q(|ΔW|·levels/gain) pulses,
   * on both devices in opposite directions (bidirectional) or as potentiation of G+ (ΔW > 0) or of G−
   * (ΔW < 0) only (unidirectional); q as OPU's (rounding or one pulse, nothing below the threshold).
   */
  flush(): Observable<unknown> {
    const acc = this.acc;
    if (!acc || this.pending === 0) return of(0);
    this.pending = 0;
    const { nOut, opts } = this;
    const perW = opts.range.levels / this.gain;
    const th = opts.threshold ?? 0.5;
    const sign = opts.mode === "sign";
    return from(
      (async () => {
        let sent = 0;
        for (const t of this.tiles) {
          const counts = new Int16Array(t.rows * t.cols);
          const nmax = t.board.limits.nmax;
          const before = sent;
          for (let i = 0; i < t.rows; i++) {
            for (let c = 0; c < t.cols; c += 2) {
              const dw = acc[(t.rowStart + i) * nOut + (t.colStart + c) / 2]!;
              const v = Math.abs(dw) * perW;
              if (v < th || v === 0) continue;
              const n = sign ? 1 : Math.min(nmax, Math.round(v));
              const at = i * t.cols + c;
              if (opts.rule === "bidirectional") {
                counts[at] = dw > 0 ? n : -n;
                counts[at + 1] = dw > 0 ? -n : n;
                sent += 2 * n;
              } else {
                counts[at + (dw > 0 ? 0 : 1)] = n;
                sent += n;
              }
            }
          }
          if (sent > before) await this.sendCounts(t, counts);
        }
        acc.fill(0);
        this.stats.updates++;
        return lastValueFrom(this.afterPulses(sent));
      })(),
    );
  }

  /**
   * The host side of the layer: its counters and the pulses since the last look for saturated pairs
   * (when the next refresh comes). The weights are the board's devices.
   */
  hostState(): LayerHostState {
    checkNothingPending(this.pending);
    return { kind: "array", stats: { ...this.stats }, pulsesSinceRefresh: this.pulsesSinceRefresh };
  }

  restoreHostState(s: LayerHostState): void {
    const a = stateOfKind(s, "array");
    Object.assign(this.stats, a.stats);
    this.pulsesSinceRefresh = a.pulsesSinceRefresh;
  }

  /** Reads the physical conductances of the whole layer, `(nIn + 1) x 2·nOut`. */
  private async readPhysical(): Promise<Float32Array> {
    const cols = 2 * this.nOut;
    const g = new Float32Array((this.nIn + 1) * cols);
    for (const t of this.tiles) {
      const m = await lastValueFrom(t.board.readBlock({ r0: t.r0, c0: t.c0, rows: t.rows, cols: t.cols }));
      for (let i = 0; i < t.rows; i++)
        g.set(m.data.subarray(i * t.cols, (i + 1) * t.cols), (t.rowStart + i) * cols + t.colStart);
    }
    return g;
  }

  weights(): Observable<Float32Array> {
    return from(
      this.readPhysical().then((g) => {
        const w = new Float32Array((this.nIn + 1) * this.nOut);
        for (let i = 0; i < w.length; i++) w[i] = (this.gain * (g[2 * i]! - g[2 * i + 1]!)) / this.dG;
        return w;
      }),
    );
  }

  /** Where a physical matrix element lives on which board. */
  private locate(r: number, c: number): { tile: Tile; row: number; col: number } {
    for (const t of this.tiles) {
      if (r >= t.rowStart && r < t.rowStart + t.rows && c >= t.colStart && c < t.colStart + t.cols) {
        return { tile: t, row: t.r0 + r - t.rowStart, col: t.c0 + c - t.colStart };
      }
    }
    throw new XbarError(ErrorCode.BAD_INPUT, `no tile holds (${r}, ${c})`);
  }

  /**
   * The refresh of saturated pairs (unidirectional rule): read the layer, depress both devices of
   * every pair whose larger device is above 75 % and smaller above 25 % of the range, then write the
   * difference back onto one device open-loop with the calibrated potentiation curve.
   */
  async refresh(): Promise<number> {
    const { gmin } = this.opts.range;
    const { high, low } = this.opts.refreshAt ?? { high: 0.75, low: 0.25 };
    const g = await this.readPhysical();
    const cols = 2 * this.nOut;
    const lists = new Map<Board, { rows: number[]; cols: number[]; counts: number[] }>();
    const add = (r: number, c: number, n: number) => {
      const at = this.locate(r, c);
      const list = lists.get(at.tile.board) ?? { rows: [], cols: [], counts: [] };
      list.rows.push(at.row);
      list.cols.push(at.col);
      list.counts.push(n);
      lists.set(at.tile.board, list);
    };
    const depress = -Math.ceil(this.opts.range.levels * 1.5);
    let pairs = 0;
    const rewrites = new Map<Board, Target[]>();
    for (let r = 0; r <= this.nIn; r++) {
      for (let j = 0; j < this.nOut; j++) {
        const gp = g[r * cols + 2 * j]! - gmin;
        const gn = g[r * cols + 2 * j + 1]! - gmin;
        if (!(Math.max(gp, gn) > high * this.dG && Math.min(gp, gn) > low * this.dG)) continue;
        pairs++;
        add(r, 2 * j, depress);
        add(r, 2 * j + 1, depress);
        if (Math.abs(gp - gn) > 0.02 * this.dG) {
          const at = this.locate(r, gp > gn ? 2 * j : 2 * j + 1);
          const list = rewrites.get(at.tile.board) ?? [];
          // At most the calibrated range: a read above it (noise, a device with a wider range) would
          // ask program-and-verify for more than the devices reach, which it refuses (E608).
          list.push({ row: at.row, col: at.col, target: gmin + Math.min(Math.abs(gp - gn), this.dG) });
          rewrites.set(at.tile.board, list);
        }
      }
    }
    this.stats.refreshes++;
    this.stats.refreshedPairs += pairs;
    for (const [board, list] of lists) await this.pulseListChunked(board, list.rows, list.cols, list.counts);
    // Rewrite the difference with verify: open-loop writes of a noisy device would lose the weight.
    const { vp, vn, width } = this.opts.pulse;
    for (const [board, targets] of rewrites) {
      await lastValueFrom(
        programVerify(board, targets, {
          tolerance: 0.05,
          absTolerance: 0.04 * this.dG,
          maxPulses: this.opts.range.levels * 2,
          setAmplitude: vp,
          resetAmplitude: vn,
          width,
        }),
      );
    }
    return pairs;
  }

  /** A signed pulse list (n > 0: vp, n < 0: vn), cut to the envelope's count, length and energy. */
  private async pulseListChunked(
    board: Board,
    rows: number[],
    cols: number[],
    counts: number[],
  ): Promise<void> {
    const { vp, vn, width } = this.opts.pulse;
    const lim = board.limits;
    const gmax = this.opts.range.gmax * 1.1;
    // Split long trains into several entries of at most nmax pulses.
    const er: number[] = [];
    const ec: number[] = [];
    const en: number[] = [];
    for (let i = 0; i < rows.length; i++) {
      let left = counts[i]!;
      while (left !== 0) {
        const n = Math.sign(left) * Math.min(Math.abs(left), lim.nmax);
        er.push(rows[i]!);
        ec.push(cols[i]!);
        en.push(n);
        left -= n;
      }
    }
    let i = 0;
    while (i < er.length) {
      let energy = 0;
      let j = i;
      while (j < er.length && j - i < lim.plmax) {
        const n = en[j]!;
        const e = (n > 0 ? vp * vp : vn * vn) * gmax * width * Math.abs(n);
        if (j > i && energy + e > 0.8 * lim.emax) break;
        energy += e;
        j++;
      }
      await lastValueFrom(
        board.pulseList({
          rows: Uint16Array.from(er.slice(i, j)),
          cols: Uint16Array.from(ec.slice(i, j)),
          amplitude: Float32Array.from(en.slice(i, j), (n) => (n > 0 ? vp : vn)),
          width,
          count: Uint16Array.from(en.slice(i, j), (n) => Math.abs(n)),
        }),
      );
      i = j;
    }
  }

  /**
   * Writes weights open-loop (no verify): depress every device, then give the device of each pair on
   * the side of the weight's sign round(|W|·levels) pulses. Used to transfer a pretrained layer.
   */
  async writeOpenLoop(w: Float32Array, { reset = true, scale = 1 } = {}): Promise<void> {
    if (reset) await this.depressAll();
    for (const t of this.tiles) {
      const counts = new Int16Array(t.rows * t.cols);
      for (let i = 0; i < t.rows; i++) {
        for (let c = 0; c < t.cols; c += 2) {
          const wij = w[(t.rowStart + i) * this.nOut + (t.colStart + c) / 2]!;
          const n = Math.min(
            t.board.limits.nmax,
            Math.round(
              scale *
                pulsesFor(
                  this.opts.range,
                  this.opts.range.gmin + Math.min(1, Math.abs(wij) / this.gain) * this.dG,
                ),
            ),
          );
          counts[i * t.cols + c + (wij >= 0 ? 0 : 1)] = n;
        }
      }
      await this.pulseTile(t, counts);
    }
  }

  /**
   * A signed count map over a tile, sent the cheaper way on the wire: as a pulse list of the devices
   * that get pulses (10 bytes each) when few do, else as a dense pulse block (2 bytes per device).
   */
  private async sendCounts(t: Tile, counts: Int16Array): Promise<void> {
    const rows: number[] = [];
    const cols: number[] = [];
    const n: number[] = [];
    for (let k = 0; k < counts.length; k++) {
      if (counts[k] === 0) continue;
      rows.push(t.r0 + Math.floor(k / t.cols));
      cols.push(t.c0 + (k % t.cols));
      n.push(counts[k]!);
    }
    if (n.length * 10 < counts.length * 2) await this.pulseListChunked(t.board, rows, cols, n);
    else await this.pulseTile(t, counts);
  }

  /**
   * A dense pulse map over a tile, cut into bands of rows so that no command exceeds the board's
   * energy envelope (estimated as the board does, with the device's largest conductance).
   */
  private async pulseTile(t: Tile, counts: Int16Array): Promise<void> {
    const { vp, vn, width } = this.opts.pulse;
    const gmax = this.opts.range.gmax * 1.1;
    const budget = 0.8 * t.board.limits.emax;
    let r = 0;
    while (r < t.rows) {
      let energy = 0;
      let r1 = r;
      while (r1 < t.rows) {
        let e = 0;
        for (let c = 0; c < t.cols; c++) {
          const n = counts[r1 * t.cols + c]!;
          e += (n > 0 ? vp * vp : vn * vn) * gmax * width * Math.abs(n);
        }
        if (r1 > r && energy + e > budget) break;
        energy += e;
        r1++;
      }
      await lastValueFrom(
        t.board.pulseBlock({
          r0: t.r0 + r,
          c0: t.c0,
          rows: r1 - r,
          cols: t.cols,
          counts: counts.subarray(r * t.cols, r1 * t.cols),
          vp,
          vn,
          width,
        }),
      );
      r = r1;
    }
  }

  /** Writes weights with program-and-verify (the costly baseline of hybrid training). */
  async writeVerified(
    w: Float32Array,
    { tolerance = 0.05, reset = true } = {},
  ): Promise<{ converged: number; devices: number }> {
    const { gmin } = this.opts.range;
    if (reset) await this.depressAll();
    let converged = 0;
    let devices = 0;
    for (const t of this.tiles) {
      const targets: Target[] = [];
      for (let i = 0; i < t.rows; i++) {
        for (let c = 0; c < t.cols; c += 2) {
          const wij = w[(t.rowStart + i) * this.nOut + (t.colStart + c) / 2]!;
          const target = gmin + Math.min(1, Math.abs(wij) / this.gain) * this.dG;
          // Weights within the tolerance of zero stay at Gmin after the depression.
          if ((Math.abs(wij) / this.gain) * this.dG <= tolerance * gmin) continue;
          targets.push({ row: t.r0 + i, col: t.c0 + c + (wij >= 0 ? 0 : 1), target });
        }
      }
      if (targets.length === 0) continue;
      const res = await lastValueFrom(
        programVerify(t.board, targets, {
          tolerance,
          maxPulses: this.opts.range.levels * 4,
          setAmplitude: this.opts.pulse.vp,
          resetAmplitude: this.opts.pulse.vn,
          width: this.opts.pulse.width,
        }),
      );
      converged += res.converged;
      devices += targets.length;
    }
    return { converged, devices };
  }

  /** Depresses every device of the layer fully. */
  async depressAll(): Promise<void> {
    const n = Math.min(Math.ceil(this.opts.range.levels * 1.5), 32767);
    for (const t of this.tiles) {
      let left = n;
      while (left > 0) {
        const k = Math.min(left, t.board.limits.nmax);
        await this.pulseTile(t, new Int16Array(t.rows * t.cols).fill(-k));
        left -= k;
      }
    }
  }

  /**
   * Random initial weights: after a full depression, each device of a pair gets a random number of
   * pulses in 0..spread·levels, so W starts small and of random sign.
   */
  async initRandom(rng: { int(n: number): number }, spread = 0.1): Promise<void> {
    await this.depressAll();
    const k = Math.max(1, Math.round(spread * this.opts.range.levels));
    for (const t of this.tiles) {
      const counts = new Int16Array(t.rows * t.cols);
      for (let i = 0; i < counts.length; i++) counts[i] = rng.int(k + 1);
      await this.pulseTile(t, counts);
    }
  }
}
