/**
 * Fuzzing the emulated board's command handling, shared by test/fuzz-board.test.ts and
 * scripts/reliability-figures.mts. Lines of four kinds go into one board session:
 *
 *   random bytes            (most die at the framing: 101 / 102 REJECT)
 *   mutated valid requests  (a byte flipped, dropped, inserted, cut; half re-framed with a good
 *                            checksum, so they reach the command parser and the envelope)
 *   structured requests     (valid framing, random tag, verb, keys and values: numbers at the edges,
 *                            NaN, Infinity, huge, packed arrays of wrong type or length, bad base64,
 *                            quantised arrays (1.1) with good and bad scales, `last`)
 *   valid requests          (every verb with plausible arguments; 1.1: quantised inputs, q=1, x=last)
 *
 * For each line the property is: no exception escapes, exactly one well-formed line comes back — a
 * reply echoing the request's tag or a REJECT event — (plus the BOOT event a RESET announces), never
 * 500 INTERNAL (which would mean the board tripped over its own code), and the state stays bounded
 * (replay window <= 64 entries, error queue <= 32).
 */
import fc from "fast-check";
import {
  type ArgInput,
  COMMANDS,
  checksum,
  decodeLine,
  ErrorCode,
  encodeRequest,
  pack,
  quantise,
  REPLAY_WINDOW,
} from "../../firmware-protocol/index.ts";
import { EmulatedBoard } from "../../mocks/index.ts";

export interface FuzzFigures {
  lines: number;
  /** Lines by what came back. */
  ok: number;
  err: number;
  rejected: number;
  ignored: number;
  /** Distinct error codes seen. */
  codes: number[];
  maxReplay: number;
  maxErrorQueue: number;
  heapGrowthMB: number;
  ms: number;
}

const VERBS = Object.keys(COMMANDS);

/** Plausible valid requests for an 8 x 8 board. */
const validArgs = (rng: () => number): Record<string, ArgInput> => {
  const i = (n: number) => Math.floor(rng() * n);
  const k = 1 + i(6);
  // Protocol 1.1: inputs quantised at 8 bits half of the time, q=1 replies, OPU on the held input.
  const input = (data: number[]) => (i(2) ? quantise(data, 8) : { type: "f32" as const, data });
  const q = i(3) === 0 ? 1 : undefined;
  return {
    NOP: {},
    HELLO: {},
    IDN: {},
    LIM: {},
    CFG: { vread: 0.1 + rng() * 0.5, scheme: ["V/2", "V/3", "FLOAT"][i(3)] },
    READ: { r: i(8), c: i(8) },
    READROW: { r: i(8), q },
    READCOL: { c: i(8), q },
    READBLK: { r0: 0, c0: 0, nr: 1 + i(8), nc: 1 + i(8), q },
    READALL: { q },
    PULSE: { r: i(8), c: i(8), v: rng() * 8 - 4, w: 1e-6, n: 1 + i(20), rd: i(2) },
    PLIST: {
      r: { type: "u16", data: Array.from({ length: k }, () => i(8)) },
      c: { type: "u16", data: Array.from({ length: k }, () => i(8)) },
      v: 2,
      w: 1e-6,
    },
    PBLK: {
      r0: 0,
      c0: 0,
      nr: 2,
      nc: 2,
      n: { type: "i16", data: [1, -1, 2, 0] },
      vp: 2,
      vn: -2,
      w: 1e-6,
    },
    OPU: {
      r0: 0,
      c0: 0,
      nr: 2,
      nc: 2,
      x: i(3) === 0 ? "last" : input([1, 2]),
      d: input([1, -1]),
      vp: 2,
      vn: -2,
      w: 1e-6,
    },
    VMM: { r0: 0, c0: 0, nr: 2, nc: 2, x: input([0.1, -0.2]), q },
    VMMT: { r0: 0, c0: 0, nr: 2, nc: 2, x: input([0.1, 0.2]), q },
    FIRE: { r0: 0, c0: 0, nr: 1, nc: 1, v: 1, t: 1e-3 },
    WAIT: { t: rng() * 10 },
    CLK: {},
    STAT: { clear: i(2) },
    ERRQ: {},
    ABORT: {},
    RESET: {},
  };
};

