/**
 * Conformance suite (firmware-protocol/PROTOCOL.md, normative): one suite, run over every link of
 * test/helpers/links.ts — in-process, TCP, a pty pair made by socat, and a real board when XBAR_PORT
 * is set. Two parts:
 *
 * - raw lines: framed requests written with `encodeRequest`, replies read from `transport.lines` and
 *   decoded with `decodeLine`; each test opens a fresh link and starts with HELLO;
 * - Board: the same link reached through `connect(url)` and the Board interface.
 *
 * Counters are compared as "net" changes: the change a STAT sees across an operation minus the change
 * it sees across nothing (so whether STAT counts itself does not matter). Tests that rely on the
 * emulator's device model (linear device, exact arithmetic) are skipped for a real board.
 */
import { firstValueFrom, lastValueFrom, type Observable } from "rxjs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { XbarError } from "../drivers/index.ts";
import {
  type ArgInput,
  COMMANDS,
  decodeLine,
  encodeRequest,
  PROTOCOL_VERSION,
} from "../firmware-protocol/index.ts";
import type { Board, Counters } from "../src/board/board.ts";
import { connect } from "../src/board/connect.ts";
import { EMU_OPTIONS, type Link, type LinkFactory, links } from "./helpers/links.ts";
import {
  limitsOf,
  NOTHING,
  num,
  netStat as rawNetStat,
  type Stat,
  safePulse,
  Wire,
} from "./helpers/raw-wire.ts";

/** The line with one character of its body changed (the last digit), keeping the old checksum. */
function corrupt(line: string): string {
  const star = line.lastIndexOf("*");
  const body = line.slice(0, star);
  const i = body.search(/[0-9](?=[^0-9]*$)/);
  const flipped = String((Number(body[i]) + 1) % 10);
  const bad = `${body.slice(0, i)}${flipped}${body.slice(i + 1)}${line.slice(star)}`;
  expect(bad.length).toBe(line.length);
  expect(bad).not.toBe(line);
  const d = decodeLine(bad);
  expect(d.ok === false && d.code).toBe(101);
  return bad;
}

// ---------------------------------------------------------------------------------------------------
// Board helpers
// ---------------------------------------------------------------------------------------------------

/** The XbarError an Observable fails with; fails the test when it succeeds or fails otherwise. */
async function xbarError(obs: Observable<unknown>): Promise<XbarError> {
  try {
    await lastValueFrom(obs);
  } catch (e) {
    expect(e).toBeInstanceOf(XbarError);
    return e as XbarError;
  }
  throw new Error("expected an XbarError, the operation succeeded");
}

type NetCounters = Pick<Counters, "pulses" | "reads" | "vmms" | "commands" | "errors">;
const COUNTER_KEYS = ["pulses", "reads", "vmms", "commands", "errors"] as const;

/**
 * What `fn` alone did to the board's counters: the change across `fn` minus the change across
 * nothing (one STAT's own share), so it holds whether or not a board counts STAT in its own reply.
 */
async function netCounters(board: Board, fn: () => Promise<unknown>): Promise<NetCounters> {
  const c0 = await firstValueFrom(board.counters());
  const c1 = await firstValueFrom(board.counters());
  await fn();
  const c2 = await firstValueFrom(board.counters());
  const out = {} as NetCounters;
  for (const k of COUNTER_KEYS) out[k] = c2[k] - c1[k] - (c1[k] - c0[k]);
  return out;
}

const NO_CHANGE: NetCounters = { pulses: 0, reads: 0, vmms: 0, commands: 0, errors: 0 };

// ---------------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------------

