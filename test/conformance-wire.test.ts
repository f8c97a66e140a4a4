/**
 * Conformance of the 1.1 wire (PROTOCOL.md §2 packed arrays, §6 "The 1.1 wire"), over every link of
 * test/helpers/links.ts as test/conformance.test.ts: the emulator in-process, on TCP and on a pty, the
 * C firmware's host build on a pty, and a real board when XBAR_PORT is set.
 *
 * - every board: a quantised array is accepted wherever the table says f32 and refused elsewhere
 *   (203), its bad encodings are refused with unpack's words, nothing applied;
 * - a board that does not report `IDN dac= adc=` refuses `q=1` and `OPU x=last` with 203;
 * - a board that does (links opened with `{ wire: true }`: WIRE_OPTIONS): `q=1` replies quantised at
 *   the ADC's resolution, exactly as `quantise` of the float32 reply; `OPU x=last` with the held input
 *   of the last `VMM` (k=1) on the block, forgotten by a `VMM k>1`, `HELLO` and `RESET`.
 * Replies are compared as bytes where the emulator's linear device makes them exact (skipped for a
 * real board).
 */
import { afterEach, describe, expect, it } from "vitest";
import { type ArgInput, type Args, pack, quantise, unpack } from "../firmware-protocol/index.ts";
import { type Link, type LinkFactory, links, WIRE_OPTIONS } from "./helpers/links.ts";
import { limitsOf, NOTHING, netStat, num, type Stat, safePulse, Wire } from "./helpers/raw-wire.ts";

const f32 = (data: number[]) => ({ type: "f32" as const, data });
const BLOCK = { r0: 1, c0: 2, nr: 3, nc: 2 };
/** Row voltages of a VMM on BLOCK, and the same values quantised as a host at 8 DAC bits sends them. */
const X = [0.1, -0.05, 0.2];
const XQ = quantise(X, 8);
/** Column factors of an OPU on BLOCK: with scale 40, counts 4, -2, ... on the devices. */
const D = [1, -0.5];

