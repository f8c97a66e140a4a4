/**
 * `npm run bench:instruments`: per-operation times of the boards made of instruments, measured on
 * the emulated instruments, against the protocol board (emu://) in the same run.
 *
 *   boards: emu:// (baseline), bench-emu:// (SMU + 707B in-process), bench:// (the same emulated
 *           instruments on two TCP ports), arc1-emu:// (in-process), arc1:// on a socat pty pair
 *   ops:    read, pulse (one 300 us pulse), pulse-read, readAll of 8 x 8, vmm over 8 x 8 (one vector)
 *
 * For each: host wall time per operation (median of the runs), and the board-clock time per
 * operation where the clock is virtual (emu://, bench-emu://). Also the model figures the wall-time
 * estimates use on real instruments (capabilities.timing). Writes docs/bench-instruments.json and
 * prints the table. Every board, server and socat process is released.
 */
import { writeFileSync } from "node:fs";
import { cpus, platform, release } from "node:os";
import { lastValueFrom } from "rxjs";
import { serveArc1Serial } from "../mocks/arc1.ts";
import { EmulatedBench, serveBenchTcp } from "../mocks/bench.ts";
import type { Board } from "../src/board/board.ts";
import { connect } from "../src/board/connect.ts";
import { estimateSeconds } from "../src/board/estimate.ts";
import { startPtyPair, which } from "../tools/pty.ts";
import { num, ratio, table } from "./table.ts";

const OUT = "docs/bench-instruments.json";
const SIZE = "rows=8&cols=8&device=agsi&seed=1";
const RUNS = 15;
const log = (m: string) => process.stderr.write(`bench: ${m}\n`);

type OpName = "read" | "pulse" | "pulseRead" | "readAll" | "vmm";
const OPS: Record<OpName, (b: Board, k: number) => Promise<unknown>> = {
  read: (b, k) => lastValueFrom(b.read(k % 8, (k >> 3) % 8)),
  pulse: (b, k) => lastValueFrom(b.pulse({ row: k % 8, col: 0, amplitude: k % 2 ? -2.8 : 3.2, width: 3e-4 })),
  pulseRead: (b, k) =>
    lastValueFrom(
      b.pulse({ row: k % 8, col: 1, amplitude: k % 2 ? -2.8 : 3.2, width: 3e-4, readAfter: true }),
    ),
  readAll: (b) => lastValueFrom(b.readAll()),
  vmm: (b) => lastValueFrom(b.vmm({ r0: 0, c0: 0, rows: 8, cols: 8 }, new Float32Array(8).fill(0.1))),
};

interface OpTiming {
  /** Median host wall time per operation, ms. */
  wallMs: number;
  /** Board-clock time per operation, ms (virtual clocks only). */
  boardMs?: number;
}

interface BoardResult {
  name: string;
  url: string;
  native: readonly string[];
  ops: Partial<Record<OpName, OpTiming>>;
  /** What the estimates assume on real instruments, ms: one read, one 300 us pulse. */
  model?: { readMs: number; pulseMs: number };
  error?: string;
}

const median = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)]!;

async function measure(name: string, open: () => Promise<Board>, virtual: boolean): Promise<BoardResult> {
  log(name);
  let b: Board | undefined;
  try {
    b = await open();
    const ops: BoardResult["ops"] = {};
    for (const op of Object.keys(OPS) as OpName[]) {
      await OPS[op](b, 0); // warm-up
      const wall: number[] = [];
      const c0 = await lastValueFrom(b.clock());
      for (let k = 1; k <= RUNS; k++) {
        const t = performance.now();
        await OPS[op](b, k);
        wall.push(performance.now() - t);
      }
      const c1 = await lastValueFrom(b.clock());
      ops[op] = { wallMs: median(wall), boardMs: virtual ? ((c1 - c0) / RUNS) * 1000 : undefined };
    }
    const t = b.capabilities.timing;
    const model = b.capabilities.native.includes("vmm")
      ? undefined
      : {
          readMs: estimateSeconds(t, { reads: 1, pulses: 0, pulseSeconds: 0 }) * 1000,
          pulseMs: estimateSeconds(t, { reads: 0, pulses: 1, pulseSeconds: 3e-4 }) * 1000,
        };
    return { name, url: b.url, native: b.capabilities.native, ops, model };
  } catch (e) {
    log(`${name} failed: ${(e as Error).message}`);
    return { name, url: "", native: [], ops: {}, error: (e as Error).message };
  } finally {
    await b?.close().catch(() => {});
  }
}

async function main(): Promise<void> {
  const results: BoardResult[] = [];
  results.push(await measure("protocol board, emu://", () => connect(`emu://?${SIZE}`), true));
  results.push(await measure("bench, bench-emu://", () => connect(`bench-emu://?${SIZE}`), true));
  const bench = new EmulatedBench({ rows: 8, cols: 8, device: "agsi", seed: 1 });
  const served = await serveBenchTcp(bench);
  results.push(
    await measure(
      "bench over TCP, bench://",
      () => connect(`bench://?smu=${served.smu}&matrix=${served.matrix}&rows=8&cols=8`),
      false,
    ),
  );
  await served.stop();
  results.push(await measure("ArC ONE, arc1-emu://", () => connect(`arc1-emu://?${SIZE}`), false));
  if (which("socat")) {
    const pair = await startPtyPair({ prefix: "xbar-bench-arc1-" });
    const { port } = await serveArc1Serial({ rows: 8, cols: 8, device: "agsi", seed: 1 }, pair.boardPath);
    results.push(
      await measure(
        "ArC ONE on a pty, arc1://",
        () => connect(`arc1://${pair.hostPath}?rows=8&cols=8&boot=0`),
        false,
      ),
    );
    await new Promise<void>((r) => port.close(() => r()));
    await pair.stop();
  } else log("socat not found: the pty run is left out");

  const base = results[0]!.ops;
  const header = ["board", ...Object.keys(OPS).map((o) => `${o} ms`), "read vs emu://"];
  const rows = results.map((r) => [
    r.name,
    ...(Object.keys(OPS) as OpName[]).map((o) => {
      const x = r.ops[o];
      if (!x) return "-";
      return x.boardMs !== undefined ? `${num(x.wallMs)} (${num(x.boardMs)})` : num(x.wallMs);
    }),
    r.ops.read && base.read ? ratio(r.ops.read.wallMs / base.read.wallMs) : "-",
  ]);
  process.stdout.write(
    `Per-operation host wall time, median of ${RUNS} (board-clock time where the clock is virtual), 8 x 8 agsi:\n${table(header, rows)}\n\n`,
  );
  const models = results.filter((r) => r.model);
  process.stdout.write(
    `What the estimates assume on real instruments (capabilities.timing):\n${table(
      ["board", "read ms", "300 us pulse ms"],
      models.map((r) => [r.name, num(r.model!.readMs), num(r.model!.pulseMs)]),
    )}\n`,
  );
  const json = {
    command: "npm run bench:instruments",
    date: new Date().toISOString(),
    machine: {
      cpu: cpus()[0]?.model ?? "?",
      cores: cpus().length,
      os: `${platform()} ${release()}`,
      node: process.version,
    },
    runs: RUNS,
    results,
  };
  writeFileSync(OUT, `${JSON.stringify(json, null, 2)}\n`);
  log(`wrote ${OUT}`);
}

await main();
