/**
 * Determinism of the emulated physics: the same seed and options give the same bytes on the wire and
 * the same conductances; another seed does not; and each random purpose has its own stream, so that
 * switching on a sense-path effect does not change what the pulses do.
 */
import { firstValueFrom } from "rxjs";
import { describe, expect, it } from "vitest";
import { type ArgInput, encodeRequest } from "../firmware-protocol/index.ts";
import { type BoardOptions, EmulatedBoard } from "../mocks/index.ts";
import { pulseAll, readAll, withEmu } from "./helpers/physics.ts";

/**
 * Sends a fixed script of requests over one session; returns every line the board sent back, once
 * every request is answered (a heavy command runs in slices, on later turns of the event loop).
 */
async function transcript(opts: BoardOptions, extra: Array<[string, ArgInput?]> = []): Promise<string[]> {
  const board = new EmulatedBoard(opts);
  const lines: string[] = [];
  const session = board.openSession((l) => lines.push(l));
  const script: Array<[string, ArgInput?]> = [
    ["HELLO"],
    ["IDN"],
    ["CFG", { scheme: "FLOAT" }],
    ["PULSE", { r: 1, c: 2, v: 2, w: 1e-6, n: 5, rd: 1 }],
    [
      "PBLK",
      {
        r0: 0,
        c0: 0,
        nr: 4,
        nc: 4,
        n: { type: "i16", data: [3, 0, -1, 2, 1, 1, 4, 0, 0, 2, 2, 5, -3, 1, 0, 7] },
        vp: 2,
        vn: -2.5,
        w: 1e-6,
      },
    ],
    ["READALL"],
    ["VMM", { r0: 0, c0: 0, nr: 4, nc: 4, x: { type: "f32", data: [0.1, 0.2, 0, 0.05] } }],
    ["WAIT", { t: 3600 }],
    ["READALL"],
    ["VMMT", { r0: 0, c0: 0, nr: 4, nc: 4, x: { type: "f32", data: [0.1, 0.2, 0.1, 0.05] }, k: 1 }],
    ...extra,
    ["STAT"],
  ];
  for (const [i, [verb, args]] of script.entries())
    session.handle(encodeRequest(i + 1, verb, args).replace(/\n$/, ""));
  for (let turns = 0; lines.length < script.length && turns < 100_000; turns++)
    await new Promise((r) => setImmediate(r));
  session.close();
  return lines;
}

const RICH: BoardOptions = {
  rows: 4,
  cols: 4,
  device: "pcm",
  seed: 11,
  effects: {
    sneak: true,
    disturb: true,
    stuckLow: 0.1,
    stuckHigh: 0.1,
    readNoise: 0.02,
    adcBits: 12,
    wire: 1,
  },
};

describe("determinism under a seed", () => {
  it("the same seed and options give the same bytes on the wire (PCM with every effect on)", async () => {
    const a = await transcript(RICH);
    expect(a.length).toBeGreaterThan(10);
    expect(a.every((l) => !/ ERR /.test(l))).toBe(true);
    expect(await transcript(RICH)).toEqual(a);
    const b = await transcript({ ...RICH, seed: 12 });
    expect(b[0]).toBe(a[0]); // HELLO
    expect(b).not.toEqual(a);
  });

  it("… and for the threshold switch's FIRE", async () => {
    const opts: BoardOptions = { rows: 4, cols: 4, device: "ts-pcm", seed: 5 };
    const fire: Array<[string, ArgInput?]> = [["FIRE", { r0: 0, c0: 0, nr: 2, nc: 2, v: 2, t: 0.005 }]];
    const a = await transcript(opts, fire);
    expect(a.at(-2)).toMatch(/ OK spikes=u32:/);
    expect(await transcript(opts, fire)).toEqual(a);
  });

  it.each(["agsi", "agsi-d2d", "aihw-softbounds", "aihw-pow", "srm", "ctf"])(
    "%s: the same seed gives the same conductances through connect(), another seed others",
    async (device) => {
      const run = (seed: number) =>
        withEmu({ rows: 8, cols: 8, device, seed, readnoise: 0.01 }, async (b) => {
          await pulseAll(b, 7, 3.2, -2.8, 1e-4);
          await firstValueFrom(b.pulse({ row: 2, col: 2, amplitude: -2.8, width: 1e-4, count: 3 }));
          return readAll(b);
        });
      const a = await run(1);
      expect(await run(1)).toEqual(a);
      expect(await run(2)).not.toEqual(a);
    },
  );

  it("sense-path effects draw from their own stream: read noise does not change what pulses do", async () => {
    const program = async (opts: BoardOptions) => {
      const board = new EmulatedBoard(opts);
      let replies = 0;
      const session = board.openSession(() => replies++);
      for (let i = 0; i < 20; i++) {
        session.handle(
          encodeRequest(2 * i + 1, "PULSE", {
            r: i % 4,
            c: (i * 3) % 4,
            v: 3.2,
            w: 3e-4,
            n: 1 + (i % 3),
          }).trimEnd(),
        );
        session.handle(encodeRequest(2 * i + 2, "READALL").trimEnd());
      }
      // Every request answered (the session defers work to later turns when it has held the loop).
      for (let turns = 0; replies < 40 && turns < 100_000; turns++) await new Promise((r) => setImmediate(r));
      expect(replies).toBe(40);
      return Array.from(board.g);
    };
    const plain = await program({ rows: 4, cols: 4, device: "agsi", seed: 3 });
    const noisy = await program({
      rows: 4,
      cols: 4,
      device: "agsi",
      seed: 3,
      effects: { readNoise: 0.2, adcBits: 6 },
    });
    expect(noisy).toEqual(plain);
  });
});