describe.each(links())("$name link", (factory: LinkFactory) => {
  const emulatedOnly = it.skipIf(!factory.emulated);

  describe("raw lines", () => {
    let link: Link;
    let wire: Wire;
    let nextTag: number;
    const tag = () => nextTag++;

    beforeEach(async () => {
      link = await factory.open("raw");
      wire = new Wire(link.transport);
      nextTag = 1;
      const hello = await wire.ok(tag(), "HELLO");
      expect(num(hello, "proto")).toBe(PROTOCOL_VERSION);
    });

    afterEach(async () => {
      wire?.close();
      await link?.teardown();
    });

    /** Net change of the STAT counters caused by `fn` alone (see netStat). */
    const netStat = (fn: () => Promise<unknown>): Promise<Stat> => rawNetStat(wire, tag, fn);

    it("HELLO, IDN and LIM replies carry exactly the keys of the command table", async () => {
      // In table order; a key the table marks optional (e.g. IDN dac adc) may be absent.
      const keysOf = (verb: "HELLO" | "IDN" | "LIM", got: Map<string, string>) =>
        Object.entries(COMMANDS[verb].fields)
          .filter(([k, f]) => got.has(k) || !(f as { optional?: true }).optional)
          .map(([k]) => k);
      const hello = await wire.ok(tag(), "HELLO");
      expect([...hello.keys()]).toEqual(keysOf("HELLO", hello));
      const idn = await wire.ok(tag(), "IDN");
      expect([...idn.keys()]).toEqual(keysOf("IDN", idn));
      expect(num(idn, "proto")).toBe(PROTOCOL_VERSION);
      for (const k of ["rows", "cols", "window", "maxline"]) {
        expect(Number.isInteger(num(idn, k)) && num(idn, k) >= 1, `IDN ${k}`).toBe(true);
      }
      expect(idn.get("ops")!.split(",")).toEqual(
        expect.arrayContaining(["HELLO", "IDN", "LIM", "STAT", "ERRQ"]),
      );
      if (factory.emulated) {
        expect(num(idn, "rows")).toBe(EMU_OPTIONS.rows);
        expect(num(idn, "cols")).toBe(EMU_OPTIONS.cols);
        expect(idn.get("tech")).toBe(EMU_OPTIONS.device);
        expect(idn.get("ops")!.split(",").sort()).toEqual(Object.keys(COMMANDS).sort());
      }
      const lim = await wire.ok(tag(), "LIM");
      expect([...lim.keys()]).toEqual(keysOf("LIM", lim));
      const l = limitsOf(lim);
      for (const [k, v] of Object.entries(l)) expect(v > 0, `LIM ${k}=${v}`).toBe(true);
      expect(l.wmin).toBeLessThanOrEqual(l.wmax);
    });

    emulatedOnly("words range refusals as the command table does (the emulator's words)", async () => {
      const refusal = async (verb: string, args: ArgInput) => {
        const m = await wire.call(tag(), verb, args);
        return m.kind === "err" ? `${m.code} ${m.message}` : "OK";
      };
      expect(await refusal("WAIT", { t: 9e9 })).toBe("203 t=9000000000 s outside [0, 86400] s");
      expect(await refusal("PULSE", { r: 0, c: 0, v: 1, w: 1e-4, rd: 2 })).toBe("203 rd=2 outside [0, 1]");
      expect(await refusal("CFG", { tread: 1 })).toBe("203 tread=1 s outside [1e-9, 0.01] s");
      expect(await refusal("CFG", { vmax: 0 })).toBe("203 vmax=0 V must be > 0 V");
      expect(await refusal("CFG", { scheme: "V/4" })).toBe("203 scheme V/4 is not one of V/2, V/3, FLOAT");
      const pblk = { r0: 0, c0: 0, nr: 1, nc: 1, n: { type: "i16" as const, data: [1] }, w: 1e-4 };
      expect(await refusal("PBLK", { ...pblk, vp: 0, vn: -1 })).toBe("203 vp=0 V must be > 0 V");
    });

    it("refuses an unknown command with ERR 201", async () => {
      expect(await wire.err(tag(), "FOO")).toBe(201);
      expect(await wire.err(tag(), "FOO", { r: 0 })).toBe(201);
    });

    it("refuses an unknown argument with ERR 204", async () => {
      expect(await wire.err(tag(), "READ", { r: 0, c: 0, x: 1 })).toBe(204);
      expect(await wire.err(tag(), "IDN", { verbose: 1 })).toBe(204);
    });

    it("refuses a missing argument with ERR 202", async () => {
      expect(await wire.err(tag(), "READ", { r: 0 })).toBe(202);
      expect(await wire.err(tag(), "PULSE", { r: 0, c: 0, v: 1 })).toBe(202);
    });

    it("refuses amplitude 301, width 302, count 303 and address 305 before applying anything", async () => {
      const idn = await wire.ok(tag(), "IDN");
      const lim = limitsOf(await wire.ok(tag(), "LIM"));
      const { v, w } = safePulse(lim);
      const rows = num(idn, "rows");
      const codes: number[] = [];
      const net = await netStat(async () => {
        codes.push(await wire.err(tag(), "PULSE", { r: 0, c: 0, v: lim.vmax + 0.5, w }));
        codes.push(await wire.err(tag(), "PULSE", { r: 0, c: 0, v: -(lim.vmax + 0.5), w }));
        codes.push(await wire.err(tag(), "PULSE", { r: 0, c: 0, v, w: lim.wmax * 2 }));
        codes.push(await wire.err(tag(), "PULSE", { r: 0, c: 0, v, w, n: lim.nmax + 1 }));
        codes.push(await wire.err(tag(), "PULSE", { r: rows, c: 0, v, w }));
        codes.push(await wire.err(tag(), "READ", { r: rows, c: 0 }));
      });
      expect(codes).toEqual([301, 301, 302, 303, 305, 305]);
      expect(net).toEqual({ ...NOTHING, errors: 6 });
    });

    it("answers a corrupted request with ! REJECT code=101 and does not execute it", async () => {
      const lim = limitsOf(await wire.ok(tag(), "LIM"));
      const { v, w } = safePulse(lim);
      const good = encodeRequest(tag(), "PULSE", { r: 0, c: 1, v, w, n: 5 });
      const net = await netStat(async () => {
        wire.write(corrupt(good));
        const reject = await wire.event("REJECT");
        expect(num(reject, "code")).toBe(101);
        expect([...reject.keys()]).toEqual(["code", "msg"]);
      });
      expect(net).toEqual({ ...NOTHING, errors: 1 });
      // The link is still in step: the intact request is executed once.
      const n = await netStat(async () => {
        wire.write(good);
        const { message } = await wire.reply(Number(good.split(" ")[0]));
        expect(message.kind).toBe("ok");
      });
      expect(n).toEqual({ ...NOTHING, pulses: 5, cmds: 1 });
    });

    it("answers a repeated request (same tag and bytes) twice, byte for byte, and executes it once", async () => {
      const lim = limitsOf(await wire.ok(tag(), "LIM"));
      const { v, w } = safePulse(lim);
      const t = tag();
      const line = encodeRequest(t, "PULSE", { r: 0, c: 2, v, w, n: 3, rd: 1 });
      const replies: string[] = [];
      const net = await netStat(async () => {
        for (let i = 0; i < 2; i++) {
          wire.write(line);
          const { line: reply, message } = await wire.reply(t);
          expect(message.kind).toBe("ok");
          replies.push(reply);
        }
      });
      expect(replies[1]).toBe(replies[0]);
      expect(decodeLine(replies[0]!).ok).toBe(true);
      expect(net).toEqual({ ...NOTHING, pulses: 3, reads: 1, cmds: 1 });
    });

    it("executes a request with a remembered tag but different content as a new request", async () => {
      const lim = limitsOf(await wire.ok(tag(), "LIM"));
      const { v, w } = safePulse(lim);
      const t = tag();
      const first = encodeRequest(t, "PULSE", { r: 0, c: 3, v, w, n: 2 });
      const second = encodeRequest(t, "PULSE", { r: 0, c: 3, v, w, n: 3 });
      const replies: string[] = [];
      const net = await netStat(async () => {
        for (const line of [first, second]) {
          wire.write(line);
          const { line: reply, message } = await wire.reply(t);
          expect(message.kind === "ok" && num(message.args, "n")).toBe(line === first ? 2 : 3);
          replies.push(reply);
        }
      });
      expect(replies[1]).not.toBe(replies[0]);
      expect(net).toEqual({ ...NOTHING, pulses: 5, cmds: 2 });
    });

    it("forgets remembered requests at HELLO: the same bytes after HELLO execute again", async () => {
      const lim = limitsOf(await wire.ok(tag(), "LIM"));
      const { v, w } = safePulse(lim);
      const line = encodeRequest(900, "PULSE", { r: 0, c: 4, v, w, n: 2 });
      const net = await netStat(async () => {
        wire.write(line);
        await wire.reply(900);
        await wire.ok(tag(), "HELLO");
        wire.write(line);
        await wire.reply(900);
      });
      expect(net).toEqual({ ...NOTHING, pulses: 4, cmds: 3 });
    });

    it("survives a garbage line before a good line: REJECT 102 (non-ASCII), then the good line is answered", async () => {
      const t = tag();
      wire.write(`\u0000\u00ff#~noise*7 PULSE r=0 c\n${encodeRequest(t, "IDN")}`);
      expect(num(await wire.event("REJECT"), "code")).toBe(102);
      const { message } = await wire.reply(t);
      expect(message.kind).toBe("ok");
    });

    it("survives garbage glued to the front of a request: REJECT 101, the retransmission is executed once", async () => {
      const lim = limitsOf(await wire.ok(tag(), "LIM"));
      const { v, w } = safePulse(lim);
      const t = tag();
      const line = encodeRequest(t, "PULSE", { r: 0, c: 5, v, w, n: 4 });
      const net = await netStat(async () => {
        wire.write(`~#noise 7 PU${line}`); // printable noise: the checksum no longer matches
        expect(num(await wire.event("REJECT"), "code")).toBe(101);
        wire.write(line);
        expect((await wire.reply(t)).message.kind).toBe("ok");
        wire.write(line); // a second retransmission: replayed, not executed
        expect((await wire.reply(t)).message.kind).toBe("ok");
      });
      expect(net).toEqual({ ...NOTHING, pulses: 4, cmds: 1, errors: 1 });
    });

    it("accepts a request terminated by CR LF", async () => {
      const t = tag();
      wire.write(encodeRequest(t, "NOP").replace(/\n$/, "\r\n"));
      const { message } = await wire.reply(t);
      expect(message.kind).toBe("ok");
    });

    it("ERRQ returns the queued errors oldest first, then code=0", async () => {
      // Drain what earlier users of the board left (a fresh emulator has nothing queued).
      for (let i = 0; ; i++) {
        expect(i, "the error queue does not drain").toBeLessThan(40);
        if (num(await wire.ok(tag(), "ERRQ"), "code") === 0) break;
      }
      const lim = limitsOf(await wire.ok(tag(), "LIM"));
      const { w } = safePulse(lim);
      expect(await wire.err(tag(), "FOO")).toBe(201);
      wire.write(corrupt(encodeRequest(tag(), "NOP", { x: 1 })));
      expect(num(await wire.event("REJECT"), "code")).toBe(101);
      expect(await wire.err(tag(), "READ", { r: 0 })).toBe(202);
      expect(await wire.err(tag(), "PULSE", { r: 0, c: 0, v: lim.vmax + 0.5, w })).toBe(301);
      const popped: number[] = [];
      for (let i = 0; i < 4; i++) {
        const a = await wire.ok(tag(), "ERRQ");
        expect([...a.keys()]).toEqual(COMMANDS.ERRQ.reply);
        expect(a.get("msg")!.length).toBeGreaterThan(0);
        popped.push(num(a, "code"));
      }
      expect(popped).toEqual([201, 101, 202, 301]);
      const empty = await wire.ok(tag(), "ERRQ");
      expect(num(empty, "code")).toBe(0);
      expect(empty.get("msg")).toBe("No error");
    });

    it("answers requests written back to back (a window of 8) in order, with their tags, across the tag wrap", async () => {
      const window = Math.min(8, num(await wire.ok(tag(), "IDN"), "window"));
      const requests: Array<[string, ArgInput | undefined, number]> = [
        ["NOP", undefined, 0],
        ["READ", { r: 0, c: 0 }, 0],
        ["CLK", undefined, 0],
        ["FOO", undefined, 201],
        ["LIM", undefined, 0],
        ["READ", { r: 0 }, 202],
        ["STAT", undefined, 0],
        ["NOP", undefined, 0],
      ];
      const batch = requests.slice(0, window);
      const tags = batch.map((_, i) => (65532 + i) % 65536); // 65532..65535, 0..3
      wire.write(batch.map(([verb, args], i) => encodeRequest(tags[i]!, verb, args)).join(""));
      const got: Array<[number, number]> = [];
      for (let i = 0; i < batch.length; i++) {
        const { message } = await wire.message();
        if (message.kind !== "ok" && message.kind !== "err")
          throw new Error(`expected a reply, got ${message.kind}`);
        got.push([message.tag, message.kind === "err" ? message.code : 0]);
      }
      expect(got).toEqual(batch.map(([, , code], i) => [tags[i], code]));
    });

    it("CFG narrows the envelope for the session and refuses to widen it beyond the hard limits (308)", async () => {
      const hard = limitsOf(await wire.ok(tag(), "LIM"));
      const { w } = safePulse(hard);
      const narrowed = Math.min(2, hard.vmax / 2);
      const outside = Math.min(3, hard.vmax); // inside the hard limits, outside the narrowed envelope
      try {
        const cfg = await wire.ok(tag(), "CFG", { vmax: narrowed });
        expect([...cfg.keys()]).toEqual(COMMANDS.CFG.reply);
        expect(num(cfg, "vmax")).toBe(narrowed);
        expect(limitsOf(await wire.ok(tag(), "LIM")).vmax).toBe(narrowed);
        const net = await netStat(async () => {
          expect(await wire.err(tag(), "PULSE", { r: 0, c: 6, v: outside, w })).toBe(301);
        });
        expect(net).toEqual({ ...NOTHING, errors: 1 });
        // All arguments are validated before any is applied: vread stays as it was.
        const before = await wire.ok(tag(), "CFG");
        expect(await wire.err(tag(), "CFG", { vread: 0.05, vmax: hard.vmax + 1 })).toBe(308);
        expect(await wire.err(tag(), "CFG", { nmax: hard.nmax + 1 })).toBe(308);
        const after = await wire.ok(tag(), "CFG");
        expect([...after.entries()]).toEqual([...before.entries()]);
        expect(limitsOf(await wire.ok(tag(), "LIM"))).toEqual({ ...hard, vmax: narrowed });
      } finally {
        // The configuration of a real board outlives the session: restore the defaults.
        if (!factory.emulated) await wire.call(tag(), "RESET");
      }
    });
  });

  describe("Board via connect(url)", () => {
    let link: Link;
    let board: Board;

    beforeEach(async () => {
      link = await factory.open("board");
      board = await connect(link.url);
    });

    afterEach(async () => {
      await board?.close();
      await link?.teardown();
    });

    const pulse = () => safePulse(board.limits);

    it("readAll returns rows x cols values, row-major", async () => {
      const { rows, cols } = board.identity;
      if (factory.emulated) expect([rows, cols]).toEqual([EMU_OPTIONS.rows, EMU_OPTIONS.cols]);
      const all = await lastValueFrom(board.readAll());
      expect(all).toMatchObject({ r0: 0, c0: 0, rows, cols });
      expect(all.data).toBeInstanceOf(Float32Array);
      expect(all.data.length).toBe(rows * cols);
      expect(all.data.every((g) => Number.isFinite(g) && g > 0)).toBe(true);
      if (!factory.emulated) return;
      // On a fresh emulated array only the pulsed device differs, at index r * cols + c.
      const { v, w } = pulse();
      const p = await lastValueFrom(
        board.pulse({ row: 3, col: 5, amplitude: v, width: w, count: 10, readAfter: true }),
      );
      const after = await lastValueFrom(board.readAll());
      const changed = [...after.data.keys()].filter((i) => after.data[i] !== all.data[i]);
      expect(changed).toEqual([3 * cols + 5]);
      expect(after.data[3 * cols + 5]).toBe(p.conductance);
    });

    emulatedOnly(
      "pulse with readAfter raises the conductance for v > 0 and lowers it for v < 0 (linear)",
      async () => {
        const { v, w } = pulse();
        const g0 = await lastValueFrom(board.read(2, 3));
        const up = await lastValueFrom(
          board.pulse({ row: 2, col: 3, amplitude: v, width: w, count: 10, readAfter: true }),
        );
        expect(up).toMatchObject({ row: 2, col: 3, applied: 10 });
        const g1 = up.conductance!;
        expect(g1).toBeGreaterThan(g0);
        const down = await lastValueFrom(
          board.pulse({ row: 2, col: 3, amplitude: -v, width: w, count: 4, readAfter: true }),
        );
        expect(down.applied).toBe(4);
        const g2 = down.conductance!;
        expect(g2).toBeLessThan(g1);
        // The linear device moves by the same step per pulse in both directions.
        const step = (g1 - g0) / 10;
        expect(Math.abs(g1 - g2 - 4 * step) / (4 * step)).toBeLessThan(1e-5);
        // Without readAfter, no conductance is reported.
        const quiet = await lastValueFrom(board.pulse({ row: 2, col: 3, amplitude: v, width: w }));
        expect(quiet).toEqual({ row: 2, col: 3, applied: 1, conductance: undefined });
      },
    );

    it("pulseList applies exactly the requested number of pulses", async () => {
      const { v, w } = pulse();
      let emitted = -1;
      const net = await netCounters(board, async () => {
        emitted = await lastValueFrom(
          board.pulseList({
            rows: Uint16Array.from([1, 2, 3, 1]),
            cols: Uint16Array.from([0, 1, 2, 3]),
            amplitude: Float32Array.from([v, -v, v, v]),
            width: w,
            count: Uint16Array.from([2, 3, 4, 1]),
          }),
        );
      });
      expect(emitted).toBe(10);
      expect(net).toEqual({ ...NO_CHANGE, pulses: 10, commands: 1 });
    });

    it("pulseBlock applies exactly the requested number of pulses", async () => {
      const { v, w } = pulse();
      let emitted = -1;
      const net = await netCounters(board, async () => {
        emitted = await lastValueFrom(
          board.pulseBlock({
            r0: 4,
            c0: 4,
            rows: 2,
            cols: 3,
            counts: Int16Array.from([3, -2, 0, 1, 0, -4]),
            vp: v,
            vn: -v,
            width: w,
          }),
        );
      });
      expect(emitted).toBe(10);
      expect(net).toEqual({ ...NO_CHANGE, pulses: 10, commands: 1 });
    });

    emulatedOnly("vmm and vmmT agree with a host-side multiply of readBlock data within 1e-6", async () => {
      const block = { r0: 1, c0: 2, rows: 4, cols: 5 };
      const n = block.rows * block.cols;
      const { v, w } = pulse();
      const counts = Int16Array.from({ length: n }, (_, i) => 1 + ((i * 7) % 23));
      await lastValueFrom(board.pulseBlock({ ...block, counts, vp: v, vn: -v, width: w }));
      const g = (await lastValueFrom(board.readBlock(block))).data;
      expect(new Set(g).size).toBe(new Set(counts).size); // the block is not uniform
      const k = 2;
      const x = Float32Array.from([0.1, 0.2, 0.3, 0.05, 0.25, 0.15, 0.05, 0.2]); // k x rows
      const xt = Float32Array.from([0.1, 0.2, 0.3, 0.05, 0.15, 0.25, 0.15, 0.05, 0.2, 0.1]); // k x cols
      const y = await lastValueFrom(board.vmm(block, x, k));
      const yt = await lastValueFrom(board.vmmT(block, xt, k));
      expect(y.length).toBe(k * block.cols);
      expect(yt.length).toBe(k * block.rows);
      const want = new Float64Array(k * block.cols);
      const wantT = new Float64Array(k * block.rows);
      for (let s = 0; s < k; s++) {
        for (let i = 0; i < block.rows; i++) {
          for (let j = 0; j < block.cols; j++) {
            const gij = g[i * block.cols + j]!;
            want[s * block.cols + j]! += x[s * block.rows + i]! * gij;
            wantT[s * block.rows + i]! += xt[s * block.cols + j]! * gij;
          }
        }
      }
      const worst = (got: Float32Array, ref: Float64Array) =>
        Math.max(...Array.from(ref, (r, i) => Math.abs(got[i]! - r) / Math.abs(r)));
      expect(worst(y, want)).toBeLessThan(1e-6);
      expect(worst(yt, wantT)).toBeLessThan(1e-6);
      // A single vector (k defaults to 1) gives the first row of the batched result.
      expect(await lastValueFrom(board.vmm(block, x.slice(0, block.rows)))).toEqual(y.slice(0, block.cols));
    });

    it("refuses an amplitude beyond the limits on the host (301, side host): nothing reaches the board", async () => {
      const { w } = pulse();
      let err: XbarError | undefined;
      const net = await netCounters(board, async () => {
        err = await xbarError(board.pulse({ row: 0, col: 0, amplitude: board.limits.vmax + 0.5, width: w }));
      });
      expect(err!.code).toBe(301);
      expect(err!.context.side).toBe("host");
      // A board-side refusal would count an error; an executed command would count a command.
      expect(net).toEqual(NO_CHANGE);
    });

    it("configure({vmax}) narrows the envelope: a pulse above it is then refused (301, side host)", async () => {
      const hard = board.limits.vmax;
      const narrowed = Math.min(2, hard / 2);
      const outside = Math.min(3, hard);
      try {
        const cfg = await lastValueFrom(board.configure({ vmax: narrowed }));
        expect(cfg.vmax).toBe(narrowed);
        expect(board.limits.vmax).toBe(narrowed);
        // The board itself reports the narrowed configuration.
        expect((await lastValueFrom(board.configure())).vmax).toBe(narrowed);
        let err: XbarError | undefined;
        const net = await netCounters(board, async () => {
          err = await xbarError(board.pulse({ row: 0, col: 7, amplitude: outside, width: pulse().w }));
        });
        expect(err!.code).toBe(301);
        expect(err!.context.side).toBe("host");
        expect(net).toEqual(NO_CHANGE);
      } finally {
        if (!factory.emulated) await lastValueFrom(board.reset());
      }
    });

    // On serial links this once failed: destroying a serialport stream left the port open and locked.
    it("close() releases the link: the same url can be connected again", async () => {
      const first = board.identity;
      await board.close();
      board = await connect(link.url);
      expect(board.identity).toEqual(first);
      // The new session reaches the board: one read through it is one command and one device read.
      const net = await netCounters(board, () => lastValueFrom(board.read(0, 0)));
      expect(net).toEqual({ ...NO_CHANGE, reads: 1, commands: 1 });
    });

    it("configure({vmax: 99}) is refused by the board with 308 and changes nothing", async () => {
      // The host does not pre-check CFG limits (only read voltage and compliance): the board refuses.
      const before = await lastValueFrom(board.configure());
      const limits = { ...board.limits };
      const err = await xbarError(board.configure({ vmax: 99 }));
      expect(err.code).toBe(308);
      expect(err.context.side).toBe("board");
      expect(board.limits).toEqual(limits);
      expect(await lastValueFrom(board.configure())).toEqual(before);
    });
  });
});
