/**
 * An emulated source-measure unit: the common Keithley 2400-class SCPI subset, wired to one
 * emulated two-terminal device (a bipolar memristor with a threshold: above `vset` the conductance
 * grows, below −`vreset` it shrinks, in between it only conducts).
 *
 * Like the emulated board, it sees only text lines: `handle(line)` returns the reply line(s) of a
 * query, nothing for a command, and queues SCPI errors (-113 undefined header, -222 data out of
 * range, ...) for `:SYST:ERR?`. Long and short forms of every mnemonic are accepted.
 *
 * Subset: *IDN? *RST *CLS; :SOUR:FUNC VOLT|CURR; :SOUR:VOLT[:LEV] V; :SOUR:CURR[:LEV] A;
 * :SOUR:VOLT:MODE FIX|SWE; :SOUR:VOLT:STAR V; :SOUR:VOLT:STOP V; :SOUR:SWE:POIN N;
 * :SENS:CURR:PROT A; :SENS:VOLT:PROT V; :OUTP ON|OFF; :OUTP?; :READ?; :MEAS:CURR?; :MEAS:VOLT?;
 * :TRIG:COUN N; :SOUR:DEL S; :SENS:CURR:NPLC N; :SYST:ERR?. A reading is "V,I,R,t,status" per point
 * (as the 2400's default format); each point holds the source for the source delay plus the
 * integration time (NPLC at 50 Hz), which is the time the load sees and the timestamp advances by.
 *
 * The load is one built-in device by default; a switching matrix routing the SMU to an emulated
 * array (mocks/matrix.ts) is another `SmuLoad`.
 */
import type { Duplex } from "node:stream";
import { lineInstrumentInProcess, serveLines } from "./line-link.ts";

export interface SmuDeviceOptions {
  /** Initial conductance, S; default 1e-5. */
  g?: number;
  gmin?: number;
  gmax?: number;
  /** Switching thresholds, V; defaults 1.0 and 1.0. */
  vset?: number;
  vreset?: number;
  /** Relative conductance change per volt above threshold per point; default 0.2. */
  rate?: number;
}

/** What the SMU's terminals are connected to. */
export interface SmuLoad {
  /** Holds `v` (V) across HI and LO for `seconds`; returns the current (A) before compliance. */
  apply(v: number, seconds: number): number;
}

const LONG: Record<string, string> = {
  SOURCE: "SOUR",
  SENSE: "SENS",
  VOLTAGE: "VOLT",
  CURRENT: "CURR",
  PROTECTION: "PROT",
  OUTPUT: "OUTP",
  MEASURE: "MEAS",
  FUNCTION: "FUNC",
  SYSTEM: "SYST",
  ERROR: "ERR",
  SWEEP: "SWE",
  POINTS: "POIN",
  START: "STAR",
  TRIGGER: "TRIG",
  COUNT: "COUN",
  STATE: "STAT",
  DELAY: "DEL",
};
const OPTIONAL = new Set(["LEV", "LEVEL", "IMM", "IMMEDIATE", "AMPL", "AMPLITUDE", "STAT", "STATE", "NEXT"]);

/** ":source:voltage:level 1" → "SOUR:VOLT" (short forms, optional nodes dropped, '?' kept). */
export function canonical(header: string): string {
  const q = header.endsWith("?");
  const nodes = header
    .replace(/\?$/, "")
    .replace(/^:/, "")
    .split(":")
    .map((n) => n.toUpperCase())
    .map((n) => LONG[n] ?? n)
    .filter((n, i, all) => !(OPTIONAL.has(n) && i === all.length - 1 && i > 0));
  return nodes.join(":") + (q ? "?" : "");
}

export class EmulatedSmu {
  private fn: "VOLT" | "CURR" = "VOLT";
  private level = { VOLT: 0, CURR: 0 };
  private mode: "FIX" | "SWE" = "FIX";
  private start = 0;
  private stop = 0;
  private points = 1;
  private trigCount = 1;
  private icomp = 1.05e-4;
  private vcomp = 21;
  /** Source delay, s, and integration time in power-line cycles (50 Hz). */
  private delay = 0;
  private nplc = 0.5;
  private on = false;
  private clock = 0;
  private readonly errors: Array<[number, string]> = [];
  g: number;
  private readonly d: Required<SmuDeviceOptions>;

