/**
 * Finding line boundaries in a byte stream (PROTOCOL.md §1), shared by the host driver and the
 * emulated board so both frame bytes identically.
 *
 *   bytes ──▶ LineGuard (bounds every line to maxLine) ──▶ ReadlineParser ("\n") ──▶ lines
 *
 * `@serialport/parser-readline` splits lines but buffers without limit, so a noisy link that never
 * sends a newline would eat memory. `LineGuard` sits in front of it: once a line exceeds maxLine
 * bytes, the rest of it is dropped and the line is ended with the one-byte marker OVERLONG, which
 * `decodeLine` reports as error 103. At most maxLine bytes of any line are ever buffered. (A received
 * line that is a lone CAN is passed on doubled, so it is reported as noise, 102, not as 103.)
 */
import { Transform, type TransformCallback } from "node:stream";
import { ReadlineParser } from "@serialport/parser-readline";
import { MAX_LINE } from "./constants.ts";

import { OVERLONG } from "./framing-marker.ts";

export { OVERLONG };

export class LineGuard extends Transform {
  /** Bytes of the current line received so far (at most maxLine in all). */
  private parts: Buffer[] = [];
  private run = 0;
  private dropping = false;
  /** Bytes received of the current line so far, dropped ones included. */
  private raw = 0;
  /** Bytes of blank lines since the last line passed on (the readline parser emits no empty line). */
  private blank = 0;
  /**
   * With `countReceived`: the bytes received for each line passed on, in order (its terminator, the
   * bytes of an over-long line that were dropped and the blank lines before it included), for a
   * board's `STAT rx`; the reader of the lines takes one per line (`takeReceived`).
   */
  private readonly received?: number[];

  /** @param maxLine longest line, bytes; may be changed at any time (a listener raises it once a connection is admitted). */
  constructor(
    public maxLine = MAX_LINE,
    opts: { countReceived?: boolean } = {},
  ) {
    super();
    if (opts.countReceived) this.received = [];
  }

  /** The bytes received for the next line passed on (see `countReceived`). */
  takeReceived(): number | undefined {
    return this.received?.shift();
  }

  private pass(line: Buffer | string): void {
    this.received?.push(this.blank + this.raw);
    this.blank = 0;
    this.raw = 0;
    this.push(line);
  }

  /**
   * Pushes each line downstream as one buffer once its LF has arrived, so the readline parser behind
   * never re-scans a growing buffer (it would, chunk after chunk, for a multi-megabyte line).
   */
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let start = 0;
    while (start < chunk.length) {
      const lf = chunk.indexOf(10, start);
      const end = lf < 0 ? chunk.length : lf + 1;
      const seg = end - start;
      this.raw += seg;
      if (!this.dropping && this.run + seg > this.maxLine) {
        this.dropping = true;
        this.parts = [];
      }
      if (this.dropping) {
        if (lf >= 0) {
          this.pass(`${OVERLONG}\n`);
          this.dropping = false;
          this.run = 0;
        }
      } else if (lf >= 0) {
        const tail = chunk.subarray(start, end);
        const line = this.parts.length === 0 ? tail : Buffer.concat([...this.parts, tail]);
        // A received line of a lone CAN must not pass for the marker: doubled, it is plain noise (102).
        if (line.length === 1) {
          this.blank += this.raw;
          this.raw = 0;
        } else this.pass(line.length === 2 && line[0] === 0x18 ? Buffer.from([0x18, 0x18, 0x0a]) : line);
        this.parts = [];
        this.run = 0;
      } else {
        // Keep a copy: the sender may reuse its chunk's memory.
        this.parts.push(Buffer.from(chunk.subarray(start, end)));
        this.run += seg;
      }
      start = end;
    }
    done();
  }
}

/** A writable that emits "data" with one line (without terminator) per event, memory bounded. */
export function createLineReader(
  maxLine = MAX_LINE,
  opts: { countReceived?: boolean } = {},
): { input: LineGuard; output: ReadlineParser } {
  const input = new LineGuard(maxLine, opts);
  const output = new ReadlineParser({ delimiter: "\n", encoding: "latin1" });
  input.pipe(output);
  return { input, output };
}
