/**
 * `connect(url)`: the one composition point of the stack, and the only file of src/ that may reach
 * into mocks/ (to start emulated boards and instruments in this process). Boards that are not our
 * protocol underneath (connect-bench.ts: bench:// and an SMU; connect-arc1.ts: the ArC ONE) are
 * loaded only when such a URL is opened, and get their emulated instruments from here (likewise
 * loaded only then). Every query is read with one grammar (url-query.ts; the emu:// keys: emu-keys.ts).
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
 *   bench://?smu=URL&matrix=URL&rows=8&cols=8          an SMU and a switching matrix (connect-bench.ts)
 *   arc1:///dev/ttyACM0                                an ArC ONE (connect-arc1.ts)
 */
import { Duplex, PassThrough } from "node:stream";
import {
  type ClientOptions,
  CrossbarClient,
  errnoCode,
  errorMessage,
  openTransport,
  parseLinkUrl,
  StreamTransport,
  XbarError,
} from "../../drivers/index.ts";
import type { Smu } from "../../drivers/scpi/smu.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
// The emulator proper (board, array, sessions, serving) is loaded only when one is started; what
// reads an emu:// query, and the presets for help texts, are small and stay here.
import { checkBaud } from "../../mocks/baud.ts";
import { DEVICE_PRESETS } from "../../mocks/devices.ts";
import { type FaultSpec, faultsToken, parseFaults } from "../../mocks/faults.ts";
import type { BoardOptions, EmulatedBoard } from "../../mocks/index.ts";
import type { Board } from "./board.ts";
import type { Arc1Emulator } from "./connect-arc1.ts";
import type { BenchEmulators } from "./connect-bench.ts";
import { DEFAULT_URL } from "./default-url.ts";
import { EFFECT_KEYS, EMU_KEYS } from "./emu-keys.ts";
import { CrossbarBoard } from "./protocol-board.ts";
import { resolveToken } from "./token.ts";
import { UrlQuery } from "./url-query.ts";

export { DEFAULT_URL };

