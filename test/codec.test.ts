/**
 * Codec tests for the line protocol (firmware-protocol/PROTOCOL.md, normative): message encoding and
 * decoding, checksums, framing of a byte stream into bounded lines, packed arrays and typed argument
 * access. Property-based parts are seeded so every run sees the same cases.
 *
 * Tests written with `it.fails` pin a known deviation from PROTOCOL.md (see the comment on each): they
 * assert the behaviour the spec requires and are expected to fail until the codec is fixed, at which
 * point vitest reports them and they should become plain `it`.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ArgInput,
  type Args,
  argInt,
  argNumber,
  argPacked,
  argScalarOrPacked,
  argToken,
  checkKeys,
  checksum,
  createLineReader,
  type Decoded,
  decodeLine,
  encodeErr,
  encodeEvent,
  encodeOk,
  encodeRequest,
  encodeToken,
  frame,
  LineGuard,
  MAX_LINE,
  type Message,
  OVERLONG,
  PACKED_TYPES,
  type PackedType,
  ProtocolError,
  pack,
  unpack,
} from "../firmware-protocol/index.ts";

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

const FC = { seed: 42 } as const;
const LINE_CODES = new Set([101, 102, 103, 104]);

/** The message of a decoded line, failing the test (with the discard reason) when it was discarded. */
function ok(d: Decoded): Message {
  if (!d.ok) throw new Error(`expected ok, got ${d.code} (${d.reason}) for ${JSON.stringify(d.excerpt)}`);
  return d.message;
}

function expectDiscard(d: Decoded, code: number): void {
  expect(d.ok).toBe(false);
  if (d.ok) return;
  expect(d.code).toBe(code);
  expect(d).not.toHaveProperty("message");
}

/** The code of the ProtocolError `fn` throws; fails when it throws anything else or nothing. */
function protocolCode(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return (e as ProtocolError).code;
  }
  throw new Error("expected a ProtocolError, nothing was thrown");
}

const argsOf = (entries: [string, string][]): Args => new Map(entries);

const bytesOf = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Writes `chunks` to a fresh line reader, ends it and resolves with every line it emitted. */
async function readLines(chunks: Buffer[], maxLine?: number): Promise<string[]> {
  const { input, output } = createLineReader(maxLine);
  const lines: string[] = [];
  output.on("data", (line: string) => lines.push(line));
  const ended = new Promise<void>((resolve, reject) => {
    output.on("end", () => resolve());
    output.on("error", reject);
    input.on("error", reject);
  });
  for (const chunk of chunks) input.write(chunk);
  input.end();
  await ended;
  return lines;
}

/** Splits a buffer into one-byte chunks. */
const bytewise = (b: Buffer): Buffer[] => Array.from(b, (_, i) => b.subarray(i, i + 1));

// ---- Arbitraries ----

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ".split("");
const KEY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789".split("");
const printableChar = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
/** Printable ASCII, biased towards the characters a token must escape or that look special. */
const tokenChar = fc.oneof(
  { arbitrary: printableChar, weight: 3 },
  { arbitrary: fc.constantFrom(" ", "=", "*", "%", ":", "!", "'", "(", ")", "~", "u", "8"), weight: 2 },
);

const tagArb = fc.integer({ min: 0, max: 65535 });
// "OK" and "ERR" are excluded: as a request verb they would be read back as a reply (see the report).
const verbArb = fc
  .string({ unit: fc.constantFrom(...UPPER), minLength: 1, maxLength: 8 })
  .filter((v) => v !== "OK" && v !== "ERR");
const keyArb = fc.string({ unit: fc.constantFrom(...KEY_CHARS), minLength: 1, maxLength: 6 });
const numberArb = fc.double({ noNaN: true, noDefaultInfinity: true });
const tokenArb = fc.string({ unit: tokenChar, minLength: 1, maxLength: 24 });
const f32Arb = fc.float32Array({ maxLength: 16 }).map((data) => ({ type: "f32" as const, data }));

type Value = number | string | { type: "f32"; data: Float32Array };
const valueArb: fc.Arbitrary<Value> = fc.oneof(numberArb, tokenArb, f32Arb);
const argListArb = fc.uniqueArray(fc.tuple(keyArb, valueArb), { selector: ([k]) => k, maxLength: 6 });

const toInput = (list: [string, Value][]): ArgInput => Object.fromEntries(list);

/** Asserts that the decoded raw arguments carry exactly the values that were encoded. */
function expectArgs(decoded: Args, list: [string, Value][]): void {
  expect([...decoded.keys()].sort()).toEqual(list.map(([k]) => k).sort());
  for (const [k, v] of list) {
    const raw = decoded.get(k)!;
    if (typeof v === "number") {
      expect(Number(raw) === v, `${k}=${raw} should read back as ${v}`).toBe(true);
      expect(argNumber(decoded, k) === v).toBe(true);
    } else if (typeof v === "string") {
      expect(raw).toBe(v);
    } else {
      const back = argPacked(decoded, k, "f32", v.data.length);
      expect(bytesOf(back).equals(bytesOf(v.data))).toBe(true);
    }
  }
}

