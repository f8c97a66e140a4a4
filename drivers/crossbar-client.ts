/**
 * The crossbar board client: tags, a bounded window of requests in flight, per-command timeouts,
 * retransmission with the same tag (safe: the board replays, PROTOCOL.md §3), resync after garbage,
 * events, and a clean close. It knows the wire, not the meaning: src/ builds the Board on top.
 *
 *   request() ─▶ queue ─▶ (window free?) ─▶ write line ─▶ timer ─┬─ reply with tag ─▶ resolve / reject
 *                                                                ├─ timeout ─▶ resend same line (≤ retries)
 *                                                                ├─ REJECT event ─▶ resend what is in flight,
 *                                                                │    each request at most once per rejectResendMs
 *                                                                └─ BOOT event ─▶ re-handshake (below)
 *
 * Exactly once, also across a reboot (PROTOCOL.md §3):
 * - the replay window of the board holds 64 replies, so a request is never sent 64 or more requests
 *   after the oldest one that was unanswered when some still-unanswered request was first sent (a
 *   retransmission must still find its stored reply, also when older requests whose first
 *   transmission was lost are executed in between);
 * - an unexpected BOOT (the board restarted, its replay window is gone) settles every request in
 *   flight: programming ones are rejected with 610 UNKNOWN_OUTCOME (never re-sent blindly), read and
 *   control ones are sent again; before them the client opens a new session (HELLO, with the token)
 *   and restores the configuration the host had set (the last CFG arguments since RESET).
 */
import type { Subscription } from "rxjs";
import { type ErrorContext, errorMessage, isXbarError, XbarError } from "../firmware-protocol/errors.ts";
import {
  type ArgInput,
  type Args,
  type BoardEvent,
  COMMANDS,
  type Discarded,
  decodeLine,
  decodeReply,
  ErrorCode,
  encodeRequest,
  encodeRequestArgs,
  isVerb,
  MAX_TAG,
  ProtocolError,
  REPLAY_WINDOW,
  type ReplyOf,
  type RequestOf,
  type Verb,
} from "../firmware-protocol/index.ts";
import { Subject } from "./rx.ts";
import type { Transport } from "./transport.ts";

export interface ClientOptions {
  /** Requests in flight at most; default 1 until the handshake reads the board's `window`. */
  window?: number;
  /** Timeout added to every request's nominal duration, ms; default 2000. */
  baseTimeoutMs?: number;
  /** Retransmissions of a request that got no reply; default 3. */
  retries?: number;
  /** First tag used; default 1. */
  firstTag?: number;
  /** Access token presented in every HELLO (PROTOCOL.md §3, Sessions); default none. */
  token?: string;
  /**
   * A REJECT event resends a request in flight only if it was last written at least this long ago,
   * ms; default 50. REJECT-triggered resends do not count against `retries` and do not restart the
   * timeout, so a request still ends after (retries + 1) timeouts however noisy the link.
   */
  rejectResendMs?: number;
}

export interface RequestOptions {
  /** Nominal duration of the operation on the board, s (pulse trains, waits); default 0. */
  durationS?: number;
  /** What to put in an error's context (device address and so on). */
  context?: ErrorContext;
}

interface Pending {
  tag: number;
  /** Order of first sending (the replay-window bound counts in it). */
  seq: number;
  /** Seq of the oldest request unanswered when this one was first sent (itself if none). */
  base: number;
  verb: string;
  line: string;
  /** Arguments, kept for CFG only (restored after a reboot). */
  args?: ArgInput;
  /** Sent ahead of the queue and the window (the re-handshake after a reboot). */
  priority?: boolean;
  timeoutMs: number;
  /** Transmissions driven by the timeout (the first one included); bounded by retries + 1. */
  attempts: number;
  /** `transport.bytes.received` when the timer was last armed (a reply still arriving shows as growth). */
  receivedAtArm: number;
  /** Lines received (any, garbage included) when the timer was last armed. */
  linesAtArm: number;
  /** When a REJECT last made the client resend it (performance.now()), or -Infinity. */
  rejectAt: number;
  /** A REJECT resend deferred to the end of the interval (at most one waits). */
  rejectTimer?: NodeJS.Timeout;
  timer?: NodeJS.Timeout;
  context: ErrorContext;
  resolve: (args: Args) => void;
  reject: (err: Error) => void;
}

