/**
 * The Board over the xbar line protocol: one implementation for every link (serial, socket, emu://),
 * since they all speak the same bytes. Checks the safety envelope on the host before sending.
 */
import { defer, lastValueFrom, map, type Observable, share } from "rxjs";
import type { CrossbarClient, ErrorContext, RequestOptions } from "../../drivers/index.ts";
import { XbarError } from "../../drivers/index.ts";
import {
  type ArgInput,
  type Args,
  argInt,
  argNumber,
  argPacked,
  argToken,
  checkAddress,
  checkAmplitude,
  checkCompliance,
  checkCount,
  checkEnergy,
  checkListLength,
  checkPulse,
  checkReadVoltage,
  checkWidth,
  ErrorCode,
  type Limits,
  PROTOCOL_VERSION,
  ProtocolError,
  pulseEnergy,
  redactSecrets,
  type Scheme,
} from "../../firmware-protocol/index.ts";
import type {
  Block,
  Board,
  BoardConfig,
  BoardEventInfo,
  ConductanceMap,
  Counters,
  Identity,
  OuterProductUpdate,
  PulseBlock,
  PulseList,
  PulseResult,
  PulseSpec,
} from "./board.ts";

/** Wraps a reply parser so that a malformed reply becomes an XbarError with the command's context. */
function parseReply<T>(verb: string, port: string, args: Args, parse: (a: Args) => T): T {
  try {
    return parse(args);
  } catch (e) {
    throw new XbarError(ErrorCode.MALFORMED, `malformed ${verb} reply: ${(e as Error).message}`, {
      command: verb,
      port,
    });
  }
}

function toConfig(a: Args): BoardConfig {
  return {
    readVoltage: argNumber(a, "vread"),
    scheme: argToken(a, "scheme") as Scheme,
    compliance: argNumber(a, "cc"),
    readTime: argNumber(a, "tread"),
    vmax: argNumber(a, "vmax"),
    wmax: argNumber(a, "wmax"),
    nmax: argInt(a, "nmax"),
    emax: argNumber(a, "emax"),
  };
}

function toLimits(a: Args): Limits {
  const n = (k: string) => argNumber(a, k);
  return {
    vmax: n("vmax"),
    wmin: n("wmin"),
    wmax: n("wmax"),
    nmax: n("nmax"),
    plmax: n("plmax"),
    vrmax: n("vrmax"),
    ccmax: n("ccmax"),
    emax: n("emax"),
    gmax: a.has("gmax") ? n("gmax") : undefined,
  };
}

export class CrossbarBoard implements Board {
  readonly events: Observable<BoardEventInfo>;
  limits!: Limits;
  identity!: Identity;
  private config!: BoardConfig;

  private constructor(
    readonly url: string,
    readonly client: CrossbarClient,
    private readonly onClose: () => Promise<void>,
  ) {
    this.events = client.events.pipe(
      map((e) => ({ name: e.name, args: Object.fromEntries(e.args) })),
      share(),
    );
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
    const hello = await client.request("HELLO");
    const proto = parseReply("HELLO", port, hello, (a) => argInt(a, "proto"));
    if (proto !== PROTOCOL_VERSION) {
      throw new XbarError(
        ErrorCode.VERSION_MISMATCH,
        `board speaks protocol version ${proto}, this host speaks ${PROTOCOL_VERSION}`,
        { port },
      );
    }
    const idn = await client.request("IDN");
    b.identity = parseReply("IDN", port, idn, (a) => ({
      vendor: argToken(a, "vendor"),
      model: argToken(a, "model"),
      serial: argToken(a, "serial"),
      firmware: argToken(a, "fw"),
      protocol: argInt(a, "proto"),
      rows: argInt(a, "rows"),
      cols: argInt(a, "cols"),
      technology: argToken(a, "tech"),
      operations: argToken(a, "ops").split(","),
      window: argInt(a, "window"),
      maxLine: argInt(a, "maxline"),
      effects: argToken(a, "effects", "none"),
    }));
    b.limits = parseReply("LIM", port, await client.request("LIM"), toLimits);
    b.config = parseReply("CFG", port, await client.request("CFG"), toConfig);
    client.window = Math.max(1, b.identity.window);
    return b;
  }

