/**
 * Puts an emulated board on a byte stream: in-process (any Duplex), a TCP port, or a serial device
 * path (for example one end of a pty pair made with socat). The board sees only lines of text.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { SerialPort } from "serialport";
import { createLineReader, ErrorCode, encodeEvent } from "../firmware-protocol/index.ts";
import { withBaud } from "./baud.ts";
import type { EmulatedBoard, Session } from "./board.ts";
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
  /**
   * Bytes of replies waiting for the peer above which the board stops reading the connection until
   * they have left; default 64 KiB. A client that sends requests and never reads its replies then
   * costs at most this plus one reply (at most the board's maxLine), not everything it asked for.
   */
  outputBudget?: number;
  /**
   * A connection whose replies stay untaken this long is dropped, ms (0: never, it stays unread until
   * they are taken); default 30 000. serveSerial and the in-process emu:// link use 0: a serial port or
   * a pipe is not a connection that another client could take over.
   */
  stallTimeoutMs?: number;
  /**
   * Longest line, bytes, of a connection that does not own the board (admission.ts): it can only be
   * refused, so it gets no multi-megabyte line buffer; default 4 096. The owner gets the board's maxLine.
   */
  guestMaxLine?: number;
  /** Told when the board drops the connection, with the reason. */
  onDrop?: (reason: string) => void;
  /** Called after each line the board handled. */
  onLine?: () => void;
}

export const SERVE_DEFAULTS = {
  outputBudget: 64 * 1024,
  stallTimeoutMs: 30_000,
  guestMaxLine: 4096,
} as const;

/** What serveStream returns: detaches the board from the stream; `session` is the board's side of it. */
export type Detach = (() => void) & { readonly session: Session };

/**
 * Serves the board on a stream until the stream ends; returns a function that detaches it.
 *
 *   stream ─▶ LineGuard (guestMaxLine, or maxLine once the session owns the board) ─▶ lines
 *          ─▶ session.handle ─▶ replies ─▶ stream      (reading pauses while replies wait above
 *                                                       outputBudget; stalled past stallTimeoutMs: dropped)
 */
export function serveStream(board: EmulatedBoard, raw: Duplex, opts: ServeOptions = {}): Detach {
  const {
    outputBudget = SERVE_DEFAULTS.outputBudget,
    stallTimeoutMs = SERVE_DEFAULTS.stallTimeoutMs,
    guestMaxLine = SERVE_DEFAULTS.guestMaxLine,
  } = opts;
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
  const lineLimit = () => (session.isOwner ? board.maxLine : Math.min(guestMaxLine, board.maxLine));
  const reader = createLineReader(lineLimit(), { countReceived: true });
  /** Bytes written and not yet taken by the peer (the fault layer's own queue included). */
  const waiting = () => raw.writableLength + (stream === raw ? 0 : stream.writableLength);
  let stall: NodeJS.Timeout | undefined;
  let paused = false;
  let detached = false;
  const resumeWhenDrained = () => {
    if (detached) return;
    if (waiting() > outputBudget) {
      // 'drain' comes once the socket's queue is empty; the fault layer may hold some bytes back.
      if (raw.writableNeedDrain) raw.once("drain", resumeWhenDrained);
      else setTimeout(resumeWhenDrained, 5);
      return;
    }
    clearTimeout(stall);
    stall = undefined;
    paused = false;
    reader.output.resume();
    // Lines already received wait in the queue while paused: hand them on now.
    if (!scheduled && head < lines.length) feed();
  };
  /** One line to the session, then the back-pressure check: stop reading while replies wait. */
  const handle = (line: string) => {
    session.handle(line, reader.input.takeReceived());
    reader.input.maxLine = lineLimit();
    opts.onLine?.();
    if (!paused && waiting() > outputBudget) {
      paused = true;
      reader.output.pause();
      if (stallTimeoutMs > 0) {
        stall = setTimeout(() => {
          opts.onDrop?.(`replies not taken for ${stallTimeoutMs} ms`);
          stream.destroy();
          raw.destroy();
        }, stallTimeoutMs);
        stall.unref();
      }
      resumeWhenDrained();
    }
  };
  // Lines are handed to the session in order; a burst of them (an in-process link chains request
  // and reply without ever returning to the event loop) is paced so the loop turns every few ms.
  const lines: string[] = [];
  let head = 0;
  let scheduled = false;
  const feed = () => {
    scheduled = false;
    // Paused (replies wait above the budget): the rest of the queue waits for resumeWhenDrained.
    while (head < lines.length && !detached && !paused) {
      if (session.guard.held()) {
        scheduled = true;
        setImmediate(feed);
        return;
      }
      handle(lines[head++]!);
    }
    if (head < lines.length) return;
    lines.length = 0;
    head = 0;
  };
  reader.output.on("data", (line: string) => {
    lines.push(line);
    if (!scheduled && lines.length - head === 1) feed();
  });
  stream.pipe(reader.input);
  const detach = () => {
    if (detached) return;
    detached = true;
    clearTimeout(stall);
    lines.length = 0;
    head = 0;
    session.close();
    stream.unpipe(reader.input);
    reader.input.destroy();
    reader.output.destroy();
  };
  stream.once("close", detach);
  stream.once("error", detach);
  if (opts.boot && board.protocol !== "1.0") session.send(board.bootLine());
  return Object.assign(detach, { session });
}