export interface ClientStats {
  requests: number;
  retransmissions: number;
  /** Of those, resends triggered by REJECT events (bounded per request by rejectResendMs). */
  rejectResends: number;
  discarded: number;
  strayReplies: number;
  /** Unexpected BOOT events (board reboots) survived. */
  reboots: number;
  /** Programming requests settled with 610 UNKNOWN_OUTCOME by a reboot. */
  unknownOutcomes: number;
  /**
   * Timeouts that found the link busy (a line still arriving, or the request still being written)
   * and waited one more timeout instead of resending: a slow link is not a silent one.
   */
  waitsExtended: number;
}

export class CrossbarClient {
  /** Unsolicited events from the board (BOOT, REJECT, FAULT). */
  readonly events = new Subject<BoardEvent>();
  /** Lines the client could not accept (bad checksum, garbage): diagnosable, never silently dropped. */
  readonly discarded = new Subject<Discarded>();
  readonly stats: ClientStats = {
    requests: 0,
    retransmissions: 0,
    rejectResends: 0,
    discarded: 0,
    strayReplies: 0,
    reboots: 0,
    unknownOutcomes: 0,
    waitsExtended: 0,
  };
  window: number;
  private readonly baseTimeoutMs: number;
  private readonly retries: number;
  private readonly rejectResendMs: number;
  private nextTag: number;
  private readonly inFlight = new Map<number, Pending>();
  private readonly queue: Pending[] = [];
  private queueHead = 0;
  /** Tags in flight or queued: never handed out twice. */
  private readonly usedTags = new Set<number>();
  private readonly sub: Subscription;
  private failure?: XbarError;
  private readonly token: string | undefined;
  private nextSeq = 0;
  /** Seq of a RESET whose BOOT event has not arrived yet (that BOOT is expected). */
  private resetSeq: number | undefined;
  /** True while the re-handshake after a reboot runs: the queue waits. */
  private recovering = false;
  /** True once the board answered a request (a BOOT before that is its start-up announcement). */
  private heard = false;
  /** CFG arguments the host set since the last RESET (restored after a reboot). */
  private sessionConfig: Record<string, unknown> = {};
  /** `transport.bytes.received` after the last whole line: more than this is a line still arriving. */
  private receivedAtLine = 0;
  /** Lines received so far, garbage included. */
  private linesReceived = 0;

  constructor(
    readonly transport: Transport,
    opts: ClientOptions = {},
  ) {
    const { window = 1, baseTimeoutMs = 2000, retries = 3, firstTag = 1, token, rejectResendMs = 50 } = opts;
    this.token = token;
    if (!(Number.isInteger(window) && window >= 1))
      throw new RangeError(`window must be a positive integer, not ${window}`);
    if (!(baseTimeoutMs > 0)) throw new RangeError(`baseTimeoutMs must be positive, not ${baseTimeoutMs}`);
    if (!(Number.isInteger(retries) && retries >= 0))
      throw new RangeError(`retries must be a non-negative integer, not ${retries}`);
    if (!(rejectResendMs >= 0))
      throw new RangeError(`rejectResendMs must be non-negative, not ${rejectResendMs}`);
    this.rejectResendMs = rejectResendMs;
    this.window = window;
    this.baseTimeoutMs = baseTimeoutMs;
    this.retries = retries;
    this.nextTag = firstTag % (MAX_TAG + 1);
    this.sub = transport.lines.subscribe({
      next: (line) => this.onLine(line),
      error: (err) =>
        this.fail(
          err instanceof XbarError
            ? err
            : new XbarError(ErrorCode.DISCONNECTED, String(err), { port: transport.name }),
        ),
      complete: () =>
        this.fail(new XbarError(ErrorCode.CLOSED, "the link was closed", { port: transport.name })),
    });
  }

  /** Requests in flight plus those waiting for the window. */
  get outstanding(): number {
    return this.inFlight.size + this.queue.length - this.queueHead;
  }

  /**
   * One request typed by the command table: the arguments are `RequestOf<V>` (keys, value types and
   * packed element types from the table, written in table order), the reply is decoded into
   * `ReplyOf<V>`. A reply that does not decode is a 102 MALFORMED XbarError naming the command.
   */
  async call<V extends Verb>(verb: V, req: RequestOf<V>, opts: RequestOptions = {}): Promise<ReplyOf<V>> {
    const args = await this.request(verb, encodeRequestArgs(verb, req), opts);
    try {
      return decodeReply(verb, args);
    } catch (e) {
      throw new XbarError(ErrorCode.MALFORMED, `malformed ${verb} reply: ${errorMessage(e)}`, {
        command: verb,
        port: this.transport.name,
        ...opts.context,
      });
    }
  }

