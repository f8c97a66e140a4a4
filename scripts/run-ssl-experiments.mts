/**
 * Runs the spontaneous-sparse-learning experiments (docs/research.md §3) through the real
 * `xbar train --rule ssl` command and writes docs/experiments-ssl.md with the measured figures.
 *
 *   npx tsx scripts/run-ssl-experiments.mts            the runs of the page (--jobs=N at a time, default 4)
 *   npx tsx scripts/run-ssl-experiments.mts --quick    tiny sizes, to try the script (written to
 *                                                      xbar-ssl-quick/ in the OS temporary folder)
 *   npx tsx scripts/run-ssl-experiments.mts --page     rewrite the page from the saved results
 *
 * Size (see SIZE below): the size issue 17 asks for by default; --small, or any size with
 * --size=H,E,N,T (H hidden units, E epochs of N training images, T test images), --seeds=1,2,3 (the
 * seeds of the comparison) and --sweep-seeds=1 (the seeds of the sweeps). The size and seeds are saved
 * with the results, and --page states those.
 *
 * Raw results are kept in docs/experiments-ssl.json (for --quick, in xbar-ssl-quick/ under os.tmpdir(),
 * printed at the start).
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const quick = process.argv.includes("--quick");
const pageOnly = process.argv.includes("--page");
const opt = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const jobs = Number(opt("jobs") ?? 4);
/** The size issue 17 asks for: the network of the work (400-100-10), 3 epochs of 8 000 images, all 10 000 test images. */
const ISSUE_SIZE = { hidden: 100, epochs: 3, images: 8000, test: 10000 };
type Size = typeof ISSUE_SIZE;
/**
 * Size of every run (stated on the page). Default, the size issue 17 asks for, in mini-batches of 10
 * with the learning rate × 0.8 per epoch. `--small`: 400-16-10, 1 epoch of 1 000 images, 500 test
 * images. `--size=H,E,N,T`: any other size, with the same schedule as the default.
 */
const small = process.argv.includes("--small");
const sizeArg = opt("size")?.split(",").map(Number);
if (sizeArg && (sizeArg.length !== 4 || sizeArg.some((x) => !Number.isInteger(x) || x < 1)))
  throw new Error(`--size=H,E,N,T: four positive integers, got ${opt("size")}`);
const sizeOf = (z: Size, sched: string) =>
  `--hidden ${z.hidden} --epochs ${z.epochs} --images-per-epoch ${z.images} --test-images ${z.test} --batch 10${sched}`;
const seedList = (name: string, dflt: number[]) => opt(name)?.split(",").filter(Boolean).map(Number) ?? dflt;
/**
 * --tag=NAME: a second set of results, page and verdict (docs/experiments-ssl-NAME.*), e.g. a few
 * seeds at a larger size next to the page of record.
 */
const tag = opt("tag");
/** --quick writes to the OS temporary folder, never docs/. */
const QUICK_DIR = join(tmpdir(), "xbar-ssl-quick");
if (quick) {
  mkdirSync(QUICK_DIR, { recursive: true });
  process.stderr.write(`--quick: results, verdict and page in ${QUICK_DIR}\n`);
}
const base = quick ? join(QUICK_DIR, "experiments-ssl-quick") : `docs/experiments-ssl${tag ? `-${tag}` : ""}`;

interface Meta {
  date: string;
  machine: string;
  jobs: number;
  size: Size;
  /** The training arguments of every run. */
  args: string;
  seeds: number[];
  sweepSeeds: number[];
  /** The command that ran the experiments. */
  command: string;
  /** --note="…": why the sizes or seeds are what they are (stated on the page). */
  note?: string;
}
const store = `${base}.json`;
const saved = (): { meta?: Meta; rows: Row[] } => JSON.parse(readFileSync(store, "utf8"));
const meta: Meta = pageOnly
  ? (saved().meta ??
    (() => {
      throw new Error(`${store} has no meta (size, seeds): run the experiments again`);
    })())
  : (() => {
      const size: Size = quick
        ? { hidden: 16, epochs: 1, images: 200, test: 300 }
        : sizeArg
          ? { hidden: sizeArg[0]!, epochs: sizeArg[1]!, images: sizeArg[2]!, test: sizeArg[3]! }
          : small
            ? { hidden: 16, epochs: 1, images: 1000, test: 500 }
            : ISSUE_SIZE;
      const seeds = seedList("seeds", quick ? [1, 2] : [1, 2, 3, 4, 5]);
      return {
        date: new Date().toISOString().slice(0, 10),
        machine: `${cpus()[0]?.model ?? "?"} (${cpus().length} cores), node ${process.version}`,
        jobs,
        size,
        args: sizeOf(size, small && !sizeArg ? "" : " --lr-decay 0.8"),
        seeds,
        sweepSeeds: seedList("sweep-seeds", quick || small ? [1] : [1, 2]),
        command: `npx tsx scripts/run-ssl-experiments.mts ${process.argv
          .slice(2)
          .filter((a) => !a.startsWith("--note="))
          .map((a) => (/[;"' ]/.test(a) ? `'${a}'` : a))
          .join(" ")}`.trim(),
        note: opt("note"),
      };
    })();
