/**
 * Interruption and resume, end to end: `xbar run` against an emulated board on TCP (its state
 * outlives each connection, as a real board's would), killed outright (SIGKILL) or interrupted
 * (SIGINT) mid-step, then `xbar run --resume RUN_ID`. The run store must show every step completed
 * exactly once, steps completed before the kill not repeated, and the killed step's partial data kept
 * as an interrupted attempt.
 */

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunStore } from "../src/campaigns/store/run-store.ts";
import { describeRun, runXbar, startXbar, stopAll } from "../tools/run-xbar.ts";
import { emulateOnTcp } from "./helpers/emulator.ts";

const STEPS = 6;
const PULSES = 400;

function campaign(port: string, pulses = PULSES): string {
  const steps = Array.from(
    { length: STEPS },
    (_, i) => `  - characterize: { row: ${i}, col: ${i}, pulses: ${pulses} }`,
  ).join("\n");
  return `name: resume-test\nboard: ${port}\nsteps:\n${steps}\n`;
}

let port: string;
const dir = mkdtempSync(join(tmpdir(), "xbar-campaign-"));

beforeAll(async () => {
  port = await emulateOnTcp(["--rows", "16", "--cols", "16", "--device", "linear"]);
});
afterAll(() => stopAll());

/** Starts `xbar run`, waits until step `k` (1-based) has begun and recorded a few points, sends `signal`. */
async function interrupt(file: string, db: string, k: number, signal: NodeJS.Signals) {
  const run = startXbar(["run", file, "--db", db]);
  const id = Number((await run.waitFor(/^run (\d+) \(1\/1/m, 20_000))[1]);
  await run.waitFor(new RegExp(`step ${k}/${STEPS} characterize: pulse`), 30_000);
  await new Promise((r) => setTimeout(r, 50));
  const status = await run.stop(signal, 5000);
  // Which steps had completed, and which was under way, when the signal landed (from the store).
  const store = await RunStore.open(db);
  const steps = await store.steps(id);
  await store.close();
  const done = steps.filter((s) => s.status === "completed").map((s) => ({ idx: s.idx, id: s.id }));
  const cut = steps.filter((s) => s.status !== "completed");
  expect(cut, "one step was under way when the signal landed").toHaveLength(1);
  return { id, status, stdout: run.stdout(), stderr: run.stderr(), done, killedAt: cut[0]!.idx + 1 };
}

async function checkExactlyOnce(
  db: string,
  id: number,
  killedAt: number,
  before: Array<{ idx: number; id: number }>,
) {
  const store = await RunStore.open(db);
  try {
    const run = (await store.run(id))!;
    expect(run.status).toBe("completed");
    const steps = await store.steps(id);
    // Steps completed before the interruption are the very same rows (not run again).
    for (const b of before)
      expect(steps.find((s) => s.idx === b.idx && s.status === "completed")!.id).toBe(b.id);
    for (let idx = 0; idx < STEPS; idx++) {
      const attempts = steps.filter((s) => s.idx === idx);
      const done = attempts.filter((s) => s.status === "completed");
      expect(done, `step ${idx + 1} completed exactly once`).toHaveLength(1);
      // Steps completed before the interruption were not run again; the interrupted one was, once.
      expect(attempts, `attempts of step ${idx + 1}`).toHaveLength(idx === killedAt - 1 ? 2 : 1);
      if (idx === killedAt - 1) expect(attempts[0]!.status).toBe("interrupted");
    }
    const curves = await store.measurements(id, "pulse_response");
    expect(curves).toHaveLength(STEPS * (2 * PULSES + 1));
    for (let idx = 0; idx < STEPS; idx++)
      expect(curves.filter((m) => m.stepIdx === idx).map((m) => m.x)).toEqual(
        Array.from({ length: 2 * PULSES + 1 }, (_, i) => i),
      );
    return await store.measurementCount(id);
  } finally {
    await store.close();
  }
}

describe("xbar run: interruption and resume", () => {
  it("SIGKILL mid-step, then --resume: no step lost, none repeated", async () => {
    const file = join(dir, "kill.yaml");
    const db = join(dir, "kill.sqlite");
    writeFileSync(file, campaign(port));
    const k = await interrupt(file, db, 3, "SIGKILL");
    expect(k.status.signal).toBe("SIGKILL");
    expect(k.killedAt).toBeGreaterThanOrEqual(3);
    const r = await runXbar(["run", "--resume", String(k.id), "--db", db], { timeoutMs: 60_000 });
    expect(r.code, describeRun(r)).toBe(0);
    for (let i = 1; i < k.killedAt; i++)
      expect(r.stdout).toMatch(new RegExp(`step ${i}/6 characterize: already completed, skipped`));
    expect(r.stdout).toMatch(new RegExp(`step ${k.killedAt}/6 characterize: done`));
    const all = await checkExactlyOnce(db, k.id, k.killedAt, k.done);
    // The killed attempt's partial curve is kept (measurements beyond the completed ones).
    expect(all).toBeGreaterThan(STEPS * (2 * PULSES + 1));
  }, 90_000);

  it("Ctrl-C (SIGINT) aborts cleanly: run marked aborted, data kept, exit 130; resume completes it", async () => {
    const file = join(dir, "int.yaml");
    const db = join(dir, "int.sqlite");
    writeFileSync(file, campaign(port));
    const k = await interrupt(file, db, 2, "SIGINT");
    expect(k.status.code, k.stderr).toBe(130);
    expect(k.stderr).toMatch(/SIGINT: aborting the campaign/);
    expect(k.stdout).toMatch(new RegExp(`resume with: xbar run --resume ${k.id}`));
    const shown = await runXbar(["runs", "show", String(k.id), "--db", db, "--json"]);
    const info = JSON.parse(shown.stdout) as {
      run: { status: string };
      steps: Array<{ idx: number; status: string }>;
    };
    expect(info.run.status).toBe("aborted");
    expect(info.steps.map((s) => s.status)).toEqual([
      ...Array.from({ length: k.killedAt - 1 }, () => "completed"),
      "interrupted",
    ]);
    const r = await runXbar(["run", "--resume", String(k.id), "--db", db], { timeoutMs: 60_000 });
    expect(r.code, describeRun(r)).toBe(0);
    await checkExactlyOnce(db, k.id, k.killedAt, k.done);
  }, 90_000);
});

describe("xbar runs while a campaign holds the database", () => {
  it("list, show and export read a snapshot of what is committed; the campaign goes on undisturbed", async () => {
    const file = join(dir, "busy.yaml");
    const db = join(dir, "busy.sqlite");
    // Long steps, so that the campaign is still running while the readers look (each took 5 to 16 s
    // on a 2-core machine, the latter at load 11 with the suite running twice).
    writeFileSync(file, campaign(port, 10 * PULSES));
    const run = startXbar(["run", file, "--db", db]);
    const id = Number((await run.waitFor(/^run (\d+) \(1\/1/m, 20_000))[1]);
    // Once step 1 has completed: step 2 has begun, and four more follow while the readers look.
    await run.waitFor(new RegExp(`step 2/${STEPS} characterize: pulse`), 60_000);
    const listed = await runXbar(["runs", "list", "--db", db, "--json"]);
    expect(listed.code, describeRun(listed)).toBe(0);
    expect(listed.stderr).toMatch(/in use by process \d+ \(a campaign running\): reading a snapshot/);
    const runs = JSON.parse(listed.stdout) as Array<{ id: number; status: string; measurements: number }>;
    expect(runs.find((r) => r.id === id)).toMatchObject({ status: "running" });
    // At least the completed step's curve is in the snapshot.
    expect(runs.find((r) => r.id === id)!.measurements).toBeGreaterThanOrEqual(2 * 10 * PULSES + 1);
    const shown = await runXbar(["runs", "show", String(id), "--db", db, "--json"]);
    expect(shown.code, describeRun(shown)).toBe(0);
    const steps = (JSON.parse(shown.stdout) as { steps: Array<{ status: string }> }).steps;
    expect(steps.filter((s) => s.status === "completed").length).toBeGreaterThanOrEqual(1);
    const csv = join(dir, "busy.csv");
    const exported = await runXbar(["runs", "export", String(id), "--csv", csv, "--db", db]);
    expect(exported.code, describeRun(exported)).toBe(0);
    // A command that writes still refuses: only readers get a snapshot.
    const resumed = await runXbar(["run", "--resume", String(id), "--db", db]);
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toMatch(/E605 .*in use by process/);
    const status = await run.exited();
    expect(status.code, run.stderr()).toBe(0);
    const final = await RunStore.open(db);
    expect((await final.steps(id)).map((x) => x.status)).toEqual(
      Array.from({ length: STEPS }, () => "completed"),
    );
    await final.close();
    const after = await runXbar(["runs", "list", "--db", db, "--json"]);
    expect(after.stderr).not.toMatch(/snapshot/);
    expect(
      (JSON.parse(after.stdout) as Array<{ id: number; status: string }>).find((r) => r.id === id)!.status,
    ).toBe("completed");
  }, 240_000);
});
