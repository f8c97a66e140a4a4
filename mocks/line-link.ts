/**
 * The link of an emulated line instrument (SMU, switching matrix): LF-terminated command lines in,
 * one reply line out for each query. `serveLines` serves a handler on a stream (a socket, a pty, an
 * in-process end); `lineInstrumentInProcess` gives the host's end of an in-process link to it.
 * A line longer than 64 KiB is cut to its last 64 KiB: the buffer is bounded, as a real one is.
 */
import type { Duplex } from "node:stream";
import { duplexPair } from "./duplex-pair.ts";

/** Answers one command line: the reply line, or undefined for a command without reply. */
export type LineHandler = (line: string) => string | undefined;

const MAX_PENDING = 65536;

/** Serves `handle` on `stream` until the returned function detaches it. */
export function serveLines(handle: LineHandler, stream: Duplex): () => void {
  let buf = "";
  const onData = (d: Buffer) => {
    buf += d.toString("latin1");
    if (buf.length > MAX_PENDING) buf = buf.slice(-MAX_PENDING);
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
      const reply = handle(line);
      if (reply !== undefined && !stream.destroyed) stream.write(`${reply}\n`);
      nl = buf.indexOf("\n");
    }
  };
  stream.on("data", onData);
  return () => stream.off("data", onData);
}

/** An in-process link to an instrument answering with `handle`: returns the host's end. */
export function lineInstrumentInProcess(handle: LineHandler): Duplex {
  const [hostEnd, instrumentEnd] = duplexPair();
  // Closing the host's end (its AbortError) ends the instrument's end too.
  instrumentEnd.on("error", () => {});
  hostEnd.on("error", () => {});
  hostEnd.once("close", () => instrumentEnd.destroy());
  serveLines(handle, instrumentEnd);
  return hostEnd;
}
