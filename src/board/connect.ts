/**
 * `connect(url)`: the one composition point of the stack, and the only file of src/ that may reach
 * into mocks/ (to start an in-process emulated board for `emu://`).
 *
 *   /dev/ttyUSB0 | serial:///dev/ttyACM0?baud=921600   real board (or an emulator on a pty)
 *   socket://127.0.0.1:5025                            board behind TCP (ser2net, `xbar emulate --listen`)
 *   emu://?rows=64&cols=64&device=agsi&seed=1          emulated board in this process
 *   emu://?device=pcm&sneak=1&stucklow=0.01            … with array effects (EMU_KEYS)
 *   emu://?device=lut&lut=/path/curve.csv              … of a device measured with `xbar characterize`
 *   emu://?device=linear&fault=drop:0.02,corrupt:0.02  … behind a faulty link (mocks/faults.ts)
 *   emu://?timescale=1&baud=115200                     … taking a board's time, on a 115200-baud UART
 *   socket://10.0.0.5:5025?token=SECRET                a board that asks for a token (HELLO token=);
 *   socket://10.0.0.5:5025?token-file=PATH             … read from a file, or from $XBAR_TOKEN (token.ts)
 */
import { Duplex, PassThrough } from "node:stream";
import { Arc1Client } from "../../drivers/arc1/client.ts";
import { ARC1_BAUD } from "../../drivers/arc1/protocol.ts";
import {
  type ClientOptions,
  CrossbarClient,
  openTransport,
  parseLinkUrl,
  StreamTransport,
  XbarError,
} from "../../drivers/index.ts";
import { SwitchMatrix } from "../../drivers/scpi/matrix.ts";
import { Smu } from "../../drivers/scpi/smu.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
import { arc1InProcess, serveArc1Serial } from "../../mocks/arc1.ts";
import { EmulatedBench } from "../../mocks/bench.ts";
import {
  type BoardOptions,
  checkBaud,
  DEVICE_PRESETS,
  EmulatedBoard,
  effectsToken,
  type FaultSpec,
  faultsToken,
  parseFaults,
  serveSerial,
  serveStream,
  serveTcp,
} from "../../mocks/index.ts";
import { matrixInProcess } from "../../mocks/matrix.ts";
import { EmulatedSmu, smuInProcess } from "../../mocks/smu.ts";
import { Arc1Board } from "./arc1-board.ts";
import { BenchBoard } from "./bench-board.ts";
import type { Board } from "./board.ts";
import { DEFAULT_URL } from "./default-url.ts";
import { CrossbarBoard } from "./protocol-board.ts";
import { resolveToken } from "./token.ts";

export { DEFAULT_URL };

/**
 * emu:// query keys. Board: rows, cols, device, seed, window, maxline, noise (scale of the device's
 * randomness, 0 = its mean device), lut (pulse-response CSV for device=lut). Array effects (off unless
 * given): sneak=1, disturb=1 (passive array), stucklow / stuckhigh (rates), readnoise (relative σ),
 * adcbits, adcrange (A), wire (Ω per segment). Protocol 1.1 wire: dac and adc (bits of the converters
 * the board reports in IDN; with them the host sends and receives quantised arrays and refers to held
 * vectors). The board validates the ranges. Link faults:
 * fault=SPEC (grammar of mocks/faults.ts, e.g. drop:0.02,corrupt:0.01,seed:3); baud=N, the link's
 * bandwidth as a UART at N baud 8N1 (mocks/baud.ts). Time: timescale=S (0 = as fast as possible, the
 * default; 1 = each command takes the board profile's time in wall time; mocks/timing.ts). proto=1.0
 * answers as a protocol 1.0 board did; trip=1 makes pulses above the compliance trip (ERR 404, FAULT).
 * state=FILE keeps the devices' conductances in FILE across connections and processes (non-volatile
 * devices; mocks/state-file.ts): the CLI's default board is such a board.
 */
