/**
 * Host composition: a Board built from a few native steps (read one device, pulse one device,
 * optionally pulse-then-read and block reads), for hardware that has nothing more (a source-measure
 * unit behind a switching matrix, the ArC ONE). Everything else of the Board interface is composed
 * here, below the interface, so nothing above it special-cases such boards.
 *
 *   operation ─▶ host envelope check ─▶ exclusive (one instrument operation at a time)
 *             ─▶ native steps, each checking for cancellation ─▶ idle() on failure or abort
 *
 * Implementations supply the steps (`readOne`, `pulseOne`, `idle`, ...) and report energy with
 * `account()`. Counters, the error queue and the envelope live here, on the host.
 */
import { Observable, Subject } from "rxjs";
import { errorMessage, XbarError } from "../../firmware-protocol/errors.ts";
import {
  checkAddress,
  checkAmplitude,
  checkCompliance,
  checkCount,
  checkListLength,
  checkPulse,
  checkReadVoltage,
  checkWidth,
  ErrorCode,
  type Limits,
  ProtocolError,
} from "../../firmware-protocol/index.ts";
import type {
  Block,
  Board,
  BoardConfig,
  BoardEventInfo,
  Capabilities,
  ConductanceMap,
  Counters,
  Identity,
  OuterProductUpdate,
  PulseBlock,
  PulseList,
  PulseResult,
  PulseSpec,
} from "./board.ts";

/** The configuration a composed board starts with (as the protocol board's defaults). */
export const COMPOSED_DEFAULT_CONFIG: Readonly<Omit<BoardConfig, "vmax" | "wmax" | "nmax" | "emax">> = {
  readVoltage: 0.2,
  scheme: "FLOAT",
  compliance: 1e-4,
  readTime: 1e-3,
};

/** Throws ABORTED when the running operation was cancelled (unsubscribed or ABORT). */
export type Step = () => void;

export abstract class HostComposedBoard implements Board {
  abstract readonly url: string;
  abstract readonly identity: Identity;
  abstract readonly capabilities: Capabilities;
  limits: Limits;
  protected config: BoardConfig;
  private readonly eventSubject = new Subject<BoardEventInfo>();
  readonly events: Observable<BoardEventInfo> = this.eventSubject.asObservable();
  private stats = { pulses: 0, reads: 0, vmms: 0, energy: 0, commands: 0, errors: 0 };
  private readonly errorQueue: Array<{ code: number; message: string }> = [];
  private chain: Promise<unknown> = Promise.resolve();
  /** Bumped by abort(): operations started before it stop at their next step. */
  private generation = 0;

  constructor(
    /** The hard envelope of the hardware; `configure` may only narrow it. */
    protected readonly hardLimits: Limits,
  ) {
    this.limits = { ...hardLimits };
    this.config = this.defaultConfig();
  }

  // ---- what an implementation supplies -------------------------------------------------------

  /** Conductance of one device at the configured read voltage, S; leaves the instruments idle. */
  protected abstract readOne(row: number, col: number, step: Step): Promise<number>;
  /** `count` pulses on one device; leaves the instruments idle. */
  protected abstract pulseOne(
    row: number,
    col: number,
    amplitude: number,
    width: number,
    count: number,
    step: Step,
  ): Promise<void>;
  /** Pulses then reads (native on the ArC ONE); by default a pulse and a read. */
  protected async pulseReadOne(
    row: number,
    col: number,
    amplitude: number,
    width: number,
    count: number,
    step: Step,
  ): Promise<number> {
    await this.pulseOne(row, col, amplitude, width, count, step);
    step();
    return this.readOne(row, col, step);
  }
  /** A native block read, if the hardware has one; by default device by device. */
  protected async readBlockSteps(b: Block, step: Step): Promise<Float32Array> {
    const out = new Float32Array(b.rows * b.cols);
    for (let i = 0; i < b.rows; i++)
      for (let j = 0; j < b.cols; j++) {
        step();
        out[i * b.cols + j] = await this.readOne(b.r0 + i, b.c0 + j, step);
      }
    return out;
  }
  /** Source outputs off, every line disconnected or grounded. Must not throw when the link is gone. */
  protected abstract idle(): Promise<void>;
  /** Sends a configuration the hardware must apply (read voltage, compliance, scheme). */
  protected abstract applyConfig(next: BoardConfig): Promise<void>;
  /** Waits on the board's clock: real time on hardware, virtual on an emulated bench. */
  protected abstract sleep(seconds: number): Promise<void>;
  /** Board clock, s. */
  protected abstract now(): number;
  /** Releases the links. */
  protected abstract release(): Promise<void>;

  // ---- helpers for implementations ------------------------------------------------------------

