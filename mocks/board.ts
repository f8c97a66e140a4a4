/**
 * The emulated crossbar board: a protocol peer that sees only lines of text (PROTOCOL.md). Each
 * connection is a `Session` (session.ts) with its own replay window, as each serial link to a real
 * board would be; the board keeps the error queue and dispatches every request through the command
 * table to a handler per verb (handlers.ts), over the array physics it extends (array.ts).
 *
 *   Session ─▶ execute: verb in the table? ─▶ parseRequest ─▶ checkRequest ─▶ HANDLERS[verb] ─▶ reply
 */
import {
  type ArgInput,
  COMMANDS,
  checkRequest,
  ERROR_QUEUE_DEPTH,
  ErrorCode,
  encodeEvent,
  encodeReply,
  HELD_BLOCKS,
  isVerb,
  type Limits,
  MAX_LINE,
  type ParsedRequest,
  PROTOCOL_MINOR,
  PROTOCOL_VERSION,
  ProtocolError,
  parseRequest,
  type ReplyInput,
  type Request,
  type Verb,
} from "../firmware-protocol/index.ts";
import { Admission } from "./admission.ts";
import { ArrayModel, type ArrayOptions } from "./array.ts";
import { defaultConfig, FIRMWARE_VERSION, HARD_LIMITS, zeroCounters } from "./config.ts";
import { effectsToken } from "./effects.ts";
import { HANDLERS, type Handler } from "./handlers.ts";
import { isJob, type Job } from "./job.ts";
import { Session } from "./session.ts";
import { StateKeeper } from "./state-file.ts";
import { type BoardProfile, profileToken, resolveProfile } from "./timing.ts";

export { HARD_LIMITS } from "./config.ts";
export { FIRMWARE_VERSION, Session };

export interface BoardOptions extends ArrayOptions {
  /** Longest line accepted and sent, bytes; default MAX_LINE. */
  maxLine?: number;
  /** Requests the host may keep in flight; default 16. */
  window?: number;
  /**
   * Access token (PROTOCOL.md §3, Sessions): when set, a session must open with `HELLO token=…`
   * before anything else is executed (403 otherwise). Default: none (loopback, in-process, serial).
   */
  token?: string;
  /**
   * Resolution of the board's input DAC and sensing ADC, bits (1..16), reported in IDN (`dac=`,
   * `adc=`): a board that reports them speaks the 1.1 wire (quantised arrays, `q=1` replies, held
   * vectors). Default: neither (a board that asks for float32 on the wire, as in protocol 1.0).
   */
  dac?: number;
  adc?: number;
  /**
   * Wall time per board second (mocks/timing.ts): 0 executes as fast as possible (the default),
   * 1 makes every command take the profile's time, values between scale it. At most 1000.
   */
  timescale?: number;
  /** Per-operation durations of the board (mocks/timing.ts); default DEFAULT_PROFILE. */
  timing?: Partial<BoardProfile>;
  /**
   * Protocol revision the board follows: "1.1" (default) or "1.0", which answers as a 1.0 board did
   * (untagged REJECT for malformed requests, CFG kept across HELLO, no BOOT when it starts, no
   * `minor=`, STAT clear= any integer), for testing hosts against older boards.
   */
  protocol?: "1.0" | "1.1";
  /**
   * Compliance trips (a way to provoke FAULT): a pulse whose current |v|·G·h(v) would exceed the
   * compliance (`CFG cc`) is not applied; the command stops with ERR 404 and a FAULT event.
   * Default false (the compliance only bounds the configuration, as before).
   */
  complianceTrip?: boolean;
  /**
   * State file (mocks/state-file.ts): the devices' conductances are loaded from it when the board
   * starts and written back after programming and by `stop()`, as non-volatile devices keep their
   * states across restarts. Default: none.
   */
  state?: string;
}

const OPS = Object.keys(COMMANDS).join(",");

