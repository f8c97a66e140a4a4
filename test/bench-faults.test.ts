/**
 * Bad input and misbehaving instruments on the bench board (SMU + matrix): a matrix that refuses a
 * crosspoint, an SMU in compliance, an instrument that stops answering in the middle of a campaign.
 * Each gives a coded error, leaves the source output off and every crosspoint open, and loses
 * nothing already measured. Checked on the emulated instruments' own state, not on the driver's.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lastValueFrom } from "rxjs";
import { afterAll, describe, expect, it } from "vitest";
import { XbarError } from "../firmware-protocol/errors.ts";
import { ErrorCode } from "../firmware-protocol/index.ts";
import { EmulatedBench, serveBenchTcp } from "../mocks/bench.ts";
import type { BenchBoard } from "../src/board/bench-board.ts";
import { connect } from "../src/board/connect.ts";
import { parseCampaign } from "../src/campaigns/load.ts";
import { runCampaign } from "../src/campaigns/runner.ts";
import { RunStore } from "../src/campaigns/store/run-store.ts";

const dir = mkdtempSync(join(tmpdir(), "xbar-bench-faults-"));
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const s of stops.reverse()) await s();
});

async function refusal(p: Promise<unknown>): Promise<XbarError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof XbarError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

async function served(bench: EmulatedBench, extra = ""): Promise<string> {
  const s = await serveBenchTcp(bench);
  stops.push(s.stop);
  return `bench://?smu=${s.smu}&matrix=${s.matrix}&rows=${bench.array.rows}&cols=${bench.array.cols}${extra}`;
}

describe("bench board under bad conditions", () => {
  it("a matrix that refuses a crosspoint: E640 naming it, output off, all open, others still usable", async () => {
    // Row 1 is on matrix column 02, so reading any device of row 1 closes 1A02.
    const bench = new EmulatedBench({
      rows: 4,
      cols: 4,
      device: "agsi",
      seed: 1,
      matrix: { forbidden: ["1A02"] },
    });
    const b = (await connect(await served(bench))) as BenchBoard;
    try {
      const e = await refusal(lastValueFrom(b.read(1, 0)));
      expect(e.code).toBe(ErrorCode.INSTRUMENT_REFUSED);
      expect(e.message).toContain("1A02");
      expect(bench.smu.outputOn).toBe(false);
      expect([...bench.matrix.closed]).toEqual([]);
      expect((await lastValueFrom(b.errors())).map((x) => x.code)).toEqual([ErrorCode.INSTRUMENT_REFUSED]);
      expect(await lastValueFrom(b.read(0, 0))).toBeGreaterThan(0);
    } finally {
      await b.close();
    }
  });

  it("an SMU in compliance: E641 with the reading, output off, all open", async () => {
    const b = (await connect("bench-emu://?rows=4&cols=4&device=agsi&seed=1")) as BenchBoard;
    try {
      // 0.2 V on 3.08 nS is 0.6 nA: above a 0.1 nA compliance.
      await lastValueFrom(b.configure({ compliance: 1e-10 }));
      const e = await refusal(lastValueFrom(b.read(2, 2)));
      expect(e.code).toBe(ErrorCode.IN_COMPLIANCE);
      expect(e.context).toMatchObject({ row: 2, col: 2 });
      expect(await b.instrumentState()).toEqual({ output: false, closed: [] });
      await lastValueFrom(b.configure({ compliance: 1e-4 }));
      expect(await lastValueFrom(b.read(2, 2))).toBeCloseTo(3.0769e-9, 12);
    } finally {
      await b.close();
    }
  });

  it("an SMU that stops answering mid-campaign: run failed with E601, output off, all open, data kept", async () => {
    const bench = new EmulatedBench({ rows: 4, cols: 4, device: "agsi", seed: 1 });
    const url = await served(bench, "&timeout=300");
    const c = parseCampaign(
      `name: hang\nboard: "${url}"\nsteps:\n  - characterize: { row: 1, col: 1, pulses: 20 }\n`,
    );
    const store = await RunStore.open(join(dir, "hang.sqlite"));
    try {
      const { runs } = await store.createCampaign({
        name: c.name,
        text: c.text,
        software: "test",
        runs: c.runs,
      });
      let seen = 0;
      const res = await runCampaign(store, c, runs, {
        signal: new AbortController().signal,
        software: "test",
        events: {
          stepProgress: (done) => {
            seen = done;
            if (done === 7) bench.smu.silent = true;
          },
        },
      });
      expect(res.status).toBe("failed");
      const run = (await store.run(runs[0]!.id))!;
      expect(run.status).toBe("failed");
      expect(run.error).toContain("E601");
      // Every point emitted before the hang is in the database, under the failed attempt of the step.
      expect(await store.measurementCount(run.id)).toBe(seen);
      expect(seen).toBeGreaterThanOrEqual(7);
      expect((await store.steps(run.id)).map((st) => st.status)).toEqual(["failed"]);
      expect(bench.smu.outputOn).toBe(false);
      expect([...bench.matrix.closed]).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("refuses biasing schemes the hardware cannot apply, and bad bench URLs", async () => {
    const b = await connect("bench-emu://?rows=2&cols=2");
    try {
      const e = await refusal(lastValueFrom(b.configure({ scheme: "V/2" })));
      expect(e.code).toBe(ErrorCode.BAD_ARGUMENT);
      expect(e.context.side).toBe("host");
    } finally {
      await b.close();
    }
    expect((await refusal(connect("bench-emu://?rows=40&cols=40"))).code).toBe(ErrorCode.BAD_URL);
    expect((await refusal(connect("bench-emu://?frobnicate=1"))).code).toBe(ErrorCode.BAD_URL);
    expect((await refusal(connect("bench://?rows=4&cols=4"))).code).toBe(ErrorCode.BAD_URL);
  });
});
