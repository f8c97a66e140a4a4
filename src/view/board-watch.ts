/**
 * What the view knows of one board: the last conductance read of each device (NaN until read), the
 * devices the last programming operation touched, the board's counters as last reported, and the link.
 * Updates are O(size of what arrived); encoding for the page happens lazily in the hub, at most once
 * per frame (hub.ts).
 */
import type { Block, Board, ConductanceMap, Counters } from "../board/board.ts";
import type { ViewHub } from "./hub.ts";

/** Devices of the last operation, as cells (flat indices) or a block with a per-device test. */
export type Touched =
  | { kind: "cells"; op: string; cells: number[] }
  | { kind: "block"; op: string; block: Block; hit: (k: number) => boolean };

/** Touched devices sent to the page at most (beyond: the block's outline only). */
const MAX_TOUCHED = 20_000;

export class BoardWatch {
  readonly rows: number;
  readonly cols: number;
  /** Last known conductance per device, S (NaN: never read while the view watched). */
  readonly g: Float32Array;
  private last?: Touched;
  private ops = 0;
  private errors = 0;
  private readonly opCounts = new Map<string, number>();
  private mapSource = "none";
  private mapAt = 0;
  private rate = { t: Date.now(), requests: 0, perSecond: 0 };

  constructor(
    readonly index: number,
    readonly board: Board,
    private readonly hub: ViewHub,
  ) {
    this.rows = board.identity.rows;
    this.cols = board.identity.cols;
    this.g = new Float32Array(this.rows * this.cols).fill(Number.NaN);
    const id = board.identity;
    hub.set(`board/${index}`, {
      index,
      url: board.url,
      rows: id.rows,
      cols: id.cols,
      technology: id.technology,
      vendor: id.vendor,
      model: id.model,
      serial: id.serial,
      firmware: id.firmware,
    });
    hub.set(`map/${index}`, () => this.mapFrame());
  }

  operation(name: string): void {
    this.ops++;
    this.opCounts.set(name, (this.opCounts.get(name) ?? 0) + 1);
  }

  failed(_name: string): void {
    this.errors++;
  }

  /** A map (or part of one) read by the run or by the view's refresh. */
  map(m: ConductanceMap, source: string): void {
    const { rows, cols } = this;
    for (let r = 0; r < m.rows; r++) {
      const rr = m.r0 + r;
      if (rr >= rows) break;
      const n = Math.min(m.cols, cols - m.c0);
      this.g.set(m.data.subarray(r * m.cols, r * m.cols + n), rr * cols + m.c0);
    }
    this.mapSource = source;
    this.mapAt = Date.now();
    this.hub.set(`map/${this.index}`, () => this.mapFrame());
  }

  touched(t: Touched): void {
    this.last = t;
    this.hub.set(`map/${this.index}`, () => this.mapFrame());
  }

  counters(c: Counters): void {
    this.hub.set(`counters/${this.index}`, { ...c, at: Date.now() });
  }

  /** Link figures; called at every frame tick (requests per second over the last tick interval). */
  link(): void {
    const s = this.board.linkStats?.();
    const now = Date.now();
    const requests = s?.requests ?? this.ops;
    if (now - this.rate.t >= 1000) {
      this.rate = {
        t: now,
        requests,
        perSecond: ((requests - this.rate.requests) * 1000) / (now - this.rate.t),
      };
    }
    const ops = Object.fromEntries(this.opCounts);
    const value = {
      ...s,
      requests,
      operations: this.ops,
      errors: this.errors,
      perSecond: this.rate.perSecond,
      ops,
    };
    const prev = JSON.stringify(this.hub.get(`link/${this.index}`) ?? null);
    if (prev !== JSON.stringify(value)) this.hub.set(`link/${this.index}`, value);
  }

  private touchedCells(): { op: string; cells: number[]; block?: Block } | undefined {
    const t = this.last;
    if (!t) return undefined;
    if (t.kind === "cells") return { op: t.op, cells: t.cells };
    const b = t.block;
    const cells: number[] = [];
    for (let k = 0; k < b.rows * b.cols && cells.length < MAX_TOUCHED; k++)
      if (t.hit(k)) cells.push((b.r0 + Math.floor(k / b.cols)) * this.cols + b.c0 + (k % b.cols));
    return { op: t.op, cells, block: { r0: b.r0, c0: b.c0, rows: b.rows, cols: b.cols } };
  }

  private mapFrame() {
    const g = this.g;
    return {
      board: this.index,
      rows: this.rows,
      cols: this.cols,
      source: this.mapSource,
      at: this.mapAt,
      data: Buffer.from(g.buffer, g.byteOffset, g.byteLength).toString("base64"),
      touched: this.touchedCells(),
    };
  }
}
