/**
 * Writes docs/devices.md and the pictures in docs/devices/: every device preset of the emulated board
 * characterised through the protocol (connect("emu://…") and the characterize operator, exactly as a
 * lab would measure a real device), plus PCM drift (WAIT and READALL on a log time scale), the threshold switch's
 * firing (FIRE) and the read error of a passive array (sneak paths). Charts are Vega-Lite, rendered
 * to SVG in Node.
 *
 *   npx tsx scripts/make-device-docs.mts
 *
 * Deterministic: every board is seeded, so running it again rewrites the same files unless the
 * emulator changed.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { stringify } from "csv-stringify/sync";
import { firstValueFrom, lastValueFrom, toArray } from "rxjs";
import type { TopLevelSpec } from "vega-lite";
import { argPacked } from "../firmware-protocol/index.ts";
import { DEVICE_PRESETS, type DevicePreset } from "../mocks/index.ts";
import type { Board } from "../src/board/board.ts";
import { connect } from "../src/board/connect.ts";
import type { CrossbarBoard } from "../src/board/protocol-board.ts";
import { characterize } from "../src/pipelines/index.ts";
import { toSvg, vegaLite } from "../src/vega.ts";

const ROOT = resolve(import.meta.dirname, "..");
const DOCS = join(ROOT, "docs");
const PICS = join(DOCS, "devices");

type Row = Record<string, string | number>;

async function board(q: Record<string, string | number>): Promise<Board> {
  return connect(`emu://?${new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)]))}`);
}

/** Pulse response of one device: [pulse number, conductance] through the characterize operator. */
async function response(b: Board, p: DevicePreset, pulses: number, row = 0, col = 0) {
  const pts = await lastValueFrom(
    characterize(b, {
      row,
      col,
      pulses,
      setAmplitude: p.vset,
      resetAmplitude: p.vreset,
      width: p.width,
    }).pipe(toArray()),
  );
  return pts;
}

/** Conductance unit for a range: nS or uS. */
const unitOf = (gmax: number) => (gmax < 1e-6 ? { name: "nS", k: 1e9 } : { name: "µS", k: 1e6 });

const PULSES: Record<string, number> = {
  linear: 1000,
  agsi: 100,
  "agsi-d2d": 100,
  "agsi-var": 100,
  pcm: 60,
  "pcm-nu0": 60,
  "pcm-nu-half": 60,
  "pcm-nu-double": 60,
  "ts-pcm": 60,
  srm: 100,
  ctf: 60,
  lut: 60,
};

function lineChart(
  title: string,
  subtitle: string,
  rows: Row[],
  x: string,
  y: string,
  extra: Partial<TopLevelSpec> = {},
) {
  return vegaLite({
    title: { text: title, subtitle, anchor: "start" },
    width: 560,
    height: 300,
    data: { values: rows },
    mark: { type: "line", strokeWidth: 1.5, clip: true },
    encoding: {
      x: { field: "x", type: "quantitative", title: x },
      y: { field: "y", type: "quantitative", title: y },
      color: {
        field: "series",
        type: "nominal",
        title: null,
        legend: { orient: "bottom", labelLimit: 500, columns: 2 },
      },
    },
    config: { font: "Helvetica, Arial, sans-serif" },
    ...extra,
  } as TopLevelSpec);
}

/** The pulse-response picture of a preset: its mean device (noise 0) and three devices as published. */
async function presetChart(p: DevicePreset, lut?: string): Promise<{ file: string; mean: number[] }> {
  const pulses = PULSES[p.name] ?? 1300;
  const extra: Record<string, string> = lut ? { lut } : {};
  const rows: Row[] = [];
  const mean = await (async () => {
    const b = await board({ rows: 4, cols: 4, device: p.name, seed: 1, noise: 0, ...extra });
    try {
      return (await response(b, p, pulses)).map((q) => q.conductance);
    } finally {
      await b.close();
    }
  })();
  const gmax = Math.max(...mean);
  const u = unitOf(gmax);
  // At most ~600 points per line: the SVG stays small, the curve is unchanged to the eye.
  const stride = Math.ceil(mean.length / 600);
  mean.forEach((g, i) => {
    if (i % stride === 0) rows.push({ x: i, y: g * u.k, series: "mean device (noise=0)" });
  });
  const b = await board({ rows: 4, cols: 4, device: p.name, seed: 1, ...extra });
  try {
    for (const d of [0, 1, 2]) {
      const pts = await response(b, p, pulses, d, d);
      pts.forEach((q, i) => {
        if (i % stride === 0)
          rows.push({ x: i, y: q.conductance * u.k, series: `device (${d}, ${d}) of a board, seed 1` });
      });
    }
  } finally {
    await b.close();
  }
  const file = `${p.name}.svg`;
  const every = stride > 1 ? ` (every ${stride}th point shown)` : "";
  const sub = `${pulses} pulses of ${p.vset} V then ${pulses} of ${p.vreset} V, ${p.width * 1e6} µs, a read (0.2 V) after each${every}; emu://?device=${p.name}`;
  writeFileSync(
    join(PICS, file),
    await toSvg(
      lineChart(
        `${p.name}: ${p.description}`,
        sub,
        rows,
        "pulse number (potentiation, then depression)",
        `conductance (${u.name})`,
      ),
    ),
  );
  return { file, mean };
}