/** Any well-formed line: requests, OK replies, ERR replies (messages with spaces and '*') and events. */
const validLineArb = fc.oneof(
  fc.tuple(tagArb, verbArb, argListArb).map(([t, v, a]) => encodeRequest(t, v, toInput(a))),
  fc.tuple(tagArb, argListArb).map(([t, a]) => encodeOk(t, toInput(a))),
  fc
    .tuple(tagArb, fc.integer({ min: 0, max: 999 }), fc.string({ unit: tokenChar, maxLength: 40 }))
    .map(([t, c, m]) => encodeErr(t, c, m)),
  fc.tuple(verbArb, argListArb).map(([n, a]) => encodeEvent(n, toInput(a))),
);

// ---------------------------------------------------------------------------------------------------
// 1. Round trips
// ---------------------------------------------------------------------------------------------------

describe("checksum", () => {
  it("is the zlib/PNG CRC-32 in 8 lowercase hex digits", () => {
    expect(checksum("123456789")).toBe("cbf43926"); // the standard CRC-32 check value
    expect(checksum("")).toBe("00000000"); // zero-padded
    expect(checksum("The quick brown fox jumps over the lazy dog")).toBe("414fa339");
  });

  it("frame appends *crc and LF to the body", () => {
    expect(frame("123456789")).toBe("123456789*cbf43926\n");
  });
});

describe("encode / decodeLine round trips", () => {
  it("encodes a request exactly as PROTOCOL.md writes it and decodes it back", () => {
    const line = encodeRequest(12, "PULSE", { r: 0, c: 3, v: 3.2, w: 0.0003, n: undefined });
    expect(line).toBe(`12 PULSE r=0 c=3 v=3.2 w=0.0003*${checksum("12 PULSE r=0 c=3 v=3.2 w=0.0003")}\n`);
    const d = decodeLine(line);
    expect(d).toEqual({
      ok: true,
      crc: checksum("12 PULSE r=0 c=3 v=3.2 w=0.0003"),
      message: {
        kind: "request",
        tag: 12,
        verb: "PULSE",
        args: new Map([
          ["r", "0"],
          ["c", "3"],
          ["v", "3.2"],
          ["w", "0.0003"],
        ]),
      },
    });
  });

  it("round-trips a request without arguments and tags 0 and 65535", () => {
    expect(ok(decodeLine(encodeRequest(0, "NOP")))).toEqual({
      kind: "request",
      tag: 0,
      verb: "NOP",
      args: new Map(),
    });
    expect(ok(decodeLine(encodeRequest(65535, "IDN")))).toEqual({
      kind: "request",
      tag: 65535,
      verb: "IDN",
      args: new Map(),
    });
  });

  it("round-trips OK replies with number, token and packed arguments", () => {
    const g = new Float32Array([1.5e-6, -2.25, 0, 3.4028234663852886e38]);
    const line = encodeOk(7, {
      n: 10,
      g: 1.25e-5,
      tech: "linear",
      ops: "NOP,IDN,READ",
      data: { type: "f32", data: g },
    });
    expect(line.startsWith("7 OK n=10 g=0.0000125 tech=linear ops=NOP,IDN,READ data=f32:")).toBe(true);
    const m = ok(decodeLine(line));
    expect(m.kind).toBe("ok");
    if (m.kind !== "ok") return;
    expect(m.tag).toBe(7);
    expect(argInt(m.args, "n")).toBe(10);
    expect(argNumber(m.args, "g")).toBe(1.25e-5);
    expect(argToken(m.args, "tech")).toBe("linear");
    expect(argToken(m.args, "ops")).toBe("NOP,IDN,READ");
    expect(Array.from(argPacked(m.args, "data", "f32", 4))).toEqual(Array.from(g));
  });

  it("round-trips an OK reply with no arguments", () => {
    expect(encodeOk(3)).toBe(frame("3 OK"));
    expect(ok(decodeLine(encodeOk(3)))).toEqual({ kind: "ok", tag: 3, args: new Map() });
  });

  it("percent-encodes tokens with spaces, '=', '*' and '%' and decodes them back", () => {
    const msg = "a b=c*d%e 100%";
    const line = encodeOk(1, { msg });
    const body = line.slice(0, line.lastIndexOf("*"));
    expect(body).toBe("1 OK msg=a%20b%3Dc%2Ad%25e%20100%25");
    expect(ok(decodeLine(line))).toEqual({ kind: "ok", tag: 1, args: new Map([["msg", msg]]) });
    expect(encodeToken("No error")).toBe("No%20error");
    expect(encodeToken("V/2")).toBe("V/2");
  });

  it("round-trips ERR replies whose message has spaces and '*'", () => {
    const texts = [
      "amplitude 5.5 V outside the envelope (|v| <= 5 V)",
      "a * b ** c*",
      "*",
      "two  spaces and a trailing one ",
      " leading space",
      "",
      "k=v looks like an argument",
    ];
    for (const text of texts) {
      const line = encodeErr(2, 301, text);
      expect(ok(decodeLine(line)), JSON.stringify(text)).toEqual({
        kind: "err",
        tag: 2,
        code: 301,
        message: text,
      });
    }
  });

  it("ERR replies replace CR and LF in the message by spaces so the line stays one line", () => {
    const line = encodeErr(4, 500, "first\r\nsecond\nthird");
    expect(line.indexOf("\n")).toBe(line.length - 1);
    expect(ok(decodeLine(line))).toEqual({ kind: "err", tag: 4, code: 500, message: "first  second third" });
  });

  it("round-trips events such as BOOT and REJECT", () => {
    const boot = encodeEvent("BOOT", { fw: "0.1.0", proto: 1 });
    expect(boot).toBe(frame("! BOOT fw=0.1.0 proto=1"));
    expect(ok(decodeLine(boot))).toEqual({
      kind: "event",
      name: "BOOT",
      args: new Map([
        ["fw", "0.1.0"],
        ["proto", "1"],
      ]),
    });
    const reject = ok(decodeLine(encodeEvent("REJECT", { code: 101, msg: "checksum mismatch" })));
    expect(reject).toEqual({
      kind: "event",
      name: "REJECT",
      args: new Map([
        ["code", "101"],
        ["msg", "checksum mismatch"],
      ]),
    });
  });

  it("tolerates CRLF, a bare LF and no terminator at all", () => {
    const lf = encodeRequest(9, "READ", { r: 1, c: 2 });
    const expected = decodeLine(lf);
    expect(expected.ok).toBe(true);
    expect(decodeLine(lf.replace(/\n$/, "\r\n"))).toEqual(expected);
    expect(decodeLine(lf.slice(0, -1))).toEqual(expected);
  });

  it("refuses to encode non-finite numbers and empty strings (203)", () => {
    expect(protocolCode(() => encodeRequest(1, "WAIT", { t: Number.NaN }))).toBe(203);
    expect(protocolCode(() => encodeRequest(1, "WAIT", { t: Number.POSITIVE_INFINITY }))).toBe(203);
    expect(protocolCode(() => encodeOk(1, { msg: "" }))).toBe(203);
  });
});

