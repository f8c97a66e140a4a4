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

const PORT = "emu://?rows=400&cols=20&device=srm&seed=1";
const SMALL: Partial<SnnOptions> = {
  imagesPerEpoch: 800,
  testImages: 1000,
  window: 20,
  stashAt: 0.85,
  steps: 8,
};

async function run(stash: boolean): Promise<{ result: SnnResult; events: SnnEvent[] }> {
  const board = await connect(PORT);
  try {
    const events = await lastValueFrom(
      trainSnn({
        board,
        stash,
        audit: stash,
        train: loadMnist("train", { crop: 20, limit: 2000 }),
        test: loadMnist("test", { crop: 20, limit: 1000 }),
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

describe("stashing on a self-rectifying array (reduced size)", () => {
  let base: SnnResult;
  let stash: SnnResult;
  let stashEvents: SnnEvent[];
  beforeAll(async () => {
    const [a, b] = await Promise.all([run(false), run(true)]);
    base = a.result;
    stash = b.result;
    stashEvents = b.events;
  }, 300_000);

  it("the baseline learns and stashes nothing", () => {
    expect(base.accuracy).toBeGreaterThan(0.5);
    expect(base.stashedAt.every((s) => s === null)).toBe(true);
    expect(base.train.pulses).toBeGreaterThan(0);
  });

  it("stashes neurons judged from their spike counts, and restores them all for the test", () => {
    const stashed = stash.stashedAt.filter((s) => s !== null);
    expect(stashed.length).toBeGreaterThanOrEqual(3);
    expect(stashEvents.filter((e) => e.type === "stash")).toHaveLength(stashed.length);
    // The test sees every neuron: every digit can be the answer.
    expect(stash.confusion.flat().reduce((a, b) => a + b, 0)).toBe(1000);
    expect(stash.perClass.filter((a) => a > 0).length).toBeGreaterThanOrEqual(8);
  });

  it("stashed columns receive no pulses: read back bit-identical at the end", () => {
    expect(stash.audit!.length).toBe(stash.stashedAt.filter((s) => s !== null).length);
    for (const a of stash.audit!) expect(a.maxChange, `neuron ${a.neuron}`).toBe(0);
  });

  it("fewer reads, fewer pulses and less energy, by the board's own counters", () => {
    // Measured: reads −10.7 %, energy −12.8 % (window 20, 85 %; 800 images).
    expect(stash.cellReads).toBeLessThan(0.95 * base.cellReads);
    expect(stash.train.pulses).toBeLessThan(base.train.pulses);
    expect(stash.train.energy).toBeLessThan(0.95 * base.train.energy);
  });

  it("without an accuracy loss beyond the test's resolution: at most 3 points below the baseline on the same 1000 test images", () => {
    // One-sided, as the claim ("no loss of accuracy"). Both arms are scored on the same images, so
    // the difference is resolved to about 2 points (one standard error of two accuracies near 75 %
    // on 1000 images); the full-size result over five seeds is in docs/experiments-snn.md.
    // Measured: 65.0 % → 66.3 %. With an eager criterion (window 10, 80 %) the same test measured
    // 65.0 % → 60.7 % and fails.
    expect(stash.accuracy).toBeGreaterThan(base.accuracy - 0.03);
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
