/**
 * The retraining experiment on threshold-switch-on-PCM cells (src/learning/retrain/retrain.ts) through emu://,
 * and `xbar retrain` over a TCP socket and a pty. The figures are in docs/experiments-retrain.md.
 */

import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lastValueFrom, toArray } from "rxjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../src/board/connect.ts";
import {
  asciiMap,
  letterF,
  parsePattern,
  patternBlocks,
  type RetrainResult,
  retrain,
} from "../src/learning/retrain/retrain.ts";
import { runXbar, stopAll } from "../tools/run-xbar.ts";
import { describeOnPty, emulateOnTcp } from "./helpers/emulator.ts";

const F5 = ["#####", "#....", "####.", "#....", "#...."];
const show = (p: Uint8Array, n: number) =>
  Array.from({ length: n }, (_, r) =>
    Array.from(p.subarray(r * n, (r + 1) * n), (x) => (x ? "#" : ".")).join(""),
  );

async function campaign(url: string, extra: Record<string, unknown> = {}): Promise<RetrainResult> {
  const board = await connect(url);
  try {
    const events = await lastValueFrom(retrain({ board, ...extra }).pipe(toArray()));
    const done = events[events.length - 1]!;
    if (done.type !== "done") throw new Error("no result");
    return done.result;
  } finally {
    await board.close();
  }
}

describe("the pattern", () => {
  it("is the letter F on 5x5 and larger grids", () => {
    expect(show(letterF(5), 5)).toEqual(F5);
    expect(show(letterF(10), 10)[0]).toBe("##########");
    expect(show(letterF(10), 10)[5]).toBe("########..");
    expect(show(parsePattern(F5.join("/")).pattern, 5)).toEqual(F5);
    expect(() => letterF(4)).toThrow(/>= 5/);
  });

  it("is biased through FIRE as few rectangular blocks", () => {
    expect(patternBlocks(letterF(5), 5)).toEqual([
      { r0: 0, c0: 0, rows: 1, cols: 5 },
      { r0: 1, c0: 0, rows: 1, cols: 1 },
      { r0: 2, c0: 0, rows: 1, cols: 4 },
      { r0: 3, c0: 0, rows: 2, cols: 1 },
    ]);
  });
});

describe("retraining on ts-pcm cells (emu://)", () => {
  const runs: RetrainResult[] = [];
  beforeAll(async () => {
    for (const noise of [0, 1])
      runs.push(await campaign(`emu://?rows=5&cols=5&device=ts-pcm&seed=1&noise=${noise}`));
  }, 60_000);

  it("reaches the trained state both times, and retraining takes fewer windows, firings and less time", () => {
    for (const r of runs) {
      const naive = r.phases.find((p) => p.name === "naive")!;
      const again = r.phases.find((p) => p.name === "retrain")!;
      expect(naive.reached && again.reached).toBe(true);
      expect(again.steps).toBeLessThan(naive.steps);
      expect(again.firings).toBeLessThan(naive.firings);
      expect(again.time).toBeLessThan(naive.time);
      expect(r.ratio.steps).toBeLessThan(1);
    }
  });

  it("the trained array shows the F and the forgotten one does not", () => {
    const r = runs[0]!;
    const f = letterF(5);
    const trained = r.phases.find((p) => p.name === "naive")!.map.data;
    const forgotten = r.phases.find((p) => p.name === "forget")!;
    for (let i = 0; i < 25; i++) {
      if (f[i]) expect(trained[i]!).toBeGreaterThanOrEqual(15e-6);
      else expect(trained[i]!).toBeLessThan(2e-6);
    }
    expect(forgotten.onCells).toBe(0);
    // The picture on a fixed scale: pattern cells dark, the rest blank.
    const art = asciiMap(r.phases.find((p) => p.name === "retrain")!.map, 25e-6);
    expect(art[1]).toMatch(/^\|[^ ]{2} {8}\|$/);
  });

  it("forgetting by drift (WAIT on the board clock) works too", { timeout: 60_000 }, async () => {
    const r = await campaign("emu://?rows=5&cols=5&device=ts-pcm&seed=1&noise=0", {
      forget: "drift",
      forgetSeconds: 1e6,
    });
    const forget = r.phases.find((p) => p.name === "forget")!;
    expect(forget.time).toBeGreaterThanOrEqual(1e6);
    expect(forget.pulses).toBe(0);
    expect(r.phases.find((p) => p.name === "retrain")!.reached).toBe(true);
  });

  it("refuses a board without threshold-switch cells, saying why", async () => {
    await expect(campaign("emu://?rows=5&cols=5&device=pcm")).rejects.toThrow(/pcm devices without FIRE/);
  });
});

afterAll(() => stopAll());

interface RetrainJson {
  size: number;
  phases: Array<{ name: string; steps: number; reached: boolean; time: number; map: { data: number[] } }>;
  ratio: { steps: number };
}
const parse = (stdout: string) => JSON.parse(stdout.trim().split("\n").pop()!) as RetrainJson;
const EMU = ["--rows", "8", "--cols", "8", "--device", "ts-pcm"];

describe("xbar retrain over a TCP socket", () => {
  let url = "";
  const dir = mkdtempSync(join(tmpdir(), "xbar-retrain-"));
  beforeAll(async () => {
    url = await emulateOnTcp([...EMU]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints the array after each phase and writes the SVG", { timeout: 40_000 }, async () => {
    const svg = join(dir, "retrain.svg");
    const r = await runXbar(["retrain", "--port", url, "--svg", svg], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    for (const t of ["after RESET", "trained (naive)", "forgotten", "retrained"])
      expect(r.stdout).toContain(t);
    expect(r.stdout).toMatch(/naive training \d+ windows .*; retraining \d+ windows/);
    expect(existsSync(svg)).toBe(true);
    expect(readFileSync(svg, "utf8")).toMatch(/^<svg[\s\S]*retrained[\s\S]*<\/svg>\s*$/);
  });

  it("--json on an 8x8 F", { timeout: 40_000 }, async () => {
    const r = await runXbar(["retrain", "--port", url, "--size", "8", "--json"], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const j = parse(r.stdout);
    expect(j.size).toBe(8);
    expect(j.phases.map((p) => p.name)).toEqual(["reset", "naive", "forget", "retrain"]);
    expect(j.phases[3]!.map.data).toHaveLength(64);
    expect(j.ratio.steps).toBeLessThan(1);
  });

  it("names a board without FIRE and one too small; exit 3 when not trained", {
    timeout: 60_000,
  }, async () => {
    const [a, b, c] = await Promise.all([
      runXbar(["retrain", "--port", "emu://?rows=8&cols=8&device=agsi"]),
      runXbar(["retrain", "--port", "emu://?rows=4&cols=4&device=ts-pcm"]),
      runXbar(["retrain", "--max-steps", "3"]),
    ]);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/^xbar: .*agsi devices without FIRE/);
    // Not trained within --max-steps: the figures are printed, the exit status says so.
    expect(c.code).toBe(3);
    expect(c.stdout).toMatch(/NOT reached: 3 windows/);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/5x5 pattern needs 5x5 cells; .* has 4x4/);
  });
});

describeOnPty("xbar retrain over a pty (serial device path)", [...EMU], (hostPath) => {
  it("runs the campaign through the serial path", { timeout: 40_000 }, async () => {
    const r = await runXbar(["retrain", "--port", hostPath(), "--json"], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const j = parse(r.stdout);
    expect(j.phases.every((p) => p.name === "reset" || p.name === "forget" || p.reached)).toBe(true);
    expect(j.ratio.steps).toBeLessThan(1);
  });
});
