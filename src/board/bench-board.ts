/**
 * A Board made of bench instruments: a 2400-class source-measure unit routed to the rows and
 * columns of a crossbar on a probe station by a Keithley 707B/708B switching matrix.
 *
 *   read(r, c)   close A→row r, B→col c ─▶ SMU holds vread one point ─▶ output off ─▶ open all
 *   pulse(...)   close A→row r, B→col c ─▶ SMU holds v for n points of width w ─▶ off ─▶ open all
 *
 * Natively it reads and pulses one device; everything else is composed on the host
 * (src/board/compose.ts). Unselected lines float: with one SMU and a matrix there is no second
 * source to hold them at V/2 or V/3, so FLOAT is the only scheme it accepts. The envelope is
 * checked on the host; compliance is the SMU's; counters and energy come from the SMU's readings
 * (V · I · point time). Every operation ends with the output off and every crosspoint open.
 *
 * Wiring (docs/bench.md): array row r on matrix column r+1, array column c on column rows+c+1
 * (numbered across slots, 12 per slot); matrix row A to the SMU's HI, row B to its LO.
 */

import { matrixChannel, type SwitchMatrix } from "../../drivers/scpi/matrix.ts";
import type { Smu, SmuReading } from "../../drivers/scpi/smu.ts";
import { XbarError } from "../../firmware-protocol/errors.ts";
import { ErrorCode, type Limits } from "../../firmware-protocol/index.ts";
import { type BoardConfig, type Capabilities, type Identity, OPERATIONS } from "./board.ts";
import { linkRoundTrip } from "./capabilities.ts";
import { HostComposedBoard, type Step } from "./compose.ts";
import { BENCH_ROUND_TRIPS, BENCH_SETTLE } from "./estimate.ts";
import { sleepAtLeast } from "./wall-sleep.ts";

/** "MODEL 2400" → "2400", "Model 707B" → "707B". */
const short = (model: string) => model.replace(/^model\s*/i, "").replace(/\s+/g, "-");

export interface BenchBoardOptions {
  rows: number;
  cols: number;
  /** Device technology to report, if known; default "unknown". */
  technology?: string;
  /** Integration time per SMU point, power-line cycles (50 Hz); default 0.01 (200 µs). */
  nplc?: number;
  /** Waits on the bench's clock; default real time (setTimeout). */
  sleep?: (seconds: number) => Promise<void>;
  /** The bench's clock, s; default seconds since the board was opened. */
  now?: () => number;
}

export class BenchBoard extends HostComposedBoard {
  readonly identity: Identity;
  readonly capabilities: Capabilities;
  private readonly pointTime: number;
  private readonly sleepFn: (s: number) => Promise<void>;
  private readonly nowFn: () => number;

  private constructor(
    readonly url: string,
    private readonly smu: Smu,
    private readonly matrix: SwitchMatrix,
    opts: BenchBoardOptions,
    hard: Limits,
  ) {
    super(hard);
    const { rows, cols, technology = "unknown", nplc = 0.01 } = opts;
    this.pointTime = nplc / 50;
    const t0 = performance.now();
    this.sleepFn = opts.sleep ?? sleepAtLeast;
    this.nowFn = opts.now ?? (() => (performance.now() - t0) / 1000);
    const si = smu.identity;
    const mi = matrix.identity;
    this.identity = {
      vendor: "xbar-bench",
      model: `${short(si?.model ?? "SMU")}+${short(mi?.model ?? "matrix")}`,
      serial: `${si?.serial ?? "?"}+${mi?.serial ?? "?"}`,
      firmware: `${si?.firmware ?? "?"}|${mi?.firmware ?? "?"}`.replace(/\s+/g, "-"),
      protocol: 0,
      protocolMinor: 0,
      timing: "",
      rows,
      cols,
      technology,
      operations: ["READ", "PULSE"],
      window: 1,
      maxLine: 0,
      effects: "none",
    };
    const native = ["read", "pulse"] as const;
    this.capabilities = {
      native,
      composed: OPERATIONS.filter((op) => op !== "fire" && !(native as readonly string[]).includes(op)),
      schemes: ["FLOAT"],
      timing: {
        command: BENCH_ROUND_TRIPS * Math.max(linkRoundTrip(smu.name), linkRoundTrip(matrix.name)),
        read: this.pointTime + BENCH_SETTLE,
        pulse: BENCH_SETTLE,
        batched: false,
      },
    };
  }

