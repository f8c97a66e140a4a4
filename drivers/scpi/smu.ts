import { ErrorCode } from "../../firmware-protocol/constants.ts";
import { XbarError } from "../../firmware-protocol/errors.ts";
import { LineInstrument } from "./line-instrument.ts";

export interface SmuIdentity {
  vendor: string;
  model: string;
  serial: string;
  firmware: string;
}

export interface SmuReading {
  /** Voltage, V. */
  v: number;
  /** Current, A. */
  i: number;
  /** Instrument timestamp, s. */
  t: number;
  /** True when the point hit the compliance limit. */
  compliance: boolean;
}

export interface SweepOptions {
  /** Start and stop voltage, V. */
  start: number;
  stop: number;
  /** Points, 1..2500. */
  points: number;
  /** Current compliance, A; default 1e-4. */
  compliance?: number;
}

/** A 2400-class source-measure unit over SCPI: one command at a time on a line instrument. */
export class Smu extends LineInstrument {
  identity?: SmuIdentity;

  async identify(): Promise<SmuIdentity> {
    const [vendor = "", model = "", serial = "", firmware = ""] = (await this.query("*IDN?")).split(",");
    this.identity = { vendor, model, serial, firmware };
    return this.identity;
  }

  /** Drains the error queue. */
  async errors(): Promise<Array<{ code: number; message: string }>> {
    const out: Array<{ code: number; message: string }> = [];
    for (let k = 0; k < 32; k++) {
      const r = await this.query(":SYST:ERR?");
      const m = /^([+-]?\d+),"?(.*?)"?$/.exec(r);
      const code = m ? Number(m[1]) : Number.NaN;
      if (code === 0) break;
      out.push({ code, message: m ? m[2]! : r });
    }
    return out;
  }

  /** Runs `cmds`, then refuses with the instrument's own errors if any were queued. */
  async checked(...cmds: string[]): Promise<void> {
    for (const c of cmds) await this.write(c);
    const errs = await this.errors();
    if (errs.length)
      throw new XbarError(
        ErrorCode.BAD_INPUT,
        `SMU refused ${cmds.join("; ")}: ${errs.map((e) => `${e.code} ${e.message}`).join(", ")}`,
        {
          port: this.link.name,
        },
      );
  }

  reset(): Promise<void> {
    return this.checked("*RST", "*CLS");
  }

  sourceVoltage(v: number, compliance = 1e-4): Promise<void> {
    return this.checked(
      ":SOUR:FUNC VOLT",
      ":SOUR:VOLT:MODE FIX",
      `:SOUR:VOLT ${v}`,
      `:SENS:CURR:PROT ${compliance}`,
    );
  }

  sourceCurrent(i: number, voltageCompliance = 21): Promise<void> {
    return this.checked(":SOUR:FUNC CURR", `:SOUR:CURR ${i}`, `:SENS:VOLT:PROT ${voltageCompliance}`);
  }

  output(on: boolean): Promise<void> {
    return this.checked(`:OUTP ${on ? "ON" : "OFF"}`);
  }

  private parse(reply: string): SmuReading[] {
    const x = reply.split(",").map(Number);
    if (x.length % 5 !== 0 || x.some((v) => !Number.isFinite(v)))
      throw new XbarError(ErrorCode.BAD_INPUT, `SMU reading not understood: "${reply.slice(0, 80)}"`, {
        port: this.link.name,
      });
    const out: SmuReading[] = [];
    for (let k = 0; k < x.length; k += 5)
      out.push({ v: x[k]!, i: x[k + 1]!, t: x[k + 3]!, compliance: (x[k + 4]! & 8) !== 0 });
    return out;
  }

  /** One reading at the present source level (output must be on). */
  async measure(): Promise<SmuReading> {
    const r = await this.query(":READ?");
    if (!r)
      throw new XbarError(ErrorCode.BAD_INPUT, `SMU gave no reading: ${JSON.stringify(await this.errors())}`);
    return this.parse(r)[0]!;
  }

  /** A linear voltage sweep; output on for the sweep and off after it, whatever happens. */
  async sweepVoltage(o: SweepOptions): Promise<SmuReading[]> {
    await this.checked(
      ":SOUR:FUNC VOLT",
      ":SOUR:VOLT:MODE SWE",
      `:SOUR:VOLT:STAR ${o.start}`,
      `:SOUR:VOLT:STOP ${o.stop}`,
      `:SOUR:SWE:POIN ${o.points}`,
      `:TRIG:COUN ${o.points}`,
      `:SENS:CURR:PROT ${o.compliance ?? 1e-4}`,
      ":OUTP ON",
    );
    try {
      return this.parse(await this.query(":READ?"));
    } finally {
      await this.write(":OUTP OFF");
      await this.write(":SOUR:VOLT:MODE FIX");
    }
  }

  /** Integration time of each point, in power-line cycles (the 2400 takes 0.01..10). */
  setIntegration(nplc: number): Promise<void> {
    return this.checked(`:SENS:CURR:NPLC ${nplc}`);
  }

  /**
   * Holds `v` for `count` points, each the source delay `delay` (s) plus the integration time, and
   * returns the readings; the output is on only for the points and off after, whatever happens.
   */
  async hold(v: number, o: { delay: number; count: number; compliance: number }): Promise<SmuReading[]> {
    await this.checked(
      ":SOUR:FUNC VOLT",
      ":SOUR:VOLT:MODE FIX",
      `:SOUR:VOLT ${v}`,
      `:SENS:CURR:PROT ${o.compliance}`,
      `:SOUR:DEL ${o.delay}`,
      `:TRIG:COUN ${o.count}`,
      ":OUTP ON",
    );
    try {
      return this.parse(await this.query(":READ?"));
    } finally {
      await this.write(":OUTP OFF");
    }
  }

  /** Whether the source output is on. */
  async outputOn(): Promise<boolean> {
    return (await this.query(":OUTP?")) === "1";
  }
}