// ---------------------------------------------------------------------------------------------------
// 2. Hard cases: lines that must be discarded, each with its code
// ---------------------------------------------------------------------------------------------------

describe("decodeLine discards bad lines with the right code", () => {
  it("wrong checksum → 101, never a message, no tag", () => {
    const good = encodeRequest(7, "PULSE", { r: 0, c: 0, v: 1, w: 1e-6 });
    const body = good.slice(0, good.lastIndexOf("*"));
    const crc = checksum(body);
    const flipped = (Number.parseInt(crc, 16) ^ 1).toString(16).padStart(8, "0");
    for (const line of [
      `${body}*${flipped}\n`,
      `${body}*00000000`,
      `${body}*${crc.toUpperCase()}`,
      `${body}*${crc} `,
    ]) {
      const d = decodeLine(line);
      expectDiscard(d, 101);
      if (!d.ok) expect(d.tag).toBeUndefined();
    }
    // The body was changed after the checksum was computed.
    expectDiscard(decodeLine(`7 PULSE r=0 c=0 v=9 w=1e-6*${crc}`), 101);
  });

  it("missing or truncated checksum → 101", () => {
    expectDiscard(decodeLine("7 NOP\n"), 101);
    expectDiscard(decodeLine("7 NOP*\n"), 101);
    expectDiscard(decodeLine(`7 NOP*${checksum("7 NOP").slice(0, 7)}\n`), 101);
    expectDiscard(decodeLine(""), 101);
    expectDiscard(decodeLine("\n"), 101);
  });

  it("tag out of range, with leading zeros or not a number → 104", () => {
    for (const head of ["65536", "99999", "100000", "01", "00", "-1", "1.0", "1e3", "+1", "x", ""]) {
      expectDiscard(decodeLine(frame(`${head} NOP`)), 104);
    }
    expectDiscard(decodeLine(frame(" 1 NOP")), 104);
    expect(ok(decodeLine(frame("65535 NOP")))).toMatchObject({ tag: 65535 });
  });

  it("malformed arguments → 102 (tag kept for diagnosis)", () => {
    const bad = [
      "7 SET x", // no '='
      "7 SET =1", // empty key
      "7 SET a=", // empty value
      "7 SET a=1 a=2", // duplicate key
      "7 SET A=1", // uppercase key
      "7 SET a_b=1", // '_' not allowed in a key
      "7 SET a=%ZZ", // bad percent escape
      "7 SET a=100%", // truncated percent escape
      "7 SET a=1  b=2", // double space gives an empty argument
      "7 SET a=1 ", // trailing space
      "7 OK a", // also in replies
    ];
    for (const body of bad) {
      const d = decodeLine(frame(body));
      expectDiscard(d, 102);
      if (!d.ok) expect(d.tag, body).toBe(7);
    }
  });

  it("bad verbs, event names and ERR codes → 102", () => {
    for (const body of [
      "7",
      "7 ",
      "7 nop",
      "7 N0P",
      "7 ERR",
      "7 ERR x oops",
      "7 ERR -1 oops",
      "!",
      "! boot",
      "! BOOT x",
    ]) {
      expectDiscard(decodeLine(frame(body)), 102);
    }
  });

  it("a non-printable byte in a line whose checksum is right → 102", () => {
    for (const body of [
      "7 NOP\u0001",
      "7 SET a=\u0000",
      "7 ERR 1 tab\there",
      "7 SET a=\u007f",
      "7 SET a=é",
      "\u0018",
    ]) {
      expectDiscard(decodeLine(frame(body)), 102);
    }
  });

  it("a line longer than maxLine (terminator included) → 103, checked before anything else", () => {
    // Exactly at the limit: 63 characters + LF = 64 bytes.
    const body = `1 OK d=${"A".repeat(64 - 1 - 9 - "1 OK d=".length)}`;
    const atLimit = frame(body);
    expect(atLimit.length).toBe(64);
    expect(decodeLine(atLimit, 64).ok).toBe(true);
    expectDiscard(decodeLine(atLimit, 63), 103);
    expectDiscard(decodeLine(frame(`${body}A`), 64), 103);
    // Even garbage without a checksum is reported as too long, not as a checksum error.
    expectDiscard(decodeLine("x".repeat(65), 64), 103);
  });

  it("applies the default MAX_LINE of 8 MiB", () => {
    const prefix = "1 OK d=";
    const body = prefix + "A".repeat(MAX_LINE - 1 - 9 - prefix.length);
    const atLimit = frame(body);
    expect(atLimit.length).toBe(MAX_LINE);
    expect(decodeLine(atLimit).ok).toBe(true);
    expectDiscard(decodeLine(frame(`${body}A`)), 103);
  });
});

