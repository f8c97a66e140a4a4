/**
 * Links for the conformance suite (test/conformance.test.ts): every way the stack reaches a board,
 * each behind the same small interface so one suite runs unchanged over all of them.
 *
 *   in-process  EmulatedBoard ◀─ serveStream ─ duplex pair (two PassThroughs) ─ StreamTransport
 *   tcp         EmulatedBoard ◀─ serveTcp 127.0.0.1:0 ◀─ openSocket / socket://127.0.0.1:PORT
 *   pty         EmulatedBoard ◀─ serveSerial DIR/board ◀─ socat pty pair ◀─ openSerial DIR/host
 *   firmware    C firmware (firmware/, host build) on DIR/board ◀─ socat pty pair ◀─ openSerial DIR/host
 *   real board  $XBAR_PORT (a serial device path or socket://HOST:PORT); no emulator is started
 *
 * A factory opens a link in one of two modes, because a serial port (pty or real) can be held by one
 * client only:
 * - "raw":   `transport` is open, for tests that write framed lines and read the replies;
 * - "board": nothing is opened on the host side, so `connect(url)` can take the port.
 * Every `open()` of an emulated link starts a fresh board with EMU_OPTIONS, so tests are independent.
 * `teardown()` releases everything the link started (sockets, servers, ports, socat, temp dir).
 *
 * The pty link needs socat: when process.env.CI === "true" it is required (its tests fail when
 * socat is missing); elsewhere it is skipped with a message on the console. The firmware link also
 * needs make and a C compiler, on the same terms; it is built once per process (make -C firmware host)
 * and runs with EMU_OPTIONS, so the tests for the emulator's linear device hold for it too. A link
 * opened with `{ wire: true }` adds WIRE_OPTIONS (the 1.1 wire) on every emulated board and the firmware.
 */
import type { AddressInfo, Server, Socket } from "node:net";
import { Duplex, PassThrough } from "node:stream";
import {
  openSerial,
  openSocket,
  openTransport,
  parseLinkUrl,
  StreamTransport,
  type Transport,
} from "../../drivers/index.ts";
import { type BoardOptions, EmulatedBoard, serveSerial, serveStream, serveTcp } from "../../mocks/index.ts";
import { buildFirmware, startFirmware, toolchainMissing } from "../../tools/firmware.ts";
import { Cleanup, startPtyPair, which } from "../../tools/pty.ts";

/** The one configuration of every emulated link, so results are comparable across links. */
export const EMU_OPTIONS = { rows: 16, cols: 16, device: "linear", seed: 7 } as const satisfies BoardOptions;

/** emu:// URL of a board with EMU_OPTIONS (connect() starts it in-process). */
export const EMU_URL = `emu://?rows=${EMU_OPTIONS.rows}&cols=${EMU_OPTIONS.cols}&device=${EMU_OPTIONS.device}&seed=${EMU_OPTIONS.seed}`;

/**
 * The converters of a board that speaks the 1.1 wire (IDN dac= adc=: quantised arrays, q=1 replies,
 * held vectors), for links opened with `{ wire: true }`; EMU_OPTIONS alone is a float32 board.
 */
export const WIRE_OPTIONS = { dac: 8, adc: 10 } as const satisfies BoardOptions;

export type LinkMode = "raw" | "board";

/** What to open besides EMU_OPTIONS: `wire` adds WIRE_OPTIONS (ignored by a real board). */
export interface LinkOptions {
  wire?: boolean;
}

const boardOptions = (o: LinkOptions = {}): BoardOptions =>
  o.wire ? { ...EMU_OPTIONS, ...WIRE_OPTIONS } : EMU_OPTIONS;
const emuUrl = (o: LinkOptions = {}) =>
  o.wire ? `${EMU_URL}&dac=${WIRE_OPTIONS.dac}&adc=${WIRE_OPTIONS.adc}` : EMU_URL;

export interface Link {
  /** The factory's name plus what was opened, for messages. */
  readonly name: string;
  /** The raw line transport. Only in "raw" mode: reading it in "board" mode throws. */
  readonly transport: Transport;
  /** What to pass to `connect()` (use it in "board" mode: in "raw" mode a serial port is taken). */
  readonly url: string;
  /** Releases everything the link started. Idempotent. */
  teardown(): Promise<void>;
}

export interface LinkFactory {
  readonly name: string;
  /** True when an emulated board with EMU_OPTIONS is behind the link (false for a real board). */
  readonly emulated: boolean;
  /** True when the host reaches the board through a serial device (a pty or a real port). */
  readonly serial: boolean;
  open(mode: LinkMode, options?: LinkOptions): Promise<Link>;
}

/** Builds a Link; when `build` throws, what it already started is cleaned up before rethrowing. */
async function makeLink(
  name: string,
  mode: LinkMode,
  build: (cleanup: Cleanup) => Promise<{ url: string; transport?: Transport }>,
): Promise<Link> {
  const cleanup = new Cleanup("link teardown failed");
  let built: { url: string; transport?: Transport };
  try {
    built = await build(cleanup);
  } catch (e) {
    await cleanup.run().catch(() => {});
    throw e;
  }
  const { url, transport } = built;
  if (transport) cleanup.add(() => transport.close());
  return {
    name: `${name} (${mode})`,
    url,
    get transport(): Transport {
      if (!transport) throw new Error(`link ${name} was opened in "board" mode: it has no raw transport`);
      return transport;
    },
    teardown: () => cleanup.run(),
  };
}

