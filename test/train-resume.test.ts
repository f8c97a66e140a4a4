/**
 * `xbar train --checkpoint FILE` / `--resume FILE`: a training stopped after an epoch and resumed ends
 * exactly where the same training run without a stop ends (onchip on an emulated board that keeps its
 * devices in a file; software), and a resumption on a board that cannot have kept the devices, or on
 * another board, is refused with E623 before anything is sent to it.
 *
 * In process (src/cli/main.ts). The stop comes at the line of the epoch, as Ctrl-C would (the same
 * SIGINT handler), so that it falls exactly on the epoch's boundary: a stop in the middle of an epoch
 * leaves that epoch's pulses on the devices, which a resumption does not undo.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Random } from "../firmware-protocol/random.ts";
import { EmulatedBoard } from "../mocks/board.ts";
import { main } from "../src/cli/main.ts";
import { runXbar, TEST_STATE_DIR, xbarEnv } from "../tools/run-xbar.ts";

const dir = mkdtempSync(join(tmpdir(), "xbar-resume-"));
const SMALL = ["--images-per-epoch", "40", "--hidden", "4", "--test-images", "50", "--seed", "3"];
const emu = (state?: string, seed = 1) =>
  `emu://?rows=512&cols=64&device=linear&seed=${seed}${state ? `&state=${join(dir, state)}` : ""}`;

interface Epoch {
  epoch: number;
  seconds: number;
  trainSeconds: number;
  energy: number;
  [k: string]: unknown;
}
interface TrainJson {
  accuracy: number;
  loss: number;
  confusion: number[][];
  epochs: Epoch[];
  totals: { pulses: number; reads: number; vmms: number; energy: number };
  refreshedPairs?: number;
}

const json = (stdout: string) => JSON.parse(stdout.trim().split("\n").pop()!) as TrainJson;

/**
 * Runs `xbar ARGS` in this process, handing every chunk of stdout to `onStdout` with a function that
 * calls the SIGINT handlers the command installed (as Ctrl-C there would); returns code and output.
 */
