/**
 * The spiking network and the stashing system (src/learning/snn/snn.ts) at a reduced size, through emu://, and
 * `xbar train --rule snn` over a TCP socket and a pty. The full-size figures are in docs/experiments-snn.md.
 */

import { lastValueFrom, toArray } from "rxjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../src/board/connect.ts";
import { loadMnist } from "../src/learning/datasets/mnist.ts";
import {
  activeRuns,
  type SnnEvent,
  type SnnOptions,
  type SnnResult,
  trainSnn,
} from "../src/learning/snn/snn.ts";
import { runXbar, stopAll } from "../tools/run-xbar.ts";
import { describeOnPty, emulateOnTcp } from "./helpers/emulator.ts";

/** The board of seed N (the host's seed is N too). */
const port = (seed: number) => `emu://?rows=400&cols=20&device=srm&seed=${seed}`;
/**
 * The test's size: 800 training images (one epoch, from the first 2000), 8 time steps per image (the
 * page: 1000 images, 16 steps), 1000 test images; and the stash criterion docs/experiments-snn.md
 * chose on its selection seeds and reports: window 30, 80 %.
 */
const SMALL: Partial<SnnOptions> = {
  imagesPerEpoch: 800,
  testImages: 1000,
  window: 30,
  stashAt: 0.8,
  steps: 8,
};
/** Seeds of the accuracy claim (board and host); seed 1 also for the mechanism tests. */
const SEEDS = [1, 2, 3];
const trainSet = loadMnist("train", { crop: 20, limit: 2000 });
const testSet = loadMnist("test", { crop: 20, limit: 1000 });

async function run(stash: boolean, seed: number): Promise<{ result: SnnResult; events: SnnEvent[] }> {
  const board = await connect(port(seed));
  try {
    const events = await lastValueFrom(
      trainSnn({
        board,
        stash,
        seed,
        audit: stash,
        train: trainSet,
        test: testSet,
        ...SMALL,
      }).pipe(toArray()),
    );
    const done = events[events.length - 1]!;
    if (done.type !== "done") throw new Error("no result");
    return { result: done.result, events };
  } finally {
    await board.close();
  }
}

describe("activeRuns", () => {
  it("groups the pairs of consecutive active neurons into column runs", () => {
    expect(activeRuns([true, true, false, true, false, false, true, true, true, true])).toEqual([
      [0, 4],
      [6, 2],
      [12, 8],
    ]);
    expect(activeRuns(new Array(10).fill(false))).toEqual([]);
  });
});

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) =>
  Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));

describe("stashing on a self-rectifying array, criterion window 30, 80 % (docs/experiments-snn.md's), 800 training images, 8 steps, 1000 test images, seeds 1, 2, 3", () => {
  const bases: SnnResult[] = [];
  const stashes: SnnResult[] = [];
  let base: SnnResult;
  let stash: SnnResult;
  let stashEvents: SnnEvent[];
  beforeAll(async () => {
    for (const seed of SEEDS) {
      const [a, b] = await Promise.all([run(false, seed), run(true, seed)]);
      bases.push(a.result);
      stashes.push(b.result);
      if (seed === 1) stashEvents = b.events;
    }
    [base, stash] = [bases[0]!, stashes[0]!];
  }, 300_000);

  it("the baseline learns and stashes nothing (seed 1)", () => {
    expect(base.accuracy).toBeGreaterThan(0.5);
    expect(base.stashedAt.every((s) => s === null)).toBe(true);
    expect(base.train.pulses).toBeGreaterThan(0);
  });

  it("stashes neurons judged from their spike counts, and restores them all for the test (seed 1)", () => {
    const stashed = stash.stashedAt.filter((s) => s !== null);
    expect(stashed.length).toBeGreaterThanOrEqual(3); // measured: 3
    expect(stashEvents.filter((e) => e.type === "stash")).toHaveLength(stashed.length);
    // The test sees every neuron: every digit can be the answer.
    expect(stash.confusion.flat().reduce((a, b) => a + b, 0)).toBe(1000);
    expect(stash.perClass.filter((a) => a > 0).length).toBeGreaterThanOrEqual(8);
  });

  it("stashed columns receive no pulses: read back bit-identical at the end (seeds 1, 2, 3)", () => {
    for (const s of stashes) {
      expect(s.audit!.length).toBe(s.stashedAt.filter((t) => t !== null).length);
      for (const a of s.audit!) expect(a.maxChange, `neuron ${a.neuron}`).toBe(0);
    }
  });

  it("fewer reads, fewer pulses and less training energy on every seed, by the board's own counters; at least 3 % less energy on average over seeds 1, 2, 3", () => {
    // The board's counters are exact (no sampling error), so "less" is the claim itself. Measured at
    // this size (seeds 1, 2, 3): device-vector reads −5.2, −9.5, −4.6 %; pulses −4.5, −8.3, −1.2 %;
    // training energy −5.4, −9.9, −0.1 % (seed 3 stashes one neuron). The page measures −17.8 ± 3.3 %
    // energy at its size (16 steps, 1000 images); neither is the work's −37 %. Mean here: −5.1 %.
    for (const [i, s] of stashes.entries()) {
      const b = bases[i]!;
      expect(s.cellReads, `seed ${SEEDS[i]}`).toBeLessThan(b.cellReads);
      expect(s.train.pulses, `seed ${SEEDS[i]}`).toBeLessThan(b.train.pulses);
      expect(s.train.energy, `seed ${SEEDS[i]}`).toBeLessThan(b.train.energy);
    }
    expect(mean(stashes.map((s, i) => (s.train.energy / bases[i]!.train.energy - 1) * 100))).toBeLessThan(-3);
  });

  it("no accuracy loss beyond the seed-to-seed spread: mean loss over seeds 1, 2, 3 at most the baselines' standard deviation (docs/experiments-snn.md's test), itself under 3 points", () => {
    // The page's wording and rule: "the loss is within the seed-to-seed spread" (mean accuracy of the
    // baselines minus mean accuracy with stashing, at most the standard deviation of the baselines),
    // with the criterion it chose (window 30, 80 %). Every arm is scored on the same 1000 test images.
    // Measured: baselines 65.0, 65.8, 67.7 %, stashing 67.4, 64.1, 68.7 % (change +2.4, −1.7, +1.0
    // points): mean loss −0.57 points against a spread of 1.39. The spread must stay under 3 points for
    // the margin to mean something. With an eager criterion (window 10, 80 %) stashing measured 60.7,
    // 56.0, 61.2 %, a mean loss of 6.87 points, and this test fails.
    const accB = bases.map((r) => r.accuracy * 100);
    const accS = stashes.map((r) => r.accuracy * 100);
    const spread = sd(accB);
    expect(spread).toBeLessThan(3);
    expect(mean(accB) - mean(accS)).toBeLessThanOrEqual(spread);
  });
});