// ---------------------------------------------------------------------------------------------------
// 3. Framing a byte stream into lines
// ---------------------------------------------------------------------------------------------------

describe("createLineReader framing", () => {
  const good1 = encodeRequest(1, "PULSE", { r: 2, c: 3, v: -1.5, w: 1e-6, n: 4 });
  const good2 = encodeErr(2, 301, "amplitude * out of range");

  it("reassembles frames delivered one byte at a time (LF and CRLF)", async () => {
    const stream = Buffer.from(good1 + good2.replace(/\n$/, "\r\n"), "latin1");
    const lines = await readLines(bytewise(stream));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(good1.slice(0, -1));
    expect(ok(decodeLine(lines[0]!))).toEqual(ok(decodeLine(good1)));
    expect(ok(decodeLine(lines[1]!))).toEqual({
      kind: "err",
      tag: 2,
      code: 301,
      message: "amplitude * out of range",
    });
  });

  it("splits many lines delivered in one chunk", async () => {
    const all = Array.from({ length: 100 }, (_, i) => encodeRequest(i, "READ", { r: i % 8, c: 7 })).join("");
    const lines = await readLines([Buffer.from(all)]);
    expect(lines.map((l) => ok(decodeLine(l))).map((m) => (m.kind === "request" ? m.tag : -1))).toEqual(
      Array.from({ length: 100 }, (_, i) => i),
    );
  });

  it("garbage ending in LF before a good line is its own, discarded line", async () => {
    const garbage = Buffer.from([0x00, 0xff, 0x13, 0x2a, 0x41, 0x80, 0x0d, 0x0a]);
    const lines = await readLines([garbage, Buffer.from(good1)]);
    expect(lines).toHaveLength(2);
    // latin1: every byte is one character, nothing is lost or merged.
    expect(Buffer.from(lines[0]!, "latin1").equals(garbage.subarray(0, -1))).toBe(true);
    const d0 = decodeLine(lines[0]!);
    expect(d0.ok).toBe(false);
    if (!d0.ok) expect(LINE_CODES.has(d0.code)).toBe(true);
    expect(ok(decodeLine(lines[1]!))).toEqual(ok(decodeLine(good1)));
  });

  it("garbage without LF spoils only the line it is glued to", async () => {
    const lines = await readLines([Buffer.from("\u0000\u00ffnoise"), Buffer.from(good1 + good2)]);
    expect(lines).toHaveLength(2);
    // Non-printable bytes are refused before the checksum is even looked at (102).
    expectDiscard(decodeLine(lines[0]!), 102);
    expect(ok(decodeLine(lines[1]!)).kind).toBe("err");
  });

  it("a bad-checksum line followed by a good one: the first is discarded (101), the second decodes", async () => {
    const corrupt = good1.replace("v=-1.5", "v=-9.5");
    const lines = await readLines([Buffer.from(corrupt + good2)]);
    expect(lines).toHaveLength(2);
    expectDiscard(decodeLine(lines[0]!), 101);
    expect(ok(decodeLine(lines[1]!))).toEqual(ok(decodeLine(good2)));
  });

  it("an over-long line (one chunk) becomes the OVERLONG marker, the next line comes through intact", async () => {
    const long = `${"9".repeat(200)}\n`;
    const lines = await readLines([Buffer.from(long + good1)], 64);
    expect(lines).toEqual([OVERLONG, good1.slice(0, -1)]);
    expect(decodeLine(lines[0]!, 64).ok).toBe(false);
    expect(ok(decodeLine(lines[1]!, 64))).toEqual(ok(decodeLine(good1)));
  });

  it("an over-long line delivered byte by byte does not disturb the following line", async () => {
    const lines = await readLines(bytewise(Buffer.from(`${"x".repeat(300)}\n${good1}`)), 64);
    expect(lines).toHaveLength(2);
    expect(lines[0]!.endsWith(OVERLONG)).toBe(true);
    expect(decodeLine(lines[0]!, 64).ok).toBe(false);
    expect(lines[1]).toBe(good1.slice(0, -1));
  });

  it("decodeLine reports the OVERLONG marker as 103", () => {
    expectDiscard(decodeLine(OVERLONG, 64), 103);
  });

  // LineGuard may already have forwarded up to maxLine bytes of a line when it learns the line is too
  // long; it then ends that line with the marker, which decodeLine reports as 103. Memory stays bounded.
  it("an over-long line split across chunks ends with the OVERLONG marker and decodes as 103", async () => {
    const lines = await readLines(
      [Buffer.from("x".repeat(50)), Buffer.from(`${"x".repeat(50)}\n${good1}`)],
      64,
    );
    expect(lines).toHaveLength(2);
    expect(lines[0]!.endsWith(OVERLONG)).toBe(true);
    expect(lines[0]!.length).toBeLessThanOrEqual(65);
    expectDiscard(decodeLine(lines[0]!, 64), 103);
    expect(lines[1]).toBe(good1.slice(0, -1));
  });

  it("an over-long line delivered byte by byte decodes as 103 and the next line survives", async () => {
    const lines = await readLines(bytewise(Buffer.from(`${"x".repeat(300)}\n${good1}`)), 64);
    expect(lines).toHaveLength(2);
    expectDiscard(decodeLine(lines[0]!, 64), 103);
    expect(lines[1]).toBe(good1.slice(0, -1));
  });

  it("passes a line of exactly maxLine bytes (LF included) and marks one byte more", async () => {
    const body = `1 OK d=${"A".repeat(64 - 1 - 9 - "1 OK d=".length)}`;
    const atLimit = frame(body);
    const over = frame(`${body}A`);
    expect(atLimit.length).toBe(64);
    const lines = await readLines(bytewise(Buffer.from(atLimit + over + atLimit)), 64);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(atLimit.slice(0, -1));
    expect(decodeLine(lines[0]!, 64).ok).toBe(true);
    expect(lines[1]!.endsWith(OVERLONG)).toBe(true);
    expect(decodeLine(lines[1]!, 64).ok).toBe(false);
    expect(lines[2]).toBe(atLimit.slice(0, -1));
  });

  it("property: any chunking of a stream of valid lines yields the same lines", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(validLineArb, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (lineList, cutSeeds) => {
          const stream = Buffer.from(lineList.join(""), "latin1");
          const cuts = [...new Set(cutSeeds.map((s) => s % (stream.length + 1)))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let from = 0;
          for (const cut of [...cuts, stream.length]) {
            if (cut > from) chunks.push(stream.subarray(from, cut));
            from = cut;
          }
          const lines = await readLines(chunks);
          expect(lines).toEqual(lineList.map((l) => l.slice(0, -1)));
          for (const l of lines) expect(decodeLine(l).ok).toBe(true);
        },
      ),
      { ...FC, numRuns: 100 },
    );
  });

  it("memory bound: 10 MB without LF never pushes more than maxLine bytes downstream", () => {
    const maxLine = 1024;
    for (const chunkSize of [65536, 1000, 777]) {
      const guard = new LineGuard(maxLine);
      let pushed = 0;
      const out: Buffer[] = [];
      guard.on("data", (b: Buffer) => {
        pushed += b.length;
        out.push(b);
      });
      const chunk = Buffer.alloc(chunkSize, 0x78);
      const total = 10 * 1024 * 1024;
      for (let sent = 0; sent < total; sent += chunkSize) {
        guard.write(chunk);
        expect(pushed).toBeLessThanOrEqual(maxLine);
      }
      expect(guard.readableLength).toBeLessThanOrEqual(maxLine);
      expect(guard.writableLength).toBe(0);
      const before = pushed;
      guard.write(Buffer.from(`\n${encodeRequest(3, "NOP")}`));
      const after = Buffer.concat(out).subarray(before).toString("latin1");
      expect(after).toBe(`${OVERLONG}\n${encodeRequest(3, "NOP")}`);
      // No LF was forwarded before the marker: what went downstream is one partial line at most.
      expect(Buffer.concat(out).subarray(0, before).includes(0x0a)).toBe(false);
      guard.destroy();
    }
  });

  it("memory bound through the whole reader: 10 MB garbage then a good line", async () => {
    const big = Buffer.alloc(64 * 1024, 0x41);
    const chunks = Array.from({ length: 160 }, () => big);
    chunks.push(Buffer.from(`\n${good1}`));
    const lines = await readLines(chunks, 1024);
    expect(lines).toEqual([OVERLONG, good1.slice(0, -1)]);
  });
});