async function runWatched(args: string[], onStdout: (chunk: string, sigint: () => void) => void) {
  const saved = { ...process.env };
  Object.assign(process.env, xbarEnv());
  const before = new Set(process.listeners("SIGINT"));
  const sigint = () => {
    for (const l of process.listeners("SIGINT")) if (!before.has(l)) l("SIGINT");
  };
  let stdout = "";
  let stderr = "";
  const writes = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = ((chunk: string) => {
    stdout += chunk;
    onStdout(chunk, sigint);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => {
    stderr += chunk;
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main([process.execPath, "xbar", ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    process.exitCode = undefined;
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

/** Ctrl-C at the line of epoch `n`: the stop falls exactly on the epoch's end. */
const runStoppedAt = (args: string[], n: number) =>
  runWatched(args, (chunk, sigint) => {
    if (new RegExp(`^epoch ${n} `, "m").test(chunk)) sigint();
  });

/** The epoch reports without their wall times (and energy, a float sum compared apart). */
const figures = (j: TrainJson) => j.epochs.map(({ seconds, trainSeconds, energy, ...rest }) => rest);

/** The same training, uninterrupted and stopped after epoch 1 then resumed: identical results. */
async function expectResumedAsUninterrupted(args: string[], run: (name: string) => string[]) {
  const whole = await runXbar([...args, ...run("a"), "--json"], { timeoutMs: 60_000 });
  expect(whole.code, whole.stderr).toBe(0);
  const ck = run("b")[1]!;
  const stopped = await runStoppedAt([...args, ...run("b")], 1);
  expect(stopped.code, stopped.stderr).toBe(130);
  expect(stopped.stderr).toContain(`resume with: xbar train --resume ${ck}`);
  copyFileSync(ck, `${ck}.after-epoch-1`);
  const resumed = await runXbar(["train", "--resume", ck, "--json"], { timeoutMs: 60_000 });
  expect(resumed.code, resumed.stderr).toBe(0);
  const a = json(whole.stdout);
  const b = json(resumed.stdout);
  expect(b.epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
  expect(figures(b)).toEqual(figures(a));
  expect([b.accuracy, b.loss, b.confusion]).toEqual([a.accuracy, a.loss, a.confusion]);
  const { energy: ea, ...ta } = a.totals;
  const { energy: eb, ...tb } = b.totals;
  expect({ ...tb, seconds: 0, link: 0 }).toEqual({ ...ta, seconds: 0, link: 0 });
  expect(eb).toBeCloseTo(ea, 12);
  for (const [i, e] of b.epochs.entries()) expect(e.energy).toBeCloseTo(a.epochs[i]!.energy, 12);
  expect(b.refreshedPairs).toBe(a.refreshedPairs);
  return { a, b, ck };
}

afterEach(() => vi.restoreAllMocks());

describe("xbar train --resume", () => {
  it("Random continues from its state exactly", () => {
    const r = new Random(9);
    r.permutation(50);
    r.normal();
    const s = Random.fromState(JSON.parse(JSON.stringify(r.state())));
    expect([s.normal(), s.uniform(), ...s.permutation(20)]).toEqual([
      r.normal(),
      r.uniform(),
      ...r.permutation(20),
    ]);
  });

  it("onchip: stopped after epoch 1 and resumed = uninterrupted (figures, counters, devices)", async () => {
    const args = ["train", "--rule", "onchip", "--epochs", "3", ...SMALL];
    const { a } = await expectResumedAsUninterrupted(args, (n) => [
      "--checkpoint",
      join(dir, `${n}.json`),
      "--port",
      emu(`${n}.state`),
    ]);
    expect(a.totals.pulses).toBeGreaterThan(0);
    // The boards' devices end in the same conductances, bit for bit.
    expect(readFileSync(join(dir, "b.state")).equals(readFileSync(join(dir, "a.state")))).toBe(true);
  }, 60_000);

  it("software: stopped after epoch 1 and resumed = uninterrupted", async () => {
    await expectResumedAsUninterrupted(["train", "--rule", "software", "--epochs", "3", ...SMALL], (n) => [
      "--checkpoint",
      join(dir, `s${n}.json`),
    ]);
  }, 30_000);

  it("Stop on the live view says how to resume; the resumed run ends as an uninterrupted one", async () => {
    // Many short epochs, so that the Stop (a POST, sent at epoch 1) lands in the middle of the run.
    const args = ["train", "--rule", "software", "--epochs", "60", ...SMALL];
    const ck = join(dir, "view.json");
    let view = "";
    let stop: Promise<Response> | undefined;
    const r = await runWatched([...args, "--checkpoint", ck, "--view", "0"], (chunk) => {
      view ||= /^view on (http:\S+)/m.exec(chunk)?.[1] ?? "";
      if (/^epoch 1 /m.test(chunk))
        stop = fetch(new URL("stop", view), { method: "POST", headers: { "X-Xbar": "1" } });
    });
    expect((await stop)?.ok).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/Stop pressed on the view/);
    expect(r.stderr).toContain(`resume with: xbar train --resume ${ck}`);
    const resumed = await runXbar(["train", "--resume", ck, "--json"], { timeoutMs: 60_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    // Wherever in an epoch the stop fell, a software run resumes exactly.
    const whole = await runXbar([...args, "--json"], { timeoutMs: 60_000 });
    expect(figures(json(resumed.stdout))).toEqual(figures(json(whole.stdout)));
  }, 30_000);

  it("refuses emu:// without state= (E623), sending nothing to a board", async () => {
    const ck = join(dir, "nostate.json");
    const stopped = await runStoppedAt(
      ["train", "--rule", "onchip", "--epochs", "2", ...SMALL, "--port", emu(), "--checkpoint", ck],
      1,
    );
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toMatch(/this run cannot be resumed/);
    expect(stopped.stderr).toMatch(/it cannot be resumed \(.*keeps its devices nowhere/);
    const opened = vi.spyOn(EmulatedBoard.prototype, "openSession");
    const r = await runXbar(["train", "--resume", ck]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^xbar: E623 CANNOT_RESUME: cannot resume: emu:\/\/.* keeps its devices nowhere/m,
    );
    expect(r.stderr).toContain("&state=FILE");
    expect(opened).not.toHaveBeenCalled();
    opened.mockRestore();
    // Without --checkpoint such a run writes none (it could never be resumed from) and says so.
    const folder = join(TEST_STATE_DIR, "train");
    const files = () => (existsSync(folder) ? readdirSync(folder).length : 0);
    const before = files();
    const plain = await runStoppedAt(
      ["train", "--rule", "onchip", "--epochs", "2", ...SMALL, "--port", emu()],
      1,
    );
    expect(plain.code).toBe(130);
    expect(plain.stderr).toMatch(/^xbar train: no checkpoint: .*this run cannot be resumed/m);
    expect(files()).toBe(before);
  }, 30_000);

  it("refuses a board with another identity (E623), before any pulse", async () => {
    const ck = join(dir, "b.json.after-epoch-1");
    expect(existsSync(ck)).toBe(true);
    const other = emu("other.state", 2);
    const r = await runXbar(["train", "--resume", ck, "--port", other]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^xbar: E623 CANNOT_RESUME: cannot resume: the board at .* is not the one .*serial EMU-00000002.*serial EMU-00000001/m,
    );
    expect(existsSync(join(dir, "other.state"))).toBe(false);
    // The checkpoint's options are the run's: others are refused.
    const e = await runXbar(["train", "--resume", ck, "--epochs", "5"]);
    expect(e.stderr).toMatch(/^xbar: E608 BAD_INPUT: --resume continues the run .*--epochs/m);
  });

  it("says in --help what resume does and needs; the default checkpoint is in the state folder, gone once the run completes", async () => {
    const h = await runXbar(["train", "--help"]);
    expect(h.stdout).toMatch(/--resume <file>/);
    expect(h.stdout).toMatch(/emu:\/\/\?\.\.\.&state=FILE/);
    const r = await runXbar(["train", "--rule", "software", "--epochs", "1", ...SMALL]);
    expect(r.code, r.stderr).toBe(0);
    const path = new RegExp(
      `checkpoint after every epoch: (${join(TEST_STATE_DIR, "train")}\\S+\\.json) \\(deleted when the training completes\\)`,
    );
    const written = path.exec(r.stderr)?.[1];
    expect(written, r.stderr).toBeDefined();
    expect(existsSync(written!)).toBe(false);
  });
});