  /** Adds what a native step did to the host's counters. */
  protected account(d: { reads?: number; pulses?: number; energy?: number; commands?: number }): void {
    this.stats.reads += d.reads ?? 0;
    this.stats.pulses += d.pulses ?? 0;
    this.stats.energy += d.energy ?? 0;
    this.stats.commands += d.commands ?? 0;
  }

  protected emit(name: string, args: Record<string, string> = {}): void {
    this.eventSubject.next({ name, args });
  }

  private defaultConfig(): BoardConfig {
    const h = this.hardLimits;
    return { ...COMPOSED_DEFAULT_CONFIG, vmax: h.vmax, wmax: h.wmax, nmax: h.nmax, emax: h.emax };
  }

  /**
   * Runs `body` as one exclusive operation: the host check first (nothing sent when it fails),
   * then the native steps; on failure or cancellation the instruments are left idle and the error
   * is queued. Cold: nothing happens before subscription.
   */
  protected operation<T>(
    command: string,
    check: () => void,
    body: (step: Step) => Promise<T>,
  ): Observable<T> {
    return new Observable<T>((sub) => {
      let cancelled = false;
      let finished = false;
      try {
        check();
      } catch (e) {
        sub.error(this.hostError(command, e));
        return;
      }
      const gen = this.generation;
      const step: Step = () => {
        if (cancelled || gen !== this.generation)
          throw new XbarError(ErrorCode.ABORTED, `${command} stopped: aborted`, { command, port: this.url });
      };
      const run = async () => {
        step();
        try {
          return await body(step);
        } catch (e) {
          await this.idle();
          throw e;
        }
      };
      const p = this.chain.then(run, run);
      this.chain = p.catch(() => {});
      p.then(
        (v) => {
          finished = true;
          sub.next(v);
          sub.complete();
        },
        (e) => {
          finished = true;
          const err =
            e instanceof XbarError
              ? e
              : new XbarError(ErrorCode.INTERNAL, errorMessage(e), { command, port: this.url });
          if (err.code !== ErrorCode.ABORTED) this.queueError(err);
          sub.error(err);
        },
      );
      return () => {
        if (!finished) cancelled = true;
      };
    });
  }

  private hostError(command: string, e: unknown): unknown {
    if (e instanceof ProtocolError)
      return new XbarError(e.code, e.message, { command, side: "host", port: this.url });
    return e;
  }

  private queueError(e: XbarError): void {
    this.stats.errors++;
    if (this.errorQueue.length < 32) this.errorQueue.push({ code: e.code, message: e.detail });
  }

  private checkDevice(row: number, col: number): void {
    checkAddress(this.identity.rows, this.identity.cols, row, col);
  }

  private checkBlock(b: Block): void {
    checkAddress(this.identity.rows, this.identity.cols, b.r0, b.c0, b.rows, b.cols);
  }

  // ---- the Board interface ----------------------------------------------------------------------

