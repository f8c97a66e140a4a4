/**
 * The Board over the xbar line protocol: one implementation for every link (serial, socket, emu://),
 * since they all speak the same bytes. Checks the safety envelope on the host before sending.
 */
import type { Observable } from "rxjs";
import type { CrossbarClient, ErrorContext, RequestOptions } from "../../drivers/index.ts";
import { XbarError } from "../../drivers/index.ts";
import { catchError, defer, lastValueFrom, map, share } from "../../drivers/rx.ts";
import {
  checkCount,
  checkEnergy,
  checkRequest,
  ErrorCode,
  HELD,
  HELD_BLOCKS,
  type Limits,
  type PackedValue,
  PROTOCOL_VERSION,
  ProtocolError,
  pulseEnergy,
  quantise,
  type ReplyOf,
  type RequestOf,
  redactSecrets,
  type Scheme,
  type Verb,
  withDefaults,
} from "../../firmware-protocol/index.ts";
import type {
  Block,
  Board,
  BoardConfig,
  BoardEventInfo,
  Capabilities,
  ConductanceMap,
  Counters,
  Identity,
  LinkStats,
  OuterProductUpdate,
  PulseBlock,
  PulseList,
  PulseResult,
  PulseSpec,
} from "./board.ts";
import { protocolCapabilities } from "./capabilities.ts";

/** A decoded reply's packed field must have the length the request implies (else 102 MALFORMED). */
function sized<T extends ArrayLike<number>>(verb: string, port: string, data: T, n: number): T {
  if (data.length !== n)
    throw new XbarError(
      ErrorCode.MALFORMED,
      `malformed ${verb} reply: ${data.length} values, expected ${n}`,
      {
        command: verb,
        port,
      },
    );
  return data;
}

function toConfig(a: ReplyOf<"CFG">): BoardConfig {
  return {
    readVoltage: a.vread,
    scheme: a.scheme as Scheme,
    compliance: a.cc,
    readTime: a.tread,
    vmax: a.vmax,
    wmax: a.wmax,
    nmax: a.nmax,
    emax: a.emax,
  };
}

function toIdentity(a: ReplyOf<"IDN">): Identity {
  return {
    vendor: a.vendor,
    model: a.model,
    serial: a.serial,
    firmware: a.fw,
    protocol: a.proto,
    protocolMinor: a.minor ?? 0,
    timing: a.timing ?? "",
    rows: a.rows,
    cols: a.cols,
    technology: a.tech,
    operations: a.ops.split(","),
    window: a.window,
    maxLine: a.maxline,
    effects: a.effects ?? "none",
    // Both or neither: a board that reports only one speaks no wire we know.
    ...(a.dac !== undefined && a.adc !== undefined ? { dacBits: a.dac, adcBits: a.adc } : {}),
  };
}

export class CrossbarBoard implements Board {
  readonly events: Observable<BoardEventInfo>;
  limits!: Limits;
  identity!: Identity;
  capabilities!: Capabilities;
  private config!: BoardConfig;
  /**
   * Blocks whose last VMM input (k = 1) the board holds, as the board keeps them (protocol 1.1: the
   * same blocks, the oldest dropped beyond HELD_BLOCKS; forgotten on HELLO, RESET and BOOT).
   */
  private readonly held = new Set<string>();

  private constructor(
    readonly url: string,
    readonly client: CrossbarClient,
    private readonly onClose: () => Promise<void>,
  ) {
    this.events = client.events.pipe(
      map((e) => ({ name: e.name, args: Object.fromEntries(e.args) })),
      share(),
    );
    // A reboot (and the re-handshake's HELLO) empties the board's held vectors.
    client.events.subscribe((e) => {
      if (e.name === "BOOT") this.held.clear();
    });
  }

  /** Bulk inputs at the DAC's resolution on a 1.1-wire board, else as they are (float32). */
  private dac(x: ArrayLike<number>): ArrayLike<number> | PackedValue {
    return this.quantised(x, this.identity.dacBits);
  }