  /** One request as a cold Observable: the serial edge becomes an Observable here, once. */
  private call<T>(
    verb: string,
    args: ArgInput | undefined,
    parse: (a: Args) => T,
    opts?: RequestOptions,
  ): Observable<T> {
    return defer(() => this.client.request(verb, args, opts)).pipe(
      map((a) => parseReply(verb, this.client.transport.name, a, parse)),
    );
  }

  /** Runs host-side checks lazily (at subscription), turning refusals into XbarErrors. */
  private checked<T>(context: ErrorContext, check: () => void, then: () => Observable<T>): Observable<T> {
    return defer(() => {
      try {
        check();
      } catch (e) {
        if (e instanceof ProtocolError)
          throw new XbarError(e.code, e.message, { ...context, side: "host", port: this.url });
        throw e;
      }
      return then();
    });
  }

  private checkBlock(b: Block): void {
    checkAddress(this.identity.rows, this.identity.cols, b.r0, b.c0, b.rows, b.cols);
  }

  configure(cfg: Partial<BoardConfig> = {}): Observable<BoardConfig> {
    const args: ArgInput = {
      vread: cfg.readVoltage,
      scheme: cfg.scheme,
      cc: cfg.compliance,
      tread: cfg.readTime,
      vmax: cfg.vmax,
      wmax: cfg.wmax,
      nmax: cfg.nmax,
      emax: cfg.emax,
    };
    return this.checked(
      { command: "CFG" },
      () => {
        if (cfg.readVoltage !== undefined) checkReadVoltage(this.limits, cfg.readVoltage);
        if (cfg.compliance !== undefined) checkCompliance(this.limits, cfg.compliance);
      },
      () =>
        this.call("CFG", args, toConfig).pipe(
          map((c) => {
            this.config = c;
            this.limits = { ...this.limits, vmax: c.vmax, wmax: c.wmax, nmax: c.nmax, emax: c.emax };
            return c;
          }),
        ),
    );
  }

  read(row: number, col: number): Observable<number> {
    return this.checked(
      { command: "READ", row, col },
      () => checkAddress(this.identity.rows, this.identity.cols, row, col),
      () => this.call("READ", { r: row, c: col }, (a) => argNumber(a, "g"), { context: { row, col } }),
    );
  }

  private readDataOf(verb: string, args: ArgInput, block: Block): Observable<ConductanceMap> {
    const n = block.rows * block.cols;
    return this.call(
      verb,
      args,
      (a) => ({ ...block, data: argPacked(a, "data", "f32", n) as Float32Array }),
      {
        durationS: n * this.config.readTime,
      },
    );
  }

  readRow(row: number): Observable<ConductanceMap> {
    const block = { r0: row, c0: 0, rows: 1, cols: this.identity.cols };
    return this.checked(
      { command: "READROW", row },
      () => this.checkBlock(block),
      () => this.readDataOf("READROW", { r: row }, block),
    );
  }

  readCol(col: number): Observable<ConductanceMap> {
    const block = { r0: 0, c0: col, rows: this.identity.rows, cols: 1 };
    return this.checked(
      { command: "READCOL", col },
      () => this.checkBlock(block),
      () => this.readDataOf("READCOL", { c: col }, block),
    );
  }

  readBlock(block: Block): Observable<ConductanceMap> {
    return this.checked(
      { command: "READBLK" },
      () => this.checkBlock(block),
      () => this.readDataOf("READBLK", { r0: block.r0, c0: block.c0, nr: block.rows, nc: block.cols }, block),
    );
  }

  readAll(): Observable<ConductanceMap> {
    const { rows, cols, maxLine } = this.identity;
    // Rows per reply so that base64 of the f32 data plus framing fits the board's line limit.
    const rowsPerRead = Math.max(1, Math.floor(((maxLine - 256) * 3) / 4 / 4 / cols));
    if (rowsPerRead >= rows) {
      const whole = { r0: 0, c0: 0, rows, cols };
      return this.readDataOf("READALL", {}, whole);
    }
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
    return this.checked(
      { command: "PULSE", row, col },
      () => {
        checkAddress(this.identity.rows, this.identity.cols, row, col);
        checkPulse(this.limits, amplitude, width, count);
        checkEnergy(this.limits, pulseEnergy(this.limits, amplitude, width, count));
      },
      () =>
        this.call(
          "PULSE",
          { r: row, c: col, v: amplitude, w: width, n: count, rd: readAfter ? 1 : undefined },
          (a) => ({
            row,
            col,
            applied: argInt(a, "n"),
            conductance: readAfter ? argNumber(a, "g") : undefined,
          }),
          { durationS: count * width, context: { row, col } },
        ),
    );
  }

