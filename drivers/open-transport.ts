/**
 * Opening links by URL. A string union of kinds, an exhaustive switch, implementations imported
 * lazily (the serial binding loads only when a serial port is used).
 *
 *   /dev/ttyUSB0, COM3, serial:///dev/ttyACM0?baud=921600   → serial device path
 *   socket://127.0.0.1:5025                                 → TCP
 * (`emu://` is composed in src/board/connect.ts, the one place allowed to start an emulator.)
 */
import { connect as netConnect } from "node:net";
import { errnoCode, XbarError } from "../firmware-protocol/errors.ts";
import { ErrorCode } from "../firmware-protocol/index.ts";
import { StreamTransport } from "./stream-transport.ts";
import type { Transport } from "./transport.ts";

export type LinkKind = "serial" | "socket" | "emu";

export interface LinkUrl {
  kind: LinkKind;
  /** Serial device path, or host for sockets. */
  path: string;
  port: number;
  params: URLSearchParams;
  /** The URL as the user wrote it. */
  text: string;
}

export function parseLinkUrl(text: string): LinkUrl {
  const bad = (why: string) => new XbarError(ErrorCode.BAD_URL, `cannot use port "${text}": ${why}`);
  if (!text) throw bad("empty");
  if (text.startsWith("emu://")) {
    const q = text.indexOf("?");
    return {
      kind: "emu",
      path: "",
      port: 0,
      params: new URLSearchParams(q >= 0 ? text.slice(q + 1) : ""),
      text,
    };
  }
  if (text.startsWith("socket://")) {
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      throw bad("expected socket://HOST:PORT");
    }
    const port = Number(u.port);
    if (!u.hostname || !Number.isInteger(port) || port < 1 || port > 65535)
      throw bad("expected socket://HOST:PORT with a port in 1..65535");
    return { kind: "socket", path: u.hostname.replace(/^\[|\]$/g, ""), port, params: u.searchParams, text };
  }
  if (text.startsWith("serial://")) {
    const rest = text.slice("serial://".length);
    const q = rest.indexOf("?");
    const path = q >= 0 ? rest.slice(0, q) : rest;
    if (!path) throw bad("expected serial:///dev/NAME");
    return {
      kind: "serial",
      path,
      port: 0,
      params: new URLSearchParams(q >= 0 ? rest.slice(q + 1) : ""),
      text,
    };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text))
    throw bad("unknown scheme: use a serial device path, socket://HOST:PORT or emu://");
  return { kind: "serial", path: text, port: 0, params: new URLSearchParams(), text };
}

export async function openSerial(path: string, baudRate = 115200): Promise<Transport> {
  const { SerialPort } = await import("serialport");
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) =>
    port.open((err) => {
      if (!err) return resolve();
      const m = err.message;
      if (/No such file|ENOENT|cannot find/i.test(m)) {
        reject(
          new XbarError(
            ErrorCode.PORT_NOT_FOUND,
            `serial port ${path} not found (run "xbar ports" to list ports)`,
            { port: path },
          ),
        );
      } else if (/lock|busy|EBUSY|temporarily unavailable|Access denied/i.test(m)) {
        reject(
          new XbarError(
            ErrorCode.PORT_BUSY,
            `serial port ${path} is busy: another program has it open (${m})`,
            { port: path },
          ),
        );
      } else {
        reject(
          new XbarError(ErrorCode.PORT_NOT_FOUND, `cannot open serial port ${path}: ${m}`, { port: path }),
        );
      }
    }),
  );
  const release = () =>
    new Promise<void>((resolve) => {
      if (!port.isOpen) return resolve();
      port.close(() => resolve());
    });
  return new StreamTransport(port, `serial ${path}`, undefined, release);
}

export async function openSocket(host: string, port: number, timeoutMs = 5000): Promise<Transport> {
  const name = `socket://${host}:${port}`;
  const socket = netConnect({ host, port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new XbarError(ErrorCode.CONNECTION_REFUSED, `no answer from ${name} within ${timeoutMs} ms`, {
          port: name,
        }),
      );
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once("error", (err: Error) => {
      clearTimeout(timer);
      const why =
        errnoCode(err) === "ECONNREFUSED"
          ? "connection refused (is the board or `xbar emulate` listening?)"
          : err.message;
      reject(
        new XbarError(ErrorCode.CONNECTION_REFUSED, `cannot connect to ${name}: ${why}`, { port: name }),
      );
    });
  });
  return new StreamTransport(socket, name);
}

/** Opens a serial or socket link (emu:// is opened by src/board/connect.ts). */
export async function openTransport(url: LinkUrl): Promise<Transport> {
  switch (url.kind) {
    case "serial": {
      const baud = Number(url.params.get("baud") ?? 115200);
      if (!Number.isInteger(baud) || baud <= 0)
        throw new XbarError(ErrorCode.BAD_URL, `bad baud rate in ${url.text}`);
      return openSerial(url.path, baud);
    }
    case "socket":
      return openSocket(url.path, url.port);
    case "emu":
      throw new XbarError(ErrorCode.BAD_URL, "emu:// links are opened by connect(), not by the drivers");
    default: {
      const never: never = url.kind;
      throw new Error(`unhandled link kind ${never}`);
    }
  }
}