const SIZE = meta.args;
const FULL_SIZE = (Object.keys(ISSUE_SIZE) as Array<keyof Size>).every((k) => meta.size[k] >= ISSUE_SIZE[k]);
const SEEDS = meta.seeds;
const SWEEP_SEEDS = meta.sweepSeeds;
/**
 * The board of each run: the PCM preset (or a drift variant of it) with the run's seed; 512x128
 * devices, or 512x256 (the default board of `xbar train --rule ssl`) when the network's two layers
 * of differential pairs (2 x hidden + 2 x 10 columns) need more than 128 columns.
 */
const port = (device: string, seed: number) =>
  `"emu://?rows=512&cols=${2 * meta.size.hidden + 20 > 128 ? 256 : 128}&device=${device}&seed=${seed}"`;

interface Exp {
  key: string;
  name: string;
  args: string;
  device: string;
  stepTime: number;
  seed: number;
  /** The arm or sweep the run belongs to. */
  group: "baseline" | "ssl" | "nu" | "refresh";
}

const EXPERIMENTS: Exp[] = [
  // The comparison: no drift at all (ν = 0, the same device otherwise, the same waits) against SSL.
  ...SEEDS.flatMap((seed): Exp[] => [
    {
      key: `nu0-s${seed}`,
      name: `baseline: no drift (nu = 0), seed ${seed}`,
      args: `--drift on --step-time 0.05 ${SIZE}`,
      device: "pcm-nu0",
      stepTime: 0.05,
      seed,
      group: "baseline",
    },
    {
      key: `ssl-s${seed}`,
      name: `SSL: drift on, step time 0.05 s, seed ${seed}`,
      args: `--drift on --step-time 0.05 ${SIZE}`,
      device: "pcm",
      stepTime: 0.05,
      seed,
      group: "ssl",
    },
  ]),
  // Sweeps: the drift exponent (ν × ½, × 2) and the refresh threshold.
  ...SWEEP_SEEDS.flatMap((seed): Exp[] => [
    ...(["pcm-nu-half", "pcm-nu-double"] as const).map(
      (device): Exp => ({
        key: `${device}-s${seed}`,
        name: `SSL, ${device === "pcm-nu-half" ? "nu x 1/2" : "nu x 2"}, seed ${seed}`,
        args: `--drift on --step-time 0.05 ${SIZE}`,
        device,
        stepTime: 0.05,
        seed,
        group: "nu",
      }),
    ),
    ...(["0.9,0.5", "0.6,0.1"] as const).map(
      (at): Exp => ({
        key: `refresh${at}-s${seed}`,
        name: `SSL, refresh at ${at} (default 0.75,0.25), seed ${seed}`,
        args: `--drift on --step-time 0.05 --refresh-at ${at} ${SIZE}`,
        device: "pcm",
        stepTime: 0.05,
        seed,
        group: "refresh",
      }),
    ),
  ]),
];
/**
 * --only=key;key: run these and keep the other saved results (";" between keys: the refresh keys hold a
 * comma). Every key of --only must be an experiment of the given seeds and sweep seeds.
 */
const only = opt("only")?.split(";");
for (const k of only ?? [])
  if (!EXPERIMENTS.some((e) => e.key === k)) throw new Error(`--only: no experiment "${k}" with these seeds`);

interface Row extends Exp {
  command: string;
  seconds: number;
  // biome-ignore lint/suspicious/noExplicitAny: the JSON printed by `xbar train --json`
  result?: any;
  error?: string;
}