  private readonly load: SmuLoad;
  /**
   * Set by a test: replies are lost from now on (a broken return line, a hung GPIB talker); commands
   * still execute, so the host's "output off" still reaches the source.
   */
  silent = false;

  constructor(
    readonly serial = "EMU0001",
    device: SmuDeviceOptions = {},
    /** What the terminals drive; default the one built-in device of `device`. */
    load?: SmuLoad,
  ) {
    this.d = { g: 1e-5, gmin: 1e-6, gmax: 1e-4, vset: 1, vreset: 1, rate: 0.2, ...device };
    this.g = this.d.g;
    this.load = load ?? { apply: (v) => this.device(v) };
  }

  /** Whether the source output is on (what a test checks to see the instrument idle). */
  get outputOn(): boolean {
    return this.on;
  }

  /** The built-in device: switches above the thresholds, then conducts. */
  private device(v: number): number {
    const d = this.d;
    if (v > d.vset) this.g = Math.min(d.gmax, this.g * (1 + d.rate * (v - d.vset)));
    if (v < -d.vreset) this.g = Math.max(d.gmin, this.g / (1 + d.rate * (-v - d.vreset)));
    // A little nonlinearity, as a real memristor's I-V shows.
    return this.g * v * (1 + 0.1 * v * v);
  }

  private err(code: number, msg: string): undefined {
    if (this.errors.length < 10) this.errors.push([code, msg]);
    return undefined;
  }

  /** Applies `v` to the device for one point; returns [V, I] after compliance. */
  private apply(v: number): [number, number] {
    const dt = this.delay + this.nplc / 50;
    let i = this.load.apply(v, dt);
    if (Math.abs(i) > this.icomp) i = Math.sign(i) * this.icomp;
    this.clock += dt;
    return [v, i];
  }

  private reading(v: number, i: number): string {
    const r = i === 0 ? 9.91e37 : v / i;
    const status = Math.abs(i) >= this.icomp ? 8 : 0;
    return [v, i, r, this.clock, status].map((x) => x.toExponential(6)).join(",");
  }

  private measure(): string[] {
    if (!this.on) {
      this.err(-221, "Settings conflict; output off");
      return [];
    }
    if (this.fn === "CURR") {
      const i = this.level.CURR;
      const v = Math.max(-this.vcomp, Math.min(this.vcomp, i / (this.g || 1e-12)));
      return [this.reading(v, i)];
    }
    if (this.mode === "SWE") {
      const n = this.points;
      const out: string[] = [];
      for (let k = 0; k < Math.min(n, this.trigCount === 1 ? n : this.trigCount); k++) {
        const v = n === 1 ? this.start : this.start + ((this.stop - this.start) * k) / (n - 1);
        const [vv, i] = this.apply(v);
        out.push(this.reading(vv, i));
      }
      return out;
    }
    const out: string[] = [];
    for (let k = 0; k < this.trigCount; k++) {
      const [v, i] = this.apply(this.level.VOLT);
      out.push(this.reading(v, i));
    }
    return out;
  }

  /** One SCPI line (several commands may be joined by ';'); the reply, if the line held a query. */
  handle(line: string): string | undefined {
    const replies: string[] = [];
    for (const part of line.split(";")) {
      const text = part.trim();
      if (!text) continue;
      const sp = text.search(/\s/);
      const header = sp < 0 ? text : text.slice(0, sp);
      const arg = sp < 0 ? "" : text.slice(sp + 1).trim();
      const h = canonical(header);
      const num = () => {
        const x = Number(arg);
        if (arg === "" || !Number.isFinite(x)) {
          this.err(-104, "Data type error");
          return undefined;
        }
        return x;
      };
      const r = this.command(h, arg, num);
      if (r !== undefined) replies.push(r);
    }
    return replies.length && !this.silent ? replies.join(";") : undefined;
  }

