/**
 * A command that takes time on the board, split into units the session can run a few at a time:
 * a programming command is its validated list of pulse trains (applied in order, a train split
 * anywhere between two pulses), a WAIT is its duration. Between two slices the session reads its
 * input, so ABORT stops the job part-way: what was applied stays applied, and the reply says how much.
 *
 *   execute(PULSE …) ─▶ PulseJob(ops) ─▶ step(budget) … step(budget) ─▶ reply()  |  aborted() ─▶ 401
 */
import { ErrorCode, ProtocolError } from "../firmware-protocol/index.ts";

/** One pulse train of a programming command: `n` pulses of `v`, `w` on device `index`. */
export interface PulseOp {
  index: number;
  v: number;
  w: number;
  n: number;
}

export interface Job<R = object> {
  /** True once every unit ran. */
  readonly done: boolean;
  /**
   * Runs units until `budgetS` of board time is spent (at least one unit) or `deadline`
   * (performance.now(), ms) has passed; returns the board time spent, s.
   */
  step(budgetS: number, deadline: number): number;
  /** The OK reply's fields, once done. */
  reply(): R;
  /** The error of a job stopped by ABORT before it was done: 401 saying how far it got. */
  aborted(): ProtocolError;
  /** Set when the job stopped itself (a compliance trip, 404): it is then done, and replies this. */
  readonly failure?: ProtocolError;
}

/** How a job applies pulses and accounts for their time (the board's physics and profile). */
export interface PulseSink {
  /** Applies `n` pulses to one device (counters, energy, clock, disturb). */
  apply(index: number, v: number, w: number, n: number): void;
  /** Board time of `n` pulses of width `w` on one device, the device selected once if `select`. */
  time(w: number, n: number, select: boolean): number;
  /** True when a pulse of `v` on the device would exceed the compliance (it is then not applied). */
  trips(index: number, v: number): boolean;
}

export class PulseJob<R extends object> implements Job<R> {
  private op = 0;
  /** Pulses of ops[op] already applied. */
  private within = 0;
  /** Pulses applied so far, all ops. */
  applied = 0;
  readonly total: number;
  failure?: ProtocolError;

  constructor(
    private readonly ops: readonly PulseOp[],
    private readonly sink: PulseSink,
    private readonly finish: () => R,
  ) {
    let t = 0;
    for (const o of ops) t += o.n;
    this.total = t;
    this.skipEmpty();
  }

  get done(): boolean {
    return this.op >= this.ops.length || this.failure !== undefined;
  }

  /**
   * Runs pulses until the budget or the deadline. A train's physics is applied in one piece when its
   * time has run (or, on ABORT, the part of it that has: see `aborted`), never in pieces cut where a
   * slice happened to end: device models draw one noise sample per train (σ·√n), so cutting a train
   * where the wall clock says would make a seeded run depend on the machine's speed. Time within a
   * train is counted in pulses elapsed (`within`).
   */
  step(budgetS: number, deadline: number): number {
    let spent = 0;
    let count = 0;
    while (!this.done) {
      const o = this.ops[this.op]!;
      if (this.within === 0 && this.sink.trips(o.index, o.v)) {
        this.failure = new ProtocolError(
          ErrorCode.COMPLIANCE_TRIP,
          `pulses=${this.applied} compliance tripped at device ${o.index} after ${this.applied} of ${this.total} pulses; the array is idle`,
        );
        break;
      }
      const per = this.sink.time(o.w, 1, false);
      const left = o.n - this.within;
      // As many pulses of this train as the budget holds (at least one per step).
      const fit = per > 0 ? Math.floor((budgetS - spent) / per) : left;
      const k = Math.max(count === 0 ? 1 : 0, Math.min(left, fit));
      if (k === 0) break;
      spent += this.sink.time(o.w, k, this.within === 0);
      this.within += k;
      this.applied += k;
      count += k;
      if (this.within === o.n) {
        this.sink.apply(o.index, o.v, o.w, o.n);
        this.op++;
        this.within = 0;
        this.skipEmpty();
      }
      // A train can cost a scan of the array (disturb): the clock is read after each one.
      if (performance.now() > deadline) break;
    }
    return spent;
  }

  reply(): R {
    return this.finish();
  }

  /** Stops the job: the pulses of the train under way that have elapsed are applied, in one piece. */
  aborted(): ProtocolError {
    const o = this.ops[this.op];
    if (o && this.within > 0 && !this.failure) {
      this.sink.apply(o.index, o.v, o.w, this.within);
      this.within = 0;
    }
    return new ProtocolError(
      ErrorCode.ABORTED,
      `pulses=${this.applied} aborted after ${this.applied} of ${this.total} pulses; the array is idle`,
    );
  }

  private skipEmpty(): void {
    while (this.op < this.ops.length && this.ops[this.op]!.n === 0) this.op++;
  }
}

/** WAIT as a job: the board clock advances as the wait proceeds; ABORT ends it early. */
export class WaitJob implements Job<{ t: number }> {
  private left: number;

  constructor(
    seconds: number,
    private readonly advance: (s: number) => void,
    private readonly now: () => number,
  ) {
    this.left = seconds;
  }

  get done(): boolean {
    return this.left <= 0;
  }

  step(budgetS: number): number {
    const s = Math.min(this.left, budgetS);
    this.advance(s);
    this.left -= s;
    return s;
  }

  reply(): { t: number } {
    return { t: this.now() };
  }

  aborted(): ProtocolError {
    return new ProtocolError(ErrorCode.ABORTED, `t=${this.now()} wait aborted; the array is idle`);
  }
}

export function isJob(x: object): x is Job {
  return typeof (x as Job).step === "function";
}
