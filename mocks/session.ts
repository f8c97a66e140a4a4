import {
  type ArgInput,
  type Args,
  decodeLine,
  ErrorCode,
  encodeErr,
  encodeEvent,
  encodeOk,
  errorMessage,
  ProtocolError,
  parseRequest,
  REPLAY_MAX_REPLY,
  REPLAY_WINDOW,
} from "../firmware-protocol/index.ts";
import type { EmulatedBoard } from "./board.ts";
import { type Config, defaultConfig } from "./config.ts";
import { isJob, type Job } from "./job.ts";

/** Longest the session keeps the event loop without letting it turn, ms (PROTOCOL.md: ~10 ms). */
const HOLD_MS = 5;
/** Lines a session queues while a command runs; beyond that a request is answered 402 BUSY. */
const MAX_PENDING = 4096;
/** Delays shorter than this (wall ms) are owed and waited out together with later ones. */
const MIN_WAIT_MS = 1;

/** The command a session is running (or the board time it is waiting out), and whether ABORT came. */
interface Running {
  job?: Job<ArgInput>;
  tag: number;
  crc: string;
  abort: boolean;
}

/**
 * One link to the board. `handle` takes a line as received (without its terminator); replies leave
 * in the order requests arrived. A command runs at once when it is short; a long one (a pulse train,
 * a WAIT, anything at timescale > 0 that takes time) runs in slices of at most ~10 ms while the
 * session keeps reading its input: lines received meanwhile queue up, and an ABORT among them stops
 * the running command part-way (it replies 401 saying how far it got, then ABORT replies).
 */
export class Session {
  private readonly replay = new Map<number, { crc: string; reply: string }>();
  /** True once the session presented the board's token (always true on a board without one). */
  private authorized: boolean;
  /** Lines received while busy, in order. */
  private pending: string[] = [];
  private running: Running | null = null;
  /** Wall time (performance.now()) the board's owed time runs until. */
  private busyUntil = 0;
  private resumeScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** This session's configuration (CFG narrows it for the session; HELLO restores the defaults). */
  config: Config;
  /**
   * Bytes received and sent while this session did not own the board: STAT rx/tx take them when it
   * claims the board (a single link's garbage before its first request counts, as on a board with one
   * UART); a session refused as not authorised or not the owner never touches the counters.
   */
  private unclaimed = { rx: 0, tx: 0 };

  constructor(
    readonly board: EmulatedBoard,
    private readonly output: (line: string) => void,
  ) {
    this.authorized = !board.admission.required;
    // A new link starts from the defaults (1.1: CFG lasts for the session that set it; a 1.0 board kept it).
    this.config = board.protocol === "1.0" ? board.config : defaultConfig();
  }

  /** Sends a line (a reply or an event), counting its bytes (STAT tx). */
  send(line: string): void {
    this.count("tx", line.length);
    this.output(line);
  }

  private count(link: "rx" | "tx", bytes: number): void {
    if (this.isOwner) this.board.counters[link] += bytes;
    else this.unclaimed[link] += bytes;
  }

  /**
   * True when this session owns the board, taking it first when nobody does (admission.ts); the bytes
   * it exchanged before are then counted, and forgotten when it is refused.
   */
  private claim(): boolean {
    if (!this.authorized || !this.board.admission.claim(this)) return false;
    this.board.counters.rx += this.unclaimed.rx;
    this.board.counters.tx += this.unclaimed.tx;
    this.unclaimed = { rx: 0, tx: 0 };
    return true;
  }

  /** Sends a refusal of a session that is not admitted; the bytes it exchanged count nowhere. */
  private refuse(line: string): void {
    this.send(line);
    this.unclaimed = { rx: 0, tx: 0 };
  }

  clearReplay(): void {
    this.replay.clear();
  }

  /** A reboot: the replay window, the authentication, a running command and queued lines are gone. */
  lose(): void {
    this.replay.clear();
    this.config = this.board.config;
    this.authorized = !this.board.admission.required;
    clearTimeout(this.timer);
    this.running = null;
    this.pending = [];
    this.busyUntil = 0;
  }

  /** True when this session owns the board (admission.ts): only its lines touch board state. */
  get isOwner(): boolean {
    return this.board.admission.isOwner(this);
  }

  /**
   * Events go to the owner (also the BOOT of a reboot that ended its authentication), or to every
   * authorised session while nobody owns the board; never to a session that has not authenticated.
   */
  get hearsEvents(): boolean {
    return this.isOwner || (this.authorized && !this.board.admission.owned);
  }

