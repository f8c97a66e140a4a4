/**
 * Raw lines to a board for the conformance suites (test/conformance.test.ts, test/conformance-wire.test.ts):
 * a Wire reads the lines of a transport in order and sends framed requests; the helpers read replies'
 * numbers, the envelope, and the net change of the STAT counters an operation causes.
 */
import { expect } from "vitest";
import type { Transport } from "../../drivers/index.ts";
import {
  type ArgInput,
  type Args,
  decodeLine,
  type ErrReply,
  encodeRequest,
  type Message,
  type OkReply,
} from "../../firmware-protocol/index.ts";
import type { Limits } from "../../src/board/board.ts";

/** How long to wait for one line from the board before failing the test. */
const LINE_TIMEOUT_MS = 3000;

// ---------------------------------------------------------------------------------------------------
// Raw-line helpers
// ---------------------------------------------------------------------------------------------------

/** Lines received from a transport, read one at a time in order. */
export class Wire {
  private readonly queue: string[] = [];
  private replied = false;
  private wake?: () => void;
  private ended?: Error;
  private readonly sub;

  constructor(private readonly transport: Transport) {
    this.sub = transport.lines.subscribe({
      next: (line) => {
        this.queue.push(line);
        this.wake?.();
      },
      error: (err: unknown) => {
        this.ended = err instanceof Error ? err : new Error(String(err));
        this.wake?.();
      },
      complete: () => {
        this.ended = new Error("the link was closed");
        this.wake?.();
      },
    });
  }

  close(): void {
    this.sub.unsubscribe();
  }

  write(bytes: string): void {
    this.transport.write(bytes);
  }

  /** The next line as received (without its terminator). */
  async line(timeoutMs = LINE_TIMEOUT_MS): Promise<string> {
    if (this.queue.length === 0 && !this.ended) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.wake = undefined;
          resolve();
        }, timeoutMs);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
    }
    const line = this.queue.shift();
    if (line !== undefined) return line;
    throw this.ended ?? new Error(`no line from the board within ${timeoutMs} ms`);
  }

  /** The next line, decoded; fails when the board sent a line that does not decode. */
  async message(): Promise<{ line: string; message: Message }> {
    const line = await this.line();
    const d = decodeLine(line);
    if (!d.ok)
      throw new Error(
        `the board sent a line that does not decode (${d.code} ${d.reason}): ${JSON.stringify(line)}`,
      );
    return { line, message: d.message };
  }

  /** The next line, which must be the reply (OK or ERR) to `tag`. */
  async reply(tag: number): Promise<{ line: string; message: OkReply | ErrReply }> {
    let { line, message } = await this.message();
    // A 1.1 board announces BOOT when it starts (PROTOCOL.md §3); a link opened on a board that was
    // just started (a pty) hears it before the first reply.
    while (!this.replied && message.kind === "event" && message.name === "BOOT")
      ({ line, message } = await this.message());
    this.replied = true;
    if (message.kind !== "ok" && message.kind !== "err") {
      throw new Error(`expected the reply to tag ${tag}, got ${JSON.stringify(line)}`);
    }
    expect(message.tag, `tag of ${JSON.stringify(line)}`).toBe(tag);
    return { line, message };
  }

  /** The next line, which must be the event `name`; returns its arguments. */
  async event(name: string): Promise<Args> {
    const { line, message } = await this.message();
    if (message.kind !== "event" || message.name !== name)
      throw new Error(`expected a ${name} event, got ${JSON.stringify(line)}`);
    return message.args;
  }

  async call(tag: number, verb: string, args?: ArgInput): Promise<OkReply | ErrReply> {
    this.write(encodeRequest(tag, verb, args));
    return (await this.reply(tag)).message;
  }

  /** Sends a request that must succeed; returns the reply's arguments. */
  async ok(tag: number, verb: string, args?: ArgInput): Promise<Args> {
    const m = await this.call(tag, verb, args);
    if (m.kind !== "ok") throw new Error(`${verb} (tag ${tag}) was refused: ERR ${m.code} ${m.message}`);
    return m.args;
  }

  /** Sends a request that must be refused; returns the error code. */
  async err(tag: number, verb: string, args?: ArgInput): Promise<number> {
    const m = await this.call(tag, verb, args);
    if (m.kind !== "err") throw new Error(`${verb} (tag ${tag}) should have been refused, got OK`);
    return m.code;
  }
}

export type Stat = Record<"pulses" | "reads" | "vmms" | "cmds" | "errors", number>;
export const STAT_KEYS = ["pulses", "reads", "vmms", "cmds", "errors"] as const;

export function num(args: Args, key: string): number {
  const raw = args.get(key);
  if (raw === undefined) throw new Error(`reply has no ${key}`);
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new Error(`${key}=${raw} is not a number`);
  return v;
}

/** Limits from a LIM reply. */
export function limitsOf(a: Args): Limits {
  const n = (k: string) => num(a, k);
  return {
    vmax: n("vmax"),
    wmin: n("wmin"),
    wmax: n("wmax"),
    nmax: n("nmax"),
    plmax: n("plmax"),
    vrmax: n("vrmax"),
    ccmax: n("ccmax"),
    emax: n("emax"),
  };
}

/** A pulse inside any sensible envelope: 2 V (or vmax), 100 µs (clamped to [wmin, wmax]). */
export function safePulse(lim: Limits): { v: number; w: number } {
  return { v: Math.min(2, lim.vmax), w: Math.min(Math.max(1e-4, lim.wmin), lim.wmax) };
}

export const NOTHING: Stat = { pulses: 0, reads: 0, vmms: 0, cmds: 0, errors: 0 };

/**
 * Net change of the STAT counters caused by `fn` alone: the change across `fn` minus the change
 * across nothing (so whether STAT counts itself does not matter).
 */
export async function netStat(wire: Wire, tag: () => number, fn: () => Promise<unknown>): Promise<Stat> {
  const read = async () => {
    const a = await wire.ok(tag(), "STAT");
    return Object.fromEntries(STAT_KEYS.map((k) => [k, num(a, k)])) as Stat;
  };
  const s0 = await read();
  const s1 = await read();
  await fn();
  const s2 = await read();
  return Object.fromEntries(STAT_KEYS.map((k) => [k, s2[k] - s1[k] - (s1[k] - s0[k])])) as Stat;
}