/** Reads emulator options from an emu:// query string, refusing unknown keys and bad values. */
export function emulatorOptions(params: URLSearchParams): BoardOptions {
  const q = new UrlQuery("emu", params, EMU_KEYS);
  const opts: BoardOptions = {};
  for (const k of ["rows", "cols", "seed", "window", "dac", "adc"] as const) if (q.has(k)) opts[k] = q.int(k);
  if (q.has("maxline")) opts.maxLine = q.int("maxline");
  for (const k of ["device", "lut", "state"] as const)
    if (q.has(k)) opts[k] = q.text(k, k === "device" ? "a device name" : "a file path");
  if (q.has("noise")) opts.noise = q.number("noise");
  if (q.has("timescale")) opts.timescale = q.number("timescale");
  const protocol = q.choice("proto", ["1.0", "1.1"] as const);
  if (protocol) opts.protocol = protocol;
  if (q.has("trip")) opts.complianceTrip = q.flag("trip");
  const effects: NonNullable<BoardOptions["effects"]> = {};
  for (const k of ["sneak", "disturb"] as const) if (q.has(k)) effects[k] = q.flag(k);
  for (const [k, field] of Object.entries(EFFECT_KEYS)) if (q.has(k)) effects[field] = q.number(k);
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
    throw new XbarError(ErrorCode.BAD_URL, `emu:// option fault=${text}: ${errorMessage(e)}`);
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
    throw new XbarError(ErrorCode.BAD_URL, `emu:// option baud=${text}: ${errorMessage(e)}`);
  }
  return n;
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
  // Boards that are not our protocol underneath: their code is loaded only when one is opened.
  if (url.startsWith("bench://") || url.startsWith("bench-emu://"))
    return (await import("./connect-bench.ts")).connectBench(url, await benchEmulators());
  if (url.startsWith("arc1://") || url.startsWith("arc1-emu://"))
    return (await import("./connect-arc1.ts")).connectArc1(url, await arc1Emulator());
  const link = parseLinkUrl(url);
  let transport: StreamTransport | Awaited<ReturnType<typeof openTransport>>;
  let stop = async () => {};
  if (link.kind === "emu") {
    const { EmulatedBoard, serveStream } = await import("../../mocks/index.ts");
    let board: EmulatedBoard;
    const faults = emulatorFaults(link.params);
    const baud = emulatorBaud(link.params);
    try {
      board = new EmulatedBoard(emulatorOptions(link.params));
    } catch (e) {
      if (e instanceof XbarError) throw e;
      throw new XbarError(ErrorCode.BAD_URL, `cannot start emulator from "${url}": ${errorMessage(e)}`);
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

/** The emulated SMU, matrix and bench for smu-emu:// and bench-emu:// (mocks/ loaded only now). */
async function benchEmulators(): Promise<BenchEmulators> {
  const [{ EmulatedBench }, { EmulatedSmu, smuInProcess }, { matrixInProcess }] = await Promise.all([
    import("../../mocks/bench.ts"),
    import("../../mocks/smu.ts"),
    import("../../mocks/matrix.ts"),
  ]);
  return {
    smu: (opts) => smuInProcess(new EmulatedSmu("EMU0001", opts)),
    bench: (array, forbidden) => {
      const bench = new EmulatedBench({ ...emulatorOptions(array), matrix: { forbidden } });
      return {
        smu: smuInProcess(bench.smu),
        matrix: matrixInProcess(bench.matrix),
        technology: bench.array.technology,
        wait: (s) => bench.array.wait(s),
        clock: () => bench.array.clock,
      };
    },
  };
}

/** The emulated ArC ONE for arc1-emu:// (mocks/ loaded only now). */
async function arc1Emulator(): Promise<Arc1Emulator> {
  const { arc1InProcess } = await import("../../mocks/arc1.ts");
  return {
    arc1: (array) => {
      const link = arc1InProcess(emulatorOptions(array));
      return { host: link.host, technology: link.arc1.array.technology };
    },
  };
}

/** `connectSmu(url)`: an SMU by URL, as `connect(url)` is for boards (connect-bench.ts). */
export async function connectSmu(url: string): Promise<Smu> {
  return (await import("./connect-bench.ts")).connectSmu(url, await benchEmulators());
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
  const { EmulatedBoard, effectsToken, serveSerial, serveTcp } = await import("../../mocks/index.ts");
  let board: EmulatedBoard;
  try {
    board = new EmulatedBoard(boardOpts);
  } catch (e) {
    throw new XbarError(ErrorCode.BAD_INPUT, `cannot start the emulator: ${errorMessage(e)}`);
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
      (e: unknown) => {
        throw new XbarError(
          ErrorCode.PORT_BUSY,
          `cannot listen on ${listen.host}:${listen.port}: ${errnoCode(e) === "EADDRINUSE" ? "address in use" : errorMessage(e)}`,
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
    const port = await serveSerial(board, serial, baud, { faults, baud }).catch((e: unknown) => {
      throw new XbarError(
        ErrorCode.PORT_NOT_FOUND,
        `cannot serve on serial port ${serial}: ${errorMessage(e)}`,
      );
    });
    return {
      url: serial,
      describe,
      stop: () => new Promise<void>((r) => port.close(() => r())).finally(() => board.stop()),
    };
  }
  throw new XbarError(ErrorCode.BAD_INPUT, "give --listen [HOST:]PORT or --serial PATH");
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
  const { serveArc1Serial } = await import("../../mocks/arc1.ts");
  let served: Awaited<ReturnType<typeof serveArc1Serial>>;
  try {
    served = await serveArc1Serial({ rows, cols, device, seed, noise }, serial);
  } catch (e) {
    if (e instanceof RangeError)
      throw new XbarError(ErrorCode.BAD_INPUT, `cannot start the emulated ArC ONE: ${e.message}`);
    throw new XbarError(
      ErrorCode.PORT_NOT_FOUND,
      `cannot serve on serial port ${serial}: ${errorMessage(e)}`,
    );
  }
  return {
    url: `arc1://${serial}?rows=${rows}&cols=${cols}`,
    describe: `ArC ONE (emulated) ${device} ${rows}x${cols} seed ${seed}`,
    stop: () => new Promise<void>((r) => (served.port.isOpen ? served.port.close(() => r()) : r())),
  };
}
