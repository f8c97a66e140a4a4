/**
 * Campaigns end to end: the campaign file's validation (errors name the line and the field, and
 * nothing is touched), the example campaign (a sweep over three device presets) on emu:// and a
 * smaller one over socat ptys (three emulated boards on serial device paths), the run database,
 * CSV and Parquet exports read back, and the plots (SVG and PNG).
 */
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { parquetReadObjects } from "hyparquet";
import { afterAll, describe, expect, it } from "vitest";
import { parseCampaign } from "../src/campaigns/load.ts";
import { runCampaign } from "../src/campaigns/runner.ts";
import { STEP_KINDS } from "../src/campaigns/schema.ts";
import { RunStore } from "../src/campaigns/store/run-store.ts";
import { type PtyPair, startPtyPair, which } from "../tools/pty.ts";
import { describeRun, runXbar, startXbar, stopAll } from "../tools/run-xbar.ts";

const dir = mkdtempSync(join(tmpdir(), "xbar-campaign-e2e-"));
const pairs: PtyPair[] = [];
afterAll(async () => {
  await stopAll();
  for (const p of pairs) await p.stop();
});

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("no error");
};

describe("campaign files", () => {
  const ok =
    'name: t\nboard: emu://?device={device}&seed={seed}\nsweep:\n  device: [linear, agsi]\n  seed: [1, 2, 3]\nsteps:\n  - identify: {}\n  - characterize: { row: 0, col: 0, pulses: 5, width: "{w}" }\n';

  it("expands a sweep into one run per combination, substituting values (numbers stay numbers)", () => {
    const c = parseCampaign(
      'name: t\nboard: emu://?device={device}&seed={seed}\nsweep:\n  device: [linear, agsi]\n  seed: [1, 2, 3]\n  w: [1.0e-4]\nsteps:\n  - characterize: { row: 0, col: 0, pulses: 5, width: "{w}" }\n',
    );
    expect(c.runs.map((r) => r.url)).toEqual([
      "emu://?device=linear&seed=1",
      "emu://?device=linear&seed=2",
      "emu://?device=linear&seed=3",
      "emu://?device=agsi&seed=1",
      "emu://?device=agsi&seed=2",
      "emu://?device=agsi&seed=3",
    ]);
    expect(c.runs[0]!.steps[0]).toEqual({
      kind: "characterize",
      body: { row: 0, col: 0, pulses: 5, width: 1e-4 },
    });
  });

  it("names the file, line and field of every mistake", () => {
    expect(code(() => parseCampaign(ok, "c.yaml"))).toBe(
      'E608 BAD_INPUT: c.yaml:8: steps[1].characterize.width: "{w}" is not a sweep parameter (sweep has device, seed)',
    );
    expect(
      code(() =>
        parseCampaign(
          "name: t\nboard: emu://\nsteps:\n  - identify: {}\n  - characterize:\n      row: 0\n      col: -1\n      pulses: 3\n",
          "c.yaml",
        ),
      ),
    ).toMatch(/^E608 BAD_INPUT: c\.yaml:7: steps\[1\]\.characterize\.col: /);
    expect(
      code(() =>
        parseCampaign("name: t\nboard: emu://\nsteps:\n  - identify: {}\n  - frobnicate: {}\n", "c.yaml"),
      ),
    ).toBe(
      `E608 BAD_INPUT: c.yaml:5: steps[1].frobnicate: unknown step "frobnicate" (steps: ${STEP_KINDS.join(", ")})`,
    );
    expect(
      code(() =>
        parseCampaign("name: t\nboard: emu://\nsteps:\n  - wait: { seconds: 1, second: 2 }\n", "c.yaml"),
      ),
    ).toBe('E608 BAD_INPUT: c.yaml:4: steps[0].wait: unknown field "second"');
    expect(code(() => parseCampaign("name: t\nsteps:\n  - wait: { seconds: 1 }\n", "c.yaml"))).toMatch(
      /^E608 BAD_INPUT: c\.yaml:1: board: missing/,
    );
    expect(code(() => parseCampaign("name: t\nboard: [emu\nsteps:\n", "c.yaml"))).toMatch(
      /^E608 BAD_INPUT: c\.yaml:\d+: not valid YAML/,
    );
    expect(
      code(() =>
        parseCampaign(
          "name: t\nboard: emu://\nsteps:\n  - program: { pattern: x, block: { r0: 0, c0: 0, rows: 2, cols: 2 }, low: 3e-8, high: 1e-8 }\n",
          "c.yaml",
        ),
      ),
    ).toBe("E608 BAD_INPUT: c.yaml:4: steps[0].program.low: must be below high (3e-8 >= 1e-8)");
  });

  it("xbar run refuses a bad file with exit 2 before opening the database or any board", async () => {
    const file = join(dir, "bad.yaml");
    const db = join(dir, "bad.sqlite");
    writeFileSync(
      file,
      "name: t\nboard: emu://\nsteps:\n  - characterize: { row: 0, col: 0, pulses: ten }\n",
    );
    const r = await runXbar(["run", file, "--db", db]);
    expect(r.code, describeRun(r)).toBe(2);
    expect(r.stderr).toBe(
      `xbar: E608 BAD_INPUT: ${file}:4: steps[0].characterize.pulses: expected number (got "ten")\n`,
    );
    expect(existsSync(db)).toBe(false);
  });
});