  /** Values at `bits` of resolution on a 1.1-wire board, else as they are (float32). */
  private quantised(x: ArrayLike<number>, bits: number | undefined): ArrayLike<number> | PackedValue {
    return bits === undefined || this.identity.dacBits === undefined ? x : quantise(x, bits);
  }

  /** `q=1` on a board that quantises its replies at its ADC's resolution. */
  private get q(): 1 | undefined {
    return this.identity.adcBits === undefined ? undefined : 1;
  }

  private remember(key: string, holds: boolean): void {
    this.held.delete(key);
    if (!holds) return;
    this.held.add(key);
    if (this.held.size > HELD_BLOCKS) this.held.delete(this.held.values().next().value!);
  }

  /**
   * Handshake: HELLO (new session, protocol version check), IDN, LIM, CFG. Then widens the request
   * window to what the board offers.
   */
  static async open(
    url: string,
    client: CrossbarClient,
    onClose: () => Promise<void> = async () => {},
  ): Promise<CrossbarBoard> {
    // The URL as shown in messages and stored in records: without its token (redact.ts).
    const b = new CrossbarBoard(redactSecrets(url), client, onClose);
    const port = client.transport.name;
    // Any minor version of our major one interoperates (PROTOCOL.md, Compatibility).
    const { proto } = await client.call("HELLO", {});
    if (proto !== PROTOCOL_VERSION) {
      throw new XbarError(
        ErrorCode.VERSION_MISMATCH,
        `board speaks protocol version ${proto}, this host speaks ${PROTOCOL_VERSION}`,
        { port },
      );
    }
    b.identity = toIdentity(await client.call("IDN", {}));
    await b.readEnvelope();
    b.capabilities = protocolCapabilities(b.identity.operations, url, b.config.readTime);
    client.window = Math.max(1, b.identity.window);
    return b;
  }

  /** LIM and CFG: the envelope and the configuration in force. */
  private async readEnvelope(): Promise<void> {
    this.limits = await this.client.call("LIM", {});
    this.config = toConfig(await this.client.call("CFG", {}));
  }

  /** One request as a cold Observable: the serial edge becomes an Observable here, once. */
  private call<V extends Verb, T>(
    verb: V,
    req: RequestOf<V>,
    parse: (a: ReplyOf<V>) => T,
    opts?: RequestOptions,
  ): Observable<T> {
    return defer(() => this.client.call(verb, req, opts)).pipe(map(parse));
  }

  /**
   * A request checked on the host first (lazily, at subscription): every range of the command table
   * (checkRequest, the same checks the board runs) and `more` (what only the host bounds: energy),
   * refusals as XbarErrors with side "host"; then sent.
   */
  private checked<V extends Verb, T>(
    verb: V,
    req: RequestOf<V>,
    context: ErrorContext,
    more: (() => void) | undefined,
    then: () => Observable<T>,
  ): Observable<T> {
    return defer(() => {
      try {
        const { rows, cols } = this.identity;
        checkRequest(verb, withDefaults(verb, req), { limits: this.limits, rows, cols });
        more?.();
      } catch (e) {
        if (e instanceof ProtocolError)
          throw new XbarError(e.code, e.message, { command: verb, ...context, side: "host", port: this.url });
        throw e;
      }
      return then();
    });
  }

  configure(cfg: Partial<BoardConfig> = {}): Observable<BoardConfig> {
    const req: RequestOf<"CFG"> = {
      vread: cfg.readVoltage,
      scheme: cfg.scheme,
      cc: cfg.compliance,
      tread: cfg.readTime,
      vmax: cfg.vmax,
      wmax: cfg.wmax,
      nmax: cfg.nmax,
      emax: cfg.emax,
    };
    return this.checked("CFG", req, {}, undefined, () =>
      this.call("CFG", req, toConfig).pipe(
        map((c) => {
          this.config = c;
          this.limits = { ...this.limits, vmax: c.vmax, wmax: c.wmax, nmax: c.nmax, emax: c.emax };
          return c;
        }),
      ),
    );
  }

