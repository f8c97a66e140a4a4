/**
 * Many boards, many workers, with the real parts: Redis (BullMQ) and PostgreSQL started here on free
 * ports, three `xbar worker` processes serving three emulated boards (two on TCP, one on a socat pty,
 * each board's state outliving its connections as a real board's would).
 *
 * 1. A sweep of six runs over the three boards; one worker is SIGKILLed mid-step and started again
 *    (the computer rebooted): BullMQ hands its stalled job back, the run resumes from PostgreSQL, and
 *    every step completed exactly once, every measurement is in the database exactly once, the killed
 *    attempt's partial data kept apart as interrupted.
 * 2. A board that goes away fails its own job with a coded error; another board's job completes.
 *
 * Required when CI=true; skipped with a message elsewhere when redis-server, PostgreSQL or socat is
 * missing.
 */
import { writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadCampaignFile } from "../src/campaigns/load.ts";
import { RunStore } from "../src/campaigns/store/run-store.ts";
import { main } from "../src/cli/main.ts";
import { connectRedis } from "../src/fleet/connection.ts";
import { submitCampaign, watchJobs } from "../src/fleet/submit.ts";
import { type PtyPair, startPtyPair, which } from "../tools/pty.ts";
import { type Background, startXbar, stopAll } from "../tools/run-xbar.ts";
import { type Service, servicesMissing, startPostgres, startRedis } from "../tools/services.ts";

const missing = [servicesMissing(), which("socat") ? "" : "socat"].filter(Boolean).join(", ");
const CI = process.env.CI === "true";
if (missing && !CI) console.warn(`fleet: ${missing} missing, skipping`);

const STEPS = 4;
const PULSES = 150;
const POINTS = 2 * PULSES + 1;
/** Lock of a job, ms: a dead worker's job is handed back this long after its last renewal. */
const LOCK_MS = 2000;