export interface ListenOptions extends ServeOptions {
  host?: string;
  port?: number;
  /** Connections served at once; one more is told `! REJECT code=405` and closed; default 8. */
  maxConnections?: number;
  /** The owner's connection is closed after this long without a byte from it, ms (0: never); default 3 600 000. */
  idleTimeoutMs?: number;
  /**
   * A connection that does not own the board this long after it opened is closed, ms (whatever it
   * sends meanwhile, so trickled bytes cannot hold a slot); default 30 000.
   */
  admitTimeoutMs?: number;
}

export const LISTEN_DEFAULTS = {
  maxConnections: 8,
  idleTimeoutMs: 3_600_000,
  admitTimeoutMs: 30_000,
} as const;

/** Tells the peer why the board closes its connection (PROTOCOL.md §3, Connections), then closes it. */
function refuse(socket: Socket, msg: string): void {
  if (!socket.destroyed && socket.writable)
    socket.end(encodeEvent("REJECT", { code: ErrorCode.CONNECTION_CLOSED, msg }), "latin1");
  // A peer that does not read is not waited for.
  setTimeout(() => socket.destroy(), 1000).unref();
}

/**
 * Serves the board on a TCP port (loopback unless told otherwise). Each connection is a session; one
 * at a time owns the board (admission.ts). Memory per connection is bounded (docs/reliability.md).
 */
export async function serveTcp(board: EmulatedBoard, opts: ListenOptions = {}): Promise<Server> {
  const {
    host = "127.0.0.1",
    port = 0,
    maxConnections = LISTEN_DEFAULTS.maxConnections,
    idleTimeoutMs = LISTEN_DEFAULTS.idleTimeoutMs,
    admitTimeoutMs = LISTEN_DEFAULTS.admitTimeoutMs,
    ...serve
  } = opts;
  if (!(Number.isInteger(maxConnections) && maxConnections >= 1))
    throw new RangeError(`maxConnections must be a positive integer, not ${maxConnections}`);
  for (const [k, v] of Object.entries({ idleTimeoutMs, admitTimeoutMs }))
    if (!(v >= 0)) throw new RangeError(`${k} must be >= 0 ms, not ${v}`);
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    socket.on("error", () => socket.destroy());
    if (sockets.size >= maxConnections) {
      refuse(socket, `too many connections: the board serves at most ${maxConnections} at once`);
      return;
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    // The owner's idle clock restarts with every byte and line from it (Node's own socket timeout
    // counts writes too, and a client that only reads is not idle to it).
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      if (idleTimeoutMs === 0 || !served.session.isOwner) return;
      clearTimeout(idle);
      idle = setTimeout(
        () => refuse(socket, `closed after ${idleTimeoutMs / 1000} s without a request`),
        idleTimeoutMs,
      );
    };
    const served = serveStream(board, socket, { ...serve, onLine: touch });
    const admit = setTimeout(() => {
      if (admitTimeoutMs > 0 && !served.session.isOwner)
        refuse(
          socket,
          `closed: this connection did not open the board's session within ${admitTimeoutMs / 1000} s`,
        );
    }, admitTimeoutMs);
    socket.on("data", touch);
    socket.on("close", () => {
      clearTimeout(idle);
      clearTimeout(admit);
    });
  });
  // Refused connections are closed at once; this bounds what they can hold meanwhile.
  server.maxConnections = 2 * maxConnections + 8;
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
  // serialport (a native binding) is loaded only when a serial path is served.
  const { SerialPort } = await import("serialport");
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  serveStream(board, port, { boot: true, stallTimeoutMs: 0, ...opts });
  return port;
}