  /** Identifies and resets both instruments, checks the wiring fits, and leaves them idle. */
  static async open(
    url: string,
    smu: Smu,
    matrix: SwitchMatrix,
    opts: BenchBoardOptions,
  ): Promise<BenchBoard> {
    const { rows, cols, nplc = 0.01 } = opts;
    if (!(Number.isInteger(rows) && Number.isInteger(cols) && rows >= 1 && cols >= 1 && rows + cols <= 72))
      throw new XbarError(
        ErrorCode.BAD_URL,
        `bench rows=${rows} cols=${cols}: each must be a positive integer and rows + cols at most 72 (six 12-column cards)`,
      );
    await smu.identify();
    await smu.reset();
    await smu.setIntegration(nplc);
    await matrix.identify();
    await matrix.reset();
    if (!(await matrix.interlockEngaged()))
      throw new XbarError(
        ErrorCode.INSTRUMENT_REFUSED,
        "matrix interlock is open: close the lid or the interlock loop",
        {
          port: matrix.name,
        },
      );
    const hard: Limits = {
      vmax: 10,
      wmin: nplc / 50,
      wmax: 1,
      nmax: 10000,
      plmax: 65536,
      vrmax: 1,
      ccmax: 0.1,
      emax: 1,
    };
    const b = new BenchBoard(url, smu, matrix, opts, hard);
    await b.idle();
    return b;
  }

  private route(row: number, col: number): string[] {
    return [matrixChannel("A", row), matrixChannel("B", this.identity.rows + col)];
  }

  /** Throws IN_COMPLIANCE when a reading hit the SMU's compliance. */
  private checkCompliance(readings: SmuReading[], what: string, row: number, col: number): void {
    const k = readings.findIndex((x) => x.compliance);
    if (k >= 0)
      throw new XbarError(
        ErrorCode.IN_COMPLIANCE,
        `SMU in compliance during ${what} (${readings[k]!.i.toExponential(3)} A at ${readings[k]!.v} V, compliance ${this.config.compliance} A)`,
        { command: what, row, col, port: this.smu.name, progress: { point: k, of: readings.length } },
      );
  }

  protected async readOne(row: number, col: number, step: Step): Promise<number> {
    const v = this.config.readVoltage;
    await this.matrix.connect(this.route(row, col));
    step();
    const r = await this.smu.hold(v, { delay: 0, count: 1, compliance: this.config.compliance });
    await this.matrix.openAll();
    this.account({ reads: 1, energy: Math.abs(v * r[0]!.i) * this.pointTime, commands: 1 });
    this.checkCompliance(r, "READ", row, col);
    return v === 0 ? 0 : r[0]!.i / v;
  }

  protected async pulseOne(
    row: number,
    col: number,
    amplitude: number,
    width: number,
    count: number,
    step: Step,
  ): Promise<void> {
    await this.matrix.connect(this.route(row, col));
    step();
    const delay = Math.max(0, width - this.pointTime);
    const r = await this.smu.hold(amplitude, { delay, count, compliance: this.config.compliance });
    await this.matrix.openAll();
    let energy = 0;
    for (const x of r) energy += Math.abs(x.v * x.i) * width;
    this.account({ pulses: r.length, energy, commands: 1 });
    this.checkCompliance(r, "PULSE", row, col);
  }

  protected async idle(): Promise<void> {
    // Output off first, then open the crosspoints; neither may throw (the link may be what failed).
    await this.smu.write(":OUTP OFF").catch(() => {});
    await this.matrix.write('channel.open("allslots")').catch(() => {});
  }

  protected async applyConfig(_next: BoardConfig): Promise<void> {
    // Read voltage and compliance go out with every operation; FLOAT needs nothing.
  }

  protected sleep(seconds: number): Promise<void> {
    return this.sleepFn(seconds);
  }

  protected now(): number {
    return this.nowFn();
  }

  protected async release(): Promise<void> {
    await Promise.all([this.smu.close(), this.matrix.close()]);
  }

  /** What a test checks after abort: source output on? crosspoints closed? */
  async instrumentState(): Promise<{ output: boolean; closed: string[] }> {
    return { output: await this.smu.outputOn(), closed: await this.matrix.closedSet() };
  }
}