function checkOptions(opts: BoardOptions): BoardOptions {
  const { window = 16 } = opts;
  if (!Number.isInteger(window) || window < 1 || window > 256)
    throw new RangeError(`window must be in 1..256, not ${window}`);
  for (const k of ["dac", "adc"] as const) {
    const v = opts[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1 && v <= 16))
      throw new RangeError(`${k} must be a number of bits in 1..16, not ${v}`);
  }
  if ((opts.dac === undefined) !== (opts.adc === undefined))
    throw new RangeError("give both dac and adc (bits of the converters), or neither");
  if (opts.token !== undefined && !/^[\x21-\x7e]{8,256}$/.test(opts.token))
    throw new RangeError("token must be 8..256 printable ASCII characters without spaces");
  const { timescale = 0, protocol = "1.1" } = opts;
  if (!(Number.isFinite(timescale) && timescale >= 0 && timescale <= 1000))
    throw new RangeError(`timescale must be in [0, 1000], not ${timescale}`);
  if (protocol !== "1.0" && protocol !== "1.1")
    throw new RangeError(`protocol must be "1.0" or "1.1", not ${String(protocol)}`);
  return opts;
}

function run<V extends Verb>(
  b: EmulatedBoard,
  verb: V,
  req: ParsedRequest<V>,
  lim: Limits,
): ReplyInput<V> | Job {
  return (HANDLERS[verb] as Handler<V>)(b, req, lim);
}

export class EmulatedBoard extends ArrayModel {
  readonly maxLine: number;
  readonly window: number;
  /** Token a session must present in HELLO, or undefined. */
  readonly token: string | undefined;
  /** The token check and the one session that owns the board (admission.ts). */
  readonly admission: Admission<Session>;
  /** Bits of the DAC and ADC (protocol 1.1 wire), or undefined for a float32 board. */
  readonly dacBits: number | undefined;
  readonly adcBits: number | undefined;
  /** The last VMM input (k=1) per block "r0,c0,nr,nc", for OPU x=last (protocol 1.1). */
  readonly held = new Map<string, Float32Array>();
  /** Reboots so far (RESET or a power cycle). */
  boots = 0;
  /** Wall seconds per board second (0: as fast as possible). */
  readonly timescale: number;
  /** Per-operation durations (IDN timing=). */
  readonly profile: BoardProfile;
  /**
   * Board time of the work done since the session last took it, s (the profile's durations of
   * reads, VMMs, pulses, waits); the session turns it into wall time.
   */
  work = 0;
  /** "1.1", or "1.0" for a board answering as protocol 1.0 did. */
  readonly protocol: "1.0" | "1.1";
  readonly complianceTrip: boolean;
  /** The state file keeper, when the board was started with one. */
  readonly stateFile: StateKeeper | undefined;
  private readonly errorQueue: Array<{ code: number; msg: string }> = [];
  /** Called with event lines the board sends on its own (BOOT after RESET, REJECT). */
  private readonly listeners = new Set<(line: string) => void>();
  private readonly sessions = new Set<Session>();

  constructor(opts: BoardOptions = {}) {
    super(checkOptions(opts));
    this.maxLine = opts.maxLine ?? MAX_LINE;
    this.window = opts.window ?? 16;
    this.token = opts.token;
    this.admission = new Admission(opts.token);
    this.dacBits = opts.dac;
    this.adcBits = opts.adc;
    this.timescale = opts.timescale ?? 0;
    this.profile = resolveProfile(opts.timing);
    this.protocol = opts.protocol ?? "1.1";
    this.complianceTrip = opts.complianceTrip ?? false;
    this.stateFile = opts.state ? new StateKeeper(this, opts.state) : undefined;
  }

  /** Remembers (or, without `x`, forgets) the input of a VMM on a block: only a 1.1-wire board holds. */
  hold(r0: number, c0: number, nr: number, nc: number, x?: Float32Array): void {
    if (this.dacBits === undefined) return;
    const key = `${r0},${c0},${nr},${nc}`;
    this.held.delete(key);
    if (!x) return;
    this.held.set(key, x.slice());
    if (this.held.size > HELD_BLOCKS) this.held.delete(this.held.keys().next().value!);
  }

