/**
 * One table for the wire vocabulary (firmware-protocol/commands.ts): a walk over every descriptor
 * checks that the emulator's handlers, the range checks on both sides and the host's types all come
 * from it, and that nothing in the files that speak the protocol writes a verb's keys or ranges again.
 */
import { readFileSync } from "node:fs";
import { lastValueFrom } from "rxjs";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  type ArgInput,
  COMMANDS,
  decodeLine,
  encodeRequest,
  type ParamSpec,
  ProtocolError,
  type ReplyOf,
  type RequestOf,
  type Verb,
  XbarError,
} from "../firmware-protocol/index.ts";
import { HANDLERS } from "../mocks/handlers.ts";
import { EmulatedBoard } from "../mocks/index.ts";
import { connect } from "../src/board/connect.ts";

const VERBS = Object.keys(COMMANDS) as Verb[];

/** A request each verb accepts on an 8 x 8 ts-pcm board (the device that offers every verb). */
const VALID: { [V in Verb]: ArgInput } = {
  NOP: {},
  HELLO: {},
  IDN: {},
  LIM: {},
  CFG: {},
  READ: { r: 1, c: 2 },
  READROW: { r: 1 },
  READCOL: { c: 2 },
  READBLK: { r0: 0, c0: 0, nr: 2, nc: 2 },
  READALL: {},
  PULSE: { r: 1, c: 2, v: 1, w: 1e-6 },
  PLIST: { r: { type: "u16", data: [0, 1] }, c: { type: "u16", data: [0, 1] }, v: 1, w: 1e-6 },
  PBLK: { r0: 0, c0: 0, nr: 1, nc: 2, n: { type: "i16", data: [1, -1] }, vp: 1, vn: -1, w: 1e-6 },
  OPU: {
    r0: 0,
    c0: 0,
    nr: 2,
    nc: 2,
    x: { type: "f32", data: [1, 0] },
    d: { type: "f32", data: [1, -1] },
    vp: 1,
    vn: -1,
    w: 1e-6,
  },
  VMM: { r0: 0, c0: 0, nr: 2, nc: 2, x: { type: "f32", data: [0.1, 0.2] } },
  VMMT: { r0: 0, c0: 0, nr: 2, nc: 3, x: { type: "f32", data: [0.1, 0.2, 0.3] } },
  FIRE: { r0: 0, c0: 0, nr: 1, nc: 1, v: 0.5, t: 1e-6 },
  WAIT: { t: 1 },
  CLK: {},
  STAT: {},
  ERRQ: {},
  ABORT: {},
  RESET: {},
};

/** A ts-pcm board (it offers every verb) with the 1.1 wire (q=1 and held vectors are accepted). */
const newBoard = () => new EmulatedBoard({ rows: 8, cols: 8, device: "ts-pcm", seed: 1, dac: 8, adc: 16 });

/** Executes one request on the board; 0 when it succeeds, else the code it was refused with. */
function exec(board: EmulatedBoard, verb: string, args: ArgInput): number {
  const d = decodeLine(encodeRequest(1, verb, args));
  if (!d.ok || d.message.kind !== "request") throw new Error(`bad test request ${verb}`);
  try {
    board.execute(d.message);
    return 0;
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw e;
  }
}

/** A value just outside a static range and one just inside each of its ends. */
function probes(p: ParamSpec): { outside: number[]; inside: number[] } {
  const outside: number[] = [];
  const inside: number[] = [];
  const openLo = p.open === "min" || p.open === "both";
  const openHi = p.open === "max" || p.open === "both";
  const step = (x: number) => (p.type === "int" ? 1 : Math.max(Math.abs(x) * 1e-3, 1e-12));
  if (p.min !== undefined && Number.isFinite(p.min)) {
    outside.push(openLo ? p.min : p.min - step(p.min));
    inside.push(openLo ? p.min + step(p.min) : p.min);
  }
  if (p.max !== undefined && Number.isFinite(p.max)) {
    outside.push(openHi ? p.max : p.max + step(p.max));
    inside.push(openHi ? p.max - step(p.max) : p.max);
  }
  return { outside, inside };
}

/** A request that stays valid when `key` takes `value` (packed lengths follow k). */
function withValue(verb: Verb, key: string, value: number): ArgInput {
  const args: ArgInput = { ...VALID[verb], [key]: value };
  if ((verb === "VMM" || verb === "VMMT") && key === "k") {
    const nin = verb === "VMM" ? 2 : 3;
    const k = Math.max(1, Math.floor(value));
    args.x = { type: "f32", data: new Float32Array(k * nin).fill(0.1) };
  }
  return args;
}

