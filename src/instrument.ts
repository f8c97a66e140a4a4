/**
 * `connectSmu(url)`: the composition point for bench instruments, as `connect(url)` is for boards,
 * and the only file besides src/connect.ts that may reach into mocks/ (for `smu-emu://`).
 *
 *   /dev/ttyUSB1, serial:///dev/ttyUSB1?baud=9600   a 2400-class SMU on RS-232
 *   socket://192.168.0.20:5025                       an SMU on a LAN socket (or `xbar`'s emulated one)
 *   smu-emu://?g=1e-5&vset=1&vreset=1                an emulated SMU on one emulated device, in-process
 */
import { openTransport, parseLinkUrl, StreamTransport, XbarError } from "../drivers/index.ts";
import { Smu } from "../drivers/scpi/smu.ts";
import { EmulatedSmu, smuInProcess } from "../mocks/smu.ts";

export type { SmuReading } from "../drivers/scpi/smu.ts";
export { Smu };

const KEYS = ["g", "gmin", "gmax", "vset", "vreset", "rate"] as const;

export async function connectSmu(url: string): Promise<Smu> {
  let smu: Smu;
  if (url.startsWith("smu-emu://")) {
    const q = url.indexOf("?");
    const opts: Record<string, number> = {};
    for (const [k, v] of new URLSearchParams(q >= 0 ? url.slice(q + 1) : "")) {
      if (!(KEYS as readonly string[]).includes(k))
        throw new XbarError(607, `unknown smu-emu:// option "${k}" (known: ${KEYS.join(", ")})`);
      const x = Number(v);
      if (!(x > 0)) throw new XbarError(607, `smu-emu:// option ${k}=${v} is not a positive number`);
      opts[k] = x;
    }
    smu = new Smu(new StreamTransport(smuInProcess(new EmulatedSmu("EMU0001", opts)), url));
  } else {
    smu = new Smu(await openTransport(parseLinkUrl(url)));
  }
  try {
    await smu.identify();
    await smu.reset();
  } catch (e) {
    await smu.close().catch(() => {});
    throw e;
  }
  return smu;
}
