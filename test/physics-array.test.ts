/**
 * Array effects of the emulated board, over the protocol: sneak paths and their cure by a
 * self-rectifying device, half-select disturb under V/2 and V/3 with its energy, stuck devices, read
 * noise, the ADC, line resistance, and how the board reports them (IDN effects=).
 */
import { firstValueFrom, lastValueFrom } from "rxjs";
import { describe, expect, it } from "vitest";
import type { Board } from "../src/board/board.ts";
import { neurosimG } from "./helpers/neurosim-reference.ts";
import {
  emu,
  energy,
  idnEffects,
  mean,
  pulse,
  pulseAll,
  read,
  readAll,
  std,
  withEmu,
} from "./helpers/physics.ts";

/** A reproducible pattern of pulse counts in [0, max). */
function pattern(n: number, max: number, seed = 7): Int16Array {
  let s = seed;
  return Int16Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % max;
  });
}

async function program(b: Board, counts: Int16Array): Promise<void> {
  const { rows, cols } = b.identity;
  await firstValueFrom(b.pulseBlock({ r0: 0, c0: 0, rows, cols, counts, vp: 3.2, vn: -2.8, width: 1e-4 }));
}

/** Mean relative read error of a passive array against the same array read without sneak paths. */
async function readError(device: string, scheme: "V/2" | "V/3" | "FLOAT", levels: number): Promise<number> {
  const base = { rows: 16, cols: 16, device, seed: 3, noise: 0 };
  const counts = pattern(256, levels);
  const truth = await withEmu(base, async (b) => {
    await program(b, counts);
    return readAll(b);
  });
  return withEmu({ ...base, sneak: 1 }, async (b) => {
    await program(b, counts);
    await lastValueFrom(b.configure({ scheme }));
    const got = await readAll(b);
    return mean(Array.from(got, (g, i) => Math.abs(g - truth[i]!) / truth[i]!));
  });
}

describe("sneak paths in a passive array", () => {
  it("FLOAT: reads of a non-rectifying device are wrong many times over; the self-rectifying device reads right", async () => {
    const linear = await readError("linear", "FLOAT", 1000);
    const agsi = await readError("agsi", "FLOAT", 97);
    const srm = await readError("srm", "FLOAT", 100);
    expect(linear).toBeGreaterThan(1);
    expect(agsi).toBeGreaterThan(1);
    expect(srm).toBeLessThan(0.01);
  });

  it("V/2 and V/3: half-selected cells leak into the sensed column; the SRM's nonlinearity cuts the error (more so under V/3)", async () => {
    for (const scheme of ["V/2", "V/3"] as const) {
      const linear = await readError("linear", scheme, 1000);
      const srm = await readError("srm", scheme, 100);
      expect(linear, scheme).toBeGreaterThan(1);
      expect(srm, scheme).toBeLessThan(linear / (scheme === "V/2" ? 10 : 30));
    }
  });

  it("without the sneak effect (an array with selectors) reads are exact under every scheme", async () => {
    await withEmu({ rows: 8, cols: 8, device: "linear", seed: 1 }, async (b) => {
      const counts = pattern(64, 1000);
      await program(b, counts);
      for (const scheme of ["V/2", "V/3", "FLOAT"] as const) {
        await lastValueFrom(b.configure({ scheme }));
        const got = await readAll(b);
        got.forEach((g, i) => {
          expect(g / (1e-6 + counts[i]! * 99e-9)).toBeCloseTo(1, 5);
        });
      }
    });
  });

  it("read energy counts the half-selected cells (V/2: vread/2 across row and column)", async () => {
    const e = await withEmu({ rows: 8, cols: 8, device: "linear", seed: 1, sneak: 1 }, async (b) => {
      const e0 = await energy(b);
      await read(b, 3, 3);
      return (await energy(b)) - e0;
    });
    // All devices at 1 uS: the selected one at 0.2 V, 14 half-selected at 0.1 V, 1 us each.
    expect(e / ((0.2 ** 2 + 14 * 0.1 ** 2) * 1e-6 * 1e-6)).toBeCloseTo(1, 6);
  });
});