describe("steps in-process (runner and store without the CLI)", () => {
  it("form: rising pulses until the device reaches the target, every point recorded", async () => {
    const c = parseCampaign(
      "name: f\nboard: emu://?rows=8&cols=8&device=linear\nsteps:\n  - form: { row: 1, col: 1, start: 1.0, stop: 3.0, step: 0.5, target: 1.2e-6 }\n",
    );
    const store = await RunStore.open(join(dir, "form.sqlite"));
    try {
      const { runs } = await store.createCampaign({
        name: c.name,
        text: c.text,
        software: "test",
        runs: c.runs,
      });
      const res = await runCampaign(store, c, runs, {
        signal: new AbortController().signal,
        software: "test",
      });
      expect(res.status).toBe("completed");
      const pts = await store.measurements(runs[0]!.id, "form");
      expect(pts.map((p) => p.x)).toEqual(pts.map((_, k) => 1 + 0.5 * k));
      expect(pts.at(-1)!.y!).toBeGreaterThanOrEqual(1.2e-6);
      expect(pts.slice(0, -1).every((p) => p.y! < 1.2e-6)).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe("checks against the board, before the first pulse", () => {
  it("refuses a step outside the board's envelope, naming the line, before the database is created", async () => {
    const file = join(dir, "envelope.yaml");
    const db = join(dir, "envelope.sqlite");
    writeFileSync(
      file,
      "name: t\nboard: emu://?rows=8&cols=8\nsteps:\n  - identify: {}\n  - characterize: { row: 0, col: 0, pulses: 3, setAmplitude: 9 }\n",
    );
    const r = await runXbar(["run", file, "--db", db]);
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toBe(
      `xbar: E301 AMPLITUDE_LIMIT: ${file}:5: steps[1].characterize: amplitude 9 V outside the envelope (|v| <= 5 V) of emu://?rows=8&cols=8\n`,
    );
    expect(existsSync(db)).toBe(false);
  });
});

describe("reading the run database", () => {
  it("runs list on a database that does not exist names it (E608, exit 2) and does not create it", async () => {
    const db = join(dir, "typo.sqlite");
    const r = await runXbar(["runs", "list", "--db", db]);
    expect(r.code, describeRun(r)).toBe(2);
    expect(r.stderr).toMatch(/^xbar: E608 BAD_INPUT: no run database at .*typo\.sqlite/);
    expect(existsSync(db)).toBe(false);
  });
});

describe("--dry-run checks what it can before the real run", () => {
  const cases: Array<[string, string, number, RegExp]> = [
    [
      "a device outside the array",
      "board: emu://?rows=8&cols=8\nsteps:\n  - characterize: { row: 20, col: 0, pulses: 3 }\n",
      2,
      /^xbar: E608 BAD_INPUT: .*:4: steps\[0\]\.characterize: device r=20 c=0 is outside the 8 x 8 array/,
    ],
    [
      "a voltage beyond the envelope",
      "board: emu://?rows=8&cols=8\nsteps:\n  - characterize: { row: 0, col: 0, pulses: 3, setAmplitude: 12 }\n",
      1,
      /^xbar: E301 AMPLITUDE_LIMIT: .*amplitude 12 V outside the envelope/,
    ],
    [
      "an http:// board URL",
      "board: http://lab-board\nsteps:\n  - identify: {}\n",
      2,
      /^xbar: E607 BAD_URL: .*http:\/\/lab-board/,
    ],
    [
      "a target above the devices' largest conductance",
      "board: emu://?rows=8&cols=8&device=linear\nsteps:\n  - program: { pattern: uniform, block: { r0: 0, c0: 0, rows: 2, cols: 2 }, low: 1e-6, high: 1 }\n",
      2,
      /^xbar: E608 BAD_INPUT: .*target 1 S is far above the largest conductance/,
    ],
  ];
  it.each(cases)("refuses %s, and the database is not created", async (_what, body, code, message) => {
    const file = join(dir, "dry.yaml");
    const db = join(dir, "dry-never.sqlite");
    writeFileSync(file, `name: dry\n${body}`);
    for (const args of [["--dry-run"], []]) {
      const r = await runXbar(["run", file, "--db", db, ...args]);
      expect(r.code, describeRun(r)).toBe(code);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(db)).toBe(false);
  });

  it("an unreachable board is reported, not refused, by a dry run", async () => {
    const file = join(dir, "dry-far.yaml");
    writeFileSync(file, "name: far\nboard: socket://127.0.0.1:1\nsteps:\n  - identify: {}\n");
    const r = await runXbar(["run", file, "--dry-run"]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toMatch(
      /^not checked against socket:\/\/127\.0\.0\.1:1 \(not reachable from here: E606/m,
    );
  });
});

describe("program steps that do not converge", () => {
  it("onUnconverged: fail fails the run with E620 and exit 3; the counts are kept with the step", async () => {
    const file = join(dir, "strict.yaml");
    const db = join(dir, "strict.sqlite");
    writeFileSync(
      file,
      "name: strict\nboard: emu://?rows=8&cols=8&device=pcm&seed=1\nsteps:\n  - characterize: { row: 0, col: 0, pulses: 30 }\n  - program: { pattern: checkerboard, block: { r0: 0, c0: 0, rows: 4, cols: 4 }, relative: true, low: 0.3, high: 0.7, tolerance: 0.01, maxPulses: 5, onUnconverged: fail }\n",
    );
    const r = await runXbar(["run", file, "--db", db]);
    expect(r.code, describeRun(r)).toBe(3);
    expect(r.stderr).toMatch(/^xbar: E620 NOT_CONVERGED: program: \d+ of 16 devices did not converge/m);
    const store = await RunStore.open(db);
    const run = (await store.runs())[0]!;
    const step = (await store.steps(run.id)).find((st) => st.kind === "program")!;
    await store.close();
    expect(run.status).toBe("failed");
    expect(step.status).toBe("failed");
    expect(step.error).toMatch(
      /\d+ of 16 devices did not converge \(\d+ stuck, \d+ out of pulse budget, \d+ not settled/,
    );
  });
});

interface ExportedRow {
  run_id: number;
  kind: string;
  technology: string;
  params: string;
  row: number | null;
  y: number | null;
}

describe("a sweep over three device presets", () => {
  it("runs the example on emu://, fills the database, exports CSV and Parquet, plots SVG and PNG", async () => {
    const db = join(dir, "emu.sqlite");
    const r = await runXbar(["run", "examples/three-presets.yaml", "--db", db], { timeoutMs: 60_000 });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toMatch(/estimated time: /);
    const store = await RunStore.open(db);
    const runs = await store.runs();
    const curves = [];
    for (const run of runs) curves.push((await store.measurements(run.id, "pulse_response")).length);
    const techs = runs.map((run) => (run.identity as { technology: string }).technology);
    const statuses = runs.map((run) => run.status);
    await store.close();
    expect(techs).toEqual(["linear", "agsi", "pcm"]);
    expect(statuses).toEqual(["completed", "completed", "completed"]);
    expect(curves).toEqual([121, 121, 121]);
    // The pcm run's checkerboard does not fully converge: the default policy (warn) completes the
    // step, says so on stderr and on the run's line, and records the counts with the step.
    expect(r.stderr).toMatch(
      /^xbar: warning: run 3 step 3 program: \d+ of 64 devices did not converge \(\d+ stuck, \d+ out of pulse budget, \d+ not settled within \d+ rounds\)$/m,
    );
    expect(r.stdout).toMatch(/^run 3: completed with 1 warning\(s\)$/m);
    const check = await RunStore.open(db);
    const pcmProgram = (await check.steps(3)).find((st) => st.kind === "program")!.result as Record<
      string,
      number
    >;
    await check.close();
    expect(pcmProgram.converged + pcmProgram.stuck + pcmProgram.capped + pcmProgram.pending).toBe(64);
    expect(pcmProgram.converged).toBeLessThan(64);

    const csv = join(dir, "emu.csv");
    const pq = join(dir, "emu.parquet");
    const e = await runXbar(["runs", "export", "--campaign", "1", "--csv", csv, "--parquet", pq, "--db", db]);
    expect(e.code, describeRun(e)).toBe(0);
    const rows = parse(readFileSync(csv, "utf8"), { columns: true, cast: true }) as ExportedRow[];
    const buf = readFileSync(pq);
    const pqRows = (await parquetReadObjects({
      file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
    })) as ExportedRow[];
    expect(pqRows.length).toBe(rows.length);
    // Per run: identity 1, curve 121, program 64 devices, maps 64 + 144 + 256, retention 13 x 64.
    const perRun = 1 + 121 + 64 + 64 + 144 + 13 * 64 + 256;
    expect(rows.length).toBe(3 * perRun);
    expect(new Set(pqRows.map((x) => x.technology))).toEqual(new Set(["linear", "agsi", "pcm"]));
    const pr = rows.filter((x) => x.kind === "pulse_response" && x.run_id === 2);
    expect(pr.map((x) => x.y)).toEqual(
      pqRows.filter((x) => x.kind === "pulse_response" && x.run_id === 2).map((x) => x.y),
    );

    const out = join(dir, "plots");
    const p = await runXbar(["runs", "plot", "2", "--out", out, "--db", db], { timeoutMs: 60_000 });
    expect(p.code, describeRun(p)).toBe(0);
    for (const name of ["run-2-pulse-response", "run-2-step-3-map", "run-2-retention"]) {
      const svg = readFileSync(join(out, `${name}.svg`), "utf8");
      expect(svg.startsWith("<svg"), name).toBe(true);
      expect(/conductance/i.test(svg) && /run 2 of &quot;three-presets&quot;/.test(svg), name).toBe(true);
      const png = readFileSync(join(out, `${name}.png`));
      expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    }
  }, 90_000);

  it.skipIf(!which("socat") && !process.env.CI)(
    "runs over ptys: three emulated boards on serial device paths",
    async () => {
      const presets = ["linear", "agsi", "pcm"];
      const links = join(dir, "links");
      const { mkdirSync } = await import("node:fs");
      mkdirSync(links);
      await Promise.all(
        presets.map(async (device) => {
          const pair = await startPtyPair();
          pairs.push(pair);
          symlinkSync(pair.hostPath, join(links, device));
          const emu = startXbar([
            "emulate",
            "--serial",
            pair.boardPath,
            "--device",
            device,
            "--rows",
            "16",
            "--cols",
            "16",
          ]);
          await emu.waitFor(/serving on/, 20_000);
        }),
      );
      const file = join(dir, "pty.yaml");
      writeFileSync(
        file,
        `name: pty\nboard: ${links}/{device}\nsweep:\n  device: [${presets.join(", ")}]\nsteps:\n  - identify: {}\n  - characterize: { row: 1, col: 1, pulses: 20 }\n  - program: { pattern: x, block: { r0: 4, c0: 4, rows: 4, cols: 4 }, relative: true, low: 0.3, high: 0.7 }\n  - retention: { block: { r0: 4, c0: 4, rows: 4, cols: 4 }, interval: 60, count: 3 }\n`,
      );
      const db = join(dir, "pty.sqlite");
      const r = await runXbar(["run", file, "--db", db], { timeoutMs: 60_000 });
      expect(r.code, describeRun(r)).toBe(0);
      const store = await RunStore.open(db);
      const runs = await store.runs();
      expect(runs.map((x) => (x.identity as { technology: string }).technology)).toEqual(presets);
      expect(runs.map((x) => x.status)).toEqual(["completed", "completed", "completed"]);
      for (const run of runs) {
        expect(await store.measurements(run.id, "pulse_response")).toHaveLength(41);
        expect(await store.measurements(run.id, "retention")).toHaveLength(4);
      }
      await store.close();
    },
    60_000,
  );
});
