/**
 * Fuzzing (fast-check, seeded, bounded in time) of the emulated board's command handling and of the
 * codec with random and malformed lines: no crash, no unbounded state, exactly one well-formed reply
 * or REJECT per line. The generators are in tools/reliability/fuzz.ts.
 */
import { Duplex, PassThrough } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeLine } from "../firmware-protocol/index.ts";
import { EmulatedBoard, serveStream } from "../mocks/index.ts";
import { fuzzBoard, lineArbitrary } from "../tools/reliability/fuzz.ts";

describe("fuzzing the board session", () => {
  it("20 000 random, mutated and structured lines: one well-formed reply or REJECT each, no 500, bounded state", async () => {
    const f = await fuzzBoard(7, 20_000);
    expect(f.lines).toBe(20_000);
    expect(f.ok + f.err + f.rejected + f.ignored).toBe(20_000);
    // Every layer was reached: framing (101-104), the command table (201-204), the envelope (3xx).
    expect(f.codes).toEqual(expect.arrayContaining([101, 102, 104, 201, 202, 203, 204]));
    expect(f.codes.some((c) => c >= 300 && c < 400)).toBe(true);
    expect(f.ok).toBeGreaterThan(1000);
    expect(f.maxReplay).toBeLessThanOrEqual(64);
    expect(f.maxErrorQueue).toBeLessThanOrEqual(32);
    expect(f.heapGrowthMB).toBeLessThan(100);
  }, 30_000);
});

describe("fuzzing the byte stream", () => {
  it("random lines in random chunks through serveStream: one reply per line, all well-formed", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(lineArbitrary(), { minLength: 1, maxLength: 30 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
        async (lines, cuts) => {
          const board = new EmulatedBoard({ rows: 8, cols: 8, device: "linear", seed: 1, maxLine: 4096 });
          const a = new PassThrough();
          const b = new PassThrough();
          const host = Duplex.from({ readable: a, writable: b });
          const dev = Duplex.from({ readable: b, writable: a });
          serveStream(board, dev);
          const got: string[] = [];
          let buf = "";
          host.on("data", (c: Buffer) => {
            buf += c.toString("latin1");
            let nl = buf.indexOf("\n");
            while (nl >= 0) {
              got.push(buf.slice(0, nl));
              buf = buf.slice(nl + 1);
              nl = buf.indexOf("\n");
            }
          });
          // What goes on the wire: the lines as bytes (characters above 0xFF keep their low byte).
          const bytes = Buffer.from(`${lines.join("\n")}\n`, "latin1").toString("latin1");
          let i = 0;
          let k = 0;
          while (i < bytes.length) {
            const n = cuts[k++ % cuts.length]!;
            host.write(Buffer.from(bytes.slice(i, i + n), "latin1"));
            i += n;
            await new Promise((r) => setImmediate(r));
          }
          await new Promise((r) => setTimeout(r, 5));
          const expected = bytes
            .split("\n")
            .slice(0, -1)
            .filter((l) => l !== "" && l !== "\r").length;
          const replies = got.filter((l) => !l.startsWith("! BOOT "));
          expect(replies).toHaveLength(expected);
          for (const r of got) expect(decodeLine(r).ok).toBe(true);
          for (const s of [host, dev]) {
            s.on("error", () => {}); // destroying a Duplex.from pair reports an AbortError
            s.destroy();
          }
        },
      ),
      { seed: 11, numRuns: 150 },
    );
  }, 30_000);
});

describe("fuzzing the codec", () => {
  it("decodeLine never throws on random, mutated and structured lines, and its verdicts are codes 101-104", () => {
    let n = 0;
    fc.assert(
      fc.property(lineArbitrary(), (line) => {
        n++;
        const d = decodeLine(line);
        if (!d.ok) expect([101, 102, 103, 104]).toContain(d.code);
      }),
      { seed: 5, numRuns: 20_000 },
    );
    expect(n).toBe(20_000);
  });
});