  read(row: number, col: number): Observable<number> {
    const req = { r: row, c: col };
    const context = { row, col };
    return this.checked("READ", req, context, undefined, () =>
      this.call("READ", req, (a) => a.g, { context }),
    );
  }

  private readData<V extends "READROW" | "READCOL" | "READBLK" | "READALL">(
    verb: V,
    req: RequestOf<V>,
    block: Block,
    context: ErrorContext = {},
  ): Observable<ConductanceMap> {
    const n = block.rows * block.cols;
    const port = this.client.transport.name;
    const send = () =>
      // Every read verb's reply holds `data` (f32, row-major); READALL adds rows and cols.
      this.call(
        verb,
        req,
        (a) => ({ ...block, data: sized(verb, port, (a as ReplyOf<"READBLK">).data, n) }),
        {
          durationS: n * this.config.readTime,
        },
      );
    return this.checked(verb, req, context, undefined, send);
  }

  readRow(row: number): Observable<ConductanceMap> {
    return this.readData(
      "READROW",
      { r: row },
      { r0: row, c0: 0, rows: 1, cols: this.identity.cols },
      { row },
    );
  }

  readCol(col: number): Observable<ConductanceMap> {
    return this.readData(
      "READCOL",
      { c: col },
      { r0: 0, c0: col, rows: this.identity.rows, cols: 1 },
      { col },
    );
  }

  readBlock(block: Block): Observable<ConductanceMap> {
    return this.readData("READBLK", { r0: block.r0, c0: block.c0, nr: block.rows, nc: block.cols }, block);
  }

  readAll(): Observable<ConductanceMap> {
    const { rows, cols, maxLine } = this.identity;
    // Rows per reply so that base64 of the f32 data plus framing fits the board's line limit.
    const rowsPerRead = Math.max(1, Math.floor(((maxLine - 256) * 3) / 4 / 4 / cols));
    if (rowsPerRead >= rows) return this.readData("READALL", {}, { r0: 0, c0: 0, rows, cols });
    return defer(async () => {
      const data = new Float32Array(rows * cols);
      for (let r0 = 0; r0 < rows; r0 += rowsPerRead) {
        const nr = Math.min(rowsPerRead, rows - r0);
        const part = await lastValueFrom(this.readBlock({ r0, c0: 0, rows: nr, cols }));
        data.set(part.data, r0 * cols);
      }
      return { r0: 0, c0: 0, rows, cols, data };
    });
  }

  pulse(p: PulseSpec): Observable<PulseResult> {
    const { row, col, amplitude, width, count = 1, readAfter = false } = p;
    const req = { r: row, c: col, v: amplitude, w: width, n: count, rd: readAfter ? 1 : undefined };
    const port = this.client.transport.name;
    return this.checked(
      "PULSE",
      req,
      { row, col },
      () => checkEnergy(this.limits, pulseEnergy(this.limits, amplitude, width, count)),
      () =>
        this.call(
          "PULSE",
          req,
          (a) => {
            if (readAfter && a.g === undefined)
              throw new XbarError(ErrorCode.MALFORMED, "malformed PULSE reply: no g although rd=1", {
                command: "PULSE",
                port,
              });
            return { row, col, applied: a.n, conductance: readAfter ? a.g : undefined };
          },
          { durationS: count * width, context: { row, col } },
        ),
    );
  }

  pulseList(list: PulseList): Observable<number> {
    const { amplitude, width, count = 1 } = list;
    const req = { r: list.rows, c: list.cols, v: amplitude, w: width, n: count };
    const at = (x: number | ArrayLike<number>, i: number) => (typeof x === "number" ? x : x[i]!);
    let duration = 0;
    const energy = () => {
      duration = 0;
      let e = 0;
      for (let i = 0; i < list.rows.length; i++) {
        duration += at(width, i) * at(count, i);
        e += pulseEnergy(this.limits, at(amplitude, i), at(width, i), at(count, i));
      }
      checkEnergy(this.limits, e);
    };
    return this.checked("PLIST", req, {}, energy, () =>
      this.call("PLIST", req, (a) => a.pulses, { durationS: duration }),
    );
  }