  private command(h: string, arg: string, num: () => number | undefined): string | undefined {
    switch (h) {
      case "*IDN?":
        return `KEITHLEY INSTRUMENTS INC.,MODEL 2400,${this.serial},C30 xbar-emulated`;
      case "*RST":
        Object.assign(this, {
          fn: "VOLT",
          mode: "FIX",
          level: { VOLT: 0, CURR: 0 },
          on: false,
          trigCount: 1,
          points: 1,
        });
        this.icomp = 1.05e-4;
        this.delay = 0;
        this.nplc = 0.5;
        return undefined;
      case "*CLS":
        this.errors.length = 0;
        return undefined;
      case "*OPC?":
        return "1";
      case "SOUR:FUNC": {
        const f = canonical(arg);
        if (f !== "VOLT" && f !== "CURR") return this.err(-224, "Illegal parameter value");
        this.fn = f;
        return undefined;
      }
      case "SOUR:FUNC?":
        return this.fn;
      case "SOUR:VOLT":
      case "SOUR:CURR": {
        const x = num();
        if (x === undefined) return undefined;
        const which = h.endsWith("VOLT") ? "VOLT" : "CURR";
        if (which === "VOLT" && Math.abs(x) > 210) return this.err(-222, "Data out of range");
        if (which === "CURR" && Math.abs(x) > 1.05) return this.err(-222, "Data out of range");
        this.level[which] = x;
        return undefined;
      }
      case "SOUR:VOLT?":
        return this.level.VOLT.toExponential(6);
      case "SOUR:VOLT:MODE": {
        const m = arg.toUpperCase().slice(0, 3);
        if (m !== "FIX" && m !== "SWE") return this.err(-224, "Illegal parameter value");
        this.mode = m;
        return undefined;
      }
      case "SOUR:VOLT:STAR":
      case "SOUR:VOLT:STOP": {
        const x = num();
        if (x === undefined) return undefined;
        if (Math.abs(x) > 210) return this.err(-222, "Data out of range");
        if (h.endsWith("STAR")) this.start = x;
        else this.stop = x;
        return undefined;
      }
      case "SOUR:SWE:POIN":
      case "TRIG:COUN": {
        const x = num();
        if (x === undefined) return undefined;
        if (!Number.isInteger(x) || x < 1 || x > 2500) return this.err(-222, "Data out of range");
        if (h === "TRIG:COUN") this.trigCount = x;
        else this.points = x;
        return undefined;
      }
      case "SENS:CURR:PROT":
      case "SENS:VOLT:PROT": {
        const x = num();
        if (x === undefined) return undefined;
        if (!(x > 0)) return this.err(-222, "Data out of range");
        if (h.startsWith("SENS:CURR")) this.icomp = x;
        else this.vcomp = x;
        return undefined;
      }
      case "SOUR:DEL": {
        const x = num();
        if (x === undefined) return undefined;
        if (!(x >= 0 && x <= 9999.999)) return this.err(-222, "Data out of range");
        this.delay = x;
        return undefined;
      }
      case "SENS:CURR:NPLC": {
        const x = num();
        if (x === undefined) return undefined;
        if (!(x >= 0.01 && x <= 10)) return this.err(-222, "Data out of range");
        this.nplc = x;
        return undefined;
      }
      case "SENS:CURR:PROT?":
        return this.icomp.toExponential(6);
      case "OUTP": {
        const a = arg.toUpperCase();
        if (a === "ON" || a === "1") this.on = true;
        else if (a === "OFF" || a === "0") this.on = false;
        else return this.err(-224, "Illegal parameter value");
        return undefined;
      }
      case "OUTP?":
        return this.on ? "1" : "0";
      case "READ?":
      case "MEAS:CURR?":
      case "MEAS:VOLT?":
      case "MEAS?": {
        if (h.startsWith("MEAS")) this.on = true;
        const r = this.measure();
        return r.length ? r.join(",") : "";
      }
      case "SYST:ERR?": {
        const e = this.errors.shift();
        return e ? `${e[0]},"${e[1]}"` : '0,"No error"';
      }
      default:
        return this.err(-113, "Undefined header");
    }
  }
}

/** Serves an emulated SMU on a stream (LF-terminated lines, as a 2400 on RS-232 or a socket). */
export function serveSmuStream(smu: EmulatedSmu, stream: Duplex): () => void {
  return serveLines((line) => smu.handle(line), stream);
}

/** An in-process link to an emulated SMU: returns the host's end. */
export function smuInProcess(smu: EmulatedSmu): Duplex {
  return lineInstrumentInProcess((line) => smu.handle(line));
}
