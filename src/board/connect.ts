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
 *   socket://10.0.0.5:5025?token=SECRET                a board that asks for a token (HELLO token=);
 *   socket://10.0.0.5:5025?token-file=PATH             … read from a file, or from $XBAR_TOKEN (token.ts)
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
import { resolveToken } from "./token.ts";

export { DEFAULT_URL };

/**
 * emu:// query keys. Board: rows, cols, device, seed, window, maxline, noise (scale of the device's
 * randomness, 0 = its mean device), lut (pulse-response CSV for device=lut). Array effects (off unless
 * given): sneak=1, disturb=1 (passive array), stucklow / stuckhigh (rates), readnoise (relative σ),
 * adcbits, adcrange (A), wire (Ω per segment). The board validates the ranges. Link faults:
 * fault=SPEC (grammar of mocks/faults.ts, e.g. drop:0.02,corrupt:0.01,seed:3).
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
  "fault",
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
    if (k === "fault") continue; // read by emulatorFaults()
    if (k === "device" || k === "lut") {
      if (v === "") throw bad(k, v, k === "lut" ? "a file path" : "a device name");
      opts[k] = v;
      continue;
    }
    const n = Number(v);
    if (k === "sneak" || k === "disturb") {
      if (v !== "0" && v !== "1") throw bad(k, v, "0 or 1");
      effects[k] = v === "1";
    } else if (k in EFFECT_KEYS || k === "noise") {
      if (v === "" || !Number.isFinite(n)) throw bad(k, v, "a number");
      if (k === "noise") opts.noise = n;
      else effects[EFFECT_KEYS[k as keyof typeof EFFECT_KEYS]] = n;
    } else {
      if (v === "" || !Number.isInteger(n)) throw bad(k, v, "an integer");
      if (k === "maxline") opts.maxLine = n;
      else opts[k as "rows" | "cols" | "seed" | "window"] = n;
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

/** Client options; `token` defaults to what the URL or the environment says (token.ts). */
export interface ConnectOptions extends ClientOptions {}

/** Opens a board by URL, performs the handshake, and returns the Board. */
export async function connect(url: string = DEFAULT_URL, opts: ConnectOptions = {}): Promise<Board> {
  const link = parseLinkUrl(url);
  let transport: StreamTransport | Awaited<ReturnType<typeof openTransport>>;
  let stop = async () => {};
  if (link.kind === "emu") {
    let board: EmulatedBoard;
    const faults = emulatorFaults(link.params);
    try {
      board = new EmulatedBoard(emulatorOptions(link.params));
    } catch (e) {
      if (e instanceof XbarError) throw e;
      throw new XbarError(ErrorCode.BAD_URL, `cannot start emulator from "${url}": ${(e as Error).message}`);
    }
    const [hostEnd, boardEnd] = duplexPair();
    const detach = serveStream(board, boardEnd, { faults, stallTimeoutMs: 0 });
    transport = new StreamTransport(hostEnd, "emu://", board.maxLine);
    stop = async () => {
      detach();
      boardEnd.destroy();
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
  const { listen, serial, faults, maxConnections, idleTimeoutMs, ...boardOpts } = opts;
  let board: EmulatedBoard;
  try {
    board = new EmulatedBoard(boardOpts);
  } catch (e) {
    throw new XbarError(ErrorCode.BAD_INPUT, `cannot start the emulator: ${(e as Error).message}`);
  }
  const fx = effectsToken(board.effects, board.noise);
  const describe = `${board.preset.name} ${board.rows}x${board.cols} seed ${board.seed}${fx === "none" ? "" : ` effects ${fx}`}${faults ? ` faults ${faultsToken(faults)}` : ""}${board.token ? " token required" : ""}`;
  if (listen && !LOOPBACK_HOSTS.has(listen.host) && board.token === undefined) {
    // Also enforced here, not only by `xbar emulate`: a board reachable from other machines asks for a token.
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `listening on ${listen.host} (not loopback) needs a token: clients then use socket://HOST:PORT?token=...`,
    );
  }
  if (listen) {
    const server = await serveTcp(board, { ...listen, faults, maxConnections, idleTimeoutMs }).catch(
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
      stop: () => new Promise<void>((r) => server.close(() => r())),
    };
  }
  if (serial) {
    const port = await serveSerial(board, serial, undefined, { faults }).catch((e: Error) => {
      throw new XbarError(ErrorCode.PORT_NOT_FOUND, `cannot serve on serial port ${serial}: ${e.message}`);
    });
    return { url: serial, describe, stop: () => new Promise<void>((r) => port.close(() => r())) };
  }
  throw new XbarError(ErrorCode.BAD_INPUT, "give --listen [HOST:]PORT or --serial PATH");
}