  /** The held input of the last VMM (k=1) on a block, or a 203 when there is none. */
  heldInput(r0: number, c0: number, nr: number, nc: number): Float32Array {
    const x = this.dacBits === undefined ? undefined : this.held.get(`${r0},${c0},${nr},${nc}`);
    if (!x)
      throw new ProtocolError(
        ErrorCode.BAD_ARGUMENT,
        this.dacBits === undefined
          ? "this board holds no vectors (no dac= in IDN): send x"
          : `no VMM input held for block ${nr}x${nc} at (${r0}, ${c0}): send x`,
      );
    return x;
  }

  /** Writes what must outlive the process (the state file); call when the board stops. */
  stop(): void {
    this.stateFile?.flush();
  }

  /** Effective limits: the hard limits narrowed by the configuration. */
  limits(): Limits {
    const c = this.config;
    return { ...HARD_LIMITS, vmax: c.vmax, wmax: c.wmax, nmax: c.nmax, emax: c.emax };
  }

  /** A new link to the board (one per serial port or TCP connection). */
  openSession(send: (line: string) => void): Session {
    const s = new Session(this, send);
    this.sessions.add(s);
    return s;
  }

  closeSession(s: Session): void {
    this.sessions.delete(s);
  }

  /** Empties the replay window of every session (RESET). */
  clearReplays(): void {
    for (const s of this.sessions) s.clearReplay();
  }

  /** Sends an unsolicited event to every open session. */
  broadcast(line: string): void {
    for (const s of this.sessions) if (s.hearsEvents) s.send(line);
    for (const l of this.listeners) l(line);
  }

  pushError(code: number, msg: string): void {
    this.counters.errors++;
    if (this.errorQueue.length >= ERROR_QUEUE_DEPTH) {
      this.errorQueue[ERROR_QUEUE_DEPTH - 1] = { code: ErrorCode.QUEUE_OVERFLOW, msg: "queue overflow" };
    } else {
      this.errorQueue.push({ code, msg });
    }
  }

  /** ERRQ: the oldest entry of the error queue. */
  popError(): ReplyInput<"ERRQ"> {
    return this.errorQueue.shift() ?? { code: 0, msg: "No error" };
  }

  /**
   * Executes one decoded request; returns the reply arguments, or a Job for a command that takes
   * time (programming commands, WAIT: the session runs it in slices), or throws a ProtocolError.
   * Everything the table says about the request is checked before the handler runs (nothing
   * applied on error).
   */
  execute(req: Request): ArgInput | Job<ArgInput> {
    const verb = req.verb;
    if (!isVerb(verb))
      throw new ProtocolError(ErrorCode.UNKNOWN_COMMAND, `unknown command ${verb.slice(0, 16)}`);
    return this.dispatch(verb, req);
  }

  private dispatch<V extends Verb>(verb: V, req: Request): ArgInput | Job<ArgInput> {
    // A 1.0 board took any integer for STAT clear= (1.1: 0 or 1, from the table).
    if (verb === "STAT" && this.protocol === "1.0" && req.args.has("clear"))
      req.args.set("clear", req.args.get("clear") === "0" ? "0" : "1");
    const parsed = parseRequest(verb, req.args);
    const lim = this.limits();
    checkRequest(verb, parsed, { limits: lim, rows: this.rows, cols: this.cols, hard: HARD_LIMITS });
    const q = (parsed as { q?: number }).q === 1;
    if (q && this.adcBits === undefined)
      throw new ProtocolError(
        ErrorCode.BAD_ARGUMENT,
        "this board sends float32 only (no adc= in IDN): q=1 refused",
      );
    const bits = q ? this.adcBits : undefined;
    const out = run(this, verb, parsed, lim);
    this.counters.cmds++;
    if (!isJob(out)) return encodeReply(verb, out, bits);
    // The job's reply is encoded as the verb's, once it is done.
    return {
      get done() {
        return out.done;
      },
      get failure() {
        return out.failure;
      },
      step: (budgetS, deadline) => out.step(budgetS, deadline),
      reply: () => encodeReply(verb, out.reply() as ReplyInput<V>, bits),
      aborted: () => out.aborted(),
    };
  }