/** PCM drift: devices programmed to several levels, read after WAITs spaced on a log scale (log–log). */
async function driftChart(): Promise<string> {
  const b = await board({ rows: 1, cols: 6, device: "pcm", seed: 1, noise: 0 });
  const rows: Row[] = [];
  try {
    const counts = Int16Array.from([0, 1, 3, 8, 20, 60]);
    await firstValueFrom(
      b.pulseBlock({ r0: 0, c0: 0, rows: 1, cols: 6, counts, vp: 2, vn: -2.5, width: 1e-6 }),
    );
    const tp = await firstValueFrom(b.clock());
    for (let k = 0; k < 34; k++) {
      await firstValueFrom(b.wait(k === 0 ? 1 : 10 ** (0.15 * k) - 10 ** (0.15 * (k - 1))));
      const t = (await firstValueFrom(b.clock())) - tp;
      const m = await firstValueFrom(b.readAll());
      m.data.forEach((g, d) => {
        rows.push({ x: t, y: g * 1e6, series: `${counts[d]} SET pulses` });
      });
    }
  } finally {
    await b.close();
  }
  const spec = lineChart(
    "pcm: conductance drift after programming",
    "G(t) = Gprog·((t + 20 s)/20 s)^(−ν), ν = clip(−0.0155 ln(G/25 µS) + 0.0244, 0.049, 0.1); noise=0; WAIT then READALL",
    rows,
    "time since programming (s)",
    "conductance (µS)",
  ) as unknown as Record<string, unknown>;
  const enc = spec.encoding as Record<string, Record<string, unknown>>;
  enc.x!.scale = { type: "log" };
  enc.y!.scale = { type: "log" };
  writeFileSync(join(PICS, "pcm-drift.svg"), await toSvg(spec as unknown as TopLevelSpec));
  return "pcm-drift.svg";
}

/** ts-pcm: firing count per 1 ms FIRE window, naive learning and relearning after a partial RESET. */
async function fireChart(): Promise<string> {
  const b = await board({ rows: 1, cols: 1, device: "ts-pcm", seed: 1, noise: 0 });
  const rows: Row[] = [];
  const client = (b as CrossbarBoard).client;
  const fire = async () =>
    (
      argPacked(
        await client.request("FIRE", { r0: 0, c0: 0, nr: 1, nc: 1, v: 1.6, t: 0.001 }),
        "spikes",
        "u32",
      ) as Uint32Array
    )[0]!;
  try {
    await firstValueFrom(b.pulse({ row: 0, col: 0, amplitude: 2, width: 1e-6 }));
    for (let k = 1; k <= 40; k++)
      rows.push({ x: k, y: await fire(), series: "learning (from one SET pulse)" });
    await firstValueFrom(b.pulse({ row: 0, col: 0, amplitude: -1.6, width: 1e-6 }));
    for (let k = 1; k <= 40; k++)
      rows.push({ x: k, y: await fire(), series: "relearning after a partial RESET (−1.6 V)" });
  } finally {
    await b.close();
  }
  writeFileSync(
    join(PICS, "ts-pcm-firing.svg"),
    await toSvg(
      lineChart(
        "ts-pcm: firing rate rises with use (positive feedback); forgotten cells relearn faster",
        "FIRE v=1.6 V, t=1 ms, repeated; each firing is a weak SET of the PCM; noise=0",
        rows,
        "FIRE window",
        "firings per 1 ms window",
      ),
    ),
  );
  return "ts-pcm-firing.svg";
}

