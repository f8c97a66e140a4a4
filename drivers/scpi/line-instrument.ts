/**
 * A line-oriented instrument on a Transport (SCPI or TSP): commands go out one at a time, a query
 * waits for its reply line (instruments of this kind answer in order and have no tags). A query
 * that gets no answer fails with XbarError 601 naming the command and the port.
 */
import { firstValueFrom, timeout } from "rxjs";
import { isXbarError, XbarError } from "../../firmware-protocol/errors.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
import type { Transport } from "../transport.ts";

export class LineInstrument {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    protected readonly link: Transport,
    /** Reply time-out, ms; default 5000. */
    protected readonly timeoutMs = 5000,
  ) {}

  get name(): string {
    return this.link.name;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => {});
    return p;
  }

  /** Sends a command (no reply expected). */
  write(cmd: string): Promise<void> {
    return this.serial(async () => {
      this.link.write(`${cmd}\n`);
    });
  }

  /** Sends a query and waits for its reply line. */
  query(cmd: string): Promise<string> {
    return this.serial(async () => {
      const reply = firstValueFrom(this.link.lines.pipe(timeout(this.timeoutMs))).catch((e: unknown) => {
        if (isXbarError(e)) throw e;
        throw new XbarError(
          ErrorCode.TIMEOUT,
          `no reply to "${cmd}" within ${this.timeoutMs} ms (${e instanceof Error ? e.name : String(e)})`,
          {
            command: cmd,
            port: this.link.name,
          },
        );
      });
      this.link.write(`${cmd}\n`);
      return (await reply).trim();
    });
  }

  close(): Promise<void> {
    return this.link.close();
  }
}