describe("half-select disturb", () => {
  // The agsi LTP curve of MLP_NeuroSim V3.0 (NL 2.4, 97 levels; A from NeuroSim's own table).
  const agsiG = (x: number) => neurosimG(x, { nl: 2.4, pmax: 97, gmin: 3.0769e-9, gmax: 38.462e-9 });

  async function disturbRun(scheme: "V/2" | "V/3", disturb: boolean) {
    return withEmu(
      { rows: 8, cols: 8, device: "agsi", seed: 1, noise: 0, disturb: disturb ? 1 : 0 },
      async (b) => {
        await lastValueFrom(b.configure({ scheme }));
        const e0 = await energy(b);
        await pulse(b, 2, 3, 3.2, 3e-4, 20);
        const e = (await energy(b)) - e0;
        return { g: await readAll(b), e };
      },
    );
  }

  it("V/2: the cells of the selected row and column see 1.6 V, above agsi's 1.5 V threshold, and creep up; the rest do not move", async () => {
    const { g, e } = await disturbRun("V/2", true);
    // 1.6 V is (1.6 − 1.5)/(3.2 − 1.5) of a full pulse: 20 pulses give 20 · 0.0588 pulses' worth.
    const creep = agsiG((20 * 0.1) / 1.7);
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 8; c++) {
        const want = r === 2 && c === 3 ? agsiG(20) : r === 2 || c === 3 ? creep : 3.0769e-9;
        expect(g[r * 8 + c]! / want, `(${r}, ${c})`).toBeCloseTo(1, 5);
      }
    }
    // Energy: the selected cell at 3.2 V and 14 half-selected at 1.6 V, all at Gmin during the train
    // (the board takes each cell's conductance before the train).
    const gmin = 3.0769e-9;
    expect(e / ((3.2 ** 2 * gmin + 14 * 1.6 ** 2 * gmin) * 3e-4 * 20)).toBeCloseTo(1, 5);
  });

  it("V/3: 1.07 V on every other cell is below the threshold: nothing moves, but all 63 cells spend energy", async () => {
    const { g, e } = await disturbRun("V/3", true);
    g.forEach((v, i) => {
      expect(v / (i === 19 ? agsiG(20) : 3.0769e-9)).toBeCloseTo(1, 5);
    });
    const gmin = 3.0769e-9;
    expect(e / ((3.2 ** 2 * gmin + 63 * (3.2 / 3) ** 2 * gmin) * 3e-4 * 20)).toBeCloseTo(1, 5);
  });

  it("without the disturb effect the neighbours stay put and only the selected cell spends energy", async () => {
    const { g, e } = await disturbRun("V/2", false);
    g.forEach((v, i) => {
      expect(v / (i === 19 ? agsiG(20) : 3.0769e-9)).toBeCloseTo(1, 5);
    });
    expect(e / (3.2 ** 2 * 3.0769e-9 * 3e-4 * 20)).toBeCloseTo(1, 5);
  });
});

