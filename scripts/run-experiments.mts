/**
 * Runs the training experiments of docs/experiments.md through the real `xbar train` command and
 * writes the page with the measured figures. Usage: npx tsx scripts/run-experiments.mts [--quick]
 * (--quick: 2 epochs of 2000 images, for trying the script itself).
 */
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { promisify } from "node:util";

const run = promisify(execFile);
const quick = process.argv.includes("--quick");
const size = quick
  ? "--epochs 2 --images-per-epoch 2000 --test-images 2000"
  : "--epochs 10 --images-per-epoch 8000";
const emu = (device: string) => `"emu://?rows=512&cols=256&device=${device}&seed=1"`;

const EXPERIMENTS: Array<{ name: string; args: string }> = [
  { name: "software backpropagation (reference)", args: "--rule software" },
  {
    name: "linear device, on chip, bidirectional",
    args: `--rule onchip --update bidirectional --port ${emu("linear")} --vp 2 --vn -2 --width 1e-4`,
  },
  {
    name: "Ag:a-Si, on chip, bidirectional",
    args: `--rule onchip --update bidirectional --port ${emu("agsi")}`,
  },
  {
    name: "Ag:a-Si, on chip, unidirectional",
    args: `--rule onchip --update unidirectional --port ${emu("agsi")}`,
  },
  {
    name: "Ag:a-Si with d2d spread, bidirectional",
    args: `--rule onchip --update bidirectional --port ${emu("agsi-d2d")}`,
  },
  {
    name: "Ag:a-Si with d2d spread, unidirectional",
    args: `--rule onchip --update unidirectional --port ${emu("agsi-d2d")}`,
  },
  {
    name: "Ag:a-Si, unidirectional, sign only (Manhattan)",
    args: `--rule onchip --update unidirectional --pulse-mode sign --port ${emu("agsi")}`,
  },
  {
    name: "hybrid: layer 1 on Ag:a-Si after software pretraining",
    args: `--rule hybrid --port ${emu("agsi")}`,
  },
];

interface Transfer {
  method: string;
  pulses: number;
  reads: number;
  energy: number;
  accuracy: number;
}

interface Row {
  name: string;
  command: string;
  seconds: number;
  error?: string;
  accuracy?: number;
  totals?: { pulses: number; reads: number; vmms: number; energy: number };
  transfers?: Transfer[];
  perClass?: number[];
  /** Test accuracy after each epoch. */
  epochs?: number[];
  /** When and where the row was measured (rows may come from different runs of the script). */
  measured?: string;
}