// ---------------------------------------------------------------------------------------------------
// 4. Packed arrays
// ---------------------------------------------------------------------------------------------------

describe("packed arrays", () => {
  const arbs: Record<PackedType, fc.Arbitrary<ArrayBufferView & ArrayLike<number>>> = {
    u8: fc.uint8Array({ maxLength: 40 }),
    u16: fc.uint16Array({ maxLength: 40 }),
    i16: fc.int16Array({ maxLength: 40 }),
    u32: fc.uint32Array({ maxLength: 40 }),
    i32: fc.int32Array({ maxLength: 40 }),
    f32: fc.float32Array({ maxLength: 40 }),
    f64: fc.float64Array({ maxLength: 40 }),
  };

  it("writes little-endian bytes in padded base64", () => {
    expect(pack("u8", [1, 2, 3])).toBe("u8:AQID");
    expect(pack("u16", [1, 2])).toBe("u16:AQACAA==");
    expect(pack("i16", [-1])).toBe("i16://8=");
    expect(pack("f32", [1])).toBe("f32:AACAPw==");
    expect(pack("f64", [])).toBe("f64:");
  });

  it("packs only the elements of a subarray view", () => {
    const whole = new Float32Array([1, 2, 3, 4, 5]);
    const view = whole.subarray(1, 3);
    expect(pack("f32", view)).toBe(pack("f32", [2, 3]));
    expect(Array.from(unpack(pack("f32", view)).data)).toEqual([2, 3]);
  });

  for (const type of Object.keys(PACKED_TYPES) as PackedType[]) {
    it(`property: ${type} pack/unpack and a line round trip keep every byte (empty included)`, () => {
      fc.assert(
        fc.property(arbs[type], (data) => {
          const text = pack(type, data);
          expect(text.startsWith(`${type}:`)).toBe(true);
          const un = unpack(text);
          expect(un.type).toBe(type);
          expect(un.data).toBeInstanceOf(PACKED_TYPES[type]);
          expect(un.data.length).toBe(data.length);
          expect(bytesOf(un.data).equals(bytesOf(data))).toBe(true);
          // Through a whole line and the typed accessor.
          const m = ok(decodeLine(encodeOk(1, { data: { type, data } })));
          if (m.kind !== "ok") throw new Error("not an OK reply");
          const back = argPacked(m.args, "data", type, data.length);
          expect(bytesOf(back).equals(bytesOf(data))).toBe(true);
        }),
        { ...FC, numRuns: 100 },
      );
    });
  }

  it("argPacked accepts an empty array of the right type", () => {
    expect(argPacked(argsOf([["x", "f32:"]]), "x", "f32", 0)).toHaveLength(0);
  });

  it("argPacked: wrong type → 203", () => {
    const args = argsOf([["x", pack("u16", [1, 2])]]);
    expect(protocolCode(() => argPacked(args, "x", "f32"))).toBe(203);
    expect(protocolCode(() => argPacked(args, "x", "i16"))).toBe(203);
    expect(argPacked(args, "x", "u16", 2)).toEqual(new Uint16Array([1, 2]));
  });

  it("argPacked: wrong length → 203", () => {
    const args = argsOf([["x", pack("f32", [1, 2, 3])]]);
    expect(protocolCode(() => argPacked(args, "x", "f32", 2))).toBe(203);
    expect(protocolCode(() => argPacked(args, "x", "f32", 4))).toBe(203);
  });

  it("argPacked: invalid base64, byte count or type prefix → 203; missing → 202", () => {
    for (const raw of [
      "f32:abc", // length not a multiple of 4
      "f32:ab!d", // character outside the alphabet
      "f32:ab-_", // base64url is not RFC 4648 base64
      "f32:A===", // too much padding
      "f32:AA=A", // padding in the middle
      "f32:AAA=", // 2 bytes: not a whole f32
      "u16:AA==", // 1 byte: not a whole u16
      "f16:AAAA", // unknown type
      ":AAAA",
      "AAAA",
      "3.5",
    ]) {
      expect(
        protocolCode(() => argPacked(argsOf([["x", raw]]), "x", "f32")),
        raw,
      ).toBe(203);
    }
    expect(protocolCode(() => argPacked(argsOf([]), "x", "f32"))).toBe(202);
  });

  it("unpack throws RangeError on malformed input", () => {
    expect(() => unpack("f32:abc")).toThrow(RangeError);
    expect(() => unpack("nope")).toThrow(RangeError);
  });

  it("argScalarOrPacked takes a number or a packed array of the right length", () => {
    const args = argsOf([
      ["v", "1.5"],
      ["w", pack("f32", [1, 2])],
      ["n", pack("u16", [1, 2])],
    ]);
    expect(argScalarOrPacked(args, "v", "f32", 2)).toBe(1.5);
    expect(Array.from(argScalarOrPacked(args, "w", "f32", 2) as Float32Array)).toEqual([1, 2]);
    expect(argScalarOrPacked(args, "k", "u16", 2, 1)).toBe(1);
    expect(protocolCode(() => argScalarOrPacked(args, "w", "f32", 3))).toBe(203);
    expect(protocolCode(() => argScalarOrPacked(args, "n", "f32", 2))).toBe(203);
    expect(protocolCode(() => argScalarOrPacked(args, "k", "u16", 2))).toBe(202);
  });
});