/** Read error of a 16×16 passive array (sneak=1) for a random pattern, per scheme and device. */
async function sneakChart(): Promise<{ file: string; table: string[][] }> {
  const rows: Row[] = [];
  const table: string[][] = [];
  let s = 7;
  const counts = (max: number) =>
    Int16Array.from({ length: 256 }, () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return (s >>> 8) % max;
    });
  for (const [device, max] of [
    ["linear", 1000],
    ["agsi", 97],
    ["srm", 100],
  ] as const) {
    const c = counts(max);
    const prog = async (b: Board) =>
      firstValueFrom(
        b.pulseBlock({ r0: 0, c0: 0, rows: 16, cols: 16, counts: c, vp: 3.2, vn: -2.8, width: 1e-4 }),
      );
    const truthBoard = await board({ rows: 16, cols: 16, device, seed: 3, noise: 0 });
    await prog(truthBoard);
    const truth = (await firstValueFrom(truthBoard.readAll())).data;
    await truthBoard.close();
    const line: string[] = [device];
    for (const scheme of ["V/2", "V/3", "FLOAT"] as const) {
      const b = await board({ rows: 16, cols: 16, device, seed: 3, noise: 0, sneak: 1 });
      await prog(b);
      await firstValueFrom(b.configure({ scheme }));
      const got = (await firstValueFrom(b.readAll())).data;
      await b.close();
      let err = 0;
      got.forEach((g, i) => {
        err += Math.abs(g - truth[i]!) / truth[i]!;
      });
      err /= got.length;
      rows.push({ scheme, device, error: err * 100 });
      line.push(`${(err * 100).toPrecision(3)} %`);
    }
    table.push(line);
  }
  const spec = vegaLite({
    title: {
      text: "Passive 16×16 array (sneak=1): mean read error of a random pattern",
      subtitle: "vread 0.2 V, one device at a time, against the same array with selectors; log scale",
      anchor: "start",
    },
    width: 160,
    height: 260,
    data: { values: rows },
    mark: "bar",
    encoding: {
      column: { field: "scheme", type: "nominal", title: "biasing scheme (CFG scheme)" },
      x: {
        field: "device",
        type: "nominal",
        title: "device",
        sort: ["linear", "agsi", "srm"],
        axis: { labelAngle: 0 },
      },
      y: {
        field: "error",
        type: "quantitative",
        title: "mean |read − true| / true (%)",
        scale: { type: "log", domain: [1e-3, 1e5] },
      },
      y2: { datum: 1e-3 },
      color: { field: "device", type: "nominal", legend: null },
    },
    config: { font: "Helvetica, Arial, sans-serif" },
  } as TopLevelSpec);
  writeFileSync(join(PICS, "sneak-read-error.svg"), await toSvg(spec));
  return { file: "sneak-read-error.svg", table };
}

/** A measured table for the lut preset: five repeats of agsi-d2d, written as xbar characterize does. */
async function lutTable(dir: string): Promise<string> {
  let text = "";
  for (let seed = 1; seed <= 5; seed++) {
    const b = await board({ rows: 2, cols: 2, device: "agsi-d2d", seed });
    try {
      const pts = await lastValueFrom(characterize(b, { row: 0, col: 0, pulses: 60 }).pipe(toArray()));
      text += stringify(
        pts.map((p) => [p.phase, p.index, p.pulse, p.amplitude, p.width, p.conductance]),
        { header: true, columns: ["phase", "index", "pulse", "amplitude_V", "width_s", "conductance_S"] },
      );
    } finally {
      await b.close();
    }
  }
  const file = join(dir, "agsi-d2d-5-repeats.csv");
  writeFileSync(file, text);
  return file;
}

const fmt = (v: unknown): string => {
  if (typeof v === "number")
    return Number.isInteger(v) ? String(v) : v.toPrecision(5).replace(/\.?0+(e|$)/, "$1");
  if (Array.isArray(v)) return `[${v.map(fmt).join(", ")}]`;
  if (v && typeof v === "object")
    return Object.entries(v)
      .map(([k, x]) => `${k}=${fmt(x)}`)
      .join(", ");
  return String(v);
};