const page = process.argv.includes("--page");
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
/** --only a,b: rerun the experiments whose names contain a or b, keep the other rows as recorded. */
const only = arg("--only")?.split(",");
/** --jobs N: experiments run N at a time (each is one process on one core). */
const jobs = Number(arg("--jobs") ?? 1);
const jsonPath = quick ? "scratch/experiments-quick.json" : "docs/experiments.json";
let rows: Row[];
let meta: { date: string; machine: string; quick: boolean };
const machine = () => `${cpus()[0]?.model ?? "?"} (${cpus().length} cores), node ${process.version}`;
if (page) {
  ({ rows, meta } = JSON.parse(readFileSync(jsonPath, "utf8")) as { rows: Row[]; meta: typeof meta });
} else {
  const today = new Date().toISOString().slice(0, 10);
  const old: Row[] = only ? (JSON.parse(readFileSync(jsonPath, "utf8")) as { rows: Row[] }).rows : [];
  meta = { date: today, machine: machine(), quick };
  const todo = EXPERIMENTS.filter((e) => !only || only.some((o) => e.name.includes(o)));
  const fresh = new Map<string, Row>();
  const runOne = async (e: (typeof EXPERIMENTS)[number]): Promise<void> => {
    const command = `xbar train ${e.args} ${size} --seed 1 --json`;
    process.stderr.write(`running: ${command}\n`);
    const t0 = performance.now();
    let r: Row;
    try {
      const { stdout } = await run("bash", ["-c", `node bin/xbar.mjs ${command.slice(5)}`], {
        maxBuffer: 64 << 20,
      });
      const j = JSON.parse(stdout.trim().split("\n").pop()!);
      r = {
        name: e.name,
        command,
        seconds: (performance.now() - t0) / 1000,
        accuracy: j.accuracy,
        totals: j.totals,
        transfers: j.transfers,
        perClass: j.perClass,
        epochs: j.epochs.map((x: { test: { accuracy: number } }) => x.test.accuracy),
      };
    } catch (err) {
      r = {
        name: e.name,
        command,
        seconds: (performance.now() - t0) / 1000,
        error: String((err as Error).message).split("\n")[0],
      };
    }
    r.measured = `${today}, ${machine()}${jobs > 1 ? `, ${jobs} runs at a time` : ""}`;
    fresh.set(e.name, r);
    process.stderr.write(
      `  ${e.name}: ${r.error ?? `${((r.accuracy ?? 0) * 100).toFixed(2)}%`} in ${r.seconds.toFixed(0)} s\n`,
    );
  };
  const queue = [...todo];
  await Promise.all(
    Array.from({ length: Math.max(1, jobs) }, async () => {
      for (let e = queue.shift(); e; e = queue.shift()) await runOne(e);
    }),
  );
  // Rows in the order of EXPERIMENTS: the fresh ones, else the ones recorded before.
  rows = EXPERIMENTS.flatMap((e) => {
    const r = fresh.get(e.name) ?? old.find((o) => o.name === e.name);
    return r ? [r] : [];
  });
  writeFileSync(jsonPath, JSON.stringify({ meta, rows }, null, 1));
}

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
const big = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n);
const joules = (j: number) =>
  j === 0
    ? "0"
    : j < 1e-3
      ? `${(j * 1e6).toFixed(1)} µJ`
      : j < 1
        ? `${(j * 1e3).toFixed(2)} mJ`
        : `${j.toFixed(2)} J`;

const lines: string[] = [];
const find = (prefix: string) => rows.find((r) => r.name.startsWith(prefix) && r.accuracy !== undefined);
lines.push("# Training experiments", "");
lines.push(
  `Measured with \`npx tsx scripts/run-experiments.mts\` on ${meta.date}, ${meta.machine} (\`--page\` re-renders this page from docs/experiments.json).`,
  `Every row is one seeded run of the command shown (the emulated board in the same process, through the whole protocol stack). Network 400-100-10 (20x20 centre crop of MNIST), sigmoid hidden units, softmax output, learning rate 0.1, ${meta.quick ? "2 epochs of 2000 images (quick run)" : "10 epochs of 8 000 training images"}, tested on ${meta.quick ? "2 000" : "all 10 000"} test images. Pulses, reads (device reads; VMM vectors are counted apart) and energy are the board's own counters over the whole run (calibration, initialisation, training and the evaluations).`,
  "",
  "The other works: [drift-exploiting sparse learning](experiments-ssl.md), [the stashing system for a spiking network](experiments-snn.md), [retraining on neuron-synapse cells](experiments-retrain.md).",
  "",
);
lines.push(
  "| experiment | test accuracy (final) | best epoch | pulses | device reads | VMM vectors | energy | wall time | command |",
  "|---|---|---|---|---|---|---|---|---|",
);
for (const r of rows) {
  if (r.error || !r.totals || r.accuracy === undefined) {
    lines.push(`| ${r.name} | failed: ${r.error} | | | | | | ${r.seconds.toFixed(0)} s | \`${r.command}\` |`);
    continue;
  }
  const t = r.totals;
  const best = Math.max(...(r.epochs ?? [r.accuracy]));
  lines.push(
    `| ${r.name} | ${pct(r.accuracy)} | ${pct(best)} | ${big(t.pulses)} | ${big(t.reads)} | ${big(t.vmms)} | ${joules(t.energy)} | ${r.seconds.toFixed(0)} s | \`${r.command}\` |`,
  );
}

// The three claims of the issue, computed from the rows above.
const sw = find("software");
const lin = find("linear");
const bi = find("Ag:a-Si, on chip, bidirectional");
const uni = find("Ag:a-Si, on chip, unidirectional");
const biD = find("Ag:a-Si with d2d spread, bidirectional");
const uniD = find("Ag:a-Si with d2d spread, unidirectional");
const hy = find("hybrid");
const wins = (a?: Row, b?: Row) =>
  a?.epochs && b?.epochs ? a.epochs.filter((x, i) => x > (b.epochs![i] ?? 1)).length : 0;