  /** Size of the replay window now (bounded by REPLAY_WINDOW; for tests). */
  get replaySize(): number {
    return this.replay.size;
  }

  /** True while a command runs (or its time is waited out). */
  get busy(): boolean {
    return this.running !== null;
  }

  /** Lines received and not yet processed. */
  get queued(): number {
    return this.pending.length;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.board.admission.release(this);
    this.board.closeSession(this);
  }

  /**
   * One received line (without its terminator). `received`: the bytes it took on the link (STAT rx),
   * by default the line and its terminator; a stream's reader says (blank lines, dropped bytes).
   */
  handle(line: string, received = line.length + 1): void {
    if (this.closed) return;
    this.count("rx", received);
    if (line.length === 0 || line === "\r") return; // blank lines are ignored (a person pressing Enter)
    if (this.running || this.pending.length) {
      this.enqueue(line);
      return;
    }
    // Synchronous for a caller that hands lines in directly; serveStream feeds a stream's lines
    // through holdGuard() so a burst of them does not hold the event loop either.
    this.process(line);
  }

  private enqueue(line: string): void {
    if (this.pending.length >= MAX_PENDING) {
      const d = decodeLine(line, this.board.maxLine);
      if (d.ok && d.message.kind === "request")
        this.send(encodeErr(d.message.tag, ErrorCode.BUSY, "input queue full: wait for replies"));
      return;
    }
    this.pending.push(line);
    if (this.running?.job && line.includes(" ABORT")) {
      const d = decodeLine(line, this.board.maxLine);
      if (d.ok && d.message.kind === "request" && d.message.verb === "ABORT" && this.authorized)
        this.running.abort = true;
    }
    if (!this.running) this.resumeSoon();
  }

  /** True when the session has kept the event loop for HOLD_MS without letting it turn. */
  private held(): boolean {
    return this.guard.held();
  }

  /** The event-loop guard of this session (serveStream uses it to pace the lines it feeds in). */
  readonly guard = new HoldGuard(HOLD_MS);

  private resumeSoon(): void {
    if (this.resumeScheduled) return;
    this.resumeScheduled = true;
    setImmediate(() => {
      this.resumeScheduled = false;
      this.drain();
    });
  }

  /** Processes queued lines in order until one starts a command that takes time. */
  private drain(): void {
    while (!this.closed && !this.running && this.pending.length) {
      if (this.held()) {
        this.resumeSoon();
        return;
      }
      this.process(this.pending.shift()!);
    }
  }

  private process(line: string): void {
    const d = decodeLine(line, this.board.maxLine);
    if (!d.ok) {
      // 1.1: a line whose checksum is right and whose tag could be read is a request the host will
      // not retransmit into the same error: it is answered, not REJECTed (REJECT asks for a resend).
      if (d.tag !== undefined && d.code === ErrorCode.MALFORMED && this.board.protocol !== "1.0") {
        const crc = line.slice(line.lastIndexOf("*") + 1).replace(/\r$/, "");
        // Refusals of sessions that are not admitted touch no board state (no error queue, no counter).
        if (!this.claim()) {
          this.refuse(
            encodeErr(d.tag, ErrorCode.UNAUTHORIZED, "no session: open it with HELLO token=... first"),
          );
          return;
        }
        this.board.pushError(d.code, d.reason);
        this.finish(d.tag, crc, encodeErr(d.tag, d.code, d.reason));
      } else this.reject(d.code, d.reason);
      return;
    }
    const m = d.message;
    if (m.kind !== "request") {
      this.reject(ErrorCode.MALFORMED, "a board accepts requests only");
      return;
    }
    if (m.verb === "HELLO") {
      // A new session, also when HELLO is repeated: empty replay window, the default configuration
      // (1.1; a 1.0 board kept it), the token checked again.
      this.replay.clear();
      if (this.board.protocol !== "1.0") this.config = defaultConfig();
      if (this.board.admission.required) this.authorized = this.checkToken(m.args);
    }
    if (!this.authorized) {
      const msg =
        m.verb === "HELLO"
          ? "wrong or missing token: open the session with HELLO token=..."
          : "no session: open it with HELLO token=... first";
      this.refuse(encodeErr(m.tag, ErrorCode.UNAUTHORIZED, msg));
      return;
    }
    // One connection at a time owns the board (admission.ts); the others touch nothing of it.
    if (!this.claim()) {
      this.refuse(
        encodeErr(m.tag, ErrorCode.BUSY, "the board is in use by another connection (one at a time)"),
      );
      return;
    }
    const seen = this.replay.get(m.tag);
    if (seen && seen.crc === d.crc) {
      this.send(seen.reply);
      return;
    }
    const profile = this.board.profile;
    this.busyUntil = Math.max(performance.now(), this.busyUntil);
    this.board.work = profile.command + line.length * profile.byte;
    let out: ArgInput | Job<ArgInput>;
    this.board.config = this.config;
    try {
      out = this.board.execute(m);
      this.config = this.board.config;
    } catch (e) {
      this.finish(m.tag, d.crc, this.errReply(m.tag, e));
      return;
    }
    if (isJob(out)) {
      this.running = { job: out, tag: m.tag, crc: d.crc, abort: false };
      this.step();
      return;
    }
    this.finish(m.tag, d.crc, encodeOk(m.tag, out));
  }

