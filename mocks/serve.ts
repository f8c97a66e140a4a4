/**
 * Puts an emulated board on a byte stream: in-process (any Duplex), a TCP port, or a serial device
 * path (for example one end of a pty pair made with socat). The board sees only lines of text.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { SerialPort } from "serialport";
import { createLineReader } from "../firmware-protocol/index.ts";
import { withBaud } from "./baud.ts";
import type { EmulatedBoard } from "./board.ts";
import { type FaultSpec, withFaults } from "./faults.ts";

export interface ServeOptions {
  /** Fault behaviours of the link (mocks/faults.ts); default none. */
  faults?: FaultSpec;
  /** Bandwidth of the link as a UART at this baud rate, 8N1, each way (mocks/baud.ts); default unlimited. */
  baud?: number;
  /**
   * Announce the board's start with a BOOT event on this link (PROTOCOL.md §3: a 1.1 board does when
   * it starts, so a host already on a serial line learns of a restart); default false.
   */
  boot?: boolean;
}

/** Serves the board on a stream until the stream ends; returns a function that detaches it. */
export function serveStream(board: EmulatedBoard, raw: Duplex, opts: ServeOptions = {}): () => void {
  const link = opts.baud ? withBaud(raw, opts.baud) : raw;
  const stream = opts.faults ? withFaults(link, opts.faults, board) : link;
  const session = board.openSession((line) => {
    if (stream.destroyed || !stream.writable) return;
    // Replies produced in the same tick leave in one system call.
    if (stream.writableCorked === 0) {
      stream.cork();
      process.nextTick(() => stream.uncork());
    }
    stream.write(line, "latin1");
  });
  const reader = createLineReader(board.maxLine);
  stream.pipe(reader.input);
  // Lines are handed to the session in order; a burst of them (an in-process link chains request
  // and reply without ever returning to the event loop) is paced so the loop turns every few ms.
  const lines: string[] = [];
  let head = 0;
  let scheduled = false;
  const feed = () => {
    scheduled = false;
    while (head < lines.length) {
      if (session.guard.held()) {
        scheduled = true;
        setImmediate(feed);
        return;
      }
      session.handle(lines[head++]!);
    }
    lines.length = 0;
    head = 0;
  };
  reader.output.on("data", (line: string) => {
    lines.push(line);
    if (!scheduled && lines.length - head === 1) feed();
  });
  const detach = () => {
    session.close();
    stream.unpipe(reader.input);
  };
  stream.once("close", detach);
  stream.once("error", detach);
  if (opts.boot && board.protocol !== "1.0") session.send(board.bootLine());
  return detach;
}

export interface ListenOptions extends ServeOptions {
  host?: string;
  port?: number;
}

/** Serves the board on a TCP port (loopback unless told otherwise); each connection is a session. */
export async function serveTcp(
  board: EmulatedBoard,
  { host = "127.0.0.1", port = 0, faults, baud }: ListenOptions = {},
): Promise<Server> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    serveStream(board, socket, { faults, baud });
  });
  // Closing the server also drops its connections (net.Server.close alone waits for them to end).
  const closeServer = server.close.bind(server);
  server.close = (cb?: (err?: Error) => void) => {
    for (const s of sockets) s.destroy();
    return closeServer(cb);
  };
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}

/** Serves the board on a serial device path. Resolves once the port is open. */
export async function serveSerial(
  board: EmulatedBoard,
  path: string,
  baudRate = 115200,
  opts: ServeOptions = {},
): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  // The board starts with the port open: a host already on the line hears BOOT (PROTOCOL.md §3).
  serveStream(board, port, { boot: true, ...opts });
  return port;
}
