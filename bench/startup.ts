/**
 * `npm run bench:startup` (part of `npm run bench`): cold start of the `xbar` command, as a shell loop
 * over devices pays it, against `node -e 0` measured in the same run (the floor: Node.js itself).
 *
 *   node -e 0                        the baseline
 *   xbar --version                   the command with no command group loaded
 *   xbar idn --port emu://...        a whole command: connect to an in-process emulated board, identify
 *
 * Each is run `RUNS` times in turn (interleaved, so a busy moment of the machine hits all alike); the
 * median wall time counts. Runs the compiled dist/ (`npm run build` first, as `npm ci` does).
 */
import { execFileSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { num, ratio, round, table } from "./table.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(ROOT, "bin", "xbar.mjs");
const RUNS = 15;

const cases: Array<{ name: string; args: string[] }> = [
  { name: "node -e 0", args: ["-e", "0"] },
  { name: "xbar --version", args: [BIN, "--version"] },
  { name: "xbar idn (emu://)", args: [BIN, "idn", "--port", "emu://?rows=64&cols=64&device=agsi&seed=1"] },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const times = cases.map(() => [] as number[]);
for (let i = 0; i < RUNS; i++) {
  cases.forEach((c, k) => {
    const t0 = performance.now();
    execFileSync(process.execPath, c.args, { stdio: "ignore" });
    times[k]!.push(performance.now() - t0);
  });
}
const base = median(times[0]!);
const rows = cases.map((c, k) => {
  const m = median(times[k]!);
  return [c.name, num(m, 3), num(Math.min(...times[k]!), 3), ratio(m / base)];
});
console.log(
  `\nCold start (${RUNS} runs each, interleaved; ${cpus()[0]?.model ?? "cpu"}, ${cpus().length} cores, node ${process.version}, load ${loadavg()[0]!.toFixed(2)})`,
);
console.log(table(["command", "median ms", "min ms", "vs node -e 0"], rows));
console.log(
  `BENCH_JSON ${JSON.stringify({ startup: Object.fromEntries(cases.map((c, k) => [c.name, { medianMs: round(median(times[k]!)), vsNode: round(median(times[k]!) / base) }])) })}`,
);