const EMU_KEYS = [
  "rows",
  "cols",
  "device",
  "seed",
  "window",
  "maxline",
  "noise",
  "lut",
  "sneak",
  "disturb",
  "stucklow",
  "stuckhigh",
  "readnoise",
  "adcbits",
  "adcrange",
  "wire",
  "dac",
  "adc",
  "fault",
  "baud",
  "timescale",
  "state",
  "proto",
  "trip",
] as const;

/** Effect keys of emu:// and the ArrayEffects field each sets (numbers; sneak and disturb are 0/1). */
const EFFECT_KEYS = {
  stucklow: "stuckLow",
  stuckhigh: "stuckHigh",
  readnoise: "readNoise",
  adcbits: "adcBits",
  adcrange: "adcRange",
  wire: "wire",
} as const;

/** Reads emulator options from an emu:// query string, refusing unknown keys and bad numbers. */
export function emulatorOptions(params: URLSearchParams): BoardOptions {
  const opts: BoardOptions = {};
  const effects: NonNullable<BoardOptions["effects"]> = {};
  const bad = (k: string, v: string, what: string) =>
    new XbarError(ErrorCode.BAD_URL, `emu:// option ${k}=${v} is not ${what}`);
  for (const [k, v] of params) {
    if (!(EMU_KEYS as readonly string[]).includes(k)) {
      throw new XbarError(ErrorCode.BAD_URL, `unknown emu:// option "${k}" (known: ${EMU_KEYS.join(", ")})`);
    }
    if (k === "fault" || k === "baud") continue; // read by emulatorFaults(), emulatorBaud()
    if (k === "proto") {
      if (v !== "1.0" && v !== "1.1") throw bad(k, v, "1.0 or 1.1");
      opts.protocol = v;
      continue;
    }
    if (k === "trip") {
      if (v !== "0" && v !== "1") throw bad(k, v, "0 or 1");
      opts.complianceTrip = v === "1";
      continue;
    }
    if (k === "device" || k === "lut" || k === "state") {
      if (v === "") throw bad(k, v, k === "device" ? "a device name" : "a file path");
      opts[k] = v;
      continue;
    }
    const n = Number(v);
    if (k === "sneak" || k === "disturb") {
      if (v !== "0" && v !== "1") throw bad(k, v, "0 or 1");
      effects[k] = v === "1";
    } else if (k in EFFECT_KEYS || k === "noise" || k === "timescale") {
      if (v === "" || !Number.isFinite(n)) throw bad(k, v, "a number");
      if (k === "noise") opts.noise = n;
      else if (k === "timescale") opts.timescale = n;
      else effects[EFFECT_KEYS[k as keyof typeof EFFECT_KEYS]] = n;
    } else {
      if (v === "" || !Number.isInteger(n)) throw bad(k, v, "an integer");
      if (k === "maxline") opts.maxLine = n;
      else opts[k as "rows" | "cols" | "seed" | "window" | "dac" | "adc"] = n;
    }
  }
  if (Object.keys(effects).length) opts.effects = effects;
  return opts;
}

/** Reads the fault spec of an emu:// query (key `fault`), or undefined. */
export function emulatorFaults(params: URLSearchParams): FaultSpec | undefined {
  const text = params.get("fault");
  if (text === null) return undefined;
  try {
    return parseFaults(text);
  } catch (e) {
    throw new XbarError(ErrorCode.BAD_URL, `emu:// option fault=${text}: ${(e as Error).message}`);
  }
}

/** Reads the link bandwidth of an emu:// query (key `baud`), or undefined. */
export function emulatorBaud(params: URLSearchParams): number | undefined {
  const text = params.get("baud");
  if (text === null) return undefined;
  const n = Number(text);
  try {
    checkBaud(n);
  } catch (e) {
    throw new XbarError(ErrorCode.BAD_URL, `emu:// option baud=${text}: ${(e as Error).message}`);
  }
  return n;
}