let rows: Row[];
if (pageOnly) {
  rows = saved().rows;
} else {
  if (only && JSON.stringify(saved().meta?.args) !== JSON.stringify(meta.args))
    throw new Error(
      `--only: the saved results are of another size (${saved().meta?.args}); give the same size`,
    );
  rows = only ? saved().rows.filter((r: Row) => !only.includes(r.key)) : [];
  // The page states every command that wrote the results.
  if (only) {
    meta.command = `${saved().meta!.command}, then ${meta.command}`;
    meta.note = [saved().meta!.note, meta.note].filter(Boolean).join(" ") || undefined;
  }
  const queue = EXPERIMENTS.filter((e) => !only || only.includes(e.key));
  const worker = async () => {
    for (let e = queue.shift(); e; e = queue.shift()) {
      const command = `xbar train --rule ssl --port ${port(e.device, e.seed)} ${e.args} --seed ${e.seed} --json`;
      process.stderr.write(`running: ${command}\n`);
      const t0 = performance.now();
      const row: Row = { ...e, command, seconds: 0 };
      try {
        const { stdout } = await run("bash", ["-c", `node bin/xbar.mjs ${command.slice(5)}`], {
          maxBuffer: 64 << 20,
        });
        row.result = JSON.parse(stdout.trim().split("\n").pop()!);
      } catch (err) {
        row.error = String((err as Error).message).split("\n")[0];
      }
      row.seconds = (performance.now() - t0) / 1000;
      rows.push(row);
      process.stderr.write(
        `  ${e.key}: ${row.error ?? `${(row.result.accuracy * 100).toFixed(2)}%`} in ${row.seconds.toFixed(0)} s\n`,
      );
      writeFileSync(store, JSON.stringify({ meta, rows }, null, 1));
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  rows.sort(
    (a, b) => EXPERIMENTS.findIndex((e) => e.key === a.key) - EXPERIMENTS.findIndex((e) => e.key === b.key),
  );
  writeFileSync(store, JSON.stringify({ meta, rows }, null, 1));
}

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
const mean = (xs: number[]) => xs.reduce((p, q) => p + q, 0) / xs.length;
const sd = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / Math.max(1, xs.length - 1));
};
const get = (k: string) => rows.find((r) => r.key === k && r.result);
const errs = (c: number[][], d: number) => c[d]!.reduce((a, b) => a + b, 0) - c[d]![d]!;
const asCls = (c: number[][], d: number) => c.reduce((a, row, t) => a + (t === d ? 0 : row[d]!), 0);
const ms = (xs: number[], f = 2) => `${mean(xs).toFixed(f)} ± ${sd(xs).toFixed(f)}`;
/**
 * The comparison over seeds, from a result set's rows: the seeds with both arms measured, the
 * per-seed differences (points) and the verdict (a gain: better on every seed, by more than the
 * seed-to-seed spread of the difference).
 */
const compare = (rs: Row[], seeds: number[]) => {
  const at = (k: string) => rs.find((r) => r.key === k && r.result);
  const ps = [...seeds]
    .sort((a, b) => a - b)
    .map((seed) => ({ seed, b: at(`nu0-s${seed}`), s: at(`ssl-s${seed}`) }))
    .filter((p) => p.b && p.s);
  const d = ps.map((p) => (p.s!.result.accuracy - p.b!.result.accuracy) * 100);
  const d8 = ps.map((p) => (p.s!.result.perClass[8] - p.b!.result.perClass[8]) * 100);
  const gain = ps.length > 0 && mean(d) > sd(d) && d.every((x) => x > 0);
  const gain8 = ps.length > 0 && mean(d8) > sd(d8) && d8.every((x) => x > 0);
  const verdict = !ps.length
    ? "not measured"
    : gain && gain8
      ? "holds"
      : gain || gain8
        ? "holds partly"
        : "does not hold";
  const detail = ps.length
    ? `SSL − no drift: accuracy ${ms(d)} points, digit 8 ${ms(d8, 1)} points`
    : "not measured";
  return { pairs: ps, d, d8, gain, gain8, verdict, detail };
};
/** A result set's size and seeds, as its verdict file states them. */
const sizeText = (m: Meta, seeds: number[]) =>
  `400-${m.size.hidden}-10, ${m.size.epochs} epoch${m.size.epochs > 1 ? "s" : ""} of ${m.size.images} images, ${m.size.test} test images, seeds ${seeds.join(", ")}`;
