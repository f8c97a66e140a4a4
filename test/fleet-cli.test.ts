/**
 * The fleet through the CLI, in this process (the process boundary is test/fleet.test.ts's subject):
 * `xbar submit [--wait]`, `kind:` routing, `xbar queue show|cancel|watch`, and `xbar view --db
 * postgres://...` on the shared run store. One Redis and one PostgreSQL serve every test of the file;
 * one worker (src/fleet/worker.ts, in this process) serves three emulated boards:
 *
 *   a1  agsi, timescale=1 (a `wait` step takes its real time: a job that stays running)
 *   a2  agsi
 *   l1  linear
 *
 * Required when CI=true; skipped with a message elsewhere when redis-server or PostgreSQL is missing.
 */
import { writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { RunStore } from "../src/campaigns/store/run-store.ts";
import { main } from "../src/cli/main.ts";
import type { JobInfo } from "../src/fleet/admin.ts";
import { type FleetWorker, startWorker } from "../src/fleet/worker.ts";
import { describeRun, type RunResult, runXbar } from "../tools/run-xbar.ts";
import { type Service, servicesMissing, startPostgres, startRedis } from "../tools/services.ts";

const missing = servicesMissing();
const CI = process.env.CI === "true";
if (missing && !CI) console.warn(`fleet-cli: ${missing} missing, skipping`);

/**
 * Time limit of one command (and of a poll of `xbar queue show`). The slowest, `submit --wait` of two
 * short runs, is part of a test that took 1.0 to 1.5 s in all (several commands) on this 2-core
 * machine shared with other work (load average 3 to 4); 20 s is over ten times that.
 */
const CMD_MS = 20_000;

describe.skipIf(Boolean(missing) && !CI)(
  "fleet through the CLI: submit, kind: routing, queue, view --db",
  () => {
    let redis: Service;
    let pg: Service;
    let worker: FleetWorker;
    let dir: string;
    const log: string[] = [];

    /** `xbar ARGS` in this process, with --queue added for the fleet's commands. */
    const xbar = (args: string[], timeoutMs = CMD_MS): Promise<RunResult> =>
      runXbar(["submit", "queue"].includes(args[0]!) ? [...args, "--queue", redis.url] : args, { timeoutMs });

    const campaign = (name: string, text: string): string => {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, `name: ${name}\n${text}`);
      return file;
    };

    /** The campaign's uuid and its jobs (id, board), from `xbar submit`'s output. */
    const submitted = (r: RunResult) => {
      expect(r.code, describeRun(r)).toBe(0);
      const uuid = /^campaign (\S+) /m.exec(r.stdout)![1]!;
      const jobs = [...r.stdout.matchAll(/^ {2}job (\S+) on (\S+)/gm)].map((m) => ({
        id: m[1]!,
        board: m[2]!,
      }));
      return { uuid, jobs };
    };

    const show = async (id: string): Promise<JobInfo> => {
      const r = await xbar(["queue", "show", id, "--json"]);
      expect(r.code, describeRun(r)).toBe(0);
      return JSON.parse(r.stdout) as JobInfo;
    };

    /** Polls `xbar queue show` until `ok` holds (a worker's progress arrives on its own time). */
    const showUntil = async (id: string, ok: (j: JobInfo) => boolean, ms = CMD_MS): Promise<JobInfo> => {
      const deadline = Date.now() + ms;
      for (;;) {
        const j = await show(id);
        if (ok(j) || Date.now() > deadline) return j;
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    /** The runs recorded for campaigns named `name`, oldest first. */
    const runsOf = async (store: RunStore, name: string) => {
      const out = [];
      for (const r of await store.runs())
        if ((await store.campaign(r.campaignId))?.name === name) out.push(r);
      return out;
    };

    /** A campaign that keeps a1 busy: `wait` on a board with timescale=1 runs 10 minutes unless cancelled. */
    const busyA1 = (reps: number) =>
      campaign(
        `busy${reps}`,
        `board: name:a1\nsweep:\n  rep: [${Array.from({ length: reps }, (_, i) => i + 1).join(", ")}]\nsteps:\n  - wait: { seconds: 600 }\n`,
      );

    beforeAll(async () => {
      if (missing) throw new Error(`${missing} missing, but required when CI=true`);
      dir = await mkdtemp(join(tmpdir(), "xbar-fleet-cli-"));
      [redis, pg] = await Promise.all([startRedis(), startPostgres()]);
      const emu = (q: string) => `emu://?rows=8&cols=8&${q}`;
      worker = await startWorker({
        queue: redis.url,
        db: pg.url,
        boards: [
          { name: "a1", url: emu("device=agsi&seed=1&timescale=1") },
          { name: "a2", url: emu("device=agsi&seed=2") },
          { name: "l1", url: emu("device=linear&seed=3") },
        ],
        software: "test",
        log: (s) => log.push(s),
      });
      expect(worker.boards.map((b) => `${b.name}:${b.kind}`)).toEqual(["a1:agsi", "a2:agsi", "l1:linear"]);
    }, 60_000);

    afterAll(async () => {
      await worker?.close();
      await Promise.all([redis?.stop(), pg?.stop()]);
    });

    it("xbar queue show, and xbar queue cancel: a waiting job is removed, a running one aborted with its run kept", async () => {
      const { uuid, jobs } = submitted(await xbar(["submit", busyA1(3)]));
      expect(jobs.map((j) => j.board)).toEqual(["a1", "a1", "a1"]);
      const [j0, j1, j2] = jobs.map((j) => j.id) as [string, string, string];

      // One job at a time on a board: the first runs (its wait step started), the others wait.
      const running = await showUntil(j0, (j) => j.state === "active" && j.progress?.phase === "start");
      expect(running).toMatchObject({ state: "active", board: "a1", campaignUuid: uuid, idx: 0 });
      expect(running.progress).toMatchObject({ step: 1, steps: 1, kind: "wait", phase: "start" });
      expect((await show(j1)).state).toBe("waiting");
      const text = await xbar(["queue", "show", j1]);
      expect(text.stdout).toContain(`job ${j1}: waiting on board a1`);
      expect(text.stdout).toContain(`campaign "busy3" ${uuid}, point 2 {"rep":2}`);

      // By id: the last job, waiting, is removed; then the whole campaign: the running one is flagged.
      const one = await xbar(["queue", "cancel", j2]);
      expect(one.stdout.trim(), describeRun(one)).toBe(`job ${j2}: removed`);
      const all = await xbar(["queue", "cancel", "--campaign", uuid]);
      expect(all.stdout.trim().split("\n"), describeRun(all)).toEqual([
        `job ${j0}: cancelling`,
        `job ${j1}: removed`,
        `job ${j2}: unknown`,
      ]);

      // `xbar queue watch` follows them to their end: nothing completed, so it exits 1.
      const watch = await xbar(["queue", "watch", uuid]);
      expect(watch.code, describeRun(watch)).toBe(1);
      expect(watch.stdout).toMatch(
        new RegExp(`job ${j0} \\(a1\\): failed: E\\d+ ABORTED: cancelled by xbar queue cancel`),
      );
      expect(watch.stdout).toContain(`job ${j1} (a1): removed from the queue`);
      expect(watch.stdout).toContain("0 completed, 3 failed");
      const ended = await show(j0);
      expect(ended.state).toBe("failed");
      expect(ended.error).toMatch(/ABORTED: cancelled/);
      const gone = await xbar(["queue", "show", j1]);
      expect(gone.code).toBe(2);
      expect(gone.stderr).toMatch(new RegExp(`E\\d+ BAD_INPUT: no job ${j1} on any board's queue`));

      // The cancelled run is in the database, aborted with its step interrupted (resumable); the
      // removed jobs never made a run.
      const store = await RunStore.open(pg.url);
      try {
        const runs = await runsOf(store, "busy3");
        expect(runs.map((r) => `${r.url}:${r.status}`)).toEqual(["name:a1:aborted"]);
        expect((await store.steps(runs[0]!.id)).map((s) => `${s.kind}:${s.status}`)).toEqual([
          "wait:interrupted",
        ]);
      } finally {
        await store.close();
      }
    }, 120_000);

    it("kind: routing sends each run to the live board of that kind with the fewest jobs; xbar submit --wait follows them to the end", async () => {
      // a1 runs one job and has another waiting; a2 is free; l1 is linear.
      const busy = submitted(await xbar(["submit", busyA1(2)]));
      await showUntil(busy.jobs[0]!.id, (j) => j.state === "active");
      const file = campaign(
        "by-kind",
        "board: kind:agsi\nsweep:\n  rep: [1, 2]\nsteps:\n  - identify: {}\n  - characterize: { row: 1, col: 2, pulses: 5 }\n",
      );
      // Both runs go to a2: the board of that kind with the fewest jobs, counting this submission's.
      const r = await xbar(["submit", file, "--wait"]);
      const { jobs } = submitted(r);
      expect(jobs.map((j) => j.board)).toEqual(["a2", "a2"]);
      for (const j of jobs) {
        expect(r.stdout).toMatch(new RegExp(`job ${j.id} \\(a2\\) run \\d+ step 2/2 characterize: started`));
        expect(r.stdout).toMatch(
          new RegExp(`job ${j.id} \\(a2\\): completed, run \\d+ \\(\\d+ measurements\\)`),
        );
      }
      expect(r.stdout).toContain("2 completed, 0 failed");
      const cancel = await xbar(["queue", "cancel", "--campaign", busy.uuid]);
      expect(cancel.stdout).toMatch(/: cancelling\n.*: removed\n$/);
      await showUntil(busy.jobs[0]!.id, (j) => j.state === "failed");

      // Both agsi boards free: one run each (the fewest jobs first), never the linear board.
      const spread = submitted(await xbar(["submit", file, "--wait"]));
      expect(spread.jobs.map((j) => j.board).sort()).toEqual(["a1", "a2"]);

      // A kind no live board has is refused at submission, naming what is live.
      const none = await xbar(["submit", campaign("pcm", "board: kind:pcm\nsteps:\n  - identify: {}\n")]);
      expect(none.code, describeRun(none)).toBe(1);
      expect(none.stderr).toMatch(
        /E\d+ UNKNOWN_BOARD: .*no live board of kind pcm .*a1 \(agsi\), a2 \(agsi\), l1 \(linear\)/,
      );

      const store = await RunStore.open(pg.url);
      try {
        const byKind = await runsOf(store, "by-kind");
        expect(byKind.map((x) => x.url).sort()).toEqual(["name:a1", "name:a2", "name:a2", "name:a2"].sort());
        for (const x of byKind) {
          expect(x.status).toBe("completed");
          expect((x.identity as { technology: string }).technology).toBe("agsi");
        }
      } finally {
        await store.close();
      }
    }, 120_000);

    it("xbar submit --wait exits 1 when a job fails, naming its error", async () => {
      const r = await xbar([
        "submit",
        campaign("off-array", "board: name:l1\nsteps:\n  - characterize: { row: 20, col: 0, pulses: 3 }\n"),
        "--wait",
      ]);
      const { jobs } = submitted({ ...r, code: 0 });
      expect(r.code, describeRun(r)).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`job ${jobs[0]!.id} \\(l1\\): failed: E\\d+ [A-Z_]+: `));
      expect(r.stdout).toContain("0 completed, 1 failed");
    }, 60_000);

    it("xbar view --db postgres://...: the runs list and a run's charts from the shared database", async () => {
      // A worker records into the database while the view reads it.
      const busy = submitted(await xbar(["submit", busyA1(1)]));
      const busyRun = (await showUntil(busy.jobs[0]!.id, (j) => j.progress?.phase === "start")).progress!
        .runId;
      const rec = await xbar([
        "run",
        campaign(
          "viewed",
          "board: emu://?rows=8&cols=8&device=agsi&seed=7\nsteps:\n  - identify: {}\n  - characterize: { row: 3, col: 4, pulses: 10 }\n  - read: { block: { r0: 0, c0: 0, rows: 8, cols: 8 } }\n",
        ),
        "--db",
        pg.url,
      ]);
      expect(rec.code, describeRun(rec)).toBe(0);
      const store = await RunStore.open(pg.url);
      let runId: number;
      try {
        runId = (await runsOf(store, "viewed"))[0]!.id;
      } finally {
        await store.close();
      }

      // `xbar view` serves until Ctrl-C: run it in this process and end it with its own SIGINT handler.
      const before = new Set(process.listeners("SIGINT"));
      let out = "";
      const spy = vi.spyOn(process.stdout, "write").mockImplementation((s) => {
        out += String(s);
        return true;
      });
      const view = main(["node", "xbar", "view", "--db", pg.url, "--listen", "0"]);
      let code: number | undefined;
      try {
        const deadline = Date.now() + CMD_MS;
        while (!/view on (\S+)/.test(out) && Date.now() < deadline) {
          if (code !== undefined) break;
          await Promise.race([view.then((c) => (code = c)), new Promise((r) => setTimeout(r, 50))]);
        }
        const url = /view on (\S+) \((\d+) run\(s\) in (\S+);/.exec(out);
        expect(url, `xbar view printed: ${out}`).not.toBeNull();
        expect(url![3]).toBe(pg.url);
        const base = url![1]!;

        const page = await fetch(base);
        expect(page.status).toBe(200);
        expect(await page.text()).toContain('id="runs"');
        const list = (await (await fetch(`${base}api/runs`)).json()) as Array<{
          id: number;
          campaign: string;
          status: string;
        }>;
        expect(list.find((x) => x.id === runId)).toMatchObject({ campaign: "viewed", status: "completed" });
        expect(list.length).toBe(Number(url![2]));

        // The run's charts: the first frame of its event stream holds the steps, the board and a map.
        const frameOf = async (run: number) => {
          const ctl = new AbortController();
          const events = await fetch(`${base}events?run=${run}`, { signal: ctl.signal });
          expect(events.status).toBe(200);
          const reader = events.body!.getReader();
          let sse = "";
          while (!/event: frame\ndata: .*\n\n/.test(sse)) {
            const { value, done } = await reader.read();
            if (done) break;
            sse += Buffer.from(value).toString("utf8");
          }
          ctl.abort();
          const frame = JSON.parse(/event: frame\ndata: (.*)\n\n/.exec(sse)![1]!) as Array<{
            topic: string;
            value: Record<string, unknown>;
          }>;
          const topic = (t: string) => frame.find((f) => f.topic === t)?.value;
          const steps = (topic("campaign") as { steps: Array<{ kind: string; status: string }> }).steps;
          return { topic, steps: steps.map((x) => `${x.kind}:${x.status}`) };
        };
        const done = await frameOf(runId);
        expect(done.topic("status")).toMatchObject({ state: "completed" });
        expect(done.topic("board/0")).toMatchObject({
          url: "emu://?rows=8&cols=8&device=agsi&seed=7",
          rows: 8,
          cols: 8,
        });
        expect(done.steps).toEqual(["identify:completed", "characterize:completed", "read:completed"]);
        expect(done.topic("map/0")).toMatchObject({ rows: 8, cols: 8, source: "map (step 3)" });

        // A run a worker is recording as we look: shown running, and as it is now at the next look.
        const going = await frameOf(busyRun);
        expect(going.topic("status")).toMatchObject({ state: "running" });
        expect(going.steps).toEqual(["wait:running"]);
        await xbar(["queue", "cancel", busy.jobs[0]!.id]);
        await showUntil(busy.jobs[0]!.id, (j) => j.state === "failed");
        const ended = await frameOf(busyRun);
        expect(ended.topic("status")).toMatchObject({ state: "stopped" });
        expect(ended.steps).toEqual(["wait:interrupted"]);
        expect((await fetch(`${base}events?run=${runId + 1000}`)).status).toBe(404);
      } finally {
        const stop = process.listeners("SIGINT").find((l) => !before.has(l));
        (stop as (() => void) | undefined)?.();
        code ??= await view;
        spy.mockRestore();
        process.exitCode = undefined;
      }
      expect(code).toBe(0);
    }, 60_000);
  },
);