const edgeNumber = fc.oneof(
  fc.constantFrom(
    "0",
    "-0",
    "1",
    "-1",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e308",
    "1e-320",
    "65536",
    "4097",
    "",
  ),
  fc.double().map(String),
  fc.integer().map(String),
  fc.string({ maxLength: 8 }),
);
const packedValue = fc.oneof(
  fc
    .tuple(
      fc.constantFrom("u8", "u16", "i16", "u32", "i32", "f32", "f64"),
      fc.array(fc.integer({ min: -70000, max: 70000 }), { maxLength: 20 }),
    )
    .map(([t, d]) => {
      try {
        return pack(t as "u8", d);
      } catch {
        return `${t}:`;
      }
    }),
  fc.string({ maxLength: 30 }).map((s) => `f32:${s}`),
  fc.constantFrom("u16:", "f32:A", "f32:AAAA", "x9:AAAA", "u16:////", "f64:AAAAAAAAAAA=", "last"),
  // Quantised arrays (1.1): the four integer types with scales good and bad, and types that take none.
  fc
    .tuple(
      fc.constantFrom("u8", "i8", "u16", "i16", "f32", "u32"),
      fc.constantFrom("0.1", "1e-7", "3", "0", "-1", "1e999", "x", "", "0.5e", "03"),
      fc.array(fc.integer({ min: -200, max: 200 }), { maxLength: 12 }),
    )
    .map(([t, scale, d]) => {
      const ints = t === "u8" || t === "u16" ? d.map(Math.abs) : d;
      const scaled = t === "f32" || t === "u32" ? pack("u8", ints) : pack(t as "i8", ints, 1);
      const body = scaled.slice(scaled.indexOf(":") + 1);
      return `${t}@${scale}:${body}`;
    }),
);
const keyArb = fc.oneof(
  fc.constantFrom(
    "r",
    "c",
    "v",
    "w",
    "n",
    "rd",
    "r0",
    "c0",
    "nr",
    "nc",
    "x",
    "d",
    "vp",
    "vn",
    "k",
    "t",
    "q",
    "token",
  ),
  fc.string({ unit: fc.constantFrom(..."abcdefxyz0123456789".split("")), minLength: 1, maxLength: 5 }),
);
const tagArb = fc.oneof(
  fc.integer({ min: 0, max: 65535 }).map(String),
  fc.constantFrom("65536", "-1", "007", "1.5", "", "99999999999999999999"),
);
/** A request with a good checksum but random tag, verb, keys and values. */
const structured = fc
  .tuple(
    tagArb,
    fc.oneof(
      fc.constantFrom(...VERBS),
      fc.string({ unit: fc.constantFrom(..."ABCDEFZ".split("")), maxLength: 8 }),
    ),
    fc.array(fc.tuple(keyArb, fc.oneof(edgeNumber, packedValue)), { maxLength: 10 }),
  )
  .map(([tag, verb, args]) => {
    const body = [tag, verb, ...args.map(([k, v]) => `${k}=${v.replace(/[\s*]/g, "")}`)].join(" ");
    return `${body}*${checksum(body)}`;
  });
const randomBytes = fc.oneof(
  fc.string({ unit: "binary-ascii", maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 80 }),
  fc.string({ unit: fc.constantFrom(..." *=%:0123456789ABCDEFOKRabc/+".split("")), maxLength: 120 }),
);

/** Mutates a valid framed request; with `reframe`, gives the mutant a correct checksum again. */
function mutate(line: string, how: number, at: number, byte: number, reframe: boolean): string {
  const body = line.slice(0, line.lastIndexOf("*"));
  const i = Math.floor(at * body.length);
  const ch = String.fromCharCode(byte);
  let b: string;
  switch (how) {
    case 0:
      b = body.slice(0, i) + ch + body.slice(i + 1);
      break;
    case 1:
      b = body.slice(0, i) + body.slice(i + 1);
      break;
    case 2:
      b = body.slice(0, i) + ch + body.slice(i);
      break;
    default:
      b = body.slice(0, i);
  }
  return reframe ? `${b}*${checksum(b)}` : `${b}${line.slice(line.lastIndexOf("*"))}`;
}