  private errReply(tag: number, e: unknown): string {
    const code = e instanceof ProtocolError ? e.code : ErrorCode.INTERNAL;
    const msg = e instanceof ProtocolError ? e.message : `internal error: ${errorMessage(e)}`;
    this.board.pushError(code, msg);
    return encodeErr(tag, code, msg);
  }

  /** Runs one slice of the running job, then schedules the next (or replies). */
  private step(later = false): void {
    const r = this.running;
    if (this.closed || !r?.job) return;
    const job = r.job;
    const scale = this.board.timescale;
    if (!r.abort) {
      // A slice is ~HOLD_MS of wall time, more when timers fired late: the board catches up with
      // its schedule instead of falling behind the wall clock.
      this.owe(this.board.work);
      const now = performance.now();
      const sliceS =
        scale > 0
          ? Math.max(HOLD_MS, now + HOLD_MS - this.busyUntil) / 1000 / scale
          : Number.POSITIVE_INFINITY;
      this.board.config = this.config;
      this.board.work = job.step(sliceS, now + HOLD_MS);
    }
    if (r.abort || job.done) {
      this.running = null;
      let reply: string;
      try {
        if (job.failure) {
          reply = this.errReply(r.tag, job.failure);
          this.board.broadcast(encodeEvent("FAULT", { code: job.failure.code, msg: job.failure.message }));
        } else
          reply = r.abort && !job.done ? this.errReply(r.tag, job.aborted()) : encodeOk(r.tag, job.reply());
      } catch (e) {
        reply = this.errReply(r.tag, e);
      }
      this.finish(r.tag, r.crc, reply);
      if (later) this.drain();
      return;
    }
    const wait = this.owe(this.board.work);
    this.board.work = 0;
    if (scale > 0) this.timer = setTimeout(() => this.step(true), wait);
    else setImmediate(() => this.step(true));
  }

  /**
   * Adds board time to what the session owes (the schedule starts when a command starts, see
   * process()); returns the wall ms until it is paid.
   */
  private owe(boardSeconds: number): number {
    const scale = this.board.timescale;
    if (scale === 0) return 0;
    this.busyUntil += boardSeconds * scale * 1000;
    return this.busyUntil - performance.now();
  }

  /** Stores a reply in the replay window and sends it once the command's board time has passed. */
  private finish(tag: number, crc: string, reply: string): void {
    this.board.stateFile?.changed();
    this.replay.delete(tag);
    if (reply.length <= REPLAY_MAX_REPLY) {
      this.replay.set(tag, { crc, reply });
      if (this.replay.size > REPLAY_WINDOW) this.replay.delete(this.replay.keys().next().value!);
    }
    const wait = this.owe(this.board.work + reply.length * this.board.profile.byte);
    this.board.work = 0;
    if (wait < MIN_WAIT_MS) {
      this.send(reply);
      return;
    }
    this.running = { tag, crc, abort: false };
    this.timer = setTimeout(() => {
      if (this.closed) return;
      this.running = null;
      this.send(reply);
      this.drain();
    }, wait);
  }

  private checkToken(args: Args): boolean {
    let given: string | undefined;
    try {
      given = parseRequest("HELLO", args).token;
    } catch {
      given = undefined;
    }
    return this.board.admission.check(given);
  }

  private reject(code: number, msg: string): void {
    if (this.claim()) this.board.pushError(code, msg);
    this.send(encodeEvent("REJECT", { code, msg }));
  }
}

/**
 * Tells whether the code running now has kept the event loop for more than `ms` without letting it
 * turn: the first call schedules a setImmediate (which runs once the loop turns) and remembers when.
 */
export class HoldGuard {
  private since = -1;

  constructor(readonly ms: number) {}

  held(): boolean {
    const now = performance.now();
    if (this.since < 0) {
      this.since = now;
      setImmediate(() => {
        this.since = -1;
      });
      return false;
    }
    return now - this.since > this.ms;
  }
}