  configure(cfg: Partial<BoardConfig> = {}): Observable<BoardConfig> {
    let next: BoardConfig = this.config;
    return this.operation(
      "CFG",
      () => {
        next = { ...this.config };
        for (const [k, v] of Object.entries(cfg)) if (v !== undefined) Object.assign(next, { [k]: v });
        checkReadVoltage(this.hardLimits, next.readVoltage);
        checkCompliance(this.hardLimits, next.compliance);
        if (!this.capabilities.schemes.includes(next.scheme))
          throw new ProtocolError(
            ErrorCode.BAD_ARGUMENT,
            `scheme ${next.scheme} is not one this hardware can apply (${this.capabilities.schemes.join(", ")})`,
          );
        if (!(next.readTime > 0 && next.readTime <= 1))
          throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `readTime ${next.readTime} s outside (0, 1] s`);
        for (const k of ["vmax", "wmax", "nmax", "emax"] as const) {
          if (!(next[k] > 0)) throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `${k} must be positive`);
          if (next[k] > this.hardLimits[k])
            throw new ProtocolError(
              ErrorCode.WIDEN_REFUSED,
              `${k}=${next[k]} would widen the board's limit of ${this.hardLimits[k]}`,
            );
        }
      },
      async () => {
        await this.applyConfig(next);
        this.config = next;
        const { vmax, wmax, nmax, emax } = next;
        this.limits = { ...this.hardLimits, vmax, wmax, nmax, emax };
        return { ...next };
      },
    );
  }

  read(row: number, col: number): Observable<number> {
    return this.operation(
      "READ",
      () => this.checkDevice(row, col),
      (step) => this.readOne(row, col, step),
    );
  }

  readBlock(block: Block): Observable<ConductanceMap> {
    return this.operation(
      "READBLK",
      () => this.checkBlock(block),
      async (step) => ({ ...block, data: await this.readBlockSteps(block, step) }),
    );
  }

  readRow(row: number): Observable<ConductanceMap> {
    return this.readBlock({ r0: row, c0: 0, rows: 1, cols: this.identity.cols });
  }

  readCol(col: number): Observable<ConductanceMap> {
    return this.readBlock({ r0: 0, c0: col, rows: this.identity.rows, cols: 1 });
  }

  readAll(): Observable<ConductanceMap> {
    return this.readBlock({ r0: 0, c0: 0, rows: this.identity.rows, cols: this.identity.cols });
  }

  pulse(p: PulseSpec): Observable<PulseResult> {
    const { row, col, amplitude, width, count = 1, readAfter = false } = p;
    return this.operation(
      "PULSE",
      () => {
        this.checkDevice(row, col);
        checkPulse(this.limits, amplitude, width, count);
      },
      async (step) => {
        if (!readAfter) {
          await this.pulseOne(row, col, amplitude, width, count, step);
          return { row, col, applied: count };
        }
        const g = await this.pulseReadOne(row, col, amplitude, width, count, step);
        return { row, col, applied: count, conductance: g };
      },
    );
  }

  /** Applies a validated list of (device, amplitude, width, count), one native pulse per entry. */
  private pulses(
    command: string,
    check: () => void,
    entries: () => Iterable<[number, number, number, number, number]>,
  ): Observable<number> {
    return this.operation(command, check, async (step) => {
      let total = 0;
      for (const [r, c, v, w, n] of entries()) {
        if (n === 0) continue;
        step();
        await this.pulseOne(r, c, v, w, n, step);
        total += n;
      }
      return total;
    });
  }

  pulseList(list: PulseList): Observable<number> {
    const k = list.rows.length;
    const { amplitude, width, count = 1 } = list;
    const at = (x: number | ArrayLike<number>, i: number) => (typeof x === "number" ? x : x[i]!);
    return this.pulses(
      "PLIST",
      () => {
        checkListLength(this.limits, k);
        for (const [name, x] of [
          ["cols", list.cols],
          ["amplitude", amplitude],
          ["width", width],
          ["count", count],
        ] as const) {
          if (typeof x !== "number" && x.length !== k)
            throw new ProtocolError(
              ErrorCode.BAD_ARGUMENT,
              `pulse list ${name} has ${x.length} entries, expected ${k}`,
            );
        }
        for (let i = 0; i < k; i++) {
          this.checkDevice(list.rows[i]!, list.cols[i]!);
          checkPulse(this.limits, at(amplitude, i), at(width, i), at(count, i));
        }
      },
      function* () {
        for (let i = 0; i < k; i++)
          yield [list.rows[i]!, list.cols[i]!, at(amplitude, i), at(width, i), at(count, i)];
      },
    );
  }

  private checkSigned(b: Block, vp: number, vn: number, width: number): void {
    this.checkBlock(b);
    if (!(vp > 0) || !(vn < 0))
      throw new ProtocolError(ErrorCode.BAD_ARGUMENT, "vp must be positive and vn negative");
    checkAmplitude(this.limits, vp);
    checkAmplitude(this.limits, vn);
    checkWidth(this.limits, width);
  }

  pulseBlock(p: PulseBlock): Observable<number> {
    return this.pulses(
      "PBLK",
      () => {
        this.checkSigned(p, p.vp, p.vn, p.width);
        if (p.counts.length !== p.rows * p.cols)
          throw new ProtocolError(
            ErrorCode.BAD_ARGUMENT,
            `counts has ${p.counts.length} entries, expected ${p.rows * p.cols}`,
          );
        for (const n of p.counts) checkCount(this.limits, Math.abs(n));
      },
      function* () {
        for (let i = 0; i < p.rows; i++)
          for (let j = 0; j < p.cols; j++) {
            const n = p.counts[i * p.cols + j]!;
            yield [p.r0 + i, p.c0 + j, n > 0 ? p.vp : p.vn, p.width, Math.abs(n)];
          }
      },
    );
  }

  outerProductUpdate(u: OuterProductUpdate): Observable<number> {
    const { mode = "count", threshold = 0.5, scale = 1 } = u;
    const counts = new Int16Array(u.rows * u.cols);
    return this.pulses(
      "OPU",
      () => {
        this.checkSigned(u, u.vp, u.vn, u.width);
        if (u.x.length !== u.rows || u.d.length !== u.cols)
          throw new ProtocolError(
            ErrorCode.BAD_ARGUMENT,
            `x has ${u.x.length} values and d ${u.d.length}, expected ${u.rows} and ${u.cols}`,
          );
        for (let i = 0; i < u.rows; i++)
          for (let j = 0; j < u.cols; j++) {
            const v = scale * u.x[i]! * u.d[j]!;
            const n = Math.abs(v) >= threshold ? (mode === "sign" ? 1 : Math.round(Math.abs(v))) : 0;
            checkCount(this.limits, n);
            counts[i * u.cols + j] = v > 0 ? n : -n;
          }
      },
      function* () {
        for (let i = 0; i < u.rows; i++)
          for (let j = 0; j < u.cols; j++) {
            const n = counts[i * u.cols + j]!;
            yield [u.r0 + i, u.c0 + j, n > 0 ? u.vp : u.vn, u.width, Math.abs(n)];
          }
      },
    );
  }

  /** Composed multiply: reads the block, then I = Σ V·G on the host (see the Board contract). */
  private multiply(transposed: boolean, block: Block, x: Float32Array, k: number): Observable<Float32Array> {
    const nin = transposed ? block.cols : block.rows;
    const nout = transposed ? block.rows : block.cols;
    return this.operation(
      transposed ? "VMMT" : "VMM",
      () => {
        this.checkBlock(block);
        if (!(Number.isInteger(k) && k >= 1))
          throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `k must be a positive integer, not ${k}`);
        if (x.length !== k * nin)
          throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `x has ${x.length} values, expected ${k} x ${nin}`);
        for (let i = 0; i < x.length; i++) checkReadVoltage(this.limits, x[i]!);
      },
      async (step) => {
        const g = await this.readBlockSteps(block, step);
        const y = new Float32Array(k * nout);
        for (let s = 0; s < k; s++)
          for (let i = 0; i < block.rows; i++)
            for (let j = 0; j < block.cols; j++) {
              const gij = g[i * block.cols + j]!;
              if (transposed) y[s * nout + i]! += x[s * nin + j]! * gij;
              else y[s * nout + j]! += x[s * nin + i]! * gij;
            }
        this.stats.vmms += k;
        return y;
      },
    );
  }

  vmm(block: Block, x: Float32Array, k = 1): Observable<Float32Array> {
    return this.multiply(false, block, x, k);
  }

  vmmT(block: Block, x: Float32Array, k = 1): Observable<Float32Array> {
    return this.multiply(true, block, x, k);
  }

  fire(_block: Block, _volts: number, _seconds: number): Observable<Uint32Array> {
    return this.operation(
      "FIRE",
      () => {
        throw new ProtocolError(
          ErrorCode.UNSUITABLE_BOARD,
          `${this.identity.model} does not offer FIRE, and it cannot be composed from reads and pulses`,
        );
      },
      async () => new Uint32Array(0),
    );
  }

  wait(seconds: number): Observable<number> {
    return this.operation(
      "WAIT",
      () => {
        if (!(seconds >= 0 && seconds <= 86400))
          throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `wait ${seconds} s outside [0, 86400] s`);
      },
      async () => {
        await this.sleep(seconds);
        return this.now();
      },
    );
  }

  clock(): Observable<number> {
    return new Observable<number>((sub) => {
      sub.next(this.now());
      sub.complete();
    });
  }

  counters(clear = false): Observable<Counters> {
    return new Observable<Counters>((sub) => {
      const snapshot = { ...this.stats, clock: this.now() };
      if (clear) this.stats = { pulses: 0, reads: 0, vmms: 0, energy: 0, commands: 0, errors: 0 };
      sub.next(snapshot);
      sub.complete();
    });
  }

  errors(): Observable<Array<{ code: number; message: string }>> {
    return new Observable((sub) => {
      sub.next(this.errorQueue.splice(0));
      sub.complete();
    });
  }

  /** Stops the running operation at its next step and leaves the instruments idle. */
  abort(): Observable<void> {
    return new Observable<void>((sub) => {
      this.generation++;
      const run = () => this.idle();
      const p = this.chain.then(run, run);
      this.chain = p.catch(() => {});
      p.then(
        () => {
          sub.next();
          sub.complete();
        },
        (e) => sub.error(e),
      );
    });
  }

  reset(): Observable<void> {
    return this.operation(
      "RESET",
      () => {},
      async () => {
        await this.idle();
        const cfg = this.defaultConfig();
        await this.applyConfig(cfg);
        this.config = cfg;
        this.limits = { ...this.hardLimits };
        this.stats = { pulses: 0, reads: 0, vmms: 0, energy: 0, commands: 0, errors: 0 };
        this.errorQueue.length = 0;
      },
    );
  }

  async close(): Promise<void> {
    this.generation++;
    await this.chain.catch(() => {});
    await this.idle().catch(() => {});
    this.eventSubject.complete();
    await this.release();
  }
}
