/**
 * An emulated ArC ONE: the board's serial protocol (drivers/arc1/protocol.ts describes it) on our
 * array physics (ProbedArray: the emulated board's presets, seeds and effects), seeded. It reads
 * parameter lines and answers with the INIT line and raw little-endian float32 resistances, as
 * the board does. Jobs: 00, 0, 01, 02, 04, 1, 2 (all and masked), 3, 141 (FormFinder), 191
 * (Endurance). Unknown job codes are dropped, as firmware that does not know them would do; the
 * host then times out.
 *
 * Time: a read takes `readCycles` × 33 µs of virtual time (our choice: ~1 ms at the default 30
 * cycles), a pulse its width; FormFinder and Endurance wait their interpulse time. Real waits of
 * the host (retention) pass in real time: the emulator's virtual clock also follows the wall clock.
 */
import type { Duplex } from "node:stream";
import type { SerialPort } from "serialport";
import type { BoardOptions } from "./board.ts";
import { duplexPair } from "./duplex-pair.ts";
import { ProbedArray } from "./probe-array.ts";

/** Parameters that follow each job code (before any device list). */
const ARITY: Record<string, number> = {
  "00": 0,
  "0": 7,
  "01": 2,
  "02": 2,
  "04": 2,
  "1": 2,
  "2": 3,
  "3": 4,
  "141": 13,
  "191": 11,
};
/** The masked read, after its mode parameter 2: two more (32, 32), the count, then the devices. */
const MASKED = "2/masked";
const SCHEMES = ["V/3", "V/2", "FLOAT"] as const;
/** Resistance reported for an open circuit, Ω. */
const OPEN = 1e12;

export class EmulatedArc1 {
  readonly array: ProbedArray;
  private words = 32;
  private bits = 32;
  private readCycles = 30;
  private sneak = 0;
  private vread = 0.5;
  private selected: [number, number] | undefined;
  private job: string | undefined;
  private params: number[] = [];
  /** Device list of the running job (masked read, FormFinder, Endurance): devices still expected. */
  private devicesLeft = 0;
  private readonly t0 = Date.now();
  private wall = 0;
  /** Set by a test to stop answering (a board that hangs). */
  silent = false;
  /** Jobs run so far, for tests. */
  jobs = 0;

  constructor(
    opts: BoardOptions = {},
    private readonly send: (b: Buffer) => void = () => {},
  ) {
    const { rows = 32, cols = 32 } = opts;
    if (rows > 32 || cols > 32)
      throw new RangeError(`the ArC ONE has at most 32 x 32 lines, not ${rows} x ${cols}`);
    this.array = new ProbedArray({ ...opts, rows, cols });
  }

  /**
   * Idle: no job received in part or running, and no device selected for manual pulses (job 02);
   * what a host leaves after an abort (for tests: the real board has no such query).
   */
  get idle(): boolean {
    return this.job === undefined && this.selected === undefined;
  }

  /** Lets the array's virtual clock follow the wall clock (host waits between jobs). */
  private follow(): void {
    const now = (Date.now() - this.t0) / 1000;
    if (now > this.wall) {
      this.array.wait(now - this.wall);
      this.wall = now;
    }
  }

  private floats(...x: number[]): void {
    const b = Buffer.alloc(4 * x.length);
    for (let i = 0; i < x.length; i++) b.writeFloatLE(x[i]!, 4 * i);
    this.send(b);
  }

  /** Resistance of (word, bit), 1-based, at the read voltage; out of range: open circuit. */
  private read(w: number, b: number): number {
    if (!(w >= 1 && w <= this.array.rows && b >= 1 && b <= this.array.cols)) return OPEN;
    const v = this.vread || 0.5;
    const i = this.array.apply(w - 1, b - 1, v, this.readCycles * 33e-6, SCHEMES[this.sneak] ?? "V/3");
    return i > 0 ? v / i : OPEN;
  }

  private pulse(w: number, b: number, v: number, pw: number): void {
    if (!(w >= 1 && w <= this.array.rows && b >= 1 && b <= this.array.cols)) return;
    this.array.apply(
      w - 1,
      b - 1,
      Math.max(-12, Math.min(12, v)),
      Math.max(1e-7, pw),
      SCHEMES[this.sneak] ?? "V/3",
    );
  }

  /** One received line (a job code or a parameter). */
  handle(line: string): void {
    if (this.silent) return;
    const text = line.trim();
    if (this.job === undefined) {
      if (!(text in ARITY)) return;
      this.job = text;
      this.params = [];
    } else {
      const x = Number(text);
      this.params.push(Number.isFinite(x) ? x : 0);
    }
    this.step();
  }

  private done(): void {
    this.job = undefined;
    this.params = [];
    this.devicesLeft = 0;
    this.jobs++;
  }

