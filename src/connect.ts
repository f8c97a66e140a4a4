/**
 * `connect(url)`: the one composition point of the stack, and the only file of src/ that may reach
 * into mocks/ (to start an in-process emulated board for `emu://`).
 *
 *   /dev/ttyUSB0 | serial:///dev/ttyACM0?baud=921600   real board (or an emulator on a pty)
 *   socket://127.0.0.1:5025                            board behind TCP (ser2net, `xbar emulate --listen`)
 *   emu://?rows=64&cols=64&device=agsi&seed=1          emulated board in this process
 */
import { Duplex, PassThrough } from "node:stream";
import {
  type ClientOptions,
  CrossbarClient,
  openTransport,
  parseLinkUrl,
  StreamTransport,
  XbarError,
} from "../drivers/index.ts";
import { ErrorCode } from "../firmware-protocol/index.ts";
import {
  type BoardOptions,
  DEVICE_PRESETS,
  EmulatedBoard,
  serveSerial,
  serveStream,
  serveTcp,
} from "../mocks/index.ts";
import type { Board } from "./board.ts";
import { CrossbarBoard } from "./crossbar-board.ts";

export const DEFAULT_URL = "emu://?rows=64&cols=64&device=agsi&seed=1";

const EMU_KEYS = ["rows", "cols", "device", "seed", "window", "maxline"] as const;

/** Reads emulator options from an emu:// query string, refusing unknown keys and bad numbers. */
export function emulatorOptions(params: URLSearchParams): BoardOptions {
  const opts: BoardOptions = {};
  for (const [k, v] of params) {
    if (!(EMU_KEYS as readonly string[]).includes(k)) {
      throw new XbarError(ErrorCode.BAD_URL, `unknown emu:// option "${k}" (known: ${EMU_KEYS.join(", ")})`);
    }
    if (k === "device") {
      opts.device = v;
      continue;
    }
    const n = Number(v);
    if (v === "" || !Number.isInteger(n))
      throw new XbarError(ErrorCode.BAD_URL, `emu:// option ${k}=${v} is not an integer`);
    if (k === "maxline") opts.maxLine = n;
    else opts[k as "rows" | "cols" | "seed" | "window"] = n;
  }
  return opts;
}

/** Two connected in-process Duplex ends: what one writes, the other reads. */
function duplexPair(): [Duplex, Duplex] {
  const a = new PassThrough();
  const b = new PassThrough();
  return [Duplex.from({ readable: a, writable: b }), Duplex.from({ readable: b, writable: a })];
}

export interface ConnectOptions extends ClientOptions {}

/** Opens a board by URL, performs the handshake, and returns the Board. */
export async function connect(url: string = DEFAULT_URL, opts: ConnectOptions = {}): Promise<Board> {
  const link = parseLinkUrl(url);
  let transport: StreamTransport | Awaited<ReturnType<typeof openTransport>>;
  let stop = async () => {};
  if (link.kind === "emu") {
    let board: EmulatedBoard;
    try {
      board = new EmulatedBoard(emulatorOptions(link.params));
    } catch (e) {
      if (e instanceof XbarError) throw e;
      throw new XbarError(ErrorCode.BAD_URL, `cannot start emulator from "${url}": ${(e as Error).message}`);
    }
    const [hostEnd, boardEnd] = duplexPair();
    const detach = serveStream(board, boardEnd);
    transport = new StreamTransport(hostEnd, "emu://", board.maxLine);
    stop = async () => {
      detach();
      boardEnd.destroy();
    };
  } else {
    transport = await openTransport(link);
  }
  const client = new CrossbarClient(transport, opts);
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

export interface EmulatorServerOptions extends BoardOptions {
  /** Serve on TCP at this host and port (port 0 picks a free one). */
  listen?: { host: string; port: number };
  /** Serve on this serial device path. */
  serial?: string;
}

/**
 * Starts an emulated board served on TCP or a serial path (for `xbar emulate`). Resolves with the
 * URL a host should use and a function that stops it.
 */
export async function startEmulatorServer(
  opts: EmulatorServerOptions,
): Promise<{ url: string; describe: string; stop: () => Promise<void> }> {
  const { listen, serial, ...boardOpts } = opts;
  const board = new EmulatedBoard(boardOpts);
  const describe = `${board.model.params.name} ${board.rows}x${board.cols} seed ${board.seed}`;
  if (listen) {
    const server = await serveTcp(board, listen).catch((e: NodeJS.ErrnoException) => {
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
      stop: () => new Promise<void>((r) => server.close(() => r())),
    };
  }
  if (serial) {
    const port = await serveSerial(board, serial).catch((e: Error) => {
      throw new XbarError(ErrorCode.PORT_NOT_FOUND, `cannot serve on serial port ${serial}: ${e.message}`);
    });
    return { url: serial, describe, stop: () => new Promise<void>((r) => port.close(() => r())) };
  }
  throw new XbarError(ErrorCode.BAD_INPUT, "give --listen [HOST:]PORT or --serial PATH");
}