  /** The minor protocol version the board reports (undefined, so not sent, as a 1.0 board). */
  get minor(): number | undefined {
    return this.protocol === "1.0" ? undefined : PROTOCOL_MINOR;
  }

  /** The BOOT event: sent when the board starts (1.1, serveStream `boot`) and after every restart. */
  bootLine(): string {
    return encodeEvent("BOOT", { fw: FIRMWARE_VERSION, proto: PROTOCOL_VERSION, minor: this.minor });
  }

  /**
   * Whether a pulse of `v` on device `index` would drive more current than the compliance allows
   * (only with complianceTrip on): |v| · G · h(v) > cc, G the present conductance.
   */
  trips(index: number, v: number): boolean {
    if (!this.complianceTrip) return false;
    const dev = this.devices;
    const g = dev.at(this.clock)[index]!;
    return Math.abs(v) * g * (dev.iv ? dev.iv.h(v) : 1) > this.config.cc;
  }

  identity(): ReplyInput<"IDN"> {
    return {
      vendor: "xbar",
      model: "EMU-1",
      serial: `EMU-${(this.seed >>> 0).toString(16).padStart(8, "0")}`,
      fw: FIRMWARE_VERSION,
      proto: PROTOCOL_VERSION,
      rows: this.rows,
      cols: this.cols,
      tech: this.preset.name,
      ops: OPS,
      window: this.window,
      maxline: this.maxLine,
      effects: effectsToken(this.effects, this.noise, this.adcRange()),
      timing: profileToken(this.profile),
      minor: this.minor,
      dac: this.dacBits,
      adc: this.adcBits,
    };
  }

  /** CFG, already checked against the table (ranges, envelope, narrowing): applies what is given. */
  configure(req: ParsedRequest<"CFG">): ReplyInput<"CFG"> {
    const next = { ...this.config };
    for (const [k, v] of Object.entries(req)) if (v !== undefined) Object.assign(next, { [k]: v });
    if (next.wmax < HARD_LIMITS.wmin)
      throw new ProtocolError(ErrorCode.BAD_ARGUMENT, "wmax below the shortest pulse the board makes");
    this.config = next;
    return { ...next };
  }

  /** STAT: the counters and the clock, then cleared if asked. */
  stat(clear: boolean): ReplyInput<"STAT"> {
    const snapshot = { ...this.counters, t: this.clock };
    if (clear) this.counters = zeroCounters();
    return snapshot;
  }

  /** What a restart clears: configuration, counters, error queue, clock. Device states are kept. */
  restart(): void {
    this.config = defaultConfig();
    for (const s of this.sessions) s.config = this.config;
    this.counters = zeroCounters();
    this.errorQueue.length = 0;
    this.held.clear();
    this.clock = 0;
    this.boots++;
  }

  /**
   * A power cycle or watchdog reset (a fault behaviour, mocks/faults.ts): as RESET, and every
   * session also loses its replay window and its authentication; BOOT goes out at once.
   */
  reboot(): void {
    this.restart();
    for (const s of this.sessions) s.lose();
    this.broadcast(this.bootLine());
  }

  /** Refuses (103) a reply that would not fit the board's line limit. */
  checkReplySize(bytes: number): void {
    // base64 grows by 4/3; leave 256 bytes for the tag, keys and checksum.
    if (Math.ceil(bytes / 3) * 4 + 256 > this.maxLine) {
      throw new ProtocolError(
        ErrorCode.LINE_TOO_LONG,
        `reply would exceed the board's line limit of ${this.maxLine} bytes: read in blocks`,
      );
    }
  }
}