interface SnnJson {
  rule: string;
  stash: boolean;
  accuracy: number;
  confusion: number[][];
  train: { pulses: number; energy: number; vmms: number };
  stashedAt: Array<number | null>;
}

const TINY = ["--images-per-epoch", "120", "--test-images", "40", "--steps", "8", "--json"];
const parse = (stdout: string) => JSON.parse(stdout.trim().split("\n").pop()!) as SnnJson;

function expectTrained(j: SnnJson, stash: boolean): void {
  expect(j.rule).toBe("snn");
  expect(j.stash).toBe(stash);
  expect(j.confusion.flat().reduce((a, b) => a + b, 0)).toBe(40);
  expect(j.train.pulses).toBeGreaterThan(0);
  expect(j.train.energy).toBeGreaterThan(0);
  // One VMM of 8 vectors per training image at least (while any neuron is active).
  if (!stash) expect(j.train.vmms).toBeGreaterThanOrEqual(8 * 120);
  else expect(j.train.vmms).toBeGreaterThan(0);
}

afterAll(() => stopAll());

const EMU = ["--rows", "400", "--cols", "20", "--device", "srm"];

describe("xbar train --rule snn over a TCP socket", () => {
  let url = "";
  beforeAll(async () => {
    url = await emulateOnTcp([...EMU]);
  });

  it("trains with and without stashing through socket://", { timeout: 60_000 }, async () => {
    const a = await runXbar(["train", "--rule", "snn", "--port", url, ...TINY], { timeoutMs: 50_000 });
    expect(a.code, a.stderr).toBe(0);
    expectTrained(parse(a.stdout), false);
    const b = await runXbar(["train", "--rule", "snn", "--stash", "3:0.6", "--port", url, ...TINY], {
      timeoutMs: 50_000,
    });
    expect(b.code, b.stderr).toBe(0);
    expectTrained(parse(b.stdout), true);
    expect(parse(b.stdout).stashedAt.some((s) => s !== null)).toBe(true);
  });

  it("refuses a board that is too small, naming the size", { timeout: 60_000 }, async () => {
    const r = await runXbar([
      "train",
      "--rule",
      "snn",
      "--port",
      "emu://?rows=64&cols=64&device=srm",
      ...TINY,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^xbar: E622 UNSUITABLE_BOARD: .*needs 400x20 devices .* has 64x64/);
  });
});

describe("xbar train --rule snn refuses bad input before touching a board", () => {
  it("--stash with another rule, and a malformed stash criterion", { timeout: 60_000 }, async () => {
    const [a, b] = await Promise.all([
      runXbar(["train", "--rule", "onchip", "--stash", ...TINY]),
      runXbar(["train", "--rule", "snn", "--stash", "20:x", ...TINY]),
    ]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/^xbar: E608 BAD_INPUT: --stash and --steps apply to --rule snn only/);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/^xbar: E608 BAD_INPUT: --stash takes WINDOW:FRACTION/);
  });
});

describeOnPty("xbar train --rule snn over a pty (serial device path)", [...EMU], (hostPath) => {
  it("trains with stashing through the serial path", { timeout: 60_000 }, async () => {
    const r = await runXbar(["train", "--rule", "snn", "--stash", "--port", hostPath(), ...TINY], {
      timeoutMs: 50_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expectTrained(parse(r.stdout), true);
  });
});
