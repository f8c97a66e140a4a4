/**
 * A Board over the ArC ONE (ArC Instruments) on a serial port at 921600 baud: its own protocol
 * (drivers/arc1/), not ours. Natively it reads one device, reads a set of devices or the whole
 * array in one job, pulses a device, and pulses then reads; it also runs FormFinder (forming by a
 * ramp of pulses) on the board. Everything else of the Board interface is composed on the host
 * (src/board/compose.ts); retention is a host loop of reads and waits, as in ArC's own software.
 *
 * What the ArC ONE does not report, the host states plainly:
 * - identity: the protocol has no identity query; vendor and model are what the URL says it is.
 * - energy: the board returns resistances, not currents during pulses; the host counts a pulse's
 *   energy as V² · G · width with G the device's last measured conductance (0 before any read),
 *   and a read's as Vread² · G · (read cycles × 33 µs).
 * - compliance: ordinary pulses have none on the ArC ONE; `configure` keeps the value for the
 *   envelope check only.
 * - pulse widths travel with six decimals (1 µs resolution), so the host envelope starts at 1 µs.
 */

import type { Arc1Client, FormPoint } from "../../drivers/arc1/client.ts";
import {
  ARC1_MAX_LINES,
  type FormFinderConfig,
  ReadMode,
  Session,
  SneakPath,
} from "../../drivers/arc1/protocol.ts";
import { XbarError } from "../../firmware-protocol/errors.ts";
import { ErrorCode, type Limits, type Scheme } from "../../firmware-protocol/index.ts";
import {
  type Block,
  type BoardConfig,
  type Capabilities,
  type Identity,
  OPERATIONS,
  type Operation,
} from "./board.ts";
import { HostComposedBoard, type Step } from "./compose.ts";
import { ARC1_COMMAND, ARC1_READ } from "./estimate.ts";
import { sleepAtLeast } from "./wall-sleep.ts";

const SNEAK: Record<Scheme, number> = {
  "V/3": SneakPath.ONE_THIRD,
  "V/2": SneakPath.ONE_HALF,
  FLOAT: SneakPath.FLOAT,
};

export interface Arc1BoardOptions {
  rows?: number;
  cols?: number;
  /** Conversions averaged per read; default 30 (libarc1's default). */
  readCycles?: number;
  /** Device technology to report; default "unknown". */
  technology?: string;
  /** Milliseconds to wait after the microcontroller reset before INIT; default 0 (2000 on hardware). */
  bootMs?: number;
}

const HARD: Limits = {
  vmax: 12,
  wmin: 1e-6,
  wmax: 1,
  nmax: 10000,
  plmax: 65536,
  vrmax: 1,
  ccmax: 1e-3,
  emax: 1,
};

export class Arc1Board extends HostComposedBoard {
  readonly identity: Identity;
  readonly capabilities: Capabilities;
  private readonly readCycles: number;
  private readonly t0 = performance.now();
  /** Last measured conductance per device, S (for the host's energy account). */
  private readonly lastG: Float64Array;

  private constructor(
    readonly url: string,
    private readonly arc: Arc1Client,
    opts: Required<Omit<Arc1BoardOptions, "bootMs">>,
  ) {
    super(HARD);
    this.readCycles = opts.readCycles;
    this.lastG = new Float64Array(opts.rows * opts.cols);
    this.identity = {
      vendor: "ArC-Instruments",
      model: "ArC-ONE",
      serial: "unknown",
      firmware: "unknown",
      protocol: 0,
      protocolMinor: 0,
      timing: "",
      rows: opts.rows,
      cols: opts.cols,
      technology: opts.technology,
      operations: ["READ", "READALL", "READBLK", "PULSE", "FORMFINDER"],
      window: 1,
      maxLine: 0,
      effects: "none",
    };
    const native: Operation[] = ["read", "readBlock", "readAll", "pulse", "pulseRead"];
    this.capabilities = {
      native,
      composed: OPERATIONS.filter((op) => op !== "fire" && !native.includes(op)),
      schemes: ["V/3", "V/2", "FLOAT"],
      timing: { command: ARC1_COMMAND, read: ARC1_READ, pulse: 0, batched: false },
    };
    // The defaults of a composed board, with the ArC ONE's own scheme default.
    this.config = { ...this.config, scheme: "V/3", readTime: this.readCycles * 33e-6 };
  }

  /** Resets and initialises the board; refuses an array larger than 32 x 32. */
  static async open(url: string, arc: Arc1Client, opts: Arc1BoardOptions = {}): Promise<Arc1Board> {
    const { rows = 32, cols = 32, readCycles = 30, technology = "unknown", bootMs = 0 } = opts;
    for (const [k, v] of [
      ["rows", rows],
      ["cols", cols],
    ] as const)
      if (!(Number.isInteger(v) && v >= 1 && v <= ARC1_MAX_LINES))
        throw new XbarError(ErrorCode.BAD_URL, `arc1:// ${k}=${v}: the ArC ONE has 1..32 ${k}`);
    if (!(Number.isInteger(readCycles) && readCycles >= 1 && readCycles <= 1000))
      throw new XbarError(ErrorCode.BAD_URL, `arc1:// cycles=${readCycles} is not in 1..1000`);
    const b = new Arc1Board(url, arc, { rows, cols, readCycles, technology });
    await arc.init(b.initConfig(b.config), bootMs);
    return b;
  }

