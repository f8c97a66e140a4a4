/**
 * `xbar train` end to end over every link a lab would use: an emulated board on a TCP port and one on
 * a serial device (a socat pty pair), plus argument errors. Tiny runs: the figures are checked in
 * test/training.test.ts and docs/experiments.md; here what matters is that the command works unchanged.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runXbar, stopAll } from "../tools/run-xbar.ts";
import { describeOnPty, emulateOnTcp } from "./helpers/emulator.ts";

const TINY = ["--epochs", "1", "--images-per-epoch", "40", "--hidden", "4", "--test-images", "50", "--json"];

interface TrainJson {
  rule: string;
  accuracy: number;
  confusion: number[][];
  totals: { pulses: number; reads: number; vmms: number };
  epochs: Array<{ images: number }>;
}

function parse(stdout: string): TrainJson {
  return JSON.parse(stdout.trim().split("\n").pop()!) as TrainJson;
}

function expectTrained(j: TrainJson): void {
  expect(j.rule).toBe("onchip");
  expect(j.epochs[0]!.images).toBe(40);
  expect(j.confusion.flat().reduce((a, b) => a + b, 0)).toBe(50);
  expect(j.totals.pulses).toBeGreaterThan(0);
  // Two forward VMMs and one backward per training image, plus the evaluation's VMM vectors.
  expect(j.totals.vmms).toBeGreaterThanOrEqual(3 * 40 + 2 * 50);
}

afterAll(() => stopAll());

describe("xbar train over a TCP socket", () => {
  let url = "";
  beforeAll(async () => {
    url = await emulateOnTcp(["--rows", "512", "--cols", "64", "--device", "agsi"]);
  });

  it("trains on chip through socket://", { timeout: 120_000 }, async () => {
    const r = await runXbar(["train", "--rule", "onchip", "--port", url, ...TINY], { timeoutMs: 100_000 });
    expect(r.code, r.stderr).toBe(0);
    expectTrained(parse(r.stdout));
  });

  it("trains with mini-batches through socket://", { timeout: 120_000 }, async () => {
    const r = await runXbar(["train", "--rule", "onchip", "--port", url, "--batch", "5", ...TINY], {
      timeoutMs: 100_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expectTrained(parse(r.stdout));
  });
});

describeOnPty(
  "xbar train over a pty (serial device path)",
  ["--rows", "512", "--cols", "64", "--device", "agsi"],
  (hostPath) => {
    it("trains on chip through the serial path", { timeout: 120_000 }, async () => {
      const r = await runXbar(["train", "--rule", "onchip", "--port", hostPath(), ...TINY], {
        timeoutMs: 100_000,
      });
      expect(r.code, r.stderr).toBe(0);
      expectTrained(parse(r.stdout));
    });
  },
);

describe("xbar train refuses bad input before touching a board", () => {
  it("a network that does not fit the board, named with its size", async () => {
    const r = await runXbar(["train", "--rule", "onchip", "--port", "emu://?rows=64&cols=64", ...TINY]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^xbar: E622 UNSUITABLE_BOARD: /);
    // Layer 1 is cut into row bands over the 64 rows; layer 2 then finds no columns left.
    expect(r.stderr).toMatch(
      /^xbar: .*layer 2 \(4\+1 x 2\*10\) needs 5x20 devices; the boards have no room left/,
    );
  });

  it("a bad mini-batch, learning-rate decay or refresh level is a usage error that names the rule", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--batch", "0"], /--batch must be an integer in 1\.\./],
      [["--lr-decay", "1.5"], /--lr-decay must be a number in \(0, 1\]/],
      [["--refresh-at", "0.2,0.5"], /--refresh-at must be two fractions high,low with 0 <= low < high < 1/],
    ];
    for (const [args, message] of cases) {
      const r = await runXbar(["train", "--rule", "onchip", ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    // Options that would have no effect with the rule are refused, not ignored.
    const ignored: Array<[string[], RegExp]> = [
      [["--rule", "snn", "--batch", "4"], /--batch applies to the perceptron rules .* not to --rule snn/],
      [["--rule", "snn", "--lr-decay", "0.5"], /--lr-decay applies to the perceptron rules/],
      [["--rule", "hybrid", "--refresh-at", "0.5,0.1"], /--refresh-at applies to refreshed pairs/],
      [["--rule", "onchip", "--update", "bidirectional", "--refresh-at", "0.5,0.1"], /--refresh-at applies/],
      [["--rule", "onchip", "--transfer-scale", "0.5"], /--transfer-scale applies to --rule hybrid only/],
    ];
    for (const [args, message] of ignored) {
      const r = await runXbar(["train", ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^xbar: E608 BAD_INPUT: /);
      expect(r.stderr).toMatch(message);
    }
  });

  it("trains with a mini-batch, a decaying learning rate and its own refresh levels", {
    timeout: 60_000,
  }, async () => {
    const r = await runXbar([
      "train",
      "--rule",
      "onchip",
      "--port",
      "emu://?rows=512&cols=64&device=agsi&seed=1",
      "--batch",
      "8",
      "--lr-decay",
      "0.5",
      "--refresh-at",
      "0.5,0.1",
      ...TINY,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = parse(r.stdout) as TrainJson & { options: Record<string, unknown> };
    expectTrained(j);
    expect(j.options).toMatchObject({ batch: 8, lrDecay: 0.5, refreshAt: { high: 0.5, low: 0.1 } });
  });

  it("an unknown rule and a missing rule are usage errors", async () => {
    expect((await runXbar(["train", "--rule", "magic"])).code).toBe(2);
    expect((await runXbar(["train"])).code).toBe(2);
  });
});
