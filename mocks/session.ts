/**
 * One link to the emulated board (a serial port or a TCP connection): framing and checksums
 * (decodeLine), the session (HELLO and its token), and the replay window of PROTOCOL.md §3; the board
 * executes what passes.
 *
 *   line ─▶ decodeLine ─▶ session / token ─▶ replay window? ─▶ board.execute ─▶ reply (stored, sent)
 */
import { timingSafeEqual } from "node:crypto";
import {
  type Args,
  decodeLine,
  ErrorCode,
  encodeErr,
  encodeEvent,
  encodeOk,
  ProtocolError,
  parseRequest,
  REPLAY_MAX_REPLY,
  REPLAY_WINDOW,
} from "../firmware-protocol/index.ts";
import type { EmulatedBoard } from "./board.ts";

/**
 * One link to the board. `handle` takes a line as received (without its terminator) and sends the
 * reply; it is synchronous, so replies leave in the order requests arrived.
 */
export class Session {
  private readonly replay = new Map<number, { crc: string; reply: string }>();
  /** True once the session presented the board's token (always true on a board without one). */
  private authorized: boolean;

  constructor(
    readonly board: EmulatedBoard,
    private readonly output: (line: string) => void,
  ) {
    this.authorized = board.token === undefined;
  }

  /** Sends a line (a reply or an event), counting its bytes (STAT tx). */
  send(line: string): void {
    this.board.counters.tx += line.length;
    this.output(line);
  }

  clearReplay(): void {
    this.replay.clear();
  }

  /** A reboot: the replay window and the authentication are gone. */
  lose(): void {
    this.replay.clear();
    this.authorized = this.board.token === undefined;
  }

  /** Size of the replay window now (bounded by REPLAY_WINDOW; for tests). */
  get replaySize(): number {
    return this.replay.size;
  }

  close(): void {
    this.board.closeSession(this);
  }

  handle(line: string): void {
    this.board.counters.rx += line.length + 1; // the line and its terminator (STAT rx)
    if (line.length === 0 || line === "\r") return; // blank lines are ignored (a person pressing Enter)
    const d = decodeLine(line, this.board.maxLine);
    if (!d.ok) {
      this.reject(d.code, d.reason);
      return;
    }
    const m = d.message;
    if (m.kind !== "request") {
      this.reject(ErrorCode.MALFORMED, "a board accepts requests only");
      return;
    }
    if (m.verb === "HELLO") {
      this.replay.clear();
      if (this.board.token !== undefined) this.authorized = this.checkToken(m.args);
    }
    if (!this.authorized) {
      const msg =
        m.verb === "HELLO"
          ? "wrong or missing token: open the session with HELLO token=..."
          : "no session: open it with HELLO token=... first";
      this.board.pushError(ErrorCode.UNAUTHORIZED, msg);
      this.send(encodeErr(m.tag, ErrorCode.UNAUTHORIZED, msg));
      return;
    }
    const seen = this.replay.get(m.tag);
    if (seen && seen.crc === d.crc) {
      this.send(seen.reply);
      return;
    }
    let reply: string;
    try {
      reply = encodeOk(m.tag, this.board.execute(m));
    } catch (e) {
      const code = e instanceof ProtocolError ? e.code : ErrorCode.INTERNAL;
      const msg = e instanceof ProtocolError ? e.message : `internal error: ${(e as Error).message}`;
      this.board.pushError(code, msg);
      reply = encodeErr(m.tag, code, msg);
    }
    this.replay.delete(m.tag);
    if (reply.length <= REPLAY_MAX_REPLY) {
      this.replay.set(m.tag, { crc: d.crc, reply });
      if (this.replay.size > REPLAY_WINDOW) this.replay.delete(this.replay.keys().next().value!);
    }
    this.send(reply);
  }

  private checkToken(args: Args): boolean {
    const want = this.board.token;
    if (want === undefined) return true;
    let given: string | undefined;
    try {
      given = parseRequest("HELLO", args).token;
    } catch {
      return false;
    }
    if (given === undefined) return false;
    const a = Buffer.from(given, "latin1");
    const b = Buffer.from(want, "latin1");
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private reject(code: number, msg: string): void {
    this.board.pushError(code, msg);
    this.send(encodeEvent("REJECT", { code, msg }));
  }
}