  pulseList(list: PulseList): Observable<number> {
    const k = list.rows.length;
    const { amplitude, width, count = 1 } = list;
    const at = (x: number | ArrayLike<number>, i: number) => (typeof x === "number" ? x : x[i]!);
    let duration = 0;
    return this.checked(
      { command: "PLIST" },
      () => {
        duration = 0;
        checkListLength(this.limits, k);
        if (list.cols.length !== k)
          throw new ProtocolError(
            ErrorCode.BAD_ARGUMENT,
            `pulse list has ${k} rows but ${list.cols.length} columns`,
          );
        for (const [name, x] of [
          ["amplitude", amplitude],
          ["width", width],
          ["count", count],
        ] as const) {
          if (typeof x !== "number" && x.length !== k)
            throw new ProtocolError(
              ErrorCode.BAD_ARGUMENT,
              `pulse list ${name} has ${x.length} entries, expected ${k}`,
            );
        }
        let energy = 0;
        for (let i = 0; i < k; i++) {
          checkAddress(this.identity.rows, this.identity.cols, list.rows[i]!, list.cols[i]!);
          checkPulse(this.limits, at(amplitude, i), at(width, i), at(count, i));
          duration += at(width, i) * at(count, i);
          energy += pulseEnergy(this.limits, at(amplitude, i), at(width, i), at(count, i));
        }
        checkEnergy(this.limits, energy);
      },
      () =>
        this.call(
          "PLIST",
          {
            r: { type: "u16", data: list.rows },
            c: { type: "u16", data: list.cols },
            v: typeof amplitude === "number" ? amplitude : { type: "f32", data: amplitude },
            w: typeof width === "number" ? width : { type: "f32", data: width },
            n: typeof count === "number" ? count : { type: "u16", data: count },
          },
          (a) => argInt(a, "pulses"),
          { durationS: duration },
        ),
    );
  }

  pulseBlock(p: PulseBlock): Observable<number> {
    let total = 0;
    return this.checked(
      { command: "PBLK" },
      () => {
        total = 0;
        this.checkBlock(p);
        if (p.counts.length !== p.rows * p.cols)
          throw new ProtocolError(
            ErrorCode.BAD_ARGUMENT,
            `counts has ${p.counts.length} entries, expected ${p.rows * p.cols}`,
          );
        if (!(p.vp > 0) || !(p.vn < 0))
          throw new ProtocolError(ErrorCode.BAD_ARGUMENT, "vp must be positive and vn negative");
        checkAmplitude(this.limits, p.vp);
        checkAmplitude(this.limits, p.vn);
        checkWidth(this.limits, p.width);
        let energy = 0;
        for (const n of p.counts) {
          checkCount(this.limits, Math.abs(n));
          total += Math.abs(n);
          energy += pulseEnergy(this.limits, n > 0 ? p.vp : p.vn, p.width, Math.abs(n));
        }
        checkEnergy(this.limits, energy);
      },
      () =>
        this.call(
          "PBLK",
          {
            r0: p.r0,
            c0: p.c0,
            nr: p.rows,
            nc: p.cols,
            n: { type: "i16", data: p.counts },
            vp: p.vp,
            vn: p.vn,
            w: p.width,
          },
          (a) => argInt(a, "pulses"),
          { durationS: total * p.width },
        ),
    );
  }

