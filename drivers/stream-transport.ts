/** A Transport over any Node Duplex stream: the common core of the serial, socket and emu:// links. */
import type { Duplex } from "node:stream";
import { XbarError } from "../firmware-protocol/errors.ts";
import { createLineReader, ErrorCode, MAX_LINE } from "../firmware-protocol/index.ts";
import { Subject } from "./rx.ts";
import type { Transport } from "./transport.ts";

export class StreamTransport implements Transport {
  private readonly subject = new Subject<string>();
  private closing = false;
  private closed: Promise<void>;
  readonly bytes = { sent: 0, received: 0 };
  readonly lines;

  /**
   * @param release frees the underlying device once the stream is ended (a serial port's close());
   *   destroying a serialport stream alone leaves the port open and locked.
   */
  constructor(
    private readonly stream: Duplex,
    readonly name: string,
    maxLine = MAX_LINE,
    private readonly release?: () => Promise<void>,
  ) {
    this.lines = this.subject.asObservable();
    const reader = createLineReader(maxLine);
    stream.on("data", (chunk: Buffer) => {
      this.bytes.received += chunk.length;
    });
    stream.pipe(reader.input);
    reader.output.on("data", (line: string) => this.subject.next(line));
    this.closed = new Promise<void>((resolve) => {
      const end = (err?: Error) => {
        if (this.closing) this.subject.complete();
        else {
          this.subject.error(
            new XbarError(
              ErrorCode.DISCONNECTED,
              `link closed by the other side${err ? `: ${err.message}` : ""}`,
              { port: name },
            ),
          );
        }
        resolve();
      };
      stream.once("close", () => end());
      stream.once("error", (err) => {
        end(err);
        stream.destroy();
      });
    });
  }

  write(data: string): void {
    if (this.closing || this.stream.destroyed) return;
    this.bytes.sent += data.length;
    // Lines written in the same tick leave in one system call.
    if (this.stream.writableCorked === 0) {
      this.stream.cork();
      process.nextTick(() => this.stream.uncork());
    }
    this.stream.write(data, "latin1");
  }

  writeBacklog(): number {
    return this.stream.writableLength;
  }

  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      if (this.release) {
        await this.release().catch(() => {});
        this.subject.complete();
      } else {
        this.stream.end();
        this.stream.destroy();
        await this.closed;
      }
    }
  }
}
