/**
 * Boards a lab already owns, end to end through the CLI (called in-process, `main(argv)`):
 * `xbar characterize`, `xbar program` and an example campaign on the bench board (emulated SMU +
 * matrix) and on the emulated ArC ONE over a socat pty pair (its own serial protocol on a real
 * serial device path); `xbar run --dry-run` and `xbar train` telling the time before starting; and a
 * reduced-size `xbar train --rule hybrid` on the bench board (in-process, MNIST pooled to fit a bench).
 *
 * The pty tests need socat: required when CI=true, skipped with a message elsewhere.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { serveArc1Serial } from "../mocks/arc1.ts";
import { RunStore } from "../src/campaigns/store/run-store.ts";
import { main } from "../src/cli/main.ts";
import { loadMnist } from "../src/learning/datasets/mnist.ts";
import type { TrainResult } from "../src/learning/training/train.ts";
import { type PtyPair, startPtyPair, which } from "../tools/pty.ts";

const dir = mkdtempSync(join(tmpdir(), "xbar-bench-e2e-"));
const BENCH = "bench-emu://?rows=4&cols=4&device=agsi&seed=1";

/** Runs the CLI in-process; returns exit code, stdout and stderr. */
async function xbar(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => {
    stdout += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => {
    stderr += String(s);
    return true;
  });
  const before = process.exitCode;
  try {
    const code = await main(["node", "xbar", ...args]);
    return { code, stdout, stderr };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.exitCode = before;
  }
}

const targets = join(dir, "targets.csv");
writeFileSync(targets, "row,col,target\n0,0,1.5e-8\n0,1,2.5e-8\n1,0,1e-8\n");

function campaign(name: string, board: string): string {
  const f = join(dir, `${name}.yaml`);
  writeFileSync(
    f,
    readFileSync("examples/bench-small.yaml", "utf8").replace(/^board: .*$/m, `board: "${board}"`),
  );
  return f;
}