  private step(): void {
    const job = this.job!;
    const p = this.params;
    const need = job === MASKED ? 4 : ARITY[job]!;
    if (p.length < need) return;
    this.follow();
    if (p.length === need && this.devicesLeft === 0) {
      switch (job) {
        case "00":
          this.selected = undefined;
          this.done();
          return;
        case "0":
          [this.readCycles, this.words, this.bits] = [p[0]!, p[1]!, p[2]!];
          this.sneak = p[5]!;
          this.vread = p[6]!;
          this.send(Buffer.from("1\n"));
          this.done();
          return;
        case "01":
          this.vread = p[1]!;
          this.done();
          return;
        case "02":
          this.selected = [p[0]!, p[1]!];
          this.done();
          return;
        case "04":
          if (this.selected) this.pulse(this.selected[0], this.selected[1], p[0]!, p[1]!);
          this.done();
          return;
        case "1":
          this.floats(this.read(p[0]!, p[1]!));
          this.done();
          return;
        case "3":
          this.pulse(p[0]!, p[1]!, p[2]!, p[3]!);
          this.floats(this.read(p[0]!, p[1]!));
          this.done();
          return;
        case "2":
          if (p[0] === 1) {
            const out: number[] = [];
            for (let w = 1; w <= p[1]!; w++) for (let b = 1; b <= p[2]!; b++) out.push(this.read(w, b));
            this.floats(...out);
            this.done();
            return;
          }
          this.job = MASKED; // masked: one more parameter (the count), then the devices
          return;
        default:
          this.devicesLeft = p[need - 1]!;
          if (this.devicesLeft <= 0) this.done();
          return;
      }
    }
    // A device of a list: parameters come in (word, bit) pairs after the job's own.
    const extra = p.length - need;
    if (extra % 2 !== 0) return;
    const w = p[p.length - 2]!;
    const b = p[p.length - 1]!;
    if (job === MASKED) this.floats(this.read(w, b));
    else if (job === "141") this.formFinder(w, b);
    else if (job === "191") this.endurance(w, b);
    this.devicesLeft--;
    if (this.devicesLeft <= 0) this.done();
  }

  /** FormFinder on one device: pulses of rising voltage (and width), a read after each step. */
  private formFinder(w: number, b: number): void {
    const [vmin, vstep, vmax, pwmin, pwstep, pwmax, inter, rthr, rthrP, mode, , pwnum] = this.params;
    const r0 = this.read(w, b);
    let done = false;
    for (let v = vmin!; !done && Math.abs(v) <= Math.abs(vmax!) + 1e-9; v += vstep!) {
      for (
        let pw = pwmin!;
        pw <= pwmax! * (1 + 1e-9);
        pw = mode === 1 ? pw + pwstep! : pw * (1 + pwstep! / 100)
      ) {
        for (let k = 0; k < Math.max(1, pwnum!); k++) {
          this.pulse(w, b, v, pw);
          this.array.wait(inter!);
        }
        const r = this.read(w, b);
        this.floats(r, v, pw);
        if (r < rthr! || (rthrP! > 0 && (r0 - r) / r0 >= rthrP! / 100)) {
          done = true;
          break;
        }
        if (!(pwstep! > 0)) break;
      }
      if (!(vstep! > 0)) break;
    }
    this.floats(0, 0, 0);
  }

  /** Endurance on one device: cycles of positive then negative pulses, a read after each group. */
  private endurance(w: number, b: number): void {
    const [vpos, pwpos, , vneg, pwneg, , inter, npos, nneg, cycles] = this.params;
    for (let c = 0; c < cycles!; c++) {
      for (const [v, pw, n] of [
        [vpos!, pwpos!, npos!],
        [vneg!, pwneg!, nneg!],
      ] as const) {
        for (let k = 0; k < n; k++) {
          this.pulse(w, b, v, pw);
          this.array.wait(inter);
        }
        this.floats(this.read(w, b), v, pw);
      }
    }
    this.floats(0, 0, 0);
  }
}

/** Serves an emulated ArC ONE on a byte stream; returns a function that detaches it. */
export function serveArc1Stream(
  opts: BoardOptions,
  stream: Duplex,
): { arc1: EmulatedArc1; detach: () => void } {
  const arc1 = new EmulatedArc1(opts, (b) => {
    if (!stream.destroyed) stream.write(b);
  });
  let buf = "";
  const onData = (d: Buffer) => {
    buf += d.toString("latin1");
    if (buf.length > 65536) buf = buf.slice(-65536);
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      arc1.handle(buf.slice(0, nl).replace(/\r$/, ""));
      buf = buf.slice(nl + 1);
      nl = buf.indexOf("\n");
    }
  };
  stream.on("data", onData);
  return { arc1, detach: () => stream.off("data", onData) };
}

/** Serves an emulated ArC ONE on a serial device path (one end of a pty pair), 921600 baud. */
export async function serveArc1Serial(
  opts: BoardOptions,
  path: string,
): Promise<{ arc1: EmulatedArc1; port: SerialPort }> {
  // serialport (a native binding) is loaded only when a serial path is served.
  const { SerialPort } = await import("serialport");
  const port = new SerialPort({ path, baudRate: 921600, parity: "even", autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  const { arc1 } = serveArc1Stream(opts, port);
  return { arc1, port };
}

/** An in-process link to an emulated ArC ONE: returns the host's end and the emulator. */
export function arc1InProcess(opts: BoardOptions): { host: Duplex; arc1: EmulatedArc1 } {
  const [host, boardEnd] = duplexPair();
  boardEnd.on("error", () => {});
  host.on("error", () => {});
  host.once("close", () => boardEnd.destroy());
  const { arc1 } = serveArc1Stream(opts, boardEnd);
  return { host, arc1 };
}