const cmp = compare(rows, SEEDS);
const pairs = cmp.pairs;
const notRun = EXPERIMENTS.filter((e) => !rows.some((r) => r.key === e.key));
const lines: string[] = [];
lines.push("# Spontaneous sparse learning on a drifting PCM array", "");
lines.push(
  `Generated by ${meta.command
    .split(", then ")
    .map((c) => `\`${c}\``)
    .join(
      ", then ",
    )} on ${meta.date}, ${meta.machine}, ${meta.jobs} run${meta.jobs > 1 ? "s" : ""} at a time on a machine shared with other jobs (so the wall times below are long and uneven; the figures do not depend on them). \`npx tsx scripts/run-ssl-experiments.mts --page${tag ? ` --tag=${tag}` : ""}\` rewrites the page from the raw results the script saved in \`${store}\`; every number here is computed from them. docs/research.md §3 (Lim et al., Nat. Commun. 12, 2021): about 3 % better MNIST accuracy, errors on true 8 from 222 to 76, 8s wrongly classed as 3 from 205 to 109.`,
  "",
  "Every row is one seeded run of the command shown: `xbar train --rule ssl` on an emulated PCM board (aihwkit statistics: gradual SET, abrupt RESET, drift G(t) = Gprog·((t − tprog + t0)/t0)^(−ν), t0 = 20 s, ν ≈ 0.05–0.1 by state, each device's clock reset when it is programmed), through the whole protocol stack. Both layers on differential pairs; update = one OPU per layer and mini-batch, SET only (unidirectional), with the refresh of saturated pairs. After every image the board clock is brought forward by the step time (`WAIT`), so the conductances drift between updates.",
  "",
  "Baseline: the same training and the same waits on `pcm-nu0`, the `pcm` device with its drift exponent set to 0 (no drift at all; every other property and every random draw as `pcm`). SSL: `pcm`. The seed of each run is both the board's (`seed=N` in the URL) and the host's (`--seed N`).",
  "",
  `Size: \`${SIZE}\` for every run (network 400-${meta.size.hidden}-10, ${meta.size.epochs} epoch${meta.size.epochs > 1 ? "s" : ""} of ${meta.size.images} training images, ${meta.size.test} test images)${
    FULL_SIZE
      ? ": the size issue 17 asks for."
      : `: smaller than issue 17 asks (the 400-100-10 network of the work, 3 x 8 000 training images, 10 000 test images) in ${(
          Object.keys(ISSUE_SIZE) as Array<keyof Size>
        )
          .filter((k) => meta.size[k] < ISSUE_SIZE[k])
          .map(
            (k) =>
              ({ hidden: "hidden units", epochs: "epochs", images: "images per epoch", test: "test images" })[
                k
              ],
          )
          .join(", ")}; this is what fitted in the time on the shared machine.`
  } Seeds ${[...SEEDS].sort((a, b) => a - b).join(", ")} planned for the comparison, ${SWEEP_SEEDS.length ? `seed${SWEEP_SEEDS.length > 1 ? "s" : ""} ${SWEEP_SEEDS.join(" and ")} for the sweeps` : "no sweeps"}; the comparison below uses the seeds with both runs measured (${pairs.map((p) => p.seed).join(", ") || "none"}).${notRun.length ? ` Not run (out of time): ${notRun.map((e) => e.key).join(", ")}.` : ""}${meta.note ? ` ${meta.note}` : ""}`,
  "",
);
if (!tag && !quick && existsSync("docs/experiments-ssl-full.json")) {
  // The full-size result set, computed here from its raw results (the runs its script saved), with
  // the same comparison as this page's.
  const full: { meta?: Meta; rows: Row[] } = JSON.parse(
    readFileSync("docs/experiments-ssl-full.json", "utf8"),
  );
  if (!full.meta) throw new Error("docs/experiments-ssl-full.json has no meta (size, seeds)");
  const f = compare(full.rows, full.meta.seeds);
  lines.push(
    `The same comparison at the full size issue 17 asks for, without the sweeps ([experiments-ssl-full.md](experiments-ssl-full.md), from its results \`docs/experiments-ssl-full.json\`: ${sizeText(
      full.meta,
      f.pairs.map((p) => p.seed),
    )}): ${f.detail}; claim **${f.verdict}** there.`,
    "",
  );
}
const { verdict, detail } = cmp;
if (pairs.length) {
  const accB = pairs.map((p) => p.b!.result.accuracy * 100);
  const accS = pairs.map((p) => p.s!.result.accuracy * 100);
  const { d, d8, gain, gain8 } = cmp;
  const e8b = pairs.map((p) => errs(p.b!.result.confusion, 8));
  const e8s = pairs.map((p) => errs(p.s!.result.confusion, 8));
  const c3b = pairs.map((p) => asCls(p.b!.result.confusion, 3));
  const c3s = pairs.map((p) => asCls(p.s!.result.confusion, 3));
  lines.push("## SSL against no drift at all", "");
  lines.push(
    `| | no drift (ν = 0) | SSL | SSL − no drift (same seed) |`,
    "|---|---|---|---|",
    `| test accuracy, mean ± sd (%) | ${ms(accB)} | ${ms(accS)} | ${ms(d)} points |`,
    `| per seed (%) | ${accB.map((x) => x.toFixed(2)).join(", ")} | ${accS.map((x) => x.toFixed(2)).join(", ")} | ${d.map((x) => x.toFixed(2)).join(", ")} |`,
    `| digit 8 accuracy, per seed (%) | ${pairs.map((p) => (p.b!.result.perClass[8] * 100).toFixed(1)).join(", ")} | ${pairs.map((p) => (p.s!.result.perClass[8] * 100).toFixed(1)).join(", ")} | ${ms(d8, 1)} points |`,
    `| errors on true 8, per seed | ${e8b.join(", ")} | ${e8s.join(", ")} | |`,
    `| images wrongly classed as 3, per seed | ${c3b.join(", ")} | ${c3s.join(", ")} | |`,
    `| true 8 classed as 3, per seed | ${pairs.map((p) => p.b!.result.confusion[8][3]).join(", ")} | ${pairs.map((p) => p.s!.result.confusion[8][3]).join(", ")} | |`,
    "",
    `Does SSL reproduce the gain (better on every seed, by more than the seed-to-seed spread of the difference)? Overall accuracy: ${gain ? "yes" : "no"}; digit 8: ${gain8 ? "yes" : "no"}. Claim: **${verdict}** at this size.`,
    "",
    `Read the digit-8 figures with the baselines: ${pairs.filter((p) => p.b!.result.perClass[8] < 0.01).length} of the ${pairs.length} no-drift networks classify almost no true 8 correctly (below 1 %), and ${pairs.filter((p) => p.s!.result.perClass[8] < 0.01).length} of the ${pairs.length} SSL networks; mean test accuracy ${mean(accB).toFixed(2)} % without drift and ${mean(accS).toFixed(2)} % with it.${pairs.some((p) => p.b!.result.perClass[8] < 0.01) ? " Where a baseline classifies no 8, any 8 the SSL network learns counts as a gain: part of the digit-8 gain here is SSL networks learning some 8s where the baseline learnt none, in networks far less trained than the work's, which is not the effect the work reports." : ""}`,
  );
}
writeFileSync(
  `${base}-verdict.json`,
  `${JSON.stringify(
    {
      size: sizeText(
        meta,
        pairs.map((p) => p.seed),
      ),
      claims: { "SSL: better accuracy, much better on digit 8": { verdict, detail } },
    },
    null,
    1,
  )}\n`,
);
// Sweeps.
lines.push(
  "",
  SWEEP_SEEDS.length ? "## Sweeps: drift exponent and refresh threshold" : "## Each run against no drift",
  "",
);
lines.push(
  "Each run against the no-drift baseline of the same seed (sparsity: fraction of the weights with |W| < 0.01 of the full range, read from the array after training).",
  "",
  "| run | test accuracy | vs no drift (points) | digit 8 | vs no drift (points) | sparsity | mean \\|W\\| | pair refreshes |",
  "|---|---|---|---|---|---|---|---|",
);
for (const r of rows.filter((x) => x.result)) {
  const x = r.result;
  const b = get(`nu0-s${r.seed}`);
  const sp = x.ssl.sparsity[x.ssl.sparsity.length - 1];
  const vs = (a: number, c?: number) =>
    c === undefined ? "–" : `${a - c >= 0 ? "+" : ""}${((a - c) * 100).toFixed(2)}`;
  lines.push(
    `| ${r.name} | ${pct(x.accuracy)} | ${r.group === "baseline" ? "–" : vs(x.accuracy, b?.result.accuracy)} | ${pct(x.perClass[8])} | ${r.group === "baseline" ? "–" : vs(x.perClass[8], b?.result.perClass[8])} | ${pct(sp.fraction)} | ${sp.meanAbs.toFixed(4)} | ${x.refreshedPairs ?? 0} |`,
  );
}
if (SWEEP_SEEDS.length) {
  const sweep = rows.filter((r) => r.result && (r.group === "nu" || r.group === "refresh"));
  const better = sweep.filter((r) => {
    const b = get(`nu0-s${r.seed}`);
    return b && r.result.accuracy > b.result.accuracy && r.result.perClass[8] > b.result.perClass[8];
  });
  lines.push(
    "",
    `Sweep runs better than the no-drift baseline of their seed both overall and on digit 8: ${better.length} of ${sweep.length}${better.length ? ` (${better.map((r) => r.name).join("; ")})` : ""}. With ${SWEEP_SEEDS.length === 1 ? "one seed per setting, no sweep result is beyond the seed-to-seed spread; settings better on their seed" : "several seeds per setting, a setting counts as reproducing the gain only if all of its seeds do"}: ${(() => {
      const settings = [...new Set(sweep.map((r) => r.name.replace(/, seed \d+$/, "")))];
      const ok = settings.filter((n) =>
        SWEEP_SEEDS.every((sd) => better.some((r) => r.name === `${n}, seed ${sd}`)),
      );
      return ok.length ? ok.join("; ") : "none";
    })()}.`,
  );
  // Per setting, over the sweep seeds: the change from the no-drift baseline of the same seed.
  const settings: Array<[name: string, keyOf: (seed: number) => string]> = [
    ["SSL as in the comparison (nu x 1, refresh at 0.75,0.25)", (sd) => `ssl-s${sd}`],
    ["SSL, nu x 1/2", (sd) => `pcm-nu-half-s${sd}`],
    ["SSL, nu x 2", (sd) => `pcm-nu-double-s${sd}`],
    ["SSL, refresh at 0.9,0.5", (sd) => `refresh0.9,0.5-s${sd}`],
    ["SSL, refresh at 0.6,0.1", (sd) => `refresh0.6,0.1-s${sd}`],
  ];
  lines.push(
    "",
    `Per setting, over the sweep seeds with the setting and its baseline measured: change from no drift (same seed), mean ± sd (one seed: no sd).`,
    "",
    "| setting | seeds | accuracy (points) | digit 8 (points) | better than no drift on both, every seed |",
    "|---|---|---|---|---|",
  );
  for (const [name, keyOf] of settings) {
    const got = SWEEP_SEEDS.map((sd) => ({ sd, r: get(keyOf(sd)), b: get(`nu0-s${sd}`) })).filter(
      (x) => x.r && x.b,
    );
    if (!got.length) continue;
    const dA = got.map((x) => (x.r!.result.accuracy - x.b!.result.accuracy) * 100);
    const d8 = got.map((x) => (x.r!.result.perClass[8] - x.b!.result.perClass[8]) * 100);
    const f = (xs: number[], k: number) => (xs.length > 1 ? ms(xs, k) : xs[0]!.toFixed(k));
    lines.push(
      `| ${name} | ${got.map((x) => x.sd).join(", ")} | ${f(dA, 2)} | ${f(d8, 1)} | ${dA.every((x) => x > 0) && d8.every((x) => x > 0) ? "yes" : "no"} |`,
    );
  }
}
lines.push("", "## Every run", "");
lines.push(
  "| run | test accuracy | board clock in training | pulses | wall time | command |",
  "|---|---|---|---|---|---|",
);
for (const r of rows) {
  if (!r.result) {
    lines.push(`| ${r.name} | failed: ${r.error} | | | ${r.seconds.toFixed(0)} s | \`${r.command}\` |`);
    continue;
  }
  const x = r.result;
  lines.push(
    `| ${r.name} | ${pct(x.accuracy)} | ${x.ssl.trainClock.toFixed(1)} s | ${(x.totals.pulses / 1e6).toFixed(2)} M | ${r.seconds.toFixed(0)} s | \`${r.command}\` |`,
  );
}
lines.push("", "### Per-digit test accuracy", "");
const mains = rows.filter((r) => r.result);
lines.push(`| run | ${[...Array(10).keys()].join(" | ")} |`, `|---|${"---|".repeat(10)}`);
for (const r of mains)
  lines.push(
    `| ${r.key} | ${(r.result.perClass as number[]).map((a) => (a * 100).toFixed(1)).join(" | ")} |`,
  );
const out = `${base}.md`;
writeFileSync(out, `${lines.join("\n")}\n`);
process.stderr.write(`wrote ${out}\n`);