/** The three CLI checks, on one board URL. */
function cliSuite(url: () => string, name: string): void {
  it("xbar characterize: the pulse response, as CSV", async () => {
    const r = await xbar(["characterize", "--port", url(), "--row", "1", "--col", "1", "--pulses", "8"]);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.trim().split("\n");
    expect(rows).toHaveLength(1 + 17);
    const g = rows.slice(1).map((l) => Number(l.split(",").at(-1)));
    expect(g[8]!).toBeGreaterThan(g[0]!);
    expect(g[16]!).toBeLessThan(g[8]!);
  });

  it("xbar program: three devices to their targets", async () => {
    const r = await xbar(["program", "--port", url(), "--targets", targets, "--tolerance", "0.1", "--json"]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const j = JSON.parse(r.stdout.trim().split("\n").pop()!) as { devices: Array<{ status: string }> };
    expect(j.devices.map((d) => d.status)).toEqual(["converged", "converged", "converged"]);
  });

  it("an example campaign runs to the end and its data is in the run database", async () => {
    const db = join(dir, `${name}.sqlite`);
    const r = await xbar(["run", campaign(name, url()), "--db", db]);
    expect(r.code, r.stderr).toBe(0);
    const store = await RunStore.open(db);
    try {
      const [run] = await store.runs();
      expect(run!.status).toBe("completed");
      expect(await store.measurements(run!.id, "pulse_response")).toHaveLength(21);
      expect(await store.measurementCount(run!.id)).toBeGreaterThan(21);
    } finally {
      await store.close();
    }
  });
}

describe("bench board (emulated SMU + 707B matrix)", () => {
  cliSuite(() => BENCH, "bench");

  it("xbar run --dry-run tells the time from per-device operations", async () => {
    const r = await xbar(["run", campaign("bench-dry", BENCH), "--dry-run"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/device reads, \d+ pulses, one at a time/);
    expect(r.stdout).toMatch(/estimated time: /);
  });

  it("xbar train says before starting how long composed VMMs take", async () => {
    // A 400-input layer does not fit a 72-line bench: the estimate comes first, then the refusal.
    const r = await xbar([
      "train",
      "--rule",
      "hybrid",
      "--port",
      "bench-emu://?rows=36&cols=36",
      "--hidden",
      "2",
      "--epochs",
      "1",
      "--images-per-epoch",
      "2",
      "--test-images",
      "1",
    ]);
    expect(r.stderr).toMatch(
      /has no native VMM: every multiply is composed from single-device reads \(1600 reads per image, ~[\d.]+ s\); 3 images take at least/,
    );
    expect(r.code).toBe(1);
  });

  it("xbar train --rule hybrid, reduced size, on the bench board", async () => {
    // MNIST's centre 20 x 20 pooled 10 x 10 to 2 x 2: 4 inputs, so layer 1 (5 x 2*2) fits a bench.
    const r = await xbar([
      "train",
      "--rule",
      "hybrid",
      "--port",
      "bench-emu://?rows=5&cols=4&device=agsi&seed=1",
      "--pool",
      "10",
      "--hidden",
      "2",
      "--epochs",
      "1",
      "--images-per-epoch",
      "8",
      "--test-images",
      "8",
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as Pick<TrainResult, "options" | "totals" | "transfers" | "epochs"> & {
      confusion: number[][];
    };
    expect(j.options).toMatchObject({ pool: 10, hidden: 2 });
    expect(j.epochs.map((e) => e.phase)).toEqual(["pretrain (software)", "hybrid (layer 1 on the array)"]);
    expect(j.confusion.flat().reduce((a, b) => a + b)).toBe(8); // the 8 test images
    // Every forward multiply of layer 1 is 20 single-device reads on this board.
    expect(j.totals.reads).toBeGreaterThan(16 * 20);
    expect(j.totals.pulses).toBeGreaterThan(0);
    expect(j.transfers?.map((t) => t.method)).toEqual(["write-verify", "open-loop"]);
  });

  it("--pool averages blocks of the crop: each pooled input is the mean of its pixels", () => {
    const full = loadMnist("test", { limit: 3 });
    const pooled = loadMnist("test", { limit: 3, pool: 5 });
    expect(pooled.inputs).toBe(16);
    for (let n = 0; n < 3; n++)
      for (const [by, bx] of [
        [0, 0],
        [1, 2],
        [3, 3],
      ] as const) {
        let sum = 0;
        for (let y = 0; y < 5; y++)
          for (let x = 0; x < 5; x++) sum += full.images[n * 400 + (by * 5 + y) * 20 + bx * 5 + x]!;
        expect(pooled.images[n * 16 + by * 4 + bx]).toBeCloseTo(sum / 25, 5);
      }
  });

  it("--pool that does not divide the crop is refused before anything is sent", async () => {
    const r = await xbar([
      "train",
      "--rule",
      "hybrid",
      "--port",
      "bench-emu://?rows=5&cols=4",
      "--pool",
      "3",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^xbar: E608 BAD_INPUT: --pool 3 does not divide the 20-pixel crop: one of 1, 2, 4, 5, 10, 20$/m,
    );
  });
});

const haveSocat = Boolean(which("socat"));
if (!haveSocat && process.env.CI !== "true")
  console.warn("bench-e2e: socat not found, ArC ONE pty tests skipped");

describe.skipIf(!haveSocat && process.env.CI !== "true")("emulated ArC ONE over a socat pty", () => {
  let pair: PtyPair;
  let stop = async () => {};
  beforeAll(async () => {
    pair = await startPtyPair({ prefix: "xbar-arc1-" });
    const { port } = await serveArc1Serial({ rows: 4, cols: 4, device: "agsi", seed: 1 }, pair.boardPath);
    stop = () => new Promise<void>((r) => port.close(() => r()));
  });
  afterAll(async () => {
    await stop();
    await pair?.stop();
  });
  cliSuite(() => `arc1://${pair.hostPath}?rows=4&cols=4&boot=0`, "arc1");
});
