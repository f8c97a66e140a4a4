/** RxJS operators over the Board, run through the whole stack against the emulated board. */
import { firstValueFrom, lastValueFrom, take, toArray } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { CrossbarClient } from "../drivers/index.ts";
import type { Board } from "../src/board/board.ts";
import { connect } from "../src/board/connect.ts";
import { CrossbarBoard } from "../src/board/protocol-board.ts";
import { characterize, programVerify, retention, type Target } from "../src/pipelines/index.ts";
import { FaultyLink } from "./helpers/faulty-link.ts";

const boards: Board[] = [];
async function open(url: string): Promise<Board> {
  const b = await connect(url);
  boards.push(b);
  return b;
}
afterEach(async () => {
  await Promise.all(boards.splice(0).map((b) => b.close()));
});

describe("characterize", () => {
  it("reads, then potentiates N times, then depresses N times, one point per pulse", async () => {
    const b = await open("emu://?rows=4&cols=4&device=linear&seed=1");
    const pts = await lastValueFrom(characterize(b, { row: 1, col: 2, pulses: 50 }).pipe(toArray()));
    expect(pts).toHaveLength(101);
    expect(pts[0]).toMatchObject({ phase: "initial", pulse: 0 });
    const ltp = pts.filter((p) => p.phase === "potentiation").map((p) => p.conductance);
    const ltd = pts.filter((p) => p.phase === "depression").map((p) => p.conductance);
    for (let i = 1; i < 50; i++) {
      expect(ltp[i]!).toBeGreaterThan(ltp[i - 1]!);
      expect(ltd[i]!).toBeLessThan(ltd[i - 1]!);
    }
    // Linear device: 1 uS .. 100 uS in 1000 levels, so 50 pulses add 50 * 99 nS.
    expect(ltp[49]! - pts[0]!.conductance).toBeCloseTo(50 * 99e-9, 9);
    expect((await firstValueFrom(b.counters())).pulses).toBe(100);
  });

  it("shows the Ag:a-Si device's nonlinearity: most of the range is gained in the first half of the pulses", async () => {
    const b = await open("emu://?rows=8&cols=8&device=agsi&seed=3");
    const norm: number[] = [];
    for (let c = 0; c < 8; c++) {
      const pts = await lastValueFrom(characterize(b, { row: 0, col: c, pulses: 97 }).pipe(toArray()));
      const g = (i: number) => pts.find((p) => p.phase === "potentiation" && p.index === i)!.conductance;
      norm.push((g(48) - 3.0769e-9) / (38.462e-9 - 3.0769e-9));
    }
    const mean = norm.reduce((a, x) => a + x, 0) / norm.length;
    // NeuroSim label 2.4: about 0.73 of the range after half the pulses (noise of 3.5 % per pulse).
    expect(mean).toBeGreaterThan(0.63);
    expect(mean).toBeLessThan(0.83);
  });

  it("is deterministic under a seed and differs between seeds", async () => {
    const curve = async (seed: number) => {
      const b = await open(`emu://?rows=2&cols=2&device=agsi&seed=${seed}`);
      return (await lastValueFrom(characterize(b, { row: 0, col: 0, pulses: 20 }).pipe(toArray()))).map(
        (p) => p.conductance,
      );
    };
    const a = await curve(5);
    expect(await curve(5)).toEqual(a);
    expect(await curve(6)).not.toEqual(a);
  });
});

describe("programVerify", () => {
  it("programs a pattern on the linear device to within tolerance, checked by an independent read", async () => {
    const b = await open("emu://?rows=8&cols=8&device=linear&seed=1");
    const targets: Target[] = [];
    for (let r = 0; r < 4; r++)
      for (let c = 0; c < 4; c++)
        targets.push({ row: r + 2, col: c + 1, target: (2 + 5 * ((r * 4 + c) % 13)) * 1e-6 });
    const last = await lastValueFrom(programVerify(b, targets, { tolerance: 0.02 }));
    expect(last.done).toBe(true);
    expect(last.converged).toBe(16);
    const map = await firstValueFrom(b.readBlock({ r0: 2, c0: 1, rows: 4, cols: 4 }));
    for (const t of targets) {
      const g = map.data[(t.row - 2) * 4 + (t.col - 1)]!;
      expect(Math.abs(g - t.target) / t.target).toBeLessThanOrEqual(0.02);
    }
    expect((await firstValueFrom(b.counters())).pulses).toBe(last.pulses);
  });

  it("emits progress each round and reports a device that cannot reach its target as stuck", async () => {
    const b = await open("emu://?rows=4&cols=4&device=linear&seed=1");
    const events = await lastValueFrom(
      programVerify(
        b,
        [
          { row: 0, col: 0, target: 1.5e-4 },
          { row: 0, col: 1, target: 5e-6 },
        ],
        { maxPulses: 5000 },
      ).pipe(toArray()),
    );
    expect(events.length).toBeGreaterThan(2);
    expect(events.slice(0, -1).every((e) => !e.done)).toBe(true);
    const last = events[events.length - 1]!;
    expect(last.devices!.map((d) => d.status)).toEqual(["stuck", "converged"]);
    expect(last.devices![0]!.conductance).toBeCloseTo(1e-4, 8); // saturated at the device's Gmax
  });

  it("refuses nonsense before touching the board", async () => {
    const b = await open("emu://?rows=4&cols=4&device=linear&seed=1");
    expect(() => programVerify(b, [])).toThrow(/no targets/);
    expect(() => programVerify(b, [{ row: 0, col: 0, target: -1 }])).toThrow(/positive/);
    expect((await firstValueFrom(b.counters())).pulses).toBe(0);
  });
});

describe("retention", () => {
  it("reads now and after each interval on the board's (virtual) clock", async () => {
    const b = await open("emu://?rows=4&cols=4&device=linear&seed=1");
    const pts = await lastValueFrom(retention(b, { interval: 3600, count: 5 }).pipe(toArray()));
    expect(pts).toHaveLength(6);
    for (let i = 1; i < pts.length; i++) expect(pts[i]!.t - pts[i - 1]!.t).toBeGreaterThanOrEqual(3600);
    expect(pts[5]!.map.data).toHaveLength(16);
  });
});

describe("cancellation", () => {
  it("unsubscribing stops issuing pulses and sends ABORT, leaving the array idle", async () => {
    const link = new FaultyLink({ rows: 4, cols: 4, device: "linear", seed: 1 });
    const board = await CrossbarBoard.open("faulty://", new CrossbarClient(link));
    const got = await lastValueFrom(
      characterize(board, { row: 0, col: 0, pulses: 1000 }).pipe(take(5), toArray()),
    );
    expect(got).toHaveLength(5);
    await new Promise((r) => setTimeout(r, 50));
    const verbs = link.written.map((l) => l.split(/[ *]/)[1]);
    expect(verbs[verbs.length - 1]).toBe("ABORT");
    const pulsesNow = link.board.counters.pulses;
    expect(pulsesNow).toBeLessThan(10);
    await new Promise((r) => setTimeout(r, 50));
    expect(link.board.counters.pulses).toBe(pulsesNow);
    await board.close();
  });
});
