/**
 * The lookup-table device: a lab measures a device with `xbar characterize --out` and emulates an
 * array of it (emu://?device=lut&lut=FILE, `xbar emulate --device lut --lut FILE`), with the
 * statistics of several measured repeats.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { stringify } from "csv-stringify/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../src/board/connect.ts";
import { curve, emu, idnEffects, mean, pulseAll, read, readAll, std, withEmu } from "./helpers/physics.ts";

const ROOT = resolve(import.meta.dirname, "..");
const XBAR = join(ROOT, "bin", "xbar.mjs");
const run = promisify(execFile);
let dir: string;
/** One repeat measured by the real CLI on a noiseless agsi device. */
let single: string;
/** Five repeats of a noisy agsi device, files joined as `cat` would. */
let repeats: string;
let tableCurves: number[][];

function parseCsv(text: string): Array<{ phase: string; g: number }> {
  return text
    .trim()
    .split("\n")
    .filter((l) => !l.startsWith("phase"))
    .map((l) => {
      const f = l.split(",");
      return { phase: f[0]!, g: Number(f[5]) };
    });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "xbar-lut-"));
  single = join(dir, "single.csv");
  await run(
    process.execPath,
    [
      XBAR,
      "characterize",
      "--port",
      "emu://?rows=2&cols=2&device=agsi&seed=3&noise=0",
      "--row",
      "0",
      "--col",
      "0",
    ].concat(["--pulses", "60", "--out", single]),
    { cwd: ROOT, timeout: 20_000 },
  );
  // Five repeats of the noisy device, each CSV as xbar characterize writes it, concatenated.
  tableCurves = [];
  let text = "";
  for (let seed = 1; seed <= 5; seed++) {
    await withEmu({ rows: 2, cols: 2, device: "agsi", seed }, async (b) => {
      const pts = await curve(b, { pulses: 60 });
      tableCurves.push(pts.map((p) => p.conductance));
      text += stringify(
        pts.map((p) => [p.phase, p.index, p.pulse, p.amplitude, p.width, p.conductance]),
        { header: true, columns: ["phase", "index", "pulse", "amplitude_V", "width_s", "conductance_S"] },
      );
    });
  }
  repeats = join(dir, "repeats.csv");
  writeFileSync(repeats, text);
}, 30_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("lookup-table device (device=lut)", () => {
  it("loads the CSV of xbar characterize --out and reproduces the measured curve pulse for pulse", async () => {
    const table = parseCsv(readFileSync(single, "utf8")).map((p) => p.g);
    expect(table).toHaveLength(121);
    await withEmu({ rows: 4, cols: 4, device: "lut", lut: single, seed: 1 }, async (b) => {
      expect(await idnEffects(b)).toBe("none");
      const g = (await curve(b, { pulses: 60, row: 2, col: 1 })).map((p) => p.conductance);
      g.forEach((v, k) => {
        expect(v / table[k]!, `point ${k}`).toBeCloseTo(1, 5);
      });
    });
  });

  it("with several repeats, an array of it has the table's mean curve and a spread drawn from the table", async () => {
    const at = (k: number) => tableCurves.map((c) => c[k]!);
    await withEmu({ rows: 8, cols: 8, device: "lut", lut: repeats, seed: 2 }, async (b) => {
      const start = await readAll(b);
      // Fresh devices start at the initial reads of the repeats (all agsi devices start at Gmin).
      expect(mean(start) / mean(at(0))).toBeCloseTo(1, 5);
      const means: number[] = [];
      const spreads: number[] = [];
      for (let k = 1; k <= 30; k++) {
        await pulseAll(b, 1, 3.2, -2.8, 3e-4);
        const g = await readAll(b);
        means.push(mean(g));
        spreads.push(std(g));
      }
      const range = 38.462e-9 - 3.0769e-9;
      for (const k of [5, 15, 30]) {
        expect(Math.abs(means[k - 1]! - mean(at(k))) / range, `mean after ${k}`).toBeLessThan(0.08);
        expect(spreads[k - 1]!, `spread after ${k}`).toBeGreaterThan(0.3 * std(at(k)));
        expect(spreads[k - 1]!, `spread after ${k}`).toBeLessThan(3 * std(at(k)));
      }
    });
  });

  it("xbar emulate --device lut --lut FILE serves an array of the measured device", async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      [
        XBAR,
        "emulate",
        "--listen",
        "127.0.0.1:0",
        "--device",
        "lut",
        "--lut",
        single,
        "--rows",
        "4",
        "--cols",
        "4",
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      const url = await new Promise<string>((res, rej) => {
        let out = "";
        const timer = setTimeout(() => rej(new Error(`no URL from xbar emulate: ${out}`)), 20_000);
        child.stdout!.on("data", (d: Buffer) => {
          out += d.toString();
          const m = /serving on (socket:\/\/\S+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            res(m[1]!);
          }
        });
        child.once("exit", (code) => rej(new Error(`xbar emulate exited ${code}`)));
      });
      const b = await connect(url);
      try {
        expect(b.identity.technology).toBe("lut");
        const first = parseCsv(readFileSync(single, "utf8"))[0]!.g;
        expect((await read(b, 3, 3)) / first).toBeCloseTo(1, 5);
      } finally {
        await b.close();
      }
    } finally {
      child.kill("SIGTERM");
    }
  });

  it("a missing file or a CSV without the characterize columns is refused, naming the file or the column", async () => {
    const missing = join(dir, "nope.csv");
    await expect(emu({ device: "lut", lut: missing })).rejects.toMatchObject({
      code: 607,
      message: expect.stringContaining(missing),
    });
    const bad = join(dir, "bad.csv");
    writeFileSync(bad, "pulse,g\n1,2e-9\n");
    await expect(emu({ device: "lut", lut: bad })).rejects.toMatchObject({
      code: 607,
      message: expect.stringContaining("conductance_S"),
    });
  });
});