  pulseBlock(p: PulseBlock): Observable<number> {
    const req = { r0: p.r0, c0: p.c0, nr: p.rows, nc: p.cols, n: p.counts, vp: p.vp, vn: p.vn, w: p.width };
    let total = 0;
    const energy = () => {
      total = 0;
      let e = 0;
      for (const n of p.counts) {
        total += Math.abs(n);
        e += pulseEnergy(this.limits, n > 0 ? p.vp : p.vn, p.width, Math.abs(n));
      }
      checkEnergy(this.limits, e);
    };
    return this.checked("PBLK", req, {}, energy, () =>
      this.call("PBLK", req, (a) => a.pulses, { durationS: total * p.width }),
    );
  }

  outerProductUpdate(u: OuterProductUpdate): Observable<number> {
    const { mode = "count", threshold = 0.5, scale = 1 } = u;
    const req: RequestOf<"OPU"> = {
      r0: u.r0,
      c0: u.c0,
      nr: u.rows,
      nc: u.cols,
      x: u.x,
      d: u.d,
      vp: u.vp,
      vn: u.vn,
      w: u.width,
      scale: scale === 1 ? undefined : scale,
      mode: mode === "count" ? undefined : mode,
      th: threshold === 0.5 ? undefined : threshold,
    };
    // At most one train of nmax pulses per device, applied device by device on a plain board.
    const opts = { durationS: u.rows * u.cols * 1e-6 };
    const explicit: RequestOf<"OPU"> = { ...req, x: this.dac(u.x), d: this.dac(u.d) };
    const send = () => {
      const volts = u.heldInput?.voltsPerUnit;
      const key = `${u.r0},${u.c0},${u.rows},${u.cols}`;
      if (!(volts && volts > 0 && this.held.has(key)))
        return this.call("OPU", explicit, (a) => a.pulses, opts);
      // The board holds x · volts: send `last` and fold 1/volts into the scale.
      const viaHeld = { ...explicit, x: HELD, scale: scale / volts } as RequestOf<"OPU">;
      return this.call("OPU", viaHeld, (a) => a.pulses, opts).pipe(
        catchError((e: unknown) => {
          // The board no longer holds it (nothing was applied): send x after all.
          if (!(e instanceof XbarError && e.code === ErrorCode.BAD_ARGUMENT)) throw e;
          this.held.clear();
          return this.call("OPU", explicit, (a) => a.pulses, opts);
        }),
      );
    };
    return this.checked("OPU", req, {}, () => this.checkUpdate(u, mode, threshold, scale), send);
  }

  /** What the host bounds of an outer-product update before sending: the largest count, the energy. */
  private checkUpdate(u: OuterProductUpdate, mode: "count" | "sign", threshold: number, scale: number): void {
    let xmax = 0;
    let dmax = 0;
    for (const v of u.x) xmax = Math.max(xmax, Math.abs(v));
    for (const v of u.d) dmax = Math.max(dmax, Math.abs(v));
    const nmax = mode === "sign" ? 1 : Math.round(Math.abs(scale) * xmax * dmax);
    checkCount(this.limits, nmax);
    // Energy: a cheap upper bound first; the exact pulse counts only when that bound is too high.
    const vv = Math.max(u.vp * u.vp, u.vn * u.vn);
    let sx = 0;
    let sd = 0;
    for (const v of u.x) sx += Math.abs(v);
    for (const v of u.d) sd += Math.abs(v);
    const bound = (mode === "sign" ? u.rows * u.cols : Math.abs(scale) * sx * sd + u.rows * u.cols) * vv;
    if (pulseEnergy(this.limits, 1, u.width, bound) <= this.limits.emax) return;
    let energy = 0;
    for (const xi of u.x) {
      for (let j = 0; j < u.d.length; j++) {
        const v = Math.abs(scale * xi * u.d[j]!);
        if (!(v >= threshold)) continue;
        const n = mode === "sign" ? 1 : Math.round(v);
        energy += pulseEnergy(this.limits, scale * xi * u.d[j]! > 0 ? u.vp : u.vn, u.width, n);
      }
    }
    checkEnergy(this.limits, energy);
  }

