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
 *   socket://10.0.0.5:5025?token=SECRET                a board that asks for a token (HELLO token=)
 */
import { Duplex, PassThrough } from "node:stream";
import {
  type ClientOptions,
  CrossbarClient,
  openTransport,
  parseLinkUrl,
  StreamTransport,
  XbarError,
} from "../../drivers/index.ts";
import { Smu } from "../../drivers/scpi/smu.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
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
import { EmulatedSmu, smuInProcess } from "../../mocks/smu.ts";
import type { Board } from "./board.ts";
import { DEFAULT_URL } from "./default-url.ts";
import { CrossbarBoard } from "./protocol-board.ts";

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

/** Two connected in-process Duplex ends: what one writes, the other reads. */
function duplexPair(): [Duplex, Duplex] {
  const a = new PassThrough();
  const b = new PassThrough();
  return [Duplex.from({ readable: a, writable: b }), Duplex.from({ readable: b, writable: a })];
}

/** Client options; `token` defaults to the `token=` query key of a socket:// URL. */
export interface ConnectOptions extends ClientOptions {}

/** Opens a board by URL, performs the handshake, and returns the Board. */
export async function connect(url: string = DEFAULT_URL, opts: ConnectOptions = {}): Promise<Board> {
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
    const detach = serveStream(board, boardEnd, { faults, baud, boot: true });
    transport = new StreamTransport(hostEnd, "emu://", board.maxLine);
    stop = async () => {
      detach();
      boardEnd.destroy();
      board.stop();
    };
  } else {
    transport = await openTransport(link);
  }
  const token = opts.token ?? (link.kind === "socket" ? (link.params.get("token") ?? undefined) : undefined);
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
}

/**
 * Starts an emulated board served on TCP or a serial path (for `xbar emulate`). Resolves with the
 * URL a host should use and a function that stops it.
 */
export async function startEmulatorServer(
  opts: EmulatorServerOptions,
): Promise<{ url: string; describe: string; stop: () => Promise<void> }> {
  const { listen, serial, faults, baud, ...boardOpts } = opts;
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
    const server = await serveTcp(board, { ...listen, faults, baud }).catch((e: NodeJS.ErrnoException) => {
      throw new XbarError(
        ErrorCode.PORT_BUSY,
        `cannot listen on ${listen.host}:${listen.port}: ${e.code === "EADDRINUSE" ? "address in use" : e.message}`,
      );
    });
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
