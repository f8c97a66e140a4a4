/**
 * An in-memory link between a CrossbarClient and an EmulatedBoard session, with faults as
 * behaviours of the link (never edits of the driver): drop or corrupt chosen lines in either
 * direction, inject garbage, go silent. It records every line written by the host.
 */
import { Subject } from "rxjs";
import type { Transport } from "../../drivers/index.ts";
import { type BoardOptions, EmulatedBoard } from "../../mocks/index.ts";

export type LineFault = (line: string, index: number) => string | null;

export class FaultyLink implements Transport {
  readonly name = "faulty://";
  readonly board: EmulatedBoard;
  readonly written: string[] = [];
  readonly bytes = { sent: 0, received: 0 };
  private readonly subject = new Subject<string>();
  readonly lines = this.subject.asObservable();
  private readonly session;
  private toBoard = 0;
  private toHost = 0;
  /** Behaviours: return the (possibly changed) line, or null to drop it. */
  hostToBoard: LineFault = (l) => l;
  boardToHost: LineFault = (l) => l;

  constructor(opts: BoardOptions = { rows: 8, cols: 8, device: "linear", seed: 1 }) {
    this.board = new EmulatedBoard(opts);
    this.session = this.board.openSession((line) => {
      const out = this.boardToHost(line, this.toHost++);
      if (out === null) return;
      this.bytes.received += out.length;
      // Deliver asynchronously, as any real link would.
      setImmediate(() => this.subject.next(out.replace(/\n$/, "")));
    });
  }

  /** Sends raw bytes to the host as if the board had sent them (garbage, stray lines). */
  inject(text: string): void {
    for (const l of text.split("\n").slice(0, -1)) setImmediate(() => this.subject.next(l));
  }

  write(data: string): void {
    this.written.push(data);
    this.bytes.sent += data.length;
    const out = this.hostToBoard(data, this.toBoard++);
    if (out === null) return;
    setImmediate(() => this.session.handle(out.replace(/\n$/, "")));
  }

  /** The link goes away on its own (a pulled plug). */
  disconnect(err: Error): void {
    this.subject.error(err);
  }

  async close(): Promise<void> {
    this.session.close();
    this.subject.complete();
  }
}
