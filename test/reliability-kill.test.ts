/**
 * Data integrity under SIGKILL at seeded random points: `xbar run` (a campaign of six pulse-response
 * steps against an emulated board on TCP) is killed outright several times at random moments, each
 * time resumed with `xbar run --resume`, until it completes. Every measurement committed before a kill
 * must still be there afterwards, every step must be completed exactly once, and the completed curves
 * must hold each point once (no duplicates, none missing).
 */

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Random } from "../firmware-protocol/random.ts";
import { RunStore } from "../src/campaigns/store/run-store.ts";
import { describeRun, runXbar, startXbar, stopAll } from "../tools/run-xbar.ts";
import { emulateOnTcp } from "./helpers/emulator.ts";

const STEPS = 6;
const PULSES = 120;
const KILLS = 3;

let port: string;
const dir = mkdtempSync(join(tmpdir(), "xbar-kill-"));

beforeAll(async () => {
  port = await emulateOnTcp(["--rows", "16", "--cols", "16", "--device", "linear"]);
});
afterAll(() => stopAll());

async function counts(db: string, id: number): Promise<{ all: number; status: string }> {
  const store = await RunStore.open(db);
  try {
    return { all: await store.measurementCount(id), status: (await store.run(id))!.status };
  } finally {
    await store.close();
  }
}

describe("SIGKILL at random points", () => {
  it(`${KILLS} kills at seeded random moments, each resumed: nothing committed lost, no step or point twice`, async () => {
    const file = join(dir, "kill.yaml");
    const db = join(dir, "kill.sqlite");
    const steps = Array.from(
      { length: STEPS },
      (_, i) => `  - characterize: { row: ${i}, col: ${i}, pulses: ${PULSES} }`,
    ).join("\n");
    writeFileSync(file, `name: kill-soak\nboard: ${port}\nsteps:\n${steps}\n`);
    const rng = new Random(2026);
    let id = 0;
    const kept: number[] = [];
    const killedIn: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      // A fast link may finish the campaign between two kills: then there is nothing left to kill.
      if (k > 0 && (await counts(db, id)).status === "completed") break;
      const run = startXbar(
        k === 0 ? ["run", file, "--db", db] : ["run", "--resume", String(id), "--db", db],
      );
      if (k === 0) id = Number((await run.waitFor(/^run (\d+) \(1\/1/m, 30_000))[1]);
      await run.waitFor(/characterize: pulse/, 30_000);
      await new Promise((r) => setTimeout(r, Math.floor(rng.uniform() * 800)));
      const status = await run.stop("SIGKILL", 1000);
      const stepLines = [...run.stdout().matchAll(/step (\d+)\/6 characterize: pulse/g)];
      killedIn.push(Number(stepLines.at(-1)?.[1] ?? 0));
      expect(status.signal === "SIGKILL" || status.code === 0).toBe(true);
      if (status.signal === "SIGKILL") {
        // Before any resume, the reader sees what a resume will record: the run aborted by a process
        // that is gone, the step it was in interrupted (not "running" for ever).
        const list = await runXbar(["runs", "list", "--db", db, "--json"]);
        const row = (JSON.parse(list.stdout) as Array<{ id: number; status: string; error: string }>).find(
          (r) => r.id === id,
        );
        expect(row?.status, list.stdout).toBe("aborted");
        expect(row?.error).toBe("the process ended without closing the run");
        const show = await runXbar(["runs", "show", String(id), "--db", db]);
        expect(show.stdout).toMatch(/attempt \d+: interrupted/);
        expect(show.stdout).not.toMatch(/: running/);
      }
      kept.push((await counts(db, id)).all);
      if (k > 0) expect(kept[k]!, "measurements after kill vs before").toBeGreaterThanOrEqual(kept[k - 1]!);
    }
    // The first kill always lands mid-campaign (six steps of 241 points take far longer than 0.8 s).
    expect(killedIn.length).toBeGreaterThanOrEqual(1);
    if ((await counts(db, id)).status !== "completed") {
      const r = await runXbar(["run", "--resume", String(id), "--db", db], { timeoutMs: 90_000 });
      expect(r.code, describeRun(r)).toBe(0);
    }
    const store = await RunStore.open(db);
    try {
      expect((await store.run(id))!.status).toBe("completed");
      expect(await store.measurementCount(id)).toBeGreaterThanOrEqual(kept.at(-1)!);
      const all = await store.steps(id);
      for (let idx = 0; idx < STEPS; idx++) {
        const done = all.filter((s) => s.idx === idx && s.status === "completed");
        expect(done, `step ${idx + 1} completed exactly once`).toHaveLength(1);
      }
      const curves = await store.measurements(id, "pulse_response");
      expect(curves).toHaveLength(STEPS * (2 * PULSES + 1));
      for (let idx = 0; idx < STEPS; idx++)
        expect(curves.filter((m) => m.stepIdx === idx).map((m) => m.x)).toEqual(
          Array.from({ length: 2 * PULSES + 1 }, (_, i) => i),
        );
      const dir = process.env.XBAR_FIGURES_DIR;
      if (dir)
        writeFileSync(
          join(dir, "kill.json"),
          JSON.stringify({
            kills: KILLS,
            killedIn,
            kept,
            final: await store.measurementCount(id),
            attempts: all.length,
          }),
        );
    } finally {
      await store.close();
    }
  }, 120_000);
});
