/**
 * A link with a bandwidth: bytes cross it, each way, no faster than a UART at `baud` 8N1 moves them
 * (10 bits per byte: start, 8 data, stop), so N/10 bytes per second. A wrapper around the board's end
 * of a link, like the fault layer (mocks/faults.ts), so it works on every way of serving a board
 * (in-process, TCP, a serial path whose pty would otherwise be as fast as memory).
 *
 *   host ──bytes──▶ [Pacer: N/10 B/s] ──▶ board session
 *   host ◀─bytes── [Pacer: N/10 B/s] ◀── board
 *
 * Bytes are delivered as they would arrive from a UART, a few at a time (every PACE_MS), never
 * earlier than their last bit: a line of L bytes written on an idle link has arrived in full
 * L·10/N seconds later. Each direction has its own pacer (a UART is full duplex).
 */
import { Duplex } from "node:stream";

/** Granularity of delivery, ms: bytes due within this are delivered together. */
const PACE_MS = 2;

/** Smallest and largest baud rates accepted (the emu:// `baud` key, `xbar emulate --baud`). */
export const BAUD_RANGE = [300, 100_000_000] as const;

export function checkBaud(baud: number): void {
  if (!(Number.isInteger(baud) && baud >= BAUD_RANGE[0] && baud <= BAUD_RANGE[1]))
    throw new RangeError(`baud must be an integer in ${BAUD_RANGE[0]}..${BAUD_RANGE[1]}, not ${baud}`);
}

/** Moves bytes to `emit` at `bytesPerS`, in order, a few at a time. */
export class Pacer {
  private readonly queue: Buffer[] = [];
  /** Bytes of queue[0] already emitted. */
  private head = 0;
  /** When the link is free again (all queued bytes sent), ms since the pacer's origin. */
  private busyUntil = 0;
  /** When the byte at queue[0][head] started, ms. */
  private cursor = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Bytes moved so far. */
  moved = 0;

  constructor(
    private readonly bytesPerS: number,
    private readonly emit: (chunk: Buffer) => void,
  ) {}

  write(chunk: Buffer): void {
    if (this.closed || chunk.length === 0) return;
    const now = performance.now();
    if (this.queue.length === 0) this.cursor = Math.max(now, this.busyUntil);
    this.busyUntil = Math.max(now, this.busyUntil) + (chunk.length * 1000) / this.bytesPerS;
    this.queue.push(chunk);
    this.schedule();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.queue.length = 0;
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    // The first byte still queued arrives once its 10 bits have crossed.
    const due = this.cursor + 1000 / this.bytesPerS;
    const wait = Math.max(0, due - performance.now());
    this.timer = setTimeout(() => this.pump(), Math.max(wait, PACE_MS));
  }

  private pump(): void {
    this.timer = undefined;
    if (this.closed) return;
    const now = performance.now();
    // Whole bytes that have fully arrived by now.
    let budget = Math.floor(((now - this.cursor) * this.bytesPerS) / 1000);
    const parts: Buffer[] = [];
    while (budget > 0 && this.queue.length) {
      const buf = this.queue[0]!;
      const take = Math.min(budget, buf.length - this.head);
      parts.push(buf.subarray(this.head, this.head + take));
      this.head += take;
      budget -= take;
      this.cursor += (take * 1000) / this.bytesPerS;
      if (this.head === buf.length) {
        this.queue.shift();
        this.head = 0;
      }
    }
    if (parts.length) {
      const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      this.moved += out.length;
      this.emit(out);
    }
    if (this.queue.length) this.schedule();
  }
}

/**
 * Wraps `inner` (the board's end of a link) in a Duplex that paces both directions at `baud` 8N1.
 * Serve the board on the returned stream.
 */
export function withBaud(inner: Duplex, baud: number): Duplex {
  checkBaud(baud);
  const rate = baud / 10;
  const toHost = new Pacer(rate, (chunk) => {
    if (!inner.destroyed && inner.writable) inner.write(chunk);
  });
  const outer: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer | string, _enc, cb) {
      toHost.write(typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk);
      cb();
    },
    final(cb) {
      inner.end();
      cb();
    },
    destroy(err, cb) {
      toHost.close();
      toBoard.close();
      inner.destroy();
      cb(err);
    },
  });
  const toBoard = new Pacer(rate, (chunk) => {
    if (!outer.destroyed) outer.push(chunk);
  });
  inner.on("data", (chunk: Buffer) => toBoard.write(Buffer.from(chunk)));
  inner.once("end", () => outer.push(null));
  inner.once("close", () => outer.destroy());
  inner.once("error", (e) => outer.destroy(e));
  return outer;
}
