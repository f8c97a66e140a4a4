/**
 * An emulated crossbar on a probe station: the very array of the emulated board (same presets, same
 * seed streams, same array effects, same virtual clock), reached through its lines instead of
 * through our protocol. The emulated SMU, matrix and ArC ONE drive it, so results on those
 * instruments are comparable with results on `emu://` under the same seed.
 *
 * Physics (our choice, stated): a voltage |v| up to the board's read limit (1 V) held on a device
 * for t seconds is a read at v (no change of state, read time t); above it, it is a programming pulse
 * of amplitude v and width t, after which the device conducts at its new state. The current is
 * G·v with G sensed as the board senses it (array effects included), under the biasing scheme of
 * the unselected lines the instrument gives (a single SMU behind a matrix floats them).
 */

import {
  COMMANDS,
  type ReplyOf,
  type Request,
  type RequestOf,
  type Scheme,
  type Verb,
} from "../firmware-protocol/index.ts";
import { type BoardOptions, EmulatedBoard, HARD_LIMITS } from "./board.ts";
import { isJob } from "./job.ts";

/** The range of CFG's read integration time (the command table's). */
const TREAD = COMMANDS.CFG.params.tread;

export class ProbedArray {
  private readonly board: EmulatedBoard;
  private scheme: Scheme | undefined;

  constructor(opts: BoardOptions = {}) {
    this.board = new EmulatedBoard(opts);
  }

  get rows(): number {
    return this.board.rows;
  }
  get cols(): number {
    return this.board.cols;
  }
  get technology(): string {
    return this.board.preset.name;
  }
  /** The virtual clock of the array, s. */
  get clock(): number {
    return this.board.clock;
  }
  /** Nominal conductance range of the devices, S. */
  get gmax(): number {
    return this.board.devices.gmax;
  }

  /** One request of the table executed on the array (scalar arguments only), its reply as the table types it. */
  private run<V extends Verb>(verb: V, args: RequestOf<V>): ReplyOf<V> {
    const map = new Map<string, string>();
    for (const [k, v] of Object.entries(args)) if (v !== undefined) map.set(k, String(v));
    const req: Request = { kind: "request", tag: 0, verb, args: map };
    let out = this.board.execute(req);
    if (isJob(out)) {
      // Programming and WAIT run as jobs in slices on the board; on the probe station the instrument
      // holds the level for the whole time, so the job runs to its end at once.
      const job = out;
      while (!job.done) job.step(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
      if (job.failure) throw job.failure;
      out = job.reply();
    }
    // The handler of `verb` made this reply (mocks/handlers.ts), typed by the same table.
    return out as ReplyOf<V>;
  }

  /**
   * Holds `v` on device (r, c) for `seconds` with the unselected lines as `scheme` says; returns the
   * current, A (positive from row to column).
   */
  apply(r: number, c: number, v: number, seconds: number, scheme: Scheme = "FLOAT"): number {
    if (scheme !== this.scheme) {
      this.run("CFG", { scheme });
      this.scheme = scheme;
    }
    if (v === 0) {
      this.run("WAIT", { t: seconds });
      return 0;
    }
    if (Math.abs(v) > HARD_LIMITS.vrmax) {
      // A programming pulse: the board's widest pulse is 10 ms, longer holds are several of them.
      const n = Math.max(1, Math.ceil(seconds / HARD_LIMITS.wmax));
      const w = Math.max(HARD_LIMITS.wmin, seconds / n);
      const vmax = HARD_LIMITS.vmax;
      const amp = Math.max(-vmax, Math.min(vmax, v));
      this.run("PULSE", { r, c, v: amp, w, n });
      this.run("CFG", { vread: 0.2, tread: TREAD.min });
      return this.run("READ", { r, c }).g * v;
    }
    const tread = Math.min(TREAD.max, Math.max(TREAD.min, seconds));
    this.run("CFG", { vread: Math.abs(v), tread });
    const g = this.run("READ", { r, c }).g;
    if (seconds > tread) this.run("WAIT", { t: seconds - tread });
    return g * v;
  }

  /** Lets time pass on the array (retention, drift), s. */
  wait(seconds: number): void {
    this.run("WAIT", { t: seconds });
  }

  /** Present conductances, S, row-major (what an ideal read returns; for tests). */
  conductances(): Float64Array {
    return this.board.conductances();
  }
}
