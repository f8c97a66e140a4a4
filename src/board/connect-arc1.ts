/**
 * The ArC ONE by URL (arc1-board.ts speaks its serial protocol): `connectArc1(url)` for `arc1://PATH`
 * and for an emulated one in this process (`arc1-emu://`, whose emulator connect.ts gives: it is the
 * one file of src/ that reaches mocks/). Imported by connect.ts only when such a URL is opened.
 */

import type { Duplex } from "node:stream";
import { Arc1Client } from "../../drivers/arc1/client.ts";
import { ARC1_BAUD } from "../../drivers/arc1/protocol.ts";
import { errorMessage, XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
import { Arc1Board } from "./arc1-board.ts";
import type { Board } from "./board.ts";
import { ARRAY_EMU_KEYS } from "./emu-keys.ts";
import { UrlQuery } from "./url-query.ts";

/** What arc1-emu:// needs from the emulator: an ArC ONE on the array an emu:// query describes. */
export interface Arc1Emulator {
  arc1(array: URLSearchParams): { host: Duplex; technology: string };
}

const ARC1_KEYS = ["rows", "cols", "cycles", "tech", "baud", "boot"] as const;
const ARC1_EMU_KEYS = [...ARRAY_EMU_KEYS, "cycles"] as const;

/**
 * An ArC ONE (src/board/arc1-board.ts):
 *
 *   arc1:///dev/ttyACM0                     the board on a serial port, 921600 baud, even parity
 *   arc1:///dev/ttyACM0?rows=16&cols=16     … with a 16 x 16 array in its socket
 *   arc1:///tmp/xbar-host?boot=0            an emulated one on a pty (xbar emulate --arc1): no boot wait
 *   arc1-emu://?rows=8&cols=8&device=agsi&seed=1   an emulated ArC ONE in this process
 */
export async function connectArc1(url: string, emulator: Arc1Emulator): Promise<Board> {
  const emulated = url.startsWith("arc1-emu://");
  const rest = url.slice(emulated ? "arc1-emu://".length : "arc1://".length);
  const q = rest.indexOf("?");
  const path = q >= 0 ? rest.slice(0, q) : rest;
  const query = new UrlQuery(
    emulated ? "arc1-emu" : "arc1",
    new URLSearchParams(q >= 0 ? rest.slice(q + 1) : ""),
    emulated ? ARC1_EMU_KEYS : ARC1_KEYS,
  );
  const rows = query.int("rows", emulated ? 8 : 32);
  const cols = query.int("cols", emulated ? 8 : 32);
  const readCycles = query.int("cycles", 30);
  let client: Arc1Client;
  let technology = query.text("tech", "a name");
  let bootMs = 2000;
  if (emulated) {
    const emuParams = query.pick(ARRAY_EMU_KEYS);
    emuParams.set("rows", String(rows));
    emuParams.set("cols", String(cols));
    let link: ReturnType<Arc1Emulator["arc1"]>;
    try {
      link = emulator.arc1(emuParams);
    } catch (e) {
      if (e instanceof XbarError) throw e;
      throw new XbarError(
        ErrorCode.BAD_URL,
        `cannot start the emulated ArC ONE from "${url}": ${errorMessage(e)}`,
      );
    }
    client = new Arc1Client(link.host, "arc1-emu://");
    technology = link.technology;
    bootMs = 0;
  } else {
    if (!path)
      throw new XbarError(ErrorCode.BAD_URL, "arc1:// needs a serial path, e.g. arc1:///dev/ttyACM0");
    const baud = query.int("baud", ARC1_BAUD);
    const { SerialPort } = await import("serialport");
    const port = new SerialPort({ path, baudRate: baud, parity: "even", autoOpen: false });
    await new Promise<void>((resolve, reject) =>
      port.open((err) =>
        err
          ? reject(
              new XbarError(
                /No such file|ENOENT/i.test(err.message) ? ErrorCode.PORT_NOT_FOUND : ErrorCode.PORT_BUSY,
                `cannot open the ArC ONE on ${path}: ${err.message}`,
                { port: path },
              ),
            )
          : resolve(),
      ),
    );
    client = new Arc1Client(
      port,
      `arc1 ${path}`,
      7000,
      () => new Promise<void>((r) => (port.isOpen ? port.close(() => r()) : r())),
    );
    // A real ArC ONE needs 2 s to boot after the reset (libarc1 waits as long); an emulated one on a
    // pty boots at once (boot=0).
    bootMs = query.int("boot", 2000);
  }
  try {
    return await Arc1Board.open(url, client, { rows, cols, readCycles, technology, bootMs });
  } catch (e) {
    await client.close();
    throw e;
  }
}