  /**
   * Sends one request (untyped: any verb, raw arguments) and resolves with the reply's arguments. Rejects with XbarError carrying the
   * board's code (ERR reply), 601 after the last retransmission timed out, 602/609 when the link is gone.
   */
  request(verb: string, args?: ArgInput, opts: RequestOptions = {}): Promise<Args> {
    return this.enqueue(verb, args, opts, false);
  }

  private enqueue(verb: string, args: ArgInput | undefined, opts: RequestOptions, priority: boolean) {
    const context: ErrorContext = { command: verb, port: this.transport.name, ...opts.context };
    if (verb === "HELLO" && this.token !== undefined) args = { ...args, token: this.token };
    if (this.failure) return Promise.reject(new XbarError(this.failure.code, this.failure.detail, context));
    let line: string;
    const tag = this.takeTag();
    try {
      line = encodeRequest(tag, verb, args);
    } catch (e) {
      this.usedTags.delete(tag);
      const code = e instanceof ProtocolError ? e.code : ErrorCode.BAD_INPUT;
      return Promise.reject(new XbarError(code, errorMessage(e), { ...context, side: "host" }));
    }
    context.tag = tag;
    const timeoutMs = this.baseTimeoutMs + Math.ceil((opts.durationS ?? 0) * 2000);
    return new Promise<Args>((resolve, reject) => {
      const p: Pending = {
        tag,
        seq: -1,
        base: -1,
        verb,
        line,
        timeoutMs,
        attempts: 0,
        receivedAtArm: 0,
        linesAtArm: 0,
        rejectAt: Number.NEGATIVE_INFINITY,
        context,
        resolve,
        reject,
      };
      if (verb === "CFG") p.args = args;
      this.stats.requests++;
      if (priority) {
        p.priority = true;
        this.send(p);
      } else {
        this.queue.push(p);
        this.pump();
      }
    });
  }