describe("the command table", () => {
  it("has a handler on the emulated board for every verb, and no handler outside it", () => {
    expect(Object.keys(HANDLERS).sort()).toEqual([...VERBS].sort());
    for (const v of VERBS) expect(typeof HANDLERS[v], v).toBe("function");
  });

  it("every verb's sample request is accepted (the samples below are valid)", () => {
    const board = newBoard();
    for (const v of VERBS) expect(exec(board, v, VALID[v]), v).toBe(0);
  });

  it("the board refuses each missing required key (202) and a key the table does not list (204)", () => {
    const board = newBoard();
    for (const v of VERBS) {
      for (const key of COMMANDS[v].required) {
        const args = { ...VALID[v] };
        delete args[key];
        expect(exec(board, v, args), `${v} without ${key}`).toBe(202);
      }
      expect(exec(board, v, { ...VALID[v], zz: 1 }), `${v} zz=1`).toBe(204);
    }
  });

  it("every static range of the table is enforced by the board at its ends, with nothing applied", () => {
    const board = newBoard();
    let walked = 0;
    for (const v of VERBS) {
      for (const [key, p] of Object.entries(COMMANDS[v].params as Record<string, ParamSpec>)) {
        const { outside, inside } = probes(p);
        for (const x of outside) {
          const before = { ...board.counters };
          expect(exec(board, v, withValue(v, key, x)), `${v} ${key}=${x}`).toBe(203);
          expect(board.counters.pulses, `${v} ${key}=${x} applied nothing`).toBe(before.pulses);
          walked++;
        }
        // A narrowing CFG value just above 0 may fall below another limit (wmax < wmin): probe only
        // the ends the table alone decides.
        for (const x of p.narrows ? [] : inside)
          expect(exec(board, v, withValue(v, key, x)), `${v} ${key}=${x}`).toBe(0);
        if (p.oneOf) {
          for (const choice of p.oneOf) expect(exec(board, v, { ...VALID[v], [key]: choice })).toBe(0);
          expect(exec(board, v, { ...VALID[v], [key]: "NOPE" }), `${v} ${key}=NOPE`).toBe(203);
        }
      }
    }
    expect(walked).toBeGreaterThanOrEqual(10); // rd, tread, vp, vn, th, scale, k (x2), t (FIRE, WAIT)
  });

  it("every envelope check the table names is enforced by the board with its code", () => {
    const board = newBoard();
    const lim = board.limits();
    const outside: Record<string, [number, number]> = {
      amplitude: [lim.vmax * 1.5, 301],
      width: [lim.wmax * 2, 302],
      count: [lim.nmax + 1, 303],
      readVoltage: [lim.vrmax * 1.5, 306],
      compliance: [lim.ccmax * 2, 304],
    };
    let walked = 0;
    for (const v of VERBS) {
      for (const [key, p] of Object.entries(COMMANDS[v].params as Record<string, ParamSpec>)) {
        if (!p.envelope || p.envelope === "listLength") continue;
        const [value, code] = outside[p.envelope]!;
        // vn is negative: its amplitude is outside the envelope below -vmax.
        const x = p.max === 0 ? -value : value;
        const base = VALID[v][key];
        const arg = typeof base === "object" ? { ...base, data: Array.from(base.data, () => x) } : x;
        const before = board.counters.pulses;
        expect(exec(board, v, { ...VALID[v], [key]: arg }), `${v} ${key}=${x}`).toBe(code);
        expect(board.counters.pulses).toBe(before);
        walked++;
      }
    }
    expect(walked).toBeGreaterThanOrEqual(15);
  });

  it("the host refuses the table's ranges before sending, with the board's codes", async () => {
    const board = await connect("emu://?rows=8&cols=8&device=ts-pcm&seed=1");
    try {
      const client = (board as unknown as { client: { stats: { requests: number } } }).client;
      const refused = async (op: () => Promise<unknown>) => {
        const sent = client.stats.requests;
        const e = await op().catch((err: unknown) => err);
        expect(client.stats.requests, "nothing sent").toBe(sent);
        expect(e).toBeInstanceOf(XbarError);
        expect((e as XbarError).context.side).toBe("host");
        return (e as XbarError).code;
      };
      const block = { r0: 0, c0: 0, rows: 2, cols: 2 };
      expect(await refused(() => lastValueFrom(board.wait(86401)))).toBe(203);
      expect(await refused(() => lastValueFrom(board.fire({ ...block, rows: 1, cols: 1 }, 0.5, 0)))).toBe(
        203,
      );
      expect(await refused(() => lastValueFrom(board.vmm(block, new Float32Array(0), 0)))).toBe(203);
      expect(await refused(() => lastValueFrom(board.vmm(block, new Float32Array(3))))).toBe(203);
      expect(await refused(() => lastValueFrom(board.configure({ readTime: 1 })))).toBe(203);
      expect(await refused(() => lastValueFrom(board.configure({ readVoltage: 5 })))).toBe(306);
      const opu = { ...block, x: new Float32Array(2), d: new Float32Array(2), vp: 1, vn: -1, width: 1e-6 };
      expect(await refused(() => lastValueFrom(board.outerProductUpdate({ ...opu, threshold: 0 })))).toBe(
        203,
      );
      expect(await refused(() => lastValueFrom(board.outerProductUpdate({ ...opu, vn: 1 })))).toBe(203);
      expect(
        await refused(() => lastValueFrom(board.pulse({ row: 8, col: 0, amplitude: 1, width: 1e-6 }))),
      ).toBe(305);
      // Inside the same ranges, the requests go out and succeed.
      expect(await lastValueFrom(board.wait(86400))).toBeGreaterThanOrEqual(86400);
      expect(await lastValueFrom(board.vmm(block, new Float32Array(4).fill(0.1), 2))).toHaveLength(4);
    } finally {
      await board.close();
    }
  });

  it("types the host's requests and replies from the table", () => {
    expectTypeOf<RequestOf<"PULSE">>().toEqualTypeOf<{
      r: number;
      c: number;
      v: number;
      w: number;
      n?: number | undefined;
      rd?: number | undefined;
    }>();
    expectTypeOf<RequestOf<"CFG">["scheme"]>().toEqualTypeOf<"V/2" | "V/3" | "FLOAT" | undefined>();
    expectTypeOf<RequestOf<"OPU">["mode"]>().toEqualTypeOf<"count" | "sign" | undefined>();
    expectTypeOf<ReplyOf<"READBLK">["data"]>().toMatchTypeOf<Float32Array>();
    expectTypeOf<ReplyOf<"FIRE">["spikes"]>().toMatchTypeOf<Uint32Array>();
    expectTypeOf<ReplyOf<"PULSE">>().toEqualTypeOf<{ n: number; g?: number }>();
    // Every verb's request and reply keys are exactly the table's (checked at compile time by the
    // assignments below: a key missing from the table would not type-check).
    const keys: { [V in Verb]: (keyof RequestOf<V>)[] } = {
      NOP: [],
      HELLO: ["token"],
      IDN: [],
      LIM: [],
      CFG: ["vread", "scheme", "cc", "tread", "vmax", "wmax", "nmax", "emax"],
      READ: ["r", "c"],
      READROW: ["r", "q"],
      READCOL: ["c", "q"],
      READBLK: ["r0", "c0", "nr", "nc", "q"],
      READALL: ["q"],
      PULSE: ["r", "c", "v", "w", "n", "rd"],
      PLIST: ["r", "c", "v", "w", "n"],
      PBLK: ["r0", "c0", "nr", "nc", "n", "vp", "vn", "w"],
      OPU: ["r0", "c0", "nr", "nc", "x", "d", "vp", "vn", "w", "scale", "mode", "th"],
      VMM: ["r0", "c0", "nr", "nc", "x", "k", "q"],
      VMMT: ["r0", "c0", "nr", "nc", "x", "k", "q"],
      FIRE: ["r0", "c0", "nr", "nc", "v", "t"],
      WAIT: ["t"],
      CLK: [],
      STAT: ["clear"],
      ERRQ: [],
      ABORT: [],
      RESET: [],
    };
    for (const v of VERBS) expect(keys[v], v).toEqual(COMMANDS[v].args);
  });

  it("no verb's keys or ranges are written again in the files that speak the protocol", () => {
    const files = [
      "mocks/board.ts",
      "mocks/session.ts",
      "mocks/handlers.ts",
      "drivers/crossbar-client.ts",
      "src/board/protocol-board.ts",
      "mocks/probe-array.ts",
    ];
    // Range bounds of the table other than 0, 1 and infinities (86400, 65536, 1e-9, 0.01, …).
    const bounds = new Set<number>();
    for (const v of VERBS)
      for (const p of Object.values(COMMANDS[v].params as Record<string, ParamSpec>))
        for (const b of [p.min, p.max])
          if (b !== undefined && Number.isFinite(b) && b !== 0 && b !== 1) bounds.add(b);
    for (const f of files) {
      // The code, without comments (which may well mention a number such as the tag space).
      const src = readFileSync(new URL(`../${f}`, import.meta.url), "utf8")
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/\/\/.*$/gm, "");
      // Hand-written access to argument keys (argInt(a, "r") …) and a switch over verbs.
      expect(src, f).not.toMatch(/\barg(Int|Number|Token|Packed|ScalarOrPacked)\(/);
      expect(src, f).not.toMatch(/switch \(verb\)/);
      for (const b of bounds) {
        const forms = [String(b), b.toExponential()];
        for (const form of forms) expect(src.includes(form), `${f} writes the bound ${form}`).toBe(false);
      }
    }
  });
});