// ---------------------------------------------------------------------------------------------------
// 5. Property-based round trip and robustness
// ---------------------------------------------------------------------------------------------------

describe("properties of the line codec", () => {
  it("encodeRequest → decodeLine gives back tag, verb and args", () => {
    fc.assert(
      fc.property(tagArb, verbArb, argListArb, (tag, verb, list) => {
        const line = encodeRequest(tag, verb, toInput(list));
        // One line, one checksum separator, one space-separated part per argument, each with one '='.
        expect(line.indexOf("\n")).toBe(line.length - 1);
        const body = line.slice(0, line.lastIndexOf("*"));
        expect(body).not.toContain("*");
        expect(body).toMatch(/^[ -~]*$/);
        const parts = body.split(" ");
        expect(parts).toHaveLength(2 + list.length);
        const written = new Map(
          parts.slice(2).map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]),
        );
        expect([...written.keys()].sort()).toEqual(list.map(([k]) => k).sort());
        for (const [k, v] of list) {
          if (typeof v !== "string") continue;
          // A token never carries a raw space, '=' or '*', and '%' only as the start of an escape.
          expect(written.get(k)).toMatch(/^(?:[!-$&-)+-<>-~]|%[0-9A-F]{2})+$/);
        }

        const m = ok(decodeLine(line));
        expect(m.kind).toBe("request");
        if (m.kind !== "request") return;
        expect(m.tag).toBe(tag);
        expect(m.verb).toBe(verb);
        expectArgs(m.args, list);
      }),
      { ...FC, numRuns: 500 },
    );
  });

  it("encodeOk and encodeEvent round-trip the same way", () => {
    fc.assert(
      fc.property(tagArb, verbArb, argListArb, (tag, name, list) => {
        const r = ok(decodeLine(encodeOk(tag, toInput(list))));
        expect(r.kind === "ok" && r.tag === tag).toBe(true);
        if (r.kind === "ok") expectArgs(r.args, list);
        const e = ok(decodeLine(encodeEvent(name, toInput(list))));
        expect(e.kind === "event" && e.name === name).toBe(true);
        if (e.kind === "event") expectArgs(e.args, list);
      }),
      { ...FC, numRuns: 300 },
    );
  });

  it("encodeErr round-trips any printable-ASCII message exactly", () => {
    fc.assert(
      fc.property(
        tagArb,
        fc.integer({ min: 0, max: 999 }),
        fc.string({ unit: tokenChar, maxLength: 60 }),
        (tag, code, message) => {
          expect(ok(decodeLine(encodeErr(tag, code, message)))).toEqual({ kind: "err", tag, code, message });
        },
      ),
      { ...FC, numRuns: 300 },
    );
  });

  const checkNeverThrows = (s: string): void => {
    let d: Decoded | undefined;
    expect(() => {
      d = decodeLine(s);
    }).not.toThrow();
    if (d === undefined) throw new Error("no result");
    if (d.ok) {
      expect(["request", "ok", "err", "event"]).toContain(d.message.kind);
      expect(d.crc).toMatch(/^[0-9a-f]{8}$/);
    } else {
      expect(LINE_CODES.has(d.code), `code ${d.code}`).toBe(true);
      expect(typeof d.reason).toBe("string");
      expect(d.excerpt.length).toBeLessThanOrEqual(40);
    }
  };

  it("decodeLine never throws on arbitrary strings and only uses codes 101-104", () => {
    fc.assert(fc.property(fc.string({ maxLength: 80 }), checkNeverThrows), { ...FC, numRuns: 500 });
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 80 }), checkNeverThrows), {
      ...FC,
      numRuns: 300,
    });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) =>
        checkNeverThrows(Buffer.from(b).toString("latin1")),
      ),
      { ...FC, numRuns: 300 },
    );
  });

  it("decodeLine never throws on arbitrary bodies with a valid checksum", () => {
    // Bodies assembled from protocol-looking fragments reach deep into the parser.
    const fragment = fc.constantFrom(
      "0",
      "1",
      "65535",
      "65536",
      "01",
      "!",
      " ",
      "OK",
      "ERR",
      "NOP",
      "a",
      "=",
      "%",
      "%2",
      "%41",
      "%E9",
      "%C3%A9",
      "%ED%A0%80",
      "u8:",
      "f32:AAAA",
      "*",
      ":",
      "\u0000",
      "é",
      "\ud800",
    );
    const body = fc.oneof(
      fc.array(fragment, { maxLength: 12 }).map((a) => a.join("")),
      fc.string({ unit: "binary", maxLength: 60 }),
    );
    fc.assert(
      fc.property(body, (b) => checkNeverThrows(frame(b))),
      { ...FC, numRuns: 1000 },
    );
  });

  it("corrupting any single character of a valid line makes decodeLine refuse it", () => {
    fc.assert(
      fc.property(validLineArb, fc.nat(), printableChar, (line, pos, ch) => {
        const i = pos % line.length;
        fc.pre(line[i] !== ch);
        const corrupted = line.slice(0, i) + ch + line.slice(i + 1);
        const d = decodeLine(corrupted);
        expect(d.ok, `${JSON.stringify(line)} with [${i}] = ${JSON.stringify(ch)}`).toBe(false);
        if (!d.ok) expect(LINE_CODES.has(d.code)).toBe(true);
      }),
      { ...FC, numRuns: 1000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// 7. Typed argument access
// ---------------------------------------------------------------------------------------------------

describe("argNumber / argInt / argToken / checkKeys", () => {
  const args = argsOf([
    ["a", "1.25"],
    ["b", "1.2.3"],
    ["n", "12"],
    ["e", "3e-7"],
    ["big", "1e+21"],
    ["half", "1.5"],
    ["neg", "-2.8"],
    ["tok", "V/2"],
  ]);

  it("reads numbers as JavaScript writes them", () => {
    expect(argNumber(args, "a")).toBe(1.25);
    expect(argNumber(args, "e")).toBe(3e-7);
    expect(argNumber(args, "big")).toBe(1e21);
    expect(argNumber(args, "neg")).toBe(-2.8);
    expect(argInt(args, "n")).toBe(12);
  });

  it("missing → 202 unless a fallback is given", () => {
    expect(protocolCode(() => argNumber(args, "zz"))).toBe(202);
    expect(protocolCode(() => argInt(args, "zz"))).toBe(202);
    expect(protocolCode(() => argToken(args, "zz"))).toBe(202);
    expect(argNumber(args, "zz", 0.5)).toBe(0.5);
    expect(argInt(args, "zz", 1)).toBe(1);
    expect(argToken(args, "zz", "V/2")).toBe("V/2");
    // A fallback does not excuse a bad value that is present.
    expect(protocolCode(() => argNumber(args, "b", 1))).toBe(203);
  });

  it('"1.2.3" and other non-numbers → 203', () => {
    expect(protocolCode(() => argNumber(args, "b"))).toBe(203);
    for (const raw of [
      "",
      "abc",
      "1e",
      "0x10",
      "Infinity",
      "NaN",
      " 1",
      "+1",
      ".5",
      "1.",
      "01",
      "1E5",
      "--1",
    ]) {
      expect(
        protocolCode(() => argNumber(argsOf([["x", raw]]), "x")),
        raw,
      ).toBe(203);
    }
    expect(protocolCode(() => argNumber(args, "tok"))).toBe(203);
  });

  it("argInt refuses fractions and unsafe integers → 203", () => {
    expect(protocolCode(() => argInt(args, "half"))).toBe(203);
    expect(protocolCode(() => argInt(args, "big"))).toBe(203);
    expect(argInt(argsOf([["x", "1e3"]]), "x")).toBe(1000);
  });

  it("property: argNumber reads back every finite double as String() writes it", () => {
    fc.assert(
      fc.property(numberArb, (v) => {
        expect(argNumber(argsOf([["x", String(v)]]), "x") === v).toBe(true);
      }),
      { ...FC, numRuns: 500 },
    );
  });

  it("checkKeys: unknown key → 204, known keys pass", () => {
    expect(() => checkKeys(args, [...args.keys()])).not.toThrow();
    expect(() => checkKeys(new Map(), [])).not.toThrow();
    expect(protocolCode(() => checkKeys(args, ["a", "b"]))).toBe(204);
    expect(protocolCode(() => checkKeys(argsOf([["r", "0"]]), []))).toBe(204);
  });

  it("checkKeys works on a decoded request against the command table", () => {
    const m = ok(decodeLine(encodeRequest(5, "READ", { r: 1, c: 2, x: 3 })));
    if (m.kind !== "request") throw new Error("not a request");
    expect(protocolCode(() => checkKeys(m.args, ["r", "c"]))).toBe(204);
    expect(() => checkKeys(m.args, ["r", "c", "x"])).not.toThrow();
  });
});