  private vmmCall(verb: "VMM" | "VMMT", block: Block, x: Float32Array, k: number): Observable<Float32Array> {
    const nout = verb === "VMM" ? block.cols : block.rows;
    const req = { r0: block.r0, c0: block.c0, nr: block.rows, nc: block.cols, x, k: k === 1 ? undefined : k };
    const port = this.client.transport.name;
    const wire = { ...req, x: this.dac(x), q: this.q };
    const key = `${block.r0},${block.c0},${block.rows},${block.cols}`;
    return this.checked(verb, req, {}, undefined, () =>
      this.call(
        verb,
        wire,
        (a) => {
          if (verb === "VMM" && this.identity.dacBits !== undefined) this.remember(key, k === 1);
          return sized(verb, port, a.y, k * nout);
        },
        { durationS: k * this.config.readTime },
      ),
    );
  }

  vmm(block: Block, x: Float32Array, k = 1): Observable<Float32Array> {
    return this.vmmCall("VMM", block, x, k);
  }

  vmmT(block: Block, x: Float32Array, k = 1): Observable<Float32Array> {
    return this.vmmCall("VMMT", block, x, k);
  }

  fire(block: Block, volts: number, seconds: number): Observable<Uint32Array> {
    const req = { r0: block.r0, c0: block.c0, nr: block.rows, nc: block.cols, v: volts, t: seconds };
    const port = this.client.transport.name;
    const offered = () => {
      if (!this.identity.operations.includes("FIRE")) {
        throw new ProtocolError(
          ErrorCode.BAD_ARGUMENT,
          `this board does not offer FIRE (its devices are ${this.identity.technology}; threshold-switch cells such as tech=ts-pcm are needed)`,
        );
      }
    };
    return this.checked("FIRE", req, {}, offered, () =>
      this.call("FIRE", req, (a) => sized("FIRE", port, a.spikes, block.rows * block.cols), {
        durationS: seconds,
      }),
    );
  }

  wait(seconds: number): Observable<number> {
    const req = { t: seconds };
    return this.checked("WAIT", req, {}, undefined, () =>
      this.call("WAIT", req, (a) => a.t, { durationS: seconds }),
    );
  }

  clock(): Observable<number> {
    return this.call("CLK", {}, (a) => a.t);
  }

  counters(clear = false): Observable<Counters> {
    return this.call("STAT", { clear: clear ? 1 : undefined }, (a) => ({
      pulses: a.pulses,
      reads: a.reads,
      vmms: a.vmms,
      energy: a.energy,
      commands: a.cmds,
      errors: a.errors,
      clock: a.t,
      ...(a.rx !== undefined && a.tx !== undefined ? { link: { sent: a.rx, received: a.tx } } : {}),
    }));
  }

  errors(): Observable<Array<{ code: number; message: string }>> {
    return defer(async () => {
      const out: Array<{ code: number; message: string }> = [];
      for (let i = 0; i < 64; i++) {
        const { code, msg } = await this.client.call("ERRQ", {});
        if (code === 0) break;
        out.push({ code, message: msg });
      }
      return out;
    });
  }

  abort(): Observable<void> {
    return this.call("ABORT", {}, () => undefined);
  }

  /** RESET, then re-reads the envelope and configuration, which the reset restored to defaults. */
  reset(): Observable<void> {
    return defer(async () => {
      this.held.clear();
      await this.client.call("RESET", {});
      await this.readEnvelope();
    });
  }

  linkStats(): LinkStats {
    const s = this.client.stats;
    return {
      requests: s.requests,
      retransmissions: s.retransmissions,
      discarded: s.discarded,
      reboots: s.reboots,
    };
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.onClose();
  }
}