export function lineArbitrary(): fc.Arbitrary<string> {
  const valid = fc
    .tuple(
      fc.integer({ min: 0, max: 65535 }),
      fc.constantFrom(...VERBS),
      fc.double({ min: 0, max: 1, noNaN: true }),
    )
    .map(([tag, verb, u]) => {
      let s = u;
      const rng = () => {
        s = (s * 9301 + 0.49297) % 1;
        return s;
      };
      return encodeRequest(tag, verb, validArgs(rng)[verb]).replace(/\n$/, "");
    });
  const mutated = fc
    .tuple(
      valid,
      fc.integer({ min: 0, max: 3 }),
      fc.double({ min: 0, max: 0.999, noNaN: true }),
      fc.integer({ min: 0, max: 255 }),
      fc.boolean(),
    )
    .map(([l, how, at, byte, re]) => mutate(l, how, at, byte, re).replace(/\n/g, " "));
  return fc.oneof(
    { arbitrary: randomBytes.map((s) => s.replace(/\n/g, " ")), weight: 2 },
    { arbitrary: mutated, weight: 4 },
    { arbitrary: structured, weight: 3 },
    { arbitrary: valid, weight: 2 },
  );
}

/** Feeds `runs` generated lines into one session of an 8 x 8 board and checks every reply. */
export async function fuzzBoard(seed: number, runs: number): Promise<FuzzFigures> {
  const board = new EmulatedBoard({ rows: 8, cols: 8, device: "linear", seed: 1 });
  let out: string[] = [];
  const session = board.openSession((l) => out.push(l));
  const fig: FuzzFigures = {
    lines: 0,
    ok: 0,
    err: 0,
    rejected: 0,
    ignored: 0,
    codes: [],
    maxReplay: 0,
    maxErrorQueue: 0,
    heapGrowthMB: 0,
    ms: 0,
  };
  const codes = new Set<number>();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  await fc.assert(
    fc.asyncProperty(lineArbitrary(), async (line) => {
      out = [];
      session.handle(line);
      await Promise.resolve(); // a RESET announces BOOT in a microtask
      // A command that takes more than a few ms runs in slices (the event loop keeps turning).
      while (session.busy || session.queued > 0) await new Promise((r) => setImmediate(r));
      fig.lines++;
      const replies = out.filter((l) => !l.startsWith("! BOOT "));
      if (line === "" || line === "\r") {
        if (replies.length !== 0) throw new Error(`a blank line got ${replies.length} replies`);
        fig.ignored++;
        return;
      }
      if (replies.length !== 1) throw new Error(`${replies.length} replies to ${JSON.stringify(line)}`);
      const reply = replies[0]!;
      if (!reply.endsWith("\n") || reply.indexOf("\n") !== reply.length - 1) throw new Error("not one line");
      const d = decodeLine(reply.slice(0, -1));
      if (!d.ok) throw new Error(`malformed reply ${JSON.stringify(reply)} to ${JSON.stringify(line)}`);
      const m = d.message;
      const req = decodeLine(line);
      if (m.kind === "event") {
        if (m.name !== "REJECT") throw new Error(`unexpected event ${m.name}`);
        codes.add(Number(m.args.get("code")));
        fig.rejected++;
      } else if (m.kind === "ok" || m.kind === "err") {
        // 1.1: a request whose checksum is right but whose content does not parse gets a tagged ERR 102.
        const malformed =
          !req.ok && req.code === ErrorCode.MALFORMED && req.tag === m.tag && m.kind === "err";
        if (!(malformed || (req.ok && req.message.kind === "request" && req.message.tag === m.tag)))
          throw new Error(`reply tag ${m.tag} does not echo ${JSON.stringify(line)}`);
        if (m.kind === "ok") fig.ok++;
        else {
          fig.err++;
          codes.add(m.code);
          if (m.code === ErrorCode.INTERNAL)
            throw new Error(`500 INTERNAL for ${JSON.stringify(line)}: ${m.message}`);
        }
      } else throw new Error("the board sent a request");
      const queue = (board as unknown as { errorQueue: unknown[] }).errorQueue.length;
      fig.maxReplay = Math.max(fig.maxReplay, session.replaySize);
      fig.maxErrorQueue = Math.max(fig.maxErrorQueue, queue);
      if (session.replaySize > REPLAY_WINDOW || queue > 32) throw new Error("unbounded state");
    }),
    { seed, numRuns: runs },
  );
  fig.ms = performance.now() - t0;
  fig.heapGrowthMB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  fig.codes = [...codes].sort((a, b) => a - b);
  session.close();
  return fig;
}
