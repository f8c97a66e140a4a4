/**
 * A Keithley 707B/708B switching matrix over its TSP command set (Models 707B and 708B Switching
 * Matrix Reference Manual, section "Remote commands"), on any line Transport.
 *
 * Channels are "SRCC": slot (1..6; 1 on a 708B), row letter A..H, two-digit column 01..12, e.g.
 * "1A01". Used here: channel.close / open / exclusiveclose / getclose, errorqueue.count / next /
 * clear, reset(), slot[N].interlock.state. Every change is followed by a look at the error queue,
 * so a refused crosspoint (forbidden, interlock open, no such channel) becomes XbarError 640 (INSTRUMENT_REFUSED)
 * (INSTRUMENT_REFUSED) naming the channels, and nothing is left closed by this driver.
 */
import { XbarError } from "../../firmware-protocol/errors.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
import { LineInstrument } from "./line-instrument.ts";

const CHANNEL = /^[1-6][A-H](0[1-9]|1[0-2])$/;

export interface MatrixIdentity {
  vendor: string;
  model: string;
  serial: string;
  firmware: string;
}

/** Matrix channel of a bus row ("A".."H") and a line numbered from 0 across slots, 12 per slot. */
export function matrixChannel(row: string, line: number): string {
  if (!/^[A-H]$/.test(row) || !(Number.isInteger(line) && line >= 0 && line < 72))
    throw new XbarError(ErrorCode.BAD_INPUT, `no matrix channel for row ${row}, line ${line}`);
  return `${Math.floor(line / 12) + 1}${row}${String((line % 12) + 1).padStart(2, "0")}`;
}

export class SwitchMatrix extends LineInstrument {
  identity?: MatrixIdentity;

  async identify(): Promise<MatrixIdentity> {
    const [vendor = "", model = "", serial = "", firmware = ""] = (await this.query("*IDN?"))
      .split(",")
      .map((x) => x.trim());
    this.identity = { vendor, model, serial, firmware };
    return this.identity;
  }

  /** Drains the error queue. */
  async errors(): Promise<Array<{ code: number; message: string }>> {
    const out: Array<{ code: number; message: string }> = [];
    const count = Number(await this.query("print(errorqueue.count)"));
    for (let k = 0; k < Math.min(count, 64); k++) {
      const [code = "", message = ""] = (await this.query("print(errorqueue.next())")).split("\t");
      if (Number(code) === 0) break;
      out.push({ code: Number(code), message });
    }
    return out;
  }

  private async checked(cmd: string, what: string): Promise<void> {
    await this.write(cmd);
    const errs = await this.errors();
    if (errs.length)
      throw new XbarError(
        ErrorCode.INSTRUMENT_REFUSED,
        `matrix refused ${what}: ${errs.map((e) => `${e.code} ${e.message}`).join(", ")}`,
        { command: cmd, port: this.name },
      );
  }

  private static list(channels: readonly string[]): string {
    for (const c of channels)
      if (!CHANNEL.test(c))
        throw new XbarError(ErrorCode.BAD_INPUT, `"${c}" is not a 707B channel (e.g. 1A01)`);
    return channels.join(",");
  }

  async reset(): Promise<void> {
    await this.write("errorqueue.clear()");
    await this.checked("reset()", "reset");
  }

  /** Closes exactly these crosspoints (all others open); on refusal opens everything. */
  async connect(channels: readonly string[]): Promise<void> {
    const list = SwitchMatrix.list(channels);
    try {
      await this.checked(`channel.exclusiveclose("${list}")`, `closing ${list}`);
    } catch (e) {
      await this.openAll().catch(() => {});
      throw e;
    }
  }

  /** Closes these crosspoints in addition to those closed. */
  async closeChannels(channels: readonly string[]): Promise<void> {
    const list = SwitchMatrix.list(channels);
    await this.checked(`channel.close("${list}")`, `closing ${list}`);
  }

  async openAll(): Promise<void> {
    await this.checked('channel.open("allslots")', "opening all channels");
  }

  /** The closed crosspoints. */
  async closedSet(): Promise<string[]> {
    const r = await this.query('print(channel.getclose("allslots"))');
    return r === "nil" || r === "" ? [] : r.split(/[,;]/).map((x) => x.trim());
  }

  /** Whether the slot's safety interlock is engaged (closing is allowed). */
  async interlockEngaged(slot = 1): Promise<boolean> {
    return (await this.query(`print(slot[${slot}].interlock.state)`)) === "1";
  }
}