async function main() {
  mkdirSync(PICS, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), "xbar-docs-"));
  try {
    const sections: string[] = [];
    for (const p of Object.values(DEVICE_PRESETS)) {
      process.stderr.write(`characterising ${p.name}\n`);
      const lut = p.name === "lut" ? await lutTable(tmp) : undefined;
      const { file } = await presetChart(p, lut);
      const params =
        p.name === "lut"
          ? "the table: five repeats of `agsi-d2d` (seeds 1–5) characterised with 60 pulses each way, in one CSV"
          : fmt(p.params);
      sections.push(
        [
          `### \`${p.name}\``,
          "",
          `${p.description}.`,
          "",
          `- Source: ${p.source}.`,
          `- Nominal pulses: ${p.vset} V / ${p.vreset} V, ${p.width * 1e6} µs.`,
          `- Parameters: ${params}.`,
          "",
          `![${p.name} pulse response](devices/${file})`,
          "",
        ].join("\n"),
      );
    }
    process.stderr.write("drift, firing, sneak paths\n");
    const drift = await driftChart();
    const firing = await fireChart();
    const sneak = await sneakChart();
    const md = `# Device presets and array effects of the emulated board

Generated by \`npx tsx scripts/make-device-docs.mts\` (do not edit by hand). Every curve below was
measured **through the protocol**, as a lab measures a real device: \`connect("emu://?device=NAME")\` and
the \`characterize\` operator (one \`PULSE rd=1\` per point), \`WAIT\`, \`READALL\`, \`FIRE\`.
Each picture shows the preset's mean device (\`noise=0\`: no cycle-to-cycle, programming or read noise,
no device-to-device spread) and three devices of one seeded board as published (\`noise=1\`).

Choose a preset with \`emu://?device=NAME\` or \`xbar emulate --device NAME\` (\`xbar emulate --help\` lists
them). The parameters and their sources are also in the JSDoc of \`mocks/devices.ts\`; "our choice" marks
values we chose where the sources say nothing.

Conventions: positive pulses potentiate (SET), negative ones depress (RESET). Below a preset's threshold
a pulse does nothing; between the threshold and the nominal amplitude it gives a proportional fraction
of a full step (this is what half-selected cells mostly see); at or above the nominal amplitude one full
step. Reads are at \`CFG vread\` (0.2 V by default).

## Presets

${sections.join("\n")}
## Phase-change drift

\`pcm\` and \`ts-pcm\` devices drift with their own clock, reset by every programming event; reads return
the conductance at the board's (virtual) clock, so \`WAIT\` shows hours of drift in milliseconds. The
exponent ν depends on the programmed state as in aihwkit's PCMLikeNoiseModel (clipped to 0.049…0.1);
test/physics-devices.test.ts fits it back from a \`retention\` run.

![pcm drift](devices/${drift})

## Threshold switch on PCM: FIRE

\`FIRE r0 c0 nr nc v t\` biases a block of \`ts-pcm\` cells at \`v\` for \`t\` seconds and returns each cell's
number of firings (PROTOCOL.md). A cell fires when its switch's threshold (1.2 V) is exceeded; its
rate is set by the PCM conductance and each firing partially SETs the PCM, so the rate rises with use;
a partial RESET (or drift) makes it forget, and it relearns faster than it learned.

![ts-pcm firing](devices/${firing})

## Array effects

Off unless given, fixed for the board's life, and reported in \`IDN effects=\` (PROTOCOL.md,
"Array effects"):

| emu:// key | \`xbar emulate\` flag | effect |
| --- | --- | --- |
| \`sneak=1\` | \`--sneak\` | passive array: reads under the biasing scheme see half-selected (V/2, V/3) or sneak-path (FLOAT) currents; read energy counts every biased cell |
| \`disturb=1\` | \`--disturb\` | passive array: half-selected cells see v/2 (V/2, FLOAT) or ±v/3 (V/3) during every pulse, change where above threshold, spend energy |
| \`stucklow=R\`, \`stuckhigh=R\` | \`--stuck-low R\`, \`--stuck-high R\` | that fraction of devices stuck at the low / high end of the range |
| \`readnoise=S\` | \`--read-noise S\` | relative Gaussian noise of every device's read current, fresh per read |
| \`adcbits=B\`, \`adcrange=A\` | \`--adc-bits B\`, \`--adc-range A\` | every sensed current quantised to B bits over ±A amperes, clipped (default A: 1 V × the preset's Gmax) |
| \`wire=OHM\` | \`--wire OHM\` | line resistance per cell segment: first-order IR drop in reads and VMMs |
| \`noise=X\` | \`--noise X\` | scale of the device's own randomness (0 = the mean device) |

A self-rectifying device is what a passive array needs: its reverse current is 10⁵ times smaller, so
the FLOAT sneak paths (which cross one cell in reverse) vanish, and its forward nonlinearity cuts the
half-select leakage of V/2 and V/3:

| device | V/2 | V/3 | FLOAT |
| --- | --- | --- | --- |
${sneak.table.map((l) => `| ${l.join(" | ")} |`).join("\n")}

![sneak read error](devices/${sneak.file})

## Measured devices: \`device=lut\`

Measure a device with \`xbar characterize --row R --col C --pulses N --out curve.csv\` (several runs may
be joined with \`cat\`: each is a repeat), then emulate an array of it:
\`emu://?device=lut&lut=curve.csv\` or \`xbar emulate --device lut --lut curve.csv\`. The device follows
the (smoothed, monotone) mean curve of the repeats one step per pulse; each step adds the deviation of a
randomly drawn repeat's step from the mean step, so the array has the table's cycle-to-cycle statistics.
`;
    writeFileSync(join(DOCS, "devices.md"), md);
    process.stderr.write(`wrote docs/devices.md and ${Object.keys(DEVICE_PRESETS).length + 3} pictures\n`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