  outerProductUpdate(u: OuterProductUpdate): Observable<number> {
    const { mode = "count", threshold = 0.5, scale = 1 } = u;
    return this.checked(
      { command: "OPU" },
      () => {
        this.checkBlock(u);
        if (u.x.length !== u.rows || u.d.length !== u.cols) {
          throw new ProtocolError(
            ErrorCode.BAD_ARGUMENT,
            `x has ${u.x.length} values and d ${u.d.length}, expected ${u.rows} and ${u.cols}`,
          );
        }
        if (!(u.vp > 0) || !(u.vn < 0))
          throw new ProtocolError(ErrorCode.BAD_ARGUMENT, "vp must be positive and vn negative");
        checkAmplitude(this.limits, u.vp);
        checkAmplitude(this.limits, u.vn);
        checkWidth(this.limits, u.width);
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
        if (pulseEnergy(this.limits, 1, u.width, bound) > this.limits.emax) {
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
      },
      () =>
        this.call(
          "OPU",
          {
            r0: u.r0,
            c0: u.c0,
            nr: u.rows,
            nc: u.cols,
            x: { type: "f32", data: u.x },
            d: { type: "f32", data: u.d },
            vp: u.vp,
            vn: u.vn,
            w: u.width,
            scale: scale === 1 ? undefined : scale,
            mode: mode === "count" ? undefined : mode,
            th: threshold === 0.5 ? undefined : threshold,
          },
          (a) => argInt(a, "pulses"),
          // At most one train of nmax pulses per device, applied device by device on a plain board.
          { durationS: u.rows * u.cols * 1e-6 },
        ),
    );
  }

  private vmmCall(verb: "VMM" | "VMMT", block: Block, x: Float32Array, k: number): Observable<Float32Array> {
    const nin = verb === "VMM" ? block.rows : block.cols;
    const nout = verb === "VMM" ? block.cols : block.rows;
    return this.checked(
      { command: verb },
      () => {
        this.checkBlock(block);
        if (!(Number.isInteger(k) && k >= 1))
          throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `k must be a positive integer, not ${k}`);
        if (x.length !== k * nin)
          throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `x has ${x.length} values, expected ${k} x ${nin}`);
        for (let i = 0; i < x.length; i++) checkReadVoltage(this.limits, x[i]!);
      },
      () =>
        this.call(
          verb,
          {
            r0: block.r0,
            c0: block.c0,
            nr: block.rows,
            nc: block.cols,
            x: { type: "f32", data: x },
            k: k === 1 ? undefined : k,
          },
          (a) => argPacked(a, "y", "f32", k * nout) as Float32Array,
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
    return this.checked(
      { command: "FIRE" },
      () => {
        if (!this.identity.operations.includes("FIRE")) {
          throw new ProtocolError(
            ErrorCode.BAD_ARGUMENT,
            `this board does not offer FIRE (its devices are ${this.identity.technology}; threshold-switch cells such as tech=ts-pcm are needed)`,
          );
        }
        this.checkBlock(block);
        checkAmplitude(this.limits, volts);
        if (!(seconds > 0 && seconds <= 1))
          throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `FIRE t=${seconds} s outside (0, 1] s`);
      },
      () =>
        this.call(
          "FIRE",
          { r0: block.r0, c0: block.c0, nr: block.rows, nc: block.cols, v: volts, t: seconds },
          (a) => argPacked(a, "spikes", "u32", block.rows * block.cols) as Uint32Array,
          { durationS: seconds },
        ),
    );
  }

  wait(seconds: number): Observable<number> {
    return this.checked(
      { command: "WAIT" },
      () => {
        if (!(seconds >= 0 && seconds <= 86400))
          throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `wait ${seconds} s outside [0, 86400] s`);
      },
      () => this.call("WAIT", { t: seconds }, (a) => argNumber(a, "t"), { durationS: seconds }),
    );
  }

  clock(): Observable<number> {
    return this.call("CLK", undefined, (a) => argNumber(a, "t"));
  }

  counters(clear = false): Observable<Counters> {
    return this.call("STAT", { clear: clear ? 1 : undefined }, (a) => ({
      pulses: argNumber(a, "pulses"),
      reads: argNumber(a, "reads"),
      vmms: argNumber(a, "vmms"),
      energy: argNumber(a, "energy"),
      commands: argNumber(a, "cmds"),
      errors: argNumber(a, "errors"),
      clock: argNumber(a, "t"),
    }));
  }

  errors(): Observable<Array<{ code: number; message: string }>> {
    return defer(async () => {
      const out: Array<{ code: number; message: string }> = [];
      for (let i = 0; i < 64; i++) {
        const a = await this.client.request("ERRQ");
        const code = argInt(a, "code");
        if (code === 0) break;
        out.push({ code, message: argToken(a, "msg") });
      }
      return out;
    });
  }

  abort(): Observable<void> {
    return this.call("ABORT", undefined, () => undefined);
  }

  /** RESET, then re-reads the envelope and configuration, which the reset restored to defaults. */
  reset(): Observable<void> {
    return defer(async () => {
      await this.client.request("RESET");
      const port = this.client.transport.name;
      this.limits = parseReply("LIM", port, await this.client.request("LIM"), toLimits);
      this.config = parseReply("CFG", port, await this.client.request("CFG"), toConfig);
    });
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.onClose();
  }
}
