/**
 * An emulated Keithley 707B switching matrix (TSP command subset, as drivers/scpi/matrix.ts sends
 * it), and the wiring that routes an emulated SMU through it to an emulated array (ProbedArray).
 *
 * Channels are "SRCC": slot 1..6, row A..H, column 01..12 (a 7174A-style 8 x 12 card per slot).
 * Subset: *IDN?; reset(); errorqueue.clear(); channel.close("LIST"); channel.open("LIST"|"allslots");
 * channel.exclusiveclose("LIST"); channel.setforbidden("LIST"); print(channel.getclose("allslots"));
 * print(errorqueue.count); print(errorqueue.next()); print(slot[N].interlock.state). LIST is
 * comma-separated channels. Errors (codes our choice, in the 707B's style): 1115 bad channel,
 * 1116 forbidden channel (nothing of that command is closed), -285 syntax error.
 *
 * Wiring of the bench (our choice, documented in docs/bench.md): array row r on matrix column r+1,
 * array column c on matrix column rows+c+1 (columns numbered across slots, 12 per slot); matrix row
 * A is the SMU's HI (force) terminal, row B its LO terminal. Unused lines float.
 */
import type { Duplex } from "node:stream";
import { lineInstrumentInProcess, serveLines } from "./line-link.ts";
import type { ProbedArray } from "./probe-array.ts";
import type { SmuLoad } from "./smu.ts";

const CHANNEL = /^([1-6])([A-H])(0[1-9]|1[0-2])$/;

/** Matrix channel name of (matrix row letter, line number from 0). */
export function channelName(row: "A" | "B", line: number): string {
  const slot = Math.floor(line / 12) + 1;
  const col = (line % 12) + 1;
  return `${slot}${row}${String(col).padStart(2, "0")}`;
}

export interface MatrixBehaviour {
  /** Channels the matrix refuses to close (set forbidden at power-up). */
  forbidden?: string[];
  /** Interlock open: nothing may close. Default false (engaged). */
  interlockOpen?: boolean;
}

export class EmulatedMatrix {
  readonly closed = new Set<string>();
  private readonly forbidden: Set<string>;
  private readonly errors: Array<[number, string]> = [];
  interlockOpen: boolean;
  /** Set by a test to stop answering (an instrument that hangs mid-campaign). */
  silent = false;

  constructor(
    readonly serial = "EMU0002",
    behaviour: MatrixBehaviour = {},
  ) {
    this.forbidden = new Set(behaviour.forbidden ?? []);
    this.interlockOpen = behaviour.interlockOpen ?? false;
  }

  private err(code: number, msg: string): undefined {
    if (this.errors.length < 100) this.errors.push([code, msg]);
    return undefined;
  }

  private list(text: string): string[] | undefined {
    const items = text.split(",").map((x) => x.trim());
    for (const c of items) if (!CHANNEL.test(c)) return this.err(1115, `Parameter error: bad channel ${c}`);
    return items;
  }

  /** One line of TSP; the printed reply, if any. */
  handle(line: string): string | undefined {
    if (this.silent) return undefined;
    const text = line.trim();
    if (text === "*IDN?") return `Keithley Instruments Inc., Model 707B, ${this.serial}, 1.0.0 xbar-emulated`;
    if (text === "reset()") {
      this.closed.clear();
      return undefined;
    }
    if (text === "errorqueue.clear()") {
      this.errors.length = 0;
      return undefined;
    }
    if (text === "print(errorqueue.count)") return String(this.errors.length);
    if (text === "print(errorqueue.next())") {
      const e = this.errors.shift() ?? [0, "Queue Is Empty"];
      return `${e[0]}\t${e[1]}\t0\t0`;
    }
    if (text === 'print(channel.getclose("allslots"))')
      return this.closed.size ? [...this.closed].sort().join(",") : "nil";
    const slot = /^print\(slot\[([1-6])\]\.interlock\.state\)$/.exec(text);
    if (slot) return this.interlockOpen ? "0" : "1";
    const call = /^channel\.(close|open|exclusiveclose|setforbidden)\("([^"]*)"\)$/.exec(text);
    if (!call) return this.err(-285, `TSP Syntax error: ${text.slice(0, 40)}`);
    const [, fn, arg] = call;
    if (fn === "open") {
      if (arg === "allslots") this.closed.clear();
      else for (const c of this.list(arg!) ?? []) this.closed.delete(c);
      return undefined;
    }
    const items = this.list(arg!);
    if (!items) return undefined;
    if (fn === "setforbidden") {
      for (const c of items) this.forbidden.add(c);
      return undefined;
    }
    if (this.interlockOpen) return this.err(1117, "Interlock open: channels cannot be closed");
    const bad = items.find((c) => this.forbidden.has(c));
    if (bad) return this.err(1116, `Forbidden channel ${bad}`);
    if (fn === "exclusiveclose") this.closed.clear();
    for (const c of items) this.closed.add(c);
    return undefined;
  }
}

/**
 * The SMU's load through the matrix: every array device whose row is on HI and column on LO sees
 * +v, whose row is on LO and column on HI sees −v; the currents add. Nothing routed: no current.
 */
export function matrixLoad(matrix: EmulatedMatrix, array: ProbedArray): SmuLoad {
  return {
    apply(v: number, seconds: number): number {
      const hi: number[] = [];
      const lo: number[] = [];
      for (const ch of matrix.closed) {
        const m = CHANNEL.exec(ch)!;
        const line = (Number(m[1]) - 1) * 12 + Number(m[3]) - 1;
        if (m[2] === "A") hi.push(line);
        else if (m[2] === "B") lo.push(line);
      }
      let i = 0;
      let any = false;
      const R = array.rows;
      for (const h of hi)
        for (const l of lo) {
          if (h < R && l >= R && l < R + array.cols) {
            i += array.apply(h, l - R, v, seconds);
            any = true;
          } else if (l < R && h >= R && h < R + array.cols) {
            i -= array.apply(l, h - R, -v, seconds);
            any = true;
          }
        }
      if (!any) array.wait(seconds);
      return i;
    },
  };
}

/** Serves an emulated matrix on a stream (LF-terminated lines). */
export function serveMatrixStream(matrix: EmulatedMatrix, stream: Duplex): () => void {
  return serveLines((line) => matrix.handle(line), stream);
}

/** An in-process link to an emulated matrix: returns the host's end. */
export function matrixInProcess(matrix: EmulatedMatrix): Duplex {
  return lineInstrumentInProcess((line) => matrix.handle(line));
}