describe.each(links())("$name link: the 1.1 wire", (factory: LinkFactory) => {
  const emulatedOnly = it.skipIf(!factory.emulated);
  let link: Link | undefined;
  let wire: Wire | undefined;
  let nextTag = 1;
  const tag = () => nextTag++;

  async function open(options: { wire?: boolean }): Promise<Wire> {
    link = await factory.open("raw", options);
    wire = new Wire(link.transport);
    nextTag = 1;
    await wire.ok(tag(), "HELLO");
    return wire;
  }

  afterEach(async () => {
    wire?.close();
    await link?.teardown();
    link = undefined;
    wire = undefined;
  });

  /** Sends requests that must all be refused with `code`; returns the net counters (nothing applied). */
  async function refused(w: Wire, code: number, requests: Array<[string, ArgInput]>): Promise<Stat> {
    return netStat(w, tag, async () => {
      for (const [verb, args] of requests) expect(await w.err(tag(), verb, args), `${verb}`).toBe(code);
    });
  }

  it("accepts a quantised array wherever the table says f32, with the float32 values it stands for", async () => {
    const w = await open({});
    const lim = limitsOf(await w.ok(tag(), "LIM"));
    const { v, w: width } = safePulse(lim);
    const y = await w.ok(tag(), "VMM", { ...BLOCK, x: XQ });
    const yf = await w.ok(tag(), "VMM", { ...BLOCK, x: f32(Array.from(unpackedValues(XQ))) });
    expect(y.get("y")).toMatch(/^f32:/);
    if (factory.emulated) expect(y.get("y")).toBe(yf.get("y"));
    const one = { type: "u16" as const, data: [0] };
    const volts = { type: "u8" as const, data: [200], scale: v / 200 };
    const widths = { type: "u16" as const, data: [100], scale: width / 100 };
    const net = await netStat(w, tag, async () => {
      const a = await w.ok(tag(), "PLIST", { r: one, c: one, v: volts, w: widths, n: 3 });
      expect([num(a, "k"), num(a, "pulses")]).toEqual([1, 3]);
    });
    expect(net).toEqual({ ...NOTHING, pulses: 3, cmds: 1 });
  });

  it("refuses a quantised array where the table does not say f32, and bad encodings, with 203 and nothing applied", async () => {
    const w = await open({});
    const lim = limitsOf(await w.ok(tag(), "LIM"));
    const { v, w: width } = safePulse(lim);
    const idx = { type: "u16" as const, data: [0], scale: 1 };
    const raw = (x: string) => ({ ...BLOCK, x });
    const net = await refused(w, 203, [
      ["PBLK", { ...BLOCK, n: { type: "i16", data: [1, 0, 0, 0, 0, 0], scale: 1 }, vp: v, vn: -v, w: width }],
      ["PLIST", { r: idx, c: { type: "u16", data: [0] }, v, w: width }],
      ["PLIST", { r: { type: "u16", data: [0] }, c: { type: "u16", data: [0] }, v, w: width, n: idx }],
      ["VMM", raw("i8@0:AQID")],
      ["VMM", raw("i8@-0.5:AQID")],
      ["VMM", raw("i8@1e999:AQID")],
      ["VMM", raw("i8@x:AQID")],
      ["VMM", raw("f32@1:AAAAAAAAAAAAAAAA")],
      ["VMM", raw("u32@1:AAAAAAAAAAAAAAAA")],
      ["VMM", raw("i8@0.5:AQI")],
      ["VMM", raw("i8@0.5:AQI=")],
      ["VMM", raw("i8@0.5:AQIDBA==")],
    ]);
    expect(net).toEqual({ ...NOTHING, errors: 12 });
    // The words are the emulator's (unpack, argPacked), on every implementation.
    const m = await w.call(tag(), "VMM", raw("i8@0:AQID"));
    expect(m.kind === "err" && m.message).toBe("x: the scale of a quantised array must be a positive number");
    const n = await w.call(tag(), "PLIST", {
      r: { type: "u16", data: [0] },
      c: { type: "u16", data: [0] },
      v,
      w: width,
      n: idx,
    });
    expect(n.kind === "err" && n.message).toBe("n must be a packed u16 array, not quantised");
  });

  it("a board without IDN dac= adc= refuses q=1 and OPU x=last with 203", async () => {
    const w = await open({});
    const idn = await w.ok(tag(), "IDN");
    if (idn.has("dac")) return; // a real board that speaks the wire: the tests below cover it
    expect(idn.has("adc")).toBe(false);
    const lim = limitsOf(await w.ok(tag(), "LIM"));
    const { v, w: width } = safePulse(lim);
    await w.ok(tag(), "VMM", { ...BLOCK, x: f32(X) });
    const net = await refused(w, 203, [
      ["READROW", { r: 0, q: 1 }],
      ["READALL", { q: 1 }],
      ["VMM", { ...BLOCK, x: f32(X), q: 1 }],
      ["OPU", { ...BLOCK, x: "last", d: f32(D), vp: v, vn: -v, w: width, scale: 40 }],
    ]);
    expect(net).toEqual({ ...NOTHING, errors: 4 });
    expect(await w.err(tag(), "READROW", { r: 0, q: 2 })).toBe(203);
  });

  describe("a board that reports IDN dac= adc=", () => {
    /** Opens a 1.1-wire link; undefined (the test returns) for a real board that does not speak it. */
    async function openWire(): Promise<{ w: Wire; adc: number; v: number; width: number } | undefined> {
      const w = await open({ wire: true });
      const idn = await w.ok(tag(), "IDN");
      if (!idn.has("adc")) {
        expect(factory.emulated, "an emulated link opened with { wire: true } reports dac= and adc=").toBe(
          false,
        );
        return undefined;
      }
      if (factory.emulated)
        expect([num(idn, "dac"), num(idn, "adc")]).toEqual([WIRE_OPTIONS.dac, WIRE_OPTIONS.adc]);
      const { v, w: width } = safePulse(limitsOf(await w.ok(tag(), "LIM")));
      return { w, adc: num(idn, "adc"), v, width };
    }

    /** The reply's `key` quantised as the board must quantise it: the float32 reply through quantise. */
    const expectQuantised = (q: Args, f: Args, key: string, adc: number) => {
      const got = unpack(q.get(key)!);
      expect(got.scale, `${key} is quantised`).toBeGreaterThan(0);
      const want = quantise(unpack(f.get(key)!).data, adc);
      expect(q.get(key)).toBe(pack(want.type, want.data, want.scale));
    };

    emulatedOnly(
      "q=1 answers READROW, READCOL, READBLK, READALL, VMM and VMMT quantised at the ADC's resolution",
      async () => {
        const s = await openWire();
        if (!s) return;
        const { w, adc, v, width } = s;
        // A block that is not uniform, so that the quantisation shows.
        const counts = { type: "i16" as const, data: [5, 1, 9, 3, 7, 2] };
        await w.ok(tag(), "PBLK", { ...BLOCK, n: counts, vp: v, vn: -v, w: width });
        const reads: Array<[string, ArgInput, string]> = [
          ["READROW", { r: 2 }, "data"],
          ["READCOL", { c: 3 }, "data"],
          ["READBLK", { ...BLOCK }, "data"],
          ["READALL", {}, "data"],
          ["VMM", { ...BLOCK, x: f32(X) }, "y"],
          ["VMM", { ...BLOCK, x: f32([...X, ...X.map((a) => a / 2)]), k: 2 }, "y"],
          ["VMMT", { ...BLOCK, x: f32([0.1, 0.3]) }, "y"],
        ];
        for (const [verb, args, key] of reads) {
          const f = await w.ok(tag(), verb, args);
          const q = await w.ok(tag(), verb, { ...args, q: 1 });
          expectQuantised(q, f, key, adc);
          expect(await w.ok(tag(), verb, { ...args, q: 0 })).toEqual(f);
        }
        expect(await w.err(tag(), "READROW", { r: 0, q: 2 })).toBe(203);
        const m = await w.call(tag(), "VMM", { ...BLOCK, x: f32(X), q: 2 });
        expect(m.kind === "err" && m.message).toBe("q=2 outside [0, 1]");
      },
    );

    it("OPU x=last uses the input of the last VMM (k=1) on the block: the same pulses as x sent again", async () => {
      const s = await openWire();
      if (!s) return;
      const { w, v, width } = s;
      const opu = { ...BLOCK, d: f32(D), vp: v, vn: -v, w: width, scale: 40 };
      await w.ok(tag(), "VMM", { ...BLOCK, x: XQ });
      let held = 0;
      const net = await netStat(w, tag, async () => {
        held = num(await w.ok(tag(), "OPU", { ...opu, x: "last" }), "pulses");
      });
      const sent = num(
        await w.ok(tag(), "OPU", { ...opu, x: f32(Array.from(unpackedValues(XQ))) }),
        "pulses",
      );
      expect(held).toBeGreaterThan(0);
      expect(held).toBe(sent);
      expect(net).toEqual({ ...NOTHING, pulses: held, cmds: 1 });
      // Still held after the update: OPU does not consume it.
      expect(num(await w.ok(tag(), "OPU", { ...opu, x: "last" }), "pulses")).toBe(held);
    });

    it("OPU x=last is refused with 203 and nothing applied when nothing is held for the block", async () => {
      const s = await openWire();
      if (!s) return;
      const { w, v, width } = s;
      const opu = { ...BLOCK, x: "last", d: f32(D), vp: v, vn: -v, w: width, scale: 40 };
      await w.ok(tag(), "VMM", { ...BLOCK, x: f32(X) });
      const other = { ...opu, r0: 0 };
      const m = await w.call(tag(), "OPU", other);
      expect(m.kind === "err" && m.message).toBe("no VMM input held for block 3x2 at (0, 2): send x");
      const steps: Array<() => Promise<unknown>> = [
        () => w.ok(tag(), "VMMT", { ...BLOCK, x: f32(D) }), // VMMT holds nothing, forgets nothing
        () => w.ok(tag(), "VMM", { ...BLOCK, x: f32([...X, ...X]), k: 2 }), // k>1 drops the block's input
        () => w.ok(tag(), "VMM", { ...BLOCK, x: f32(X) }).then(() => w.ok(tag(), "HELLO")),
        async () => {
          await w.ok(tag(), "VMM", { ...BLOCK, x: f32(X) });
          await w.ok(tag(), "RESET");
          await w.event("BOOT");
        },
      ];
      const expectHeld = [true, false, false, false];
      for (let i = 0; i < steps.length; i++) {
        await steps[i]!();
        const net = await netStat(w, tag, async () => {
          const r = await w.call(tag(), "OPU", opu);
          expect(r.kind === "ok", `step ${i}`).toBe(expectHeld[i]);
        });
        if (!expectHeld[i]) expect(net).toEqual({ ...NOTHING, errors: 1 });
      }
    });
  });
});

/** The float32 values a quantised array stands for. */
function unpackedValues(q: { data: ArrayLike<number>; scale?: number }): Float32Array {
  return Float32Array.from(q.data, (d) => d * (q.scale ?? 1));
}
