/**
 * The run store on PostgreSQL (a real server from Debian's package, started here on a free port):
 * the same campaign code path as SQLite, arrays round-tripped byte for byte, migrations versioned
 * and applied once, the database-level exactly-once guarantees, and `runs copy` from an SQLite file.
 * Required when CI=true; skipped with a message elsewhere when redis-server or PostgreSQL is missing.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCampaign } from "../src/campaigns/load.ts";
import { runCampaign } from "../src/campaigns/runner.ts";
import { copyRuns } from "../src/campaigns/store/copy.ts";
import { SCHEMA_VERSION } from "../src/campaigns/store/migrations.ts";
import { RunStore } from "../src/campaigns/store/run-store.ts";
import { type Service, servicesMissing, startPostgres } from "../tools/services.ts";

const missing = servicesMissing();
const CI = process.env.CI === "true";
if (missing && !CI) console.warn(`run store on PostgreSQL: ${missing} missing, skipping`);

const CAMPAIGN = `name: pg
board: emu://?rows=8&cols=8&device=linear&seed=3
steps:
  - characterize: { row: 1, col: 2, pulses: 15 }
  - read: { block: { r0: 0, c0: 0, rows: 4, cols: 5 } }
`;

async function runOn(store: RunStore) {
  const c = parseCampaign(CAMPAIGN);
  const { runs } = await store.createCampaign({ name: c.name, text: c.text, software: "test", runs: c.runs });
  const res = await runCampaign(store, c, runs, { signal: new AbortController().signal, software: "test" });
  expect(res.status).toBe("completed");
  return runs[0]!.id;
}

describe.skipIf(Boolean(missing) && !CI)("run store on PostgreSQL", () => {
  let pg: Service;
  const dir = mkdtempSync(join(tmpdir(), "xbar-pgstore-"));
  beforeAll(async () => {
    if (missing) throw new Error(`${missing} missing, but required when CI=true`);
    pg = await startPostgres();
  });
  afterAll(async () => {
    await pg?.stop();
  });

  it("runs a campaign through the same code path as SQLite, with the same records", async () => {
    const sqlite = await RunStore.open(join(dir, "same.sqlite"));
    const pgs = await RunStore.open(pg.url);
    try {
      const a = await runOn(sqlite);
      const b = await runOn(pgs);
      const ma = await sqlite.measurements(a);
      const mb = await pgs.measurements(b);
      // Emulated under one seed: the same measurements, value for value, arrays included.
      const strip = (ms: typeof ma) => ms.map(({ id, stepId, taken, ...m }) => m);
      expect(strip(mb)).toEqual(strip(ma));
      const map = mb.find((m) => m.kind === "map")!;
      expect(map.array!.data).toBeInstanceOf(Float32Array);
      expect(map.array!.shape).toEqual([4, 5]);
      expect((await pgs.steps(b)).map((s) => s.status)).toEqual(["completed", "completed"]);
      expect((await pgs.run(b))!.status).toBe("completed");
    } finally {
      await sqlite.close();
      await pgs.close();
    }
  });

  it("migrations: versioned, applied once, concurrent openers agree", async () => {
    const stores = await Promise.all([1, 2, 3].map(() => RunStore.open(pg.url)));
    const rows = await stores[0]!.db.all("SELECT version FROM schema_migrations ORDER BY version");
    expect(rows.map((r) => Number(r.version))).toEqual(
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
    );
    await Promise.all(stores.map((s) => s.close()));
  });

  it("the database refuses a second completed attempt of a step and a measurement number twice", async () => {
    const store = await RunStore.open(pg.url);
    try {
      const id = await runOn(store);
      const step = (await store.steps(id))[0]!;
      const again = await store.beginStep(id, step.idx, step.kind, step.spec);
      await expect(store.endStep(again, "completed")).rejects.toThrow(/steps_completed_once/);
      await expect(store.record(step.id, { kind: "x" })).resolves.toBeUndefined();
      await expect(
        store.db.run("INSERT INTO measurements (step_id, seq, kind, taken) VALUES (?, 0, 'x', 'now')", [
          step.id,
        ]),
      ).rejects.toThrow(/measurements_step_seq/);
    } finally {
      await store.close();
    }
  });

  it("a process that lost its run is refused (E652) when it begins or ends a step", async () => {
    const store = await RunStore.open(pg.url);
    try {
      const id = await runOn(store);
      await store.claimRun(id, "worker-a");
      const sid = await store.beginStep(id, 5, "read", {}, "worker-a");
      await store.claimRun(id, "worker-b");
      await expect(store.endStep(sid, "completed", {}, undefined, "worker-a")).rejects.toMatchObject({
        code: 652,
      });
      await expect(store.beginStep(id, 6, "read", {}, "worker-a")).rejects.toMatchObject({ code: 652 });
      // worker-a's attempt never completed, so exports and plots do not count it.
      expect((await store.steps(id)).find((s) => s.id === sid)!.status).not.toBe("completed");
    } finally {
      await store.close();
    }
  });

  it("runs copy: SQLite history into PostgreSQL, byte for byte; a second copy copies nothing", async () => {
    const file = join(dir, "history.sqlite");
    const src = await RunStore.open(file);
    await runOn(src);
    await runOn(src);
    const dst = await RunStore.open(pg.url);
    try {
      const first = await copyRuns(src, dst);
      expect(first).toMatchObject({ campaigns: 2, runs: 2, steps: 4, skipped: 0 });
      const again = await copyRuns(src, dst);
      expect(again).toMatchObject({ campaigns: 0, runs: 0, skipped: 2 });
      for (const [a, b] of first.runIds) {
        const strip = (ms: Awaited<ReturnType<RunStore["measurements"]>>) =>
          ms.map(({ id, stepId, ...m }) => m);
        expect(strip(await dst.measurements(b))).toEqual(strip(await src.measurements(a)));
        const ra = (await src.run(a))!;
        const rb = (await dst.run(b))!;
        expect({ ...rb, id: 0, campaignId: 0 }).toEqual({ ...ra, id: 0, campaignId: 0 });
      }
    } finally {
      await src.close();
      await dst.close();
    }
  });
});