describe.skipIf(Boolean(missing) && !CI)("fleet: BullMQ workers, PostgreSQL run store", () => {
  let redis: Service;
  let pg: Service;
  let pty: PtyPair;
  let client: Redis;
  const ports: Record<string, string> = {};
  const emulators: Record<string, Background> = {};
  let dir: string;

  const worker = (board: string) => {
    const w = startXbar([
      "worker",
      "--queue",
      redis.url,
      "--db",
      pg.url,
      "--board",
      `${board}=${ports[board]}`,
      "--lock-duration",
      String(LOCK_MS),
    ]);
    return w;
  };

  beforeAll(async () => {
    if (missing) throw new Error(`${missing} missing, but required when CI=true`);
    dir = await mkdtemp(join(tmpdir(), "xbar-fleet-"));
    [redis, pg, pty] = await Promise.all([startRedis(), startPostgres(), startPtyPair()]);
    const emu = (args: string[]) =>
      startXbar(["emulate", ...args, "--rows", "8", "--cols", "8", "--device", "linear"]);
    emulators.b1 = emu(["--listen", "127.0.0.1:0"]);
    emulators.b2 = emu(["--listen", "127.0.0.1:0"]);
    emulators.b3 = emu(["--serial", pty.boardPath]);
    ports.b1 = (await emulators.b1.waitFor(/serving on (socket:\/\/\S+)/, 60_000))[1]!;
    ports.b2 = (await emulators.b2.waitFor(/serving on (socket:\/\/\S+)/, 60_000))[1]!;
    await emulators.b3.waitFor(/serving on/, 60_000);
    ports.b3 = pty.hostPath;
    client = await connectRedis(redis.url);
  }, 120_000);

  afterAll(async () => {
    client?.disconnect();
    await stopAll();
    await Promise.all([redis?.stop(), pg?.stop(), pty?.stop()]);
  });

  it("a worker SIGKILLed mid-step: its job is handed back, every step runs exactly once, every measurement is stored once", async () => {
    const workers = { b1: worker("b1"), b2: worker("b2"), b3: worker("b3") };
    await Promise.all(Object.values(workers).map((w) => w.waitFor(/worker \d+: 1 board/, 60_000)));
    const file = join(dir, "sweep.yaml");
    const steps = Array.from(
      { length: STEPS },
      (_, i) => `  - characterize: { row: ${i}, col: ${i}, pulses: ${PULSES} }`,
    ).join("\n");
    writeFileSync(
      file,
      `name: fleet-sweep\nboard: name:{b}\nsweep:\n  b: [b1, b2, b3]\n  rep: [1, 2]\nsteps:\n${steps}\n`,
    );
    const { jobs } = await submitCampaign(client, loadCampaignFile(file), "test");
    expect(jobs.map((j) => j.board)).toEqual(["b1", "b1", "b2", "b2", "b3", "b3"]);

    // Kill b1's worker once its run is in step 2 or later and has recorded part of that step.
    const store = await RunStore.open(pg.url);
    let killed: { runId: number; stepIdx: number } | undefined;
    try {
      const deadline = Date.now() + 60_000;
      while (!killed && Date.now() < deadline) {
        const row = await store.db.get(
          `SELECT s.run_id, s.idx, COUNT(m.id) AS n FROM steps s JOIN runs r ON r.id = s.run_id
           LEFT JOIN measurements m ON m.step_id = s.id
           WHERE r.url = 'name:b1' AND s.status = 'running' AND s.idx >= 1 GROUP BY s.run_id, s.idx`,
        );
        if (row && Number(row.n) >= 20) {
          workers.b1.child.kill("SIGKILL");
          killed = { runId: Number(row.run_id), stepIdx: Number(row.idx) };
        } else await new Promise((r) => setTimeout(r, 20));
      }
      expect(killed, "b1's worker was killed mid-step").toBeDefined();
      await workers.b1.exited();
      const before = (await store.steps(killed!.runId)).filter((s) => s.status === "completed");
      // The computer comes back: a new worker for the same board.
      const again = worker("b1");
      const ends = await watchJobs(redis.url, jobs, () => {});
      expect(ends.map((e) => e.state)).toEqual(Array(6).fill("completed"));
      expect(again.stdout()).toMatch(/stalled|job .*\.0: run/);

      const runs = await store.runs();
      expect(runs).toHaveLength(6);
      for (const run of runs) {
        expect(run.status).toBe("completed");
        const all = await store.steps(run.id);
        for (let idx = 0; idx < STEPS; idx++) {
          const attempts = all.filter((s) => s.idx === idx);
          expect(
            attempts.filter((s) => s.status === "completed"),
            `run ${run.id} step ${idx + 1}`,
          ).toHaveLength(1);
          const wasKilled = run.id === killed!.runId && idx === killed!.stepIdx;
          expect(attempts.map((s) => s.status)).toEqual(
            wasKilled ? ["interrupted", "completed"] : ["completed"],
          );
        }
        // Every point of every completed step, once, in order.
        const curves = await store.measurements(run.id, "pulse_response");
        expect(curves).toHaveLength(STEPS * POINTS);
        for (let idx = 0; idx < STEPS; idx++)
          expect(curves.filter((m) => m.stepIdx === idx).map((m) => m.x)).toEqual(
            Array.from({ length: POINTS }, (_, i) => i),
          );
      }
      // The steps completed before the kill are the very same rows (not run again).
      const after = await store.steps(killed!.runId);
      for (const b of before) expect(after.find((s) => s.id === b.id)!.status).toBe("completed");
      // The killed attempt's partial curve is kept, apart (measurements of no completed attempt).
      const partial = await store.db.get(
        "SELECT COUNT(*) AS n FROM measurements m JOIN steps s ON m.step_id = s.id WHERE s.run_id = ? AND s.status = 'interrupted'",
        [killed!.runId],
      );
      expect(Number(partial!.n)).toBeGreaterThanOrEqual(20);
      // No measurement row twice anywhere: (attempt, number) is unique in the table itself.
      const dup = await store.db.get(
        "SELECT COUNT(*) AS n FROM (SELECT step_id, seq FROM measurements GROUP BY step_id, seq HAVING COUNT(*) > 1) d",
      );
      expect(Number(dup!.n)).toBe(0);
    } finally {
      await store.close();
    }
  }, 240_000);

  it("a board that goes away fails its own job with a coded error; the other board's job completes", async () => {
    await emulators.b2!.stop("SIGKILL");
    const file = join(dir, "two.yaml");
    writeFileSync(
      file,
      "name: two\nboard: name:{b}\nsweep:\n  b: [b2, b3]\nsteps:\n  - characterize: { row: 5, col: 5, pulses: 20 }\n",
    );
    const { jobs } = await submitCampaign(client, loadCampaignFile(file), "test");
    const ends = await watchJobs(redis.url, jobs, () => {});
    expect(ends[0]!.state).toBe("failed");
    expect(ends[0]!.error).toMatch(/^E60[1269] /);
    expect(ends[1]!.state).toBe("completed");
    // The queue's view, through the CLI in-process.
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((s) => {
      lines.push(String(s));
      return true;
    });
    try {
      expect(await main(["node", "xbar", "queue", "list", "--queue", redis.url, "--json"])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const status = JSON.parse(lines.join("")) as {
      boards: Array<{ name: string; live: boolean; counts: Record<string, number> }>;
    };
    expect(status.boards.map((b) => b.name)).toEqual(["b1", "b2", "b3"]);
    expect(status.boards.every((b) => b.live)).toBe(true);
    expect(status.boards.find((b) => b.name === "b2")!.counts.failed).toBe(1);
    expect(status.boards.find((b) => b.name === "b3")!.counts.completed).toBe(3);
  }, 120_000);
});