// ---- (1) in-process ----

/** Two connected in-process Duplex ends: what one writes, the other reads. */
function duplexPair(): [Duplex, Duplex] {
  const a = new PassThrough();
  const b = new PassThrough();
  return [Duplex.from({ readable: a, writable: b }), Duplex.from({ readable: b, writable: a })];
}

const inProcess: LinkFactory = {
  name: "in-process",
  emulated: true,
  serial: false,
  open: (mode, options) =>
    makeLink("in-process", mode, async (cleanup) => {
      if (mode === "board") return { url: emuUrl(options) }; // connect() starts its own fresh emulator
      const board = new EmulatedBoard(boardOptions(options));
      const [hostEnd, boardEnd] = duplexPair();
      const detach = serveStream(board, boardEnd);
      cleanup.add(() => {
        detach();
        boardEnd.destroy();
        hostEnd.destroy();
      });
      return { url: emuUrl(options), transport: new StreamTransport(hostEnd, "in-process", board.maxLine) };
    }),
};

// ---- (2) TCP ----

/** Closes a server, destroying the connections still open (server.close alone waits for them). */
function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    for (const s of sockets) s.destroy();
  });
}

const tcp: LinkFactory = {
  name: "tcp",
  emulated: true,
  serial: false,
  open: (mode, options) =>
    makeLink("tcp", mode, async (cleanup) => {
      const server = await serveTcp(new EmulatedBoard(boardOptions(options)), { host: "127.0.0.1", port: 0 });
      const sockets = new Set<Socket>();
      server.on("connection", (s: Socket) => {
        sockets.add(s);
        s.once("close", () => sockets.delete(s));
      });
      cleanup.add(() => closeServer(server, sockets));
      const { port } = server.address() as AddressInfo;
      const url = `socket://127.0.0.1:${port}`;
      return { url, transport: mode === "raw" ? await openSocket("127.0.0.1", port) : undefined };
    }),
};

// ---- (3) pty pair made by socat ----

/** The absolute path of an executable on PATH, or undefined. */
export const onPath = which;

function ptyFactory(socat: string | undefined): LinkFactory {
  return {
    name: "pty",
    emulated: true,
    serial: true,
    open: (mode, options) =>
      makeLink("pty", mode, async (cleanup) => {
        if (!socat) {
          throw new Error("socat is not on PATH, but the pty link is required when CI=true: install socat");
        }
        const pty = await startPtyPair({ socat });
        cleanup.add(() => pty.stop());
        const port = await serveSerial(new EmulatedBoard(boardOptions(options)), pty.boardPath);
        cleanup.add(
          () =>
            new Promise<void>((resolve, reject) => {
              if (!port.isOpen) return resolve();
              port.close((err) => (err ? reject(err) : resolve()));
            }),
        );
        return { url: pty.hostPath, transport: mode === "raw" ? await openSerial(pty.hostPath) : undefined };
      }),
  };
}

// ---- (4) the C firmware's host build on a pty pair ----

function firmwareFactory(missing: string | undefined): LinkFactory {
  return {
    name: "firmware",
    emulated: true,
    serial: true,
    open: (mode, options) =>
      makeLink("firmware", mode, async (cleanup) => {
        if (missing) throw new Error(`${missing}, but the firmware link is required when CI=true`);
        const fw = await startFirmware(await buildFirmware("host"), {
          ...EMU_OPTIONS,
          ...(options?.wire ? WIRE_OPTIONS : {}),
        });
        cleanup.add(() => fw.stop());
        return { url: fw.hostPath, transport: mode === "raw" ? await openSerial(fw.hostPath) : undefined };
      }),
  };
}

// ---- (5) a real board ----

function isSerialUrl(url: string): boolean {
  try {
    return parseLinkUrl(url).kind === "serial";
  } catch {
    return false; // a bad XBAR_PORT fails when the link is opened, with the driver's 607 BAD_URL
  }
}

function realBoard(url: string): LinkFactory {
  return {
    name: `real board ${url}`,
    emulated: false,
    serial: isSerialUrl(url),
    open: (mode) =>
      makeLink("real board", mode, async () => ({
        url,
        transport: mode === "raw" ? await openTransport(parseLinkUrl(url)) : undefined,
      })),
  };
}

/**
 * Every link available here: in-process, TCP, pty, the C firmware (see above), and a real board when
 * XBAR_PORT is set.
 */
export function links(env: NodeJS.ProcessEnv = process.env): LinkFactory[] {
  const out: LinkFactory[] = [inProcess, tcp];
  const socat = which("socat");
  if (socat || env.CI === "true") out.push(ptyFactory(socat));
  else console.warn("conformance: socat is not on PATH, skipping the pty link (install socat to run it)");
  const missing = toolchainMissing();
  if (!missing || env.CI === "true") out.push(firmwareFactory(missing));
  else console.warn(`conformance: ${missing}, skipping the firmware link`);
  if (env.XBAR_PORT) out.push(realBoard(env.XBAR_PORT));
  return out;
}