  private initConfig(c: BoardConfig) {
    return {
      readCycles: this.readCycles,
      words: this.identity.rows,
      bits: this.identity.cols,
      readMode: c.readVoltage < 0 ? ReadMode.TIA4P_NEG : ReadMode.TIA4P,
      session: Session.LOCAL,
      sneak: SNEAK[c.scheme],
      vread: c.readVoltage,
    };
  }

  private conductance(r: number, c: number, resistance: number): number {
    const g = resistance > 0 && resistance < 1e12 ? 1 / resistance : 0;
    this.lastG[r * this.identity.cols + c] = g;
    const v = this.config.readVoltage;
    this.account({ reads: 1, energy: v * v * g * this.config.readTime });
    return g;
  }

  private pulseEnergy(r: number, c: number, v: number, w: number, n: number): void {
    this.account({ pulses: n, energy: v * v * this.lastG[r * this.identity.cols + c]! * w * n });
  }

  /** After a job that timed out, the board is reset and initialised again before the next one. */
  private async ready(): Promise<void> {
    if (this.arc.dirty) await this.arc.recover();
  }

  protected async readOne(row: number, col: number): Promise<number> {
    await this.ready();
    this.account({ commands: 1 });
    return this.conductance(row, col, await this.arc.readOne(row + 1, col + 1));
  }

  protected override async readBlockSteps(b: Block, step: Step): Promise<Float32Array> {
    step();
    await this.ready();
    const { rows, cols } = this.identity;
    this.account({ commands: 1 });
    const out = new Float32Array(b.rows * b.cols);
    if (b.r0 === 0 && b.c0 === 0 && b.rows === rows && b.cols === cols) {
      const r = await this.arc.readAll(rows, cols);
      for (let i = 0; i < r.length; i++) out[i] = this.conductance(Math.floor(i / cols), i % cols, r[i]!);
      return out;
    }
    const devices: Array<[number, number]> = [];
    for (let i = 0; i < b.rows; i++)
      for (let j = 0; j < b.cols; j++) devices.push([b.r0 + i + 1, b.c0 + j + 1]);
    const r = await this.arc.readMasked(devices);
    for (let k = 0; k < r.length; k++)
      out[k] = this.conductance(devices[k]![0] - 1, devices[k]![1] - 1, r[k]!);
    return out;
  }

  protected async pulseOne(row: number, col: number, v: number, w: number, n: number): Promise<void> {
    await this.ready();
    this.account({ commands: 1 });
    await this.arc.pulse(row + 1, col + 1, v, w, n);
    this.pulseEnergy(row, col, v, w, n);
  }

  protected override async pulseReadOne(
    row: number,
    col: number,
    v: number,
    w: number,
    n: number,
    step: Step,
  ): Promise<number> {
    if (n > 1) await this.pulseOne(row, col, v, w, n - 1);
    step();
    await this.ready();
    this.account({ commands: 1 });
    const r = await this.arc.pulseRead(row + 1, col + 1, v, w);
    this.pulseEnergy(row, col, v, w, 1);
    return this.conductance(row, col, r);
  }

  /**
   * FormFinder, native on the board: pulses of rising amplitude (and width) on each device until its
   * resistance falls below `rthr`; emits every step the board reports. Not part of the Board
   * interface (the `form` campaign step composes a ramp from pulse-read, which this board does natively).
   */
  formFinder(f: FormFinderConfig, devices: Array<[number, number]>): Promise<FormPoint[]> {
    for (const [r, c] of devices)
      if (!(r >= 0 && r < this.identity.rows && c >= 0 && c < this.identity.cols))
        throw new XbarError(ErrorCode.ADDRESS_RANGE, `device (${r}, ${c}) outside the array`, {
          side: "host",
        });
    if (Math.abs(f.vmax) > this.limits.vmax || Math.abs(f.vmin) > this.limits.vmax)
      throw new XbarError(ErrorCode.AMPLITUDE_LIMIT, `FormFinder up to ${f.vmax} V outside the envelope`, {
        side: "host",
      });
    if (f.pwmin < this.limits.wmin || f.pwmax > this.limits.wmax)
      throw new XbarError(ErrorCode.WIDTH_LIMIT, "FormFinder pulse widths outside the envelope", {
        side: "host",
      });
    return this.arc.formFinder(
      f,
      devices.map(([r, c]) => [r + 1, c + 1]),
    );
  }

  protected async idle(): Promise<void> {
    // The ArC ONE grounds every line when a job ends; after an interrupted job, reset and re-INIT.
    await this.arc.recover().catch(() => {});
  }

  protected async applyConfig(next: BoardConfig): Promise<void> {
    await this.arc.init(this.initConfig(next), 0);
  }

  protected sleep(seconds: number): Promise<void> {
    return sleepAtLeast(seconds);
  }

  protected now(): number {
    return (performance.now() - this.t0) / 1000;
  }

  protected release(): Promise<void> {
    return this.arc.close();
  }
}
