/**
 * A Board that reports what passes through it to the live view, and otherwise is the board it wraps.
 *
 *   run ──op──▶ ObservedBoard ──op──▶ board
 *                    │ tap (results: maps, counters; requests: pulses, OPUs)
 *                    ▼
 *               BoardWatch (hub topics map/I, counters/I, link/I)
 *
 * Nothing is sent for the view's sake: reads feed the map with what the run read anyway, pulses mark
 * the devices they touch, `counters()` calls of the run (training reads them at every epoch) feed the
 * counters. Only the view's explicit map refresh (refresh.ts) issues extra reads.
 */
import { defer, from, type Observable, switchMap, tap } from "rxjs";
import type {
  Block,
  Board,
  BoardConfig,
  ConductanceMap,
  Counters,
  OuterProductUpdate,
  PulseBlock,
  PulseList,
  PulseSpec,
} from "../board/board.ts";
import type { BoardWatch } from "./board-watch.ts";

/**
 * Longest stretch, ms, the run may keep the event loop without a turn for I/O. A board in this
 * process (emu://) answers through process.nextTick and promises only, so a run on it never lets
 * the loop reach its I/O phase: the view's server could not even accept a connection. With the view
 * on, an operation started after this long waits for one setImmediate (a turn of the loop, ~10 µs
 * when nothing is pending) first.
 */
export const YIELD_MS = 20;
let lastYield = Date.now();

function yieldFirst<T>(obs: Observable<T>): Observable<T> {
  return defer(() => {
    const now = Date.now();
    if (now - lastYield < YIELD_MS) return obs;
    lastYield = now;
    return from(new Promise<void>((r) => setImmediate(r))).pipe(switchMap(() => obs));
  });
}

export class ObservedBoard implements Board {
  constructor(
    readonly inner: Board,
    private readonly watch: BoardWatch,
  ) {}

  get url() {
    return this.inner.url;
  }
  get identity() {
    return this.inner.identity;
  }
  get limits() {
    return this.inner.limits;
  }
  get events() {
    return this.inner.events;
  }

  private op<T>(name: string, obs: Observable<T>, onValue?: (v: T) => void): Observable<T> {
    return yieldFirst(obs).pipe(
      tap({
        subscribe: () => this.watch.operation(name),
        next: (v) => onValue?.(v),
        error: () => this.watch.failed(name),
      }),
    );
  }

  configure(cfg?: Partial<BoardConfig>) {
    return this.op("CFG", this.inner.configure(cfg));
  }
  read(row: number, col: number) {
    return this.op("READ", this.inner.read(row, col), (g) =>
      this.watch.map({ r0: row, c0: col, rows: 1, cols: 1, data: Float32Array.of(g) }, "READ"),
    );
  }
  readRow(row: number) {
    return this.op("READ row", this.inner.readRow(row), (m) => this.watch.map(m, "READ row"));
  }
  readCol(col: number) {
    return this.op("READ col", this.inner.readCol(col), (m) => this.watch.map(m, "READ col"));
  }
  readBlock(block: Block) {
    return this.op("READ block", this.inner.readBlock(block), (m) => this.watch.map(m, "READ block"));
  }
  readAll() {
    return this.op("READ all", this.inner.readAll(), (m: ConductanceMap) => this.watch.map(m, "READ all"));
  }
  pulse(p: PulseSpec) {
    this.watch.touched({ kind: "cells", op: "PULSE", cells: [p.row * this.identity.cols + p.col] });
    return this.op("PULSE", this.inner.pulse(p), (r) => {
      if (r.conductance !== undefined)
        this.watch.map(
          { r0: p.row, c0: p.col, rows: 1, cols: 1, data: Float32Array.of(r.conductance) },
          "PULSE",
        );
    });
  }
  pulseList(list: PulseList) {
    const cols = this.identity.cols;
    const n = Math.min(list.rows.length, 20_000);
    const cells = new Array<number>(n);
    for (let k = 0; k < n; k++) cells[k] = list.rows[k]! * cols + list.cols[k]!;
    this.watch.touched({ kind: "cells", op: "PULSE list", cells });
    return this.op("PULSE list", this.inner.pulseList(list));
  }
  pulseBlock(p: PulseBlock) {
    this.watch.touched({ kind: "block", op: "PULSE block", block: p, hit: (k) => p.counts[k] !== 0 });
    return this.op("PULSE block", this.inner.pulseBlock(p));
  }
  outerProductUpdate(u: OuterProductUpdate) {
    const x = Float32Array.from(u.x);
    const d = Float32Array.from(u.d);
    const scale = u.scale ?? 1;
    const th = u.threshold ?? 0.5;
    const hit = (k: number) => Math.abs(scale * x[Math.floor(k / u.cols)]! * d[k % u.cols]!) >= th;
    this.watch.touched({ kind: "block", op: "OPU", block: u, hit });
    return this.op("OPU", this.inner.outerProductUpdate(u));
  }
  vmm(block: Block, x: Float32Array, k?: number) {
    return this.op("VMM", this.inner.vmm(block, x, k));
  }
  vmmT(block: Block, x: Float32Array, k?: number) {
    return this.op("VMM T", this.inner.vmmT(block, x, k));
  }
  fire(block: Block, volts: number, seconds: number) {
    this.watch.touched({ kind: "block", op: "FIRE", block, hit: () => true });
    return this.op("FIRE", this.inner.fire(block, volts, seconds));
  }
  wait(seconds: number) {
    return this.op("WAIT", this.inner.wait(seconds));
  }
  clock() {
    return this.op("CLOCK", this.inner.clock());
  }
  counters(clear?: boolean) {
    return this.op("STAT", this.inner.counters(clear), (c: Counters) => this.watch.counters(c));
  }
  errors() {
    return this.op("ERRQ", this.inner.errors());
  }
  abort() {
    return this.op("ABORT", this.inner.abort());
  }
  reset() {
    return this.op("RESET", this.inner.reset());
  }
  close() {
    return this.inner.close();
  }
}
