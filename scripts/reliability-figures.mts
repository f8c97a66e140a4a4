/**
 * Prints the figures of docs/reliability.md: the exactly-once soak (faults injected, pulses applied,
 * lost, doubled), the reboot / disconnect / stall outcomes, the fuzzing counts and the envelope
 * verdicts checked. Everything is seeded: a rerun prints the same counts (times differ).
 *
 *   npx tsx scripts/reliability-figures.mts            (about a minute)
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { Duplex, PassThrough } from "node:stream";
import { CrossbarClient, StreamTransport, type XbarError } from "../drivers/index.ts";
import { EmulatedBoard, type FaultSpec, serveStream, withFaults } from "../mocks/index.ts";
import { fuzzBoard } from "../tools/reliability/fuzz.ts";
import { runSoak } from "../tools/reliability/soak.ts";

const out = (s = "") => process.stdout.write(`${s}\n`);
// The fuzzer's assertions run inside fast-check; the soak's inside the helper: both throw on failure.

out(
  `# xbar reliability figures (${new Date().toISOString()}, ${cpus()[0]?.model ?? "?"}, node ${process.version})`,
);
out();
out("## Exactly-once soak (test/reliability-soak.test.ts)");
out();
out(
  "| seed | faults | commands | pulses planned | board counted (faulty / clean) | lines dropped | lines corrupted | bytes dropped | retransmissions | lost | doubled | devices differing | ms |",
);
out("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
const soaks: Array<[number, number, FaultSpec | undefined, string]> = [
  [1, 600, undefined, "drop 3 %, corrupt 3 %"],
  [2, 600, undefined, "drop 3 %, corrupt 3 %"],
  [3, 600, undefined, "drop 3 %, corrupt 3 %"],
  [
    4,
    300,
    { drop: 0.02, corrupt: 0.02, dropByte: 0.0002, split: true, seed: 9 },
    "drop 2 %, corrupt 2 %, 1/5000 bytes, split",
  ],
];
const total = { pulses: 0, dropped: 0, corrupted: 0, lost: 0, doubled: 0 };
for (const [seed, commands, faults, label] of soaks) {
  const r = await runSoak({ seed, commands, faults });
  total.pulses += r.faultyCount;
  total.dropped += r.faults.dropped;
  total.corrupted += r.faults.corrupted;
  total.lost += r.lost;
  total.doubled += r.doubled;
  out(
    `| ${seed} | ${label} | ${r.commands} | ${r.planned} | ${r.faultyCount} / ${r.cleanCount} | ${r.faults.dropped} | ${r.faults.corrupted} | ${r.faults.droppedBytes} | ${r.client.retransmissions} | ${r.lost} | ${r.doubled} | ${r.devicesDiffering} | ${r.ms.toFixed(0)} |`,
  );
}
out();
out(
  `Total: ${total.pulses} pulses applied through ${total.dropped} dropped and ${total.corrupted} corrupted lines; lost ${total.lost}, doubled ${total.doubled}.`,
);

out();
out("## Reboots, disconnects, stalls (test/reliability-faults.test.ts)");
out();
function duplexPair(): [Duplex, Duplex] {
  const a = new PassThrough();
  const b = new PassThrough();
  return [Duplex.from({ readable: a, writable: b }), Duplex.from({ readable: b, writable: a })];
}
async function scenario(faults: FaultSpec, verb: string, args: Record<string, number>) {
  const board = new EmulatedBoard({ rows: 8, cols: 8, device: "linear", seed: 1 });
  const [hostEnd, boardEnd] = duplexPair();
  serveStream(board, withFaults(boardEnd, faults, board));
  const client = new CrossbarClient(new StreamTransport(hostEnd, "faulty", board.maxLine), {
    baseTimeoutMs: 50,
    retries: 2,
  });
  await client.request("HELLO");
  const t0 = performance.now();
  const res = await client.request(verb, args).then(
    () => "answered",
    (e: XbarError) => `E${e.code}${e.context.outcome ? ` (outcome ${e.context.outcome})` : ""}`,
  );
  const ms = performance.now() - t0;
  const after = await client.request("NOP").then(
    () => "works",
    (e: XbarError) => `E${e.code}`,
  );
  await client.close().catch(() => {});
  return { res, after, ms, reboots: client.stats.reboots, g: board.g[0]! };
}
out("| fault | request | result | next request | ms |");
out("| --- | --- | --- | --- | --- |");
for (const [label, faults, verb, args] of [
  ["reset-after:2 (reply lost, BOOT)", { resetAfter: 2 }, "PULSE", { r: 0, c: 0, v: 2, w: 1e-4, n: 5 }],
  ["reset-after:2 (reply lost, BOOT)", { resetAfter: 2 }, "READ", { r: 0, c: 0 }],
  ["disconnect-after:2", { disconnectAfter: 2 }, "PULSE", { r: 0, c: 0, v: 2, w: 1e-4 }],
  ["stall-after:2 (timeout 50 ms, 2 retries)", { stallAfter: 2 }, "READ", { r: 0, c: 0 }],
] as const) {
  const s = await scenario(faults, verb, args);
  out(`| ${label} | ${verb} | ${s.res} | ${s.after} | ${s.ms.toFixed(0)} |`);
}

out();
out("## Fuzzing (test/fuzz-board.test.ts)");
out();
const f = await fuzzBoard(7, 20_000);
out(
  `${f.lines} lines into one board session in ${f.ms.toFixed(0)} ms: ${f.ok} OK, ${f.err} ERR, ${f.rejected} REJECT, ${f.ignored} blank (ignored); 0 crashes, 0 lines without exactly one reply, 0 × 500 INTERNAL.`,
);
out(
  `Codes seen: ${f.codes.join(", ")}. Replay window at most ${f.maxReplay} entries, error queue at most ${f.maxErrorQueue}; heap growth ${f.heapGrowthMB.toFixed(1)} MB.`,
);

out();
out("## Safety envelope (test/reliability-envelope.test.ts)");
out();
const dir = mkdtempSync(join(tmpdir(), "xbar-figures-"));
const v = spawnSync(
  "npx",
  ["vitest", "run", "test/reliability-envelope.test.ts", "test/reliability-kill.test.ts"],
  {
    env: { ...process.env, XBAR_FIGURES_DIR: dir },
    encoding: "utf8",
  },
);
const read = <T,>(name: string): T | undefined => {
  try {
    return JSON.parse(readFileSync(join(dir, name), "utf8")) as T;
  } catch {
    return undefined;
  }
};
const e = read<{ host: number; board: number }>("envelope.json");
if (e)
  out(
    `${e.host} verdicts checked on the host and ${e.board} on the board (boundaries, just inside, just outside, and 300 random pulses each way).`,
  );
out();
out("## SIGKILL at random points (test/reliability-kill.test.ts)");
out();
const k = read<{ kills: number; killedIn: number[]; kept: number[]; final: number; attempts: number }>(
  "kill.json",
);
if (k)
  out(
    `${k.kills} kills survived (in steps ${k.killedIn.join(", ")} of 6); measurements in the store after each kill: ${k.kept.join(", ")}; after the last resume: ${k.final} (${k.attempts} step attempts for 6 steps); every step completed once, every curve point once.`,
  );
if (!e || !k || v.status !== 0) out(`vitest exit status ${v.status}:\n${v.stdout}\n${v.stderr}`);
rmSync(dir, { recursive: true, force: true });