describe("stuck devices, read noise, ADC, line resistance", () => {
  it("stuck-at-low and stuck-at-high devices at the given rates ignore pulses; the same seed sticks the same devices", async () => {
    const run = (seed: number) =>
      withEmu({ rows: 32, cols: 32, device: "linear", seed, stucklow: 0.05, stuckhigh: 0.03 }, async (b) => {
        await pulseAll(b, 500, 3.2, -2.8, 1e-4);
        return readAll(b);
      });
    const g = await run(1);
    const lo = Array.from(g).filter((v) => Math.abs(v - 1e-6) < 1e-12).length;
    const hi = Array.from(g).filter((v) => Math.abs(v - 1e-4) < 1e-10).length;
    const mid = Array.from(g).filter((v) => Math.abs(v / (1e-6 + 500 * 99e-9) - 1) < 1e-5).length;
    expect(lo + hi + mid).toBe(1024);
    // 1024 devices: 51 ± 7 stuck low, 31 ± 5.5 stuck high (binomial, 4 σ bounds).
    expect(lo).toBeGreaterThan(23);
    expect(lo).toBeLessThan(80);
    expect(hi).toBeGreaterThan(9);
    expect(hi).toBeLessThan(53);
    expect(await run(1)).toEqual(g);
    expect(await run(2)).not.toEqual(g);
  });

  it("read noise: relative σ of repeated reads is the configured 5 %, with the true mean", async () => {
    await withEmu({ rows: 32, cols: 32, device: "linear", seed: 1, readnoise: 0.05 }, async (b) => {
      const g = await readAll(b);
      expect(mean(g) / 1e-6).toBeCloseTo(1, 2);
      expect(std(g) / 1e-6).toBeGreaterThan(0.045);
      expect(std(g) / 1e-6).toBeLessThan(0.055);
      expect(Array.from(await readAll(b))).not.toEqual(Array.from(g)); // fresh noise per read
    });
  });

  it("ADC: currents quantised to 4 bits over ±10 uA and clipped there (reads and VMM outputs)", async () => {
    await withEmu({ rows: 2, cols: 2, device: "linear", seed: 1, adcbits: 4, adcrange: 1e-5 }, async (b) => {
      await pulse(b, 0, 1, 3.2, 1e-4, 200); // 20.8 uS: 4.16 uA at 0.2 V → 3 steps of 1.25 uA
      await pulse(b, 1, 0, 3.2, 1e-4, 500); // 50.5 uS: 10.1 uA → clipped at 10 uA
      const g = await readAll(b);
      expect(Array.from(g, (v) => v / 6.25e-6)).toEqual([
        expect.closeTo(0, 9),
        expect.closeTo(3, 6),
        expect.closeTo(8, 6),
        expect.closeTo(0, 9),
      ]);
      const y = await firstValueFrom(
        b.vmm({ r0: 0, c0: 0, rows: 2, cols: 2 }, Float32Array.from([0.1, 0.1])),
      );
      // Column 0: 0.1 V · (1 + 50.5) uS = 5.15 uA → 4 steps; column 1: 0.1 V · (20.8 + 1) uS = 2.18 uA → 2.
      expect(Array.from(y, (v) => v / 1.25e-6)).toEqual([expect.closeTo(4, 5), expect.closeTo(2, 5)]);
    });
  });

  it("line resistance: a read loses G·R over the path from the row driver to the sense amplifier; VMM outputs sag away from the drivers", async () => {
    await withEmu({ rows: 8, cols: 8, device: "linear", seed: 1, wire: 100 }, async (b) => {
      await pulseAll(b, 1000, 3.2, -2.8, 1e-4); // every device at Gmax = 100 uS
      for (const [r, c] of [
        [0, 0],
        [7, 0],
        [3, 5],
        [7, 7],
      ] as const) {
        const segments = c + 1 + 8 - r;
        expect((await read(b, r, c)) / (1e-4 / (1 + 1e-4 * 100 * segments)), `(${r}, ${c})`).toBeCloseTo(
          1,
          5,
        );
      }
    });
    await withEmu({ rows: 8, cols: 8, device: "linear", seed: 1, wire: 10 }, async (b) => {
      await pulseAll(b, 1000, 3.2, -2.8, 1e-4);
      const y = await firstValueFrom(
        b.vmm({ r0: 0, c0: 0, rows: 8, cols: 8 }, new Float32Array(8).fill(0.1)),
      );
      // 10 ohm per segment, 10 uA per cell: a few mV of the 100 mV input are lost on the lines.
      const ideal = 8 * 0.1 * 1e-4;
      for (let j = 0; j < 8; j++) {
        expect(y[j]!).toBeLessThan(0.97 * ideal);
        expect(y[j]!).toBeGreaterThan(0.8 * ideal);
        if (j > 0) expect(y[j]!).toBeLessThan(y[j - 1]!);
      }
    });
  });
});

describe("the board reports its array effects", () => {
  it("IDN effects=none by default, else every effect with its parameters", async () => {
    await withEmu({ rows: 2, cols: 2, device: "linear" }, async (b) =>
      expect(await idnEffects(b)).toBe("none"),
    );
    await withEmu(
      {
        rows: 2,
        cols: 2,
        device: "pcm",
        sneak: 1,
        disturb: 1,
        stucklow: 0.01,
        stuckhigh: 0.02,
        readnoise: 0.03,
        adcbits: 8,
        adcrange: 1e-4,
        wire: 2.5,
        noise: 0.5,
      },
      async (b) =>
        expect(await idnEffects(b)).toBe(
          "sneak,disturb,stuck:0.01:0.02,readnoise:0.03,adc:8:0.0001,wire:2.5,noise:0.5",
        ),
    );
  });

  it("bad effect options are refused with an error naming the option", async () => {
    for (const [q, word] of [
      ["stucklow=1.5", "stuckLow"],
      ["readnoise=-1", "readNoise"],
      ["adcbits=1", "adcBits"],
      ["wire=abc", "wire"],
      ["sneak=2", "sneak"],
      ["noise=-1", "noise"],
      ["device=agsi&lut=/x.csv", "lut"],
      ["device=lut", "lut"],
    ]) {
      const err = await emu(Object.fromEntries(new URLSearchParams(`rows=2&cols=2&${q}`))).then(
        async (b) => {
          await b.close();
          return undefined;
        },
        (e: Error & { code: number }) => e,
      );
      expect(err?.code, q).toBe(607);
      expect(err?.message, q).toContain(word);
    }
  });
});