  /** Sends queued requests while the window and the replay-window bound allow. */
  private pump(): void {
    while (!this.recovering && this.queueHead < this.queue.length && this.inFlight.size < this.window) {
      const oldest = this.inFlight.values().next().value as Pending | undefined;
      // A retransmission of `oldest` must still find its reply among the board's last 64: the board
      // may execute between its two arrivals every request sent since `oldest.base`, older ones
      // whose first transmission was lost included.
      if (oldest && this.nextSeq - oldest.base >= REPLAY_WINDOW) break;
      this.send(this.queue[this.queueHead++]!);
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  /** Rejects everything outstanding and releases the link. Idempotent. */
  async close(): Promise<void> {
    this.fail(new XbarError(ErrorCode.CLOSED, "the client was closed", { port: this.transport.name }));
    this.sub.unsubscribe();
    await this.transport.close();
  }

  private takeTag(): number {
    // Never reuse a tag still in flight (a wrap-around with 65536 outstanding is refused).
    for (let i = 0; i <= MAX_TAG; i++) {
      const t = this.nextTag;
      this.nextTag = t === MAX_TAG ? 0 : t + 1;
      if (!this.usedTags.has(t)) {
        this.usedTags.add(t);
        return t;
      }
    }
    throw new XbarError(ErrorCode.BUSY, "no free tag");
  }

  private send(p: Pending): void {
    if (p.seq < 0) {
      const oldest = this.inFlight.values().next().value as Pending | undefined;
      p.seq = this.nextSeq++;
      p.base = oldest ? Math.min(oldest.seq, p.seq) : p.seq;
      if (p.verb === "RESET") this.resetSeq = p.seq;
    }
    p.attempts++;
    this.inFlight.set(p.tag, p);
    this.transport.write(p.line);
    this.arm(p);
  }

  private arm(p: Pending): void {
    clearTimeout(p.timer);
    p.receivedAtArm = this.transport.bytes.received;
    p.linesAtArm = this.linesReceived;
    p.timer = setTimeout(() => this.onTimeout(p), p.timeoutMs);
  }

  /**
   * True when the link is busy rather than silent: one line has been arriving since the timer was
   * armed, no line completed meanwhile, and it is not complete yet (a long reply on a slow UART), or
   * the request itself is still queued for writing. The timeout counts silence, not the time a slow
   * link takes to carry a long line; a link that stops carrying bytes, or carries noise (whose bytes
   * make lines, discarded), still times out one timeout later.
   */
  private linkBusy(p: Pending): boolean {
    const received = this.transport.bytes.received;
    const oneLineArriving =
      received > p.receivedAtArm && received > this.receivedAtLine && this.linesReceived === p.linesAtArm;
    return oneLineArriving || (this.transport.writeBacklog?.() ?? 0) > 0;
  }

  private onTimeout(p: Pending): void {
    if (this.inFlight.get(p.tag) !== p) return;
    if (this.linkBusy(p)) {
      this.stats.waitsExtended++;
      this.arm(p);
      return;
    }
    if (p.attempts <= this.retries) {
      this.stats.retransmissions++;
      this.send(p);
      return;
    }
    this.settle(p);
    // A programming request may have been applied (its reply, not the request, may be what was
    // lost): the caller must read the devices before trying again, as after 602/610.
    const programming = isProgramming(p.verb);
    p.reject(
      new XbarError(
        ErrorCode.TIMEOUT,
        `no reply after ${p.attempts} attempts of ${p.timeoutMs} ms each${programming ? ": it may or may not have been applied (read the devices before trying again)" : ""}`,
        { ...p.context, outcome: programming ? "unknown" : "lost" },
      ),
    );
  }

  private settle(p: Pending): void {
    clearTimeout(p.timer);
    clearTimeout(p.rejectTimer);
    p.rejectTimer = undefined;
    this.inFlight.delete(p.tag);
    this.usedTags.delete(p.tag);
    this.pump();
  }

  private onLine(line: string): void {
    this.receivedAtLine = this.transport.bytes.received;
    this.linesReceived++;
    if (line === "" || line === "\r") return;
    const d = decodeLine(line);
    if (!d.ok) {
      this.stats.discarded++;
      this.discarded.next(d);
      return;
    }
    const m = d.message;
    if (m.kind === "event") {
      if (m.name === "REJECT" && m.args.get("code") === String(ErrorCode.CONNECTION_CLOSED)) {
        // The board closes this connection and says why (PROTOCOL.md §3, Connections).
        const msg = m.args.get("msg") ?? "connection closed by the board";
        this.fail(
          new XbarError(ErrorCode.CONNECTION_CLOSED, msg, { port: this.transport.name, side: "board" }),
        );
      } else if (m.name === "REJECT") this.resendAll();
      if (m.name === "BOOT") this.onBoot();
      this.events.next(m);
      return;
    }
    if (m.kind === "request") {
      this.stats.discarded++;
      this.discarded.next({
        ok: false,
        code: ErrorCode.MALFORMED,
        reason: "a request arrived at the host",
        excerpt: line.slice(0, 40),
      });
      return;
    }
    this.heard = true;
    const p = this.inFlight.get(m.tag);
    if (!p) {
      // A late reply to a request already answered (its retransmission crossed the first reply).
      this.stats.strayReplies++;
      return;
    }
    this.settle(p);
    if (m.kind === "ok") {
      if (p.verb === "CFG" && p.args) {
        for (const [k, v] of Object.entries(p.args)) if (v !== undefined) this.sessionConfig[k] = v;
      }
      p.resolve(m.args);
    } else {
      // 401 ABORTED and 404 COMPLIANCE_TRIP of a programming command say how far it got (1.1).
      const done = /^pulses=(\d+) /.exec(m.message);
      const progress = done ? { pulses: Number(done[1]) } : undefined;
      p.reject(
        new XbarError(m.code, m.message, { ...p.context, side: "board", ...(progress && { progress }) }),
      );
    }
  }

  /**
   * The board (re)started. After a RESET of ours that is expected: only requests sent before the
   * RESET lost their replay protection. Otherwise every request in flight did: programming ones are
   * settled with 610 UNKNOWN_OUTCOME (the board may or may not have applied them), the others are
   * sent again after a new HELLO (and the host's CFG) — the re-handshake.
   */
  private onBoot(): void {
    // A board announces BOOT when it starts (1.1). Before the board has answered anything, that is
    // the start-up announcement: the board sent it before reading any of our lines, so whatever we
    // sent is still to be executed, in a session not yet opened: nothing to recover.
    if (!this.heard) return;
    const expected = this.resetSeq;
    this.resetSeq = undefined;
    const lost: Pending[] = [];
    for (const p of this.inFlight.values()) {
      if (expected === undefined || p.seq < expected) lost.push(p);
      else if (p.verb === "RESET" && p.seq === expected) {
        // Its OK was lost on the way, but the BOOT that follows a RESET is here: it was executed.
        this.sessionConfig = {};
        this.settle(p);
        p.resolve(new Map());
      }
    }
    if (expected !== undefined) {
      this.sessionConfig = {};
      for (const p of lost) this.loseOutcome(p, "a RESET");
      return;
    }
    this.stats.reboots++;
    this.recovering = true;
    const again: Pending[] = [];
    for (const p of lost) {
      if (isProgramming(p.verb)) this.loseOutcome(p, "a reboot of the board");
      else {
        clearTimeout(p.timer);
        clearTimeout(p.rejectTimer);
        p.rejectTimer = undefined;
        this.inFlight.delete(p.tag);
        p.attempts = 0;
        p.seq = -1;
        if (p.priority) {
          // A re-handshake in progress: it is started again below.
          this.usedTags.delete(p.tag);
          p.reject(new XbarError(ErrorCode.UNKNOWN_OUTCOME, "superseded by another reboot", p.context));
          continue;
        }
        again.push(p);
      }
    }
    this.queue.splice(this.queueHead, 0, ...again);
    this.rehandshake();
  }

  private loseOutcome(p: Pending, why: string): void {
    this.stats.unknownOutcomes++;
    this.settle(p);
    p.reject(
      new XbarError(
        ErrorCode.UNKNOWN_OUTCOME,
        `${why} cleared the board's replay window while ${p.verb} was in flight: it may or may not have been applied (read the devices before trying again)`,
        { ...p.context, outcome: "unknown" },
      ),
    );
  }

  private rehandshake(): void {
    this.recovering = true;
    const cfg = Object.keys(this.sessionConfig).length ? (this.sessionConfig as ArgInput) : undefined;
    void (async () => {
      try {
        await this.enqueue("HELLO", undefined, {}, true);
        if (cfg) await this.enqueue("CFG", cfg, {}, true);
      } catch (e) {
        if (this.recovering && !isXbarError(e, ErrorCode.UNKNOWN_OUTCOME)) {
          this.recovering = false;
          const why = `re-handshake after a reboot failed: ${isXbarError(e) ? e.detail : errorMessage(e)}`;
          this.fail(
            isXbarError(e)
              ? new XbarError(e.code, why, e.context)
              : new XbarError(ErrorCode.INTERNAL, why, { port: this.transport.name }),
          );
        }
        return;
      }
      this.recovering = false;
      this.pump();
    })();
  }

  /**
   * The board discarded a line it could not trust: retransmit what is in flight (replay makes it
   * safe), each request at most once per `rejectResendMs`: the first REJECT resends at once, later
   * ones within the interval coalesce into one resend at its end. On a noisy link REJECTs come in
   * bursts; resending everything on each would multiply the traffic (and the REJECTs). The timeout
   * is left running and `attempts` untouched, so a request still ends after its timeouts.
   */
  private resendAll(): void {
    const now = performance.now();
    for (const p of this.inFlight.values()) {
      if (p.rejectTimer) continue;
      const wait = p.rejectAt + this.rejectResendMs - now;
      if (wait <= 0) this.rejectResend(p, now);
      else {
        p.rejectTimer = setTimeout(() => {
          p.rejectTimer = undefined;
          if (this.inFlight.get(p.tag) === p) this.rejectResend(p, performance.now());
        }, wait);
      }
    }
  }

  private rejectResend(p: Pending, now: number): void {
    p.rejectAt = now;
    this.stats.retransmissions++;
    this.stats.rejectResends++;
    this.transport.write(p.line);
  }

  private fail(err: XbarError): void {
    if (!this.failure) this.failure = err;
    const all = [...this.inFlight.values(), ...this.queue.slice(this.queueHead)];
    this.inFlight.clear();
    this.usedTags.clear();
    this.queue.length = 0;
    this.queueHead = 0;
    for (const p of all) {
      clearTimeout(p.timer);
      clearTimeout(p.rejectTimer);
      // A programming request on the wire when the link went: the board may have applied it.
      const sent = p.seq >= 0;
      const outcome = sent ? (isProgramming(p.verb) ? "unknown" : "lost") : "not sent";
      p.reject(new XbarError(err.code, err.detail, { ...p.context, outcome }));
    }
  }
}

/** True when the verb changes device states (the replay window protects it from double execution). */
export function isProgramming(verb: string): boolean {
  return isVerb(verb) && COMMANDS[verb].kind === "program";
}