const mean = (xs: number[]) => xs.reduce((p, q) => p + q, 0) / xs.length;
lines.push("", "## The claims", "");
if (sw && lin) {
  const gap = (sw.accuracy! - lin.accuracy!) * 100;
  lines.push(
    `1. **Linear device vs software**: ${pct(lin.accuracy!)} against ${pct(sw.accuracy!)}, ${gap.toFixed(2)} points apart (claim: within 2 points) — ${Math.abs(gap) < 2 ? "holds" : "does not hold"}.`,
  );
}
if (bi && uni) {
  const last5 = (r: Row) => mean(r.epochs!.slice(-5));
  lines.push(
    `2. **Unidirectional beats bidirectional on Ag:a-Si**: final ${pct(uni.accuracy!)} against ${pct(bi.accuracy!)}; better in ${wins(uni, bi)} of ${uni.epochs!.length} epochs; mean of the last five epochs ${pct(last5(uni))} against ${pct(last5(bi))}.` +
      (biD && uniD
        ? ` With device-to-device spread: ${pct(uniD.accuracy!)} against ${pct(biD.accuracy!)}, better in ${wins(uniD, biD)} of ${uniD.epochs!.length} epochs.`
        : "") +
      ` The target of 85 % with the unidirectional rule is ${uni.accuracy! >= 0.85 ? "met" : `not met at the last epoch: the rule reaches ${pct(Math.max(...uni.epochs!))} at its best epoch, but the accuracy moves by several points from one epoch to the next`} (the bidirectional rule stays near 70 %, as the issue expects of plain pulse-count SGD on this device). Why it moves: each pulse of this device adds cycle-to-cycle noise of 3.5 % of the range, about three times the mean step of one pulse, so every epoch's last updates leave a different noisy network; lower learning rates give fewer pulses and a worse signal-to-noise ratio, and the sign-only rule (one pulse per update) is far worse (its row above).`,
  );
}
if (hy?.transfers && sw) {
  const [wv, ol] = hy.transfers;
  const gap = (sw.accuracy! - hy.accuracy!) * 100;
  lines.push(
    `3. **Hybrid training**: after one epoch with layer 1 on the array, ${pct(hy.accuracy!)} against the software network's ${pct(sw.accuracy!)}, ${gap.toFixed(2)} points apart (claim: within 1.5) — ${gap < 1.5 ? "holds" : "does not hold"}. The open-loop transfer took ${big(ol!.pulses)} pulses and no reads against ${big(wv!.pulses)} pulses and ${big(wv!.reads)} reads for write-and-verify.`,
  );
}

const hybrid = rows.find((r) => r.transfers);
if (hybrid?.transfers && hybrid.epochs) {
  lines.push("", "## Hybrid training: transferring layer 1", "");
  lines.push("Both transfers start from a fully depressed layer (the reset is not counted).", "");
  lines.push("| transfer | pulses | device reads | energy | accuracy right after |", "|---|---|---|---|---|");
  for (const t of hybrid.transfers)
    lines.push(
      `| ${t.method} | ${big(t.pulses)} | ${big(t.reads)} | ${joules(t.energy)} | ${pct(t.accuracy)} |`,
    );
  const e = hybrid.epochs;
  lines.push(
    "",
    `After the software pretraining: ${pct(e[e.length - 2]!)}; after the one hybrid epoch with layer 1 on the array: ${pct(e[e.length - 1]!)}.`,
  );
}
lines.push("", "## Per epoch", "");
for (const r of rows) {
  if (!r.epochs) continue;
  lines.push(`- ${r.name}: ${r.epochs.map(pct).join(", ")}`);
}
lines.push(
  "",
  "## Per digit (final)",
  "",
  "| experiment | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 |",
  "|---|---|---|---|---|---|---|---|---|---|---|",
);
for (const r of rows)
  if (r.perClass) lines.push(`| ${r.name} | ${r.perClass.map((a) => (a * 100).toFixed(1)).join(" | ")} |`);
const out = quick ? "scratch/experiments-quick.md" : "docs/experiments.md";
writeFileSync(out, `${lines.join("\n")}\n`);
process.stderr.write(`wrote ${out}\n`);
