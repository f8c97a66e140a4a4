/**
 * Boards and instruments of a probe station, by URL: `connectBench(url)` for a Board made of a
 * source-measure unit and a switching matrix (bench-board.ts), `connectSmu(url)` for an SMU alone
 * (campaign steps that drive one device). Imported by connect.ts only when such a URL is opened;
 * the emulated instruments of smu-emu:// and bench-emu:// come from connect.ts, the one file of src/
 * that reaches mocks/.
 */
import type { Duplex } from "node:stream";
import {
  errorMessage,
  openTransport,
  parseLinkUrl,
  StreamTransport,
  XbarError,
} from "../../drivers/index.ts";
import { SwitchMatrix } from "../../drivers/scpi/matrix.ts";
import { Smu } from "../../drivers/scpi/smu.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
import { BenchBoard } from "./bench-board.ts";
import type { Board } from "./board.ts";
import { ARRAY_EMU_KEYS } from "./emu-keys.ts";
import { UrlQuery } from "./url-query.ts";

/** What smu-emu:// and bench-emu:// need from the emulator (given by connect.ts). */
export interface BenchEmulators {
  /** An emulated SMU on one device, in this process. */
  smu(opts: Record<string, number>): Duplex;
  /** An emulated SMU and 707B matrix on one emulated array (an emu:// query), in this process. */
  bench(
    array: URLSearchParams,
    forbidden: string[],
  ): { smu: Duplex; matrix: Duplex; technology: string; wait(s: number): void; clock(): number };
}

const SMU_KEYS = ["g", "gmin", "gmax", "vset", "vreset", "rate"] as const;

/**
 * `connectSmu(url)`: bench instruments, as `connect(url)` is for boards (src/board/instrument.ts re-exports it).
 *
 *   /dev/ttyUSB1, serial:///dev/ttyUSB1?baud=9600   a 2400-class SMU on RS-232
 *   socket://192.168.0.20:5025                       an SMU on a LAN socket
 *   smu-emu://?g=1e-5&vset=1&vreset=1                an emulated SMU on one emulated device, in-process
 */
export async function connectSmu(url: string, emulators: BenchEmulators): Promise<Smu> {
  let smu: Smu;
  if (url.startsWith("smu-emu://")) {
    const q = UrlQuery.of(url, "smu-emu", SMU_KEYS);
    const opts: Record<string, number> = {};
    for (const k of SMU_KEYS)
      if (q.has(k)) opts[k] = q.number(k, undefined, { min: Number.MIN_VALUE, what: "a positive number" });
    smu = new Smu(new StreamTransport(emulators.smu(opts), url));
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

/** Keys of bench:// (instruments by URL) and of bench-emu:// (emulated ones, on the emu:// array keys). */
const BENCH_KEYS = ["smu", "matrix", "rows", "cols", "nplc", "tech", "timeout"] as const;
const BENCH_EMU_KEYS = [...ARRAY_EMU_KEYS, "nplc", "forbid"] as const;

/**
 * A Board from bench instruments (src/board/bench-board.ts):
 *
 *   bench://?smu=socket://10.0.0.7:5025&matrix=socket://10.0.0.8:5025&rows=8&cols=8
 *   bench://?smu=/dev/ttyUSB0&matrix=socket://10.0.0.8:5025&rows=16&cols=16&nplc=0.1
 *   (keys: smu, matrix, rows, cols; nplc integration per point, default 0.01; tech, the devices'
 *   technology to report; timeout, each instrument's reply time-out in ms, default 5000)
 *   bench-emu://?rows=8&cols=8&device=agsi&seed=1          emulated SMU + 707B on one emulated array
 *   bench-emu://?rows=8&cols=8&forbid=1A03                  … whose matrix refuses crosspoint 1A03
 */
export async function connectBench(url: string, emulators: BenchEmulators): Promise<Board> {
  const emulated = url.startsWith("bench-emu://");
  const q = UrlQuery.of(url, emulated ? "bench-emu" : "bench", emulated ? BENCH_EMU_KEYS : BENCH_KEYS);
  const nplc = q.number("nplc", 0.01, { min: 0.01, max: 10, what: "in [0.01, 10] power-line cycles" });
  return emulated ? openEmulatedBench(url, q, nplc, emulators) : openBench(url, q, nplc);
}

/** bench://: the SMU and the matrix at their own URLs. */
async function openBench(url: string, q: UrlQuery, nplc: number): Promise<Board> {
  const smuUrl = q.text("smu", "a serial path or socket://HOST:PORT");
  const matrixUrl = q.text("matrix", "a serial path or socket://HOST:PORT");
  if (!smuUrl || !matrixUrl)
    throw new XbarError(
      ErrorCode.BAD_URL,
      "bench:// needs smu=URL and matrix=URL (serial path or socket://HOST:PORT)",
    );
  const rows = q.int("rows");
  const cols = q.int("cols");
  // Reply time-out of either instrument, ms.
  const timeoutMs = q.int("timeout", 5000);
  const smu = new Smu(await openTransport(parseLinkUrl(smuUrl)), timeoutMs);
  let matrix: SwitchMatrix | undefined;
  try {
    matrix = new SwitchMatrix(await openTransport(parseLinkUrl(matrixUrl)), timeoutMs);
    return await BenchBoard.open(url, smu, matrix, {
      rows,
      cols,
      nplc,
      technology: q.text("tech", "a name"),
    });
  } catch (e) {
    await smu.close().catch(() => {});
    await matrix?.close().catch(() => {});
    throw e;
  }
}

/** bench-emu://: an emulated SMU and 707B in this process, on one emulated array. */
async function openEmulatedBench(
  url: string,
  q: UrlQuery,
  nplc: number,
  emulators: BenchEmulators,
): Promise<Board> {
  const emuParams = q.pick(ARRAY_EMU_KEYS);
  const rows = q.int("rows", 8);
  const cols = q.int("cols", 8);
  emuParams.set("rows", String(rows));
  emuParams.set("cols", String(cols));
  let bench: ReturnType<BenchEmulators["bench"]>;
  try {
    const forbid = q.text("forbid", "a list of crosspoints");
    bench = emulators.bench(emuParams, forbid ? forbid.split(",") : []);
  } catch (e) {
    if (e instanceof XbarError) throw e;
    throw new XbarError(
      ErrorCode.BAD_URL,
      `cannot start the emulated bench from "${url}": ${errorMessage(e)}`,
    );
  }
  const smu = new Smu(new StreamTransport(bench.smu, "bench-emu smu"));
  const matrix = new SwitchMatrix(new StreamTransport(bench.matrix, "bench-emu matrix"));
  // Time on an emulated bench is the emulated array's virtual clock: a wait advances it at once.
  return BenchBoard.open(url, smu, matrix, {
    rows,
    cols,
    nplc,
    technology: bench.technology,
    sleep: async (s) => bench.wait(s),
    now: () => bench.clock(),
  });
}