const SMU_KEYS = ["g", "gmin", "gmax", "vset", "vreset", "rate"] as const;

/**
 * `connectSmu(url)`: bench instruments, as `connect(url)` is for boards (src/board/instrument.ts re-exports it).
 *
 *   /dev/ttyUSB1, serial:///dev/ttyUSB1?baud=9600   a 2400-class SMU on RS-232
 *   socket://192.168.0.20:5025                       an SMU on a LAN socket
 *   smu-emu://?g=1e-5&vset=1&vreset=1                an emulated SMU on one emulated device, in-process
 */
export async function connectSmu(url: string): Promise<Smu> {
  let smu: Smu;
  if (url.startsWith("smu-emu://")) {
    const q = url.indexOf("?");
    const opts: Record<string, number> = {};
    for (const [k, v] of new URLSearchParams(q >= 0 ? url.slice(q + 1) : "")) {
      if (!(SMU_KEYS as readonly string[]).includes(k))
        throw new XbarError(
          ErrorCode.BAD_URL,
          `unknown smu-emu:// option "${k}" (known: ${SMU_KEYS.join(", ")})`,
        );
      const x = Number(v);
      if (!(x > 0))
        throw new XbarError(ErrorCode.BAD_URL, `smu-emu:// option ${k}=${v} is not a positive number`);
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

/**
 * Two connected in-process Duplex ends for emu://: what one writes, the other reads, a turn of the
 * stream machinery later (mocks/duplex-pair.ts is the same-tick pair the instruments use; the
 * protocol board keeps this one, whose replies do not chain within one tick).
 */
function duplexPair(): [Duplex, Duplex] {
  const a = new PassThrough();
  const b = new PassThrough();
  return [Duplex.from({ readable: a, writable: b }), Duplex.from({ readable: b, writable: a })];
}

/** Client options; `token` defaults to what the URL or the environment says (token.ts). */
export interface ConnectOptions extends ClientOptions {}

/** Opens a board by URL, performs the handshake, and returns the Board. */
export async function connect(url: string = DEFAULT_URL, opts: ConnectOptions = {}): Promise<Board> {
  if (url.startsWith("bench://") || url.startsWith("bench-emu://")) return connectBench(url);
  if (url.startsWith("arc1://") || url.startsWith("arc1-emu://")) return connectArc1(url);
  const link = parseLinkUrl(url);
  let transport: StreamTransport | Awaited<ReturnType<typeof openTransport>>;
  let stop = async () => {};
  if (link.kind === "emu") {
    let board: EmulatedBoard;
    const faults = emulatorFaults(link.params);
    const baud = emulatorBaud(link.params);
    try {
      board = new EmulatedBoard(emulatorOptions(link.params));
    } catch (e) {
      if (e instanceof XbarError) throw e;
      throw new XbarError(ErrorCode.BAD_URL, `cannot start emulator from "${url}": ${(e as Error).message}`);
    }
    const [hostEnd, boardEnd] = duplexPair();
    const detach = serveStream(board, boardEnd, { faults, baud, boot: true, stallTimeoutMs: 0 });
    transport = new StreamTransport(hostEnd, "emu://", board.maxLine);
    stop = async () => {
      detach();
      boardEnd.destroy();
      board.stop();
    };
  } else {
    transport = await openTransport(link);
  }
  const token = opts.token ?? (link.kind === "emu" ? undefined : resolveToken(link.params));
  const client = new CrossbarClient(transport, { ...opts, token });
  try {
    return await CrossbarBoard.open(url, client, stop);
  } catch (e) {
    await client.close();
    await stop();
    throw e;
  }
}

/** The emulator's device presets, for help texts: name and one-line description. */
export function emulatorPresets(): Array<{ name: string; description: string }> {
  return Object.values(DEVICE_PRESETS).map((d) => ({ name: d.name, description: d.description }));
}

/** Addresses that only this machine can reach. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1"]);

export interface EmulatorServerOptions extends BoardOptions {
  /** Serve on TCP at this host and port (port 0 picks a free one); not loopback only with a `token`. */
  listen?: { host: string; port: number };
  /** Serve on this serial device path. */
  serial?: string;
  /** Fault behaviours of every link served (mocks/faults.ts); default none. */
  faults?: FaultSpec;
  /** Bandwidth of every link served, as a UART at this baud rate 8N1 (mocks/baud.ts); default unlimited. */
  baud?: number;
  /** TCP: connections served at once; default 8 (mocks/serve.ts LISTEN_DEFAULTS). */
  maxConnections?: number;
  /** TCP: the owner's connection is closed after this long without a request, ms (0: never); default 1 h. */
  idleTimeoutMs?: number;
}

/**
 * Starts an emulated board served on TCP or a serial path (for `xbar emulate`). Resolves with the
 * URL a host should use and a function that stops it.
 */
export async function startEmulatorServer(
  opts: EmulatorServerOptions,
): Promise<{ url: string; describe: string; stop: () => Promise<void> }> {
  const { listen, serial, faults, baud, maxConnections, idleTimeoutMs, ...boardOpts } = opts;
  let board: EmulatedBoard;
  try {
    board = new EmulatedBoard(boardOpts);
  } catch (e) {
    throw new XbarError(ErrorCode.BAD_INPUT, `cannot start the emulator: ${(e as Error).message}`);
  }
  const fx = effectsToken(board.effects, board.noise);
  const describe = `${board.preset.name} ${board.rows}x${board.cols} seed ${board.seed}${fx === "none" ? "" : ` effects ${fx}`}${faults ? ` faults ${faultsToken(faults)}` : ""}${baud ? ` baud ${baud}` : ""}${board.timescale ? ` timescale ${board.timescale}` : ""}${board.protocol === "1.0" ? " protocol 1.0" : ""}${board.complianceTrip ? " compliance trips" : ""}${board.stateFile ? ` state ${board.stateFile.path}` : ""}${board.token ? " token required" : ""}`;
  if (listen && !LOOPBACK_HOSTS.has(listen.host) && board.token === undefined) {
    // Also enforced here, not only by `xbar emulate`: a board reachable from other machines asks for a token.
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `listening on ${listen.host} (not loopback) needs a token: clients then use socket://HOST:PORT?token=...`,
    );
  }
  if (listen) {
    const server = await serveTcp(board, { ...listen, faults, baud, maxConnections, idleTimeoutMs }).catch(
      (e: NodeJS.ErrnoException) => {
        throw new XbarError(
          ErrorCode.PORT_BUSY,
          `cannot listen on ${listen.host}:${listen.port}: ${e.code === "EADDRINUSE" ? "address in use" : e.message}`,
        );
      },
    );
    const addr = server.address();
    const port = typeof addr === "object" && addr ? addr.port : listen.port;
    const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
    return {
      url: `socket://${host}:${port}`,
      describe,
      stop: () => new Promise<void>((r) => server.close(() => r())).finally(() => board.stop()),
    };
  }
  if (serial) {
    const port = await serveSerial(board, serial, baud, { faults, baud }).catch((e: Error) => {
      throw new XbarError(ErrorCode.PORT_NOT_FOUND, `cannot serve on serial port ${serial}: ${e.message}`);
    });
    return {
      url: serial,
      describe,
      stop: () => new Promise<void>((r) => port.close(() => r())).finally(() => board.stop()),
    };
  }
  throw new XbarError(ErrorCode.BAD_INPUT, "give --listen [HOST:]PORT or --serial PATH");
}

/** Keys of bench:// (instruments by URL) and of bench-emu:// (emulated ones; also the emu:// keys). */
const BENCH_KEYS = ["smu", "matrix", "rows", "cols", "nplc", "tech", "timeout"] as const;
/** emu:// keys of the emulated array behind bench-emu:// and arc1-emu:// (the array physics). */
const ARRAY_EMU_KEYS = [
  "rows",
  "cols",
  "device",
  "seed",
  "noise",
  "sneak",
  "readnoise",
  "stucklow",
  "stuckhigh",
  "adcbits",
  "adcrange",
  "wire",
] as const;
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
export async function connectBench(url: string): Promise<Board> {
  const q = url.indexOf("?");
  const params = new URLSearchParams(q >= 0 ? url.slice(q + 1) : "");
  const emulated = url.startsWith("bench-emu://");
  const known: readonly string[] = emulated ? BENCH_EMU_KEYS : BENCH_KEYS;
  for (const k of params.keys())
    if (!known.includes(k))
      throw new XbarError(
        ErrorCode.BAD_URL,
        `unknown ${emulated ? "bench-emu" : "bench"}:// option "${k}" (known: ${known.join(", ")})`,
      );
  const int = (k: string, dflt?: number) => {
    const v = params.get(k);
    if (v === null && dflt !== undefined) return dflt;
    const n = Number(v);
    if (v === null || v === "" || !Number.isInteger(n))
      throw new XbarError(
        ErrorCode.BAD_URL,
        `${url.split("?")[0]} needs ${k}=INTEGER, got ${v ?? "nothing"}`,
      );
    return n;
  };
  const nplcText = params.get("nplc");
  const nplc = nplcText === null ? 0.01 : Number(nplcText);
  if (!(nplc >= 0.01 && nplc <= 10))
    throw new XbarError(ErrorCode.BAD_URL, `nplc=${nplcText} is not in [0.01, 10] power-line cycles`);
  if (!emulated) {
    const smuUrl = params.get("smu");
    const matrixUrl = params.get("matrix");
    if (!smuUrl || !matrixUrl)
      throw new XbarError(
        ErrorCode.BAD_URL,
        "bench:// needs smu=URL and matrix=URL (serial path or socket://HOST:PORT)",
      );
    const rows = int("rows");
    const cols = int("cols");
    // Reply time-out of either instrument, ms.
    const timeoutMs = int("timeout", 5000);
    const smu = new Smu(await openTransport(parseLinkUrl(smuUrl)), timeoutMs);
    let matrix: SwitchMatrix | undefined;
    try {
      matrix = new SwitchMatrix(await openTransport(parseLinkUrl(matrixUrl)), timeoutMs);
      return await BenchBoard.open(url, smu, matrix, {
        rows,
        cols,
        nplc,
        technology: params.get("tech") ?? undefined,
      });
    } catch (e) {
      await smu.close().catch(() => {});
      await matrix?.close().catch(() => {});
      throw e;
    }
  }
  const emuParams = new URLSearchParams();
  for (const [k, v] of params) if (k !== "nplc" && k !== "forbid") emuParams.set(k, v);
  const rows = int("rows", 8);
  const cols = int("cols", 8);
  emuParams.set("rows", String(rows));
  emuParams.set("cols", String(cols));
  let bench: EmulatedBench;
  try {
    const forbid = params.get("forbid");
    bench = new EmulatedBench({
      ...emulatorOptions(emuParams),
      matrix: { forbidden: forbid ? forbid.split(",") : [] },
    });
  } catch (e) {
    if (e instanceof XbarError) throw e;
    throw new XbarError(
      ErrorCode.BAD_URL,
      `cannot start the emulated bench from "${url}": ${(e as Error).message}`,
    );
  }
  const smu = new Smu(new StreamTransport(smuInProcess(bench.smu), "bench-emu smu"));
  const matrix = new SwitchMatrix(new StreamTransport(matrixInProcess(bench.matrix), "bench-emu matrix"));
  // Time on an emulated bench is the emulated array's virtual clock: a wait advances it at once.
  return BenchBoard.open(url, smu, matrix, {
    rows,
    cols,
    nplc,
    technology: bench.array.technology,
    sleep: async (s) => bench.array.wait(s),
    now: () => bench.array.clock,
  });
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
export async function connectArc1(url: string): Promise<Board> {
  const emulated = url.startsWith("arc1-emu://");
  const rest = url.slice(emulated ? "arc1-emu://".length : "arc1://".length);
  const q = rest.indexOf("?");
  const path = q >= 0 ? rest.slice(0, q) : rest;
  const params = new URLSearchParams(q >= 0 ? rest.slice(q + 1) : "");
  const known: readonly string[] = emulated ? ARC1_EMU_KEYS : ARC1_KEYS;
  for (const k of params.keys())
    if (!known.includes(k))
      throw new XbarError(
        ErrorCode.BAD_URL,
        `unknown ${emulated ? "arc1-emu" : "arc1"}:// option "${k}" (known: ${known.join(", ")})`,
      );
  const num = (k: string, d: number) => {
    const v = params.get(k);
    const n = Number(v ?? d);
    if (v === "" || !Number.isInteger(n))
      throw new XbarError(ErrorCode.BAD_URL, `${k}=${v} is not an integer`);
    return n;
  };
  const rows = num("rows", emulated ? 8 : 32);
  const cols = num("cols", emulated ? 8 : 32);
  const readCycles = num("cycles", 30);
  let client: Arc1Client;
  let technology = params.get("tech") ?? undefined;
  let bootMs = 2000;
  if (emulated) {
    const emuParams = new URLSearchParams();
    for (const [k, v] of params) if (k !== "cycles") emuParams.set(k, v);
    emuParams.set("rows", String(rows));
    emuParams.set("cols", String(cols));
    let link: ReturnType<typeof arc1InProcess>;
    try {
      link = arc1InProcess(emulatorOptions(emuParams));
    } catch (e) {
      if (e instanceof XbarError) throw e;
      throw new XbarError(
        ErrorCode.BAD_URL,
        `cannot start the emulated ArC ONE from "${url}": ${(e as Error).message}`,
      );
    }
    client = new Arc1Client(link.host, "arc1-emu://");
    technology = link.arc1.array.technology;
    bootMs = 0;
  } else {
    if (!path)
      throw new XbarError(ErrorCode.BAD_URL, "arc1:// needs a serial path, e.g. arc1:///dev/ttyACM0");
    const baud = num("baud", ARC1_BAUD);
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
    bootMs = num("boot", 2000);
  }
  try {
    return await Arc1Board.open(url, client, { rows, cols, readCycles, technology, bootMs });
  } catch (e) {
    await client.close();
    throw e;
  }
}

export interface Arc1ServerOptions {
  serial: string;
  rows?: number;
  cols?: number;
  device?: string;
  seed?: number;
  noise?: number;
}

/** Serves an emulated ArC ONE on a serial path (for `xbar emulate --arc1 --serial PATH`). */
export async function startArc1Server(
  o: Arc1ServerOptions,
): Promise<{ url: string; describe: string; stop: () => Promise<void> }> {
  const { serial, rows = 32, cols = 32, device = "agsi", seed = 1, noise } = o;
  let served: Awaited<ReturnType<typeof serveArc1Serial>>;
  try {
    served = await serveArc1Serial({ rows, cols, device, seed, noise }, serial);
  } catch (e) {
    if (e instanceof RangeError)
      throw new XbarError(ErrorCode.BAD_INPUT, `cannot start the emulated ArC ONE: ${e.message}`);
    throw new XbarError(
      ErrorCode.PORT_NOT_FOUND,
      `cannot serve on serial port ${serial}: ${(e as Error).message}`,
    );
  }
  return {
    url: `arc1://${serial}?rows=${rows}&cols=${cols}`,
    describe: `ArC ONE (emulated) ${device} ${rows}x${cols} seed ${seed}`,
    stop: () => new Promise<void>((r) => (served.port.isOpen ? served.port.close(() => r()) : r())),
  };
}
