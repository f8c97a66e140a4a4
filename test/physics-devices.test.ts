/**
 * Device presets of the emulated board, each characterised through the normal pipeline over the
 * protocol (connect("emu://…") and the characterize / retention operators), against the curve that
 * defines it: the numbers expected here come from the presets' published parameters (MLP_NeuroSim,
 * IBM aihwkit, docs/research.md) and the formulas in their documentation, not from the model code.
 */
import { lastValueFrom, toArray } from "rxjs";
import { describe, expect, it } from "vitest";
import { retention } from "../src/pipelines/index.ts";
import { NEUROSIM_NORM_A, neurosimG } from "./helpers/neurosim-reference.ts";
import {
  curve,
  energy,
  errorCode,
  fire,
  mean,
  pulse,
  pulseAll,
  read,
  readAll,
  slope,
  std,
  withEmu,
} from "./helpers/physics.ts";

/** Normalised conductance (G − Gmin)/(Gmax − Gmin). */
const norm = (g: number, gmin: number, gmax: number) => (g - gmin) / (gmax - gmin);

describe("NeuroSim-style devices", () => {
  const AGSI = { gmin: 3.0769e-9, gmax: 38.462e-9 };

  it("agsi without noise follows NeuroSim's published curves point by point: LTP NL +2.4 over 97 pulses, LTD NL −4.88 over 100", async () => {
    const ltp = { nl: 2.4, pmax: 97, ...AGSI };
    const ltd = { nl: -4.88, pmax: 100, ...AGSI };
    await withEmu({ rows: 2, cols: 2, device: "agsi", seed: 1, noise: 0 }, async (b) => {
      const g = (await curve(b, { pulses: 100 })).map((p) => p.conductance);
      // 100 potentiation pulses from Gmin: G(k) up to the 97th, then saturated at Gmax.
      for (let k = 0; k <= 100; k++)
        expect(g[k]! / neurosimG(Math.min(k, 97), ltp), `LTP pulse ${k}`).toBeCloseTo(1, 5);
      // 100 depression pulses from Gmax (LTD position 100): G(100 − k).
      for (let k = 1; k <= 100; k++)
        expect(g[100 + k]! / neurosimG(100 - k, ltd), `LTD pulse ${k}`).toBeCloseTo(1, 5);
      // What the labels mean: 0.73 of the range after half the LTP pulses, 0.92 lost in half the LTD ones.
      expect(norm(neurosimG(48.5, ltp), AGSI.gmin, AGSI.gmax)).toBeCloseTo(0.73, 2);
      expect(1 - norm(neurosimG(50, ltd), AGSI.gmin, AGSI.gmax)).toBeCloseTo(0.92, 2);
    });
  });

  it("the emulator's label → A mapping is NeuroSim's table: exact at the presets' labels, within 0.2 % between (NL 3.2)", async () => {
    // agsi-var draws a label per device, so labels between the table points matter too.
    const { normalisedA } = await import("../mocks/devices.ts");
    for (const nl of ["1", "2.4", "4.88"]) expect(normalisedA(Number(nl))).toBe(NEUROSIM_NORM_A[nl]);
    expect(normalisedA(-4.88)).toBe(NEUROSIM_NORM_A["4.88"]);
    expect(Math.abs(normalisedA(3.2) / NEUROSIM_NORM_A["3.2"]! - 1)).toBeLessThan(0.002);
  });

  it("agsi with its 3.5 % cycle-to-cycle noise: averaged over 256 devices the half-way point stays near 0.73", async () => {
    await withEmu({ rows: 16, cols: 16, device: "agsi", seed: 4 }, async (b) => {
      const at: number[] = [];
      for (let k = 1; k <= 49; k++) {
        await pulseAll(b, 1, 3.2, -2.8, 3e-4);
        if (k >= 48) at.push(mean(await readAll(b)));
      }
      const half = norm((at[0]! + at[1]!) / 2, AGSI.gmin, AGSI.gmax);
      // The noise walks each device by σ·√48 ≈ 0.24 of the range, clipped at the bounds.
      expect(half).toBeGreaterThan(0.66);
      expect(half).toBeLessThan(0.76);
      const spread = std(await readAll(b)) / (AGSI.gmax - AGSI.gmin);
      expect(spread).toBeGreaterThan(0.1);
    });
  });

  it("linear starts at 1 uS and steps (Gmax − Gmin)/1000 per pulse", async () => {
    await withEmu({ rows: 2, cols: 2, device: "linear", seed: 1 }, async (b) => {
      const g = (await curve(b, { pulses: 10 })).map((p) => p.conductance);
      for (let k = 0; k <= 10; k++) expect(g[k]! / (1e-6 + (k * 99e-6) / 1000)).toBeCloseTo(1, 6);
      for (let k = 1; k <= 10; k++) expect(g[10 + k]! / (1e-6 + ((10 - k) * 99e-6) / 1000)).toBeCloseTo(1, 6);
    });
  });

  it("agsi-d2d spreads the range from device to device (σ 10 %); agsi does not", async () => {
    const spread = async (device: string) =>
      withEmu({ rows: 8, cols: 8, device, seed: 2 }, async (b) => {
        const g0 = await readAll(b);
        await pulseAll(b, 300, 3.2, -2.8, 3e-4);
        const g1 = await readAll(b);
        return { lo: std(g0) / mean(g0), hi: std(g1) / mean(g1) };
      });
    const plain = await spread("agsi");
    const d2d = await spread("agsi-d2d");
    expect(plain.lo).toBe(0); // every agsi device starts at exactly Gmin
    expect(plain.hi).toBeLessThan(0.03); // saturated at the common Gmax (noise clipped there)
    expect(d2d.lo).toBeGreaterThan(0.06);
    expect(d2d.lo).toBeLessThan(0.15);
    expect(d2d.hi).toBeGreaterThan(0.06);
    expect(d2d.hi).toBeLessThan(0.15);
  });
});

describe("agsi-var: device-to-device variation at the literature's magnitudes", () => {
  /**
   * Per device: Gmin, Gmax, and the pulse after which it first sits at its Gmax, averaged over four
   * potentiation cycles (the cycle-to-cycle noise lets a device touch Gmax early; the average keeps
   * the device's own pulse count).
   */
  async function devices(device: string) {
    return withEmu({ rows: 16, cols: 16, device, seed: 2 }, async (b) => {
      const g0 = await readAll(b);
      const sat = new Float32Array(256);
      let gmax = g0;
      for (let cycle = 0; cycle < 4; cycle++) {
        const trace: Float32Array[] = [];
        for (let k = 0; k < 160; k++) {
          await pulseAll(b, 1, 3.2, -2.8, 3e-4);
          trace.push(await readAll(b));
        }
        gmax = trace[trace.length - 1]!;
        for (let i = 0; i < 256; i++) sat[i]! += (1 + trace.findIndex((g) => g[i] === gmax[i])) / 4;
        await pulseAll(b, -300, 3.2, -2.8, 3e-4);
      }
      return { gmin: g0, gmax, sat };
    });
  }

  it("spreads Gmin and Gmax by about 30 %, and the pulse count to saturation (its levels) far more than agsi-d2d does", async () => {
    const v = await devices("agsi-var");
    const d = await devices("agsi-d2d");
    const cv = (x: Float32Array) => std(x) / mean(x);
    // σ 30 % on both bounds over 64 devices (the draw is clipped at 0.1 of the nominal value).
    expect(cv(v.gmin)).toBeGreaterThan(0.2);
    expect(cv(v.gmin)).toBeLessThan(0.4);
    expect(cv(v.gmax)).toBeGreaterThan(0.2);
    expect(cv(v.gmax)).toBeLessThan(0.4);
    // σ 30 % on the 97 LTP levels: the pulse count to saturation spreads from device to device.
    // Measured (seed 2): 0.31 against agsi-d2d's 0.18; 0.19 with agsi-var's level spread set to 0.
    expect(cv(v.sat)).toBeGreaterThan(1.4 * cv(d.sat));
  }, 60_000);
});

describe("aihwkit pulsed step devices (noise 0 = the mean device; G = 50 uS + 40 uS · w)", () => {
  const G = (w: number) => 50e-6 + 40e-6 * w;
  const clip = (w: number) => Math.min(Math.max(w, -0.6), 0.6);
  // aihwkit's update_once rules with its default parameters (dw_min 0.001, bounds ±0.6).
  const rules: Record<string, (w: number, up: boolean) => number> = {
    "aihw-constant": (w, up) => w + (up ? 0.001 : -0.001),
    "aihw-linear": (w, up) => w + (up ? 0.001 : -0.001), // gamma 0: constant steps
    "aihw-softbounds": (w, up) => (up ? w + 0.001 * (1 - w / 0.6) : w - 0.001 * (1 - w / -0.6)),
    "aihw-exp": (w, up) => {
      const z = ((2 * w) / 1.2) * 0.244 + 0.2425;
      return up
        ? w + 0.001 * Math.max(1 - 0.00081 * Math.exp(12.44625 * z), 0)
        : w - 0.001 * Math.max(1 - 0.36833 * Math.exp(-12.78785 * z), 0);
    },
    "aihw-pow": (w, up) => (up ? w + 0.001 * ((0.6 - w) / 1.2) : w - 0.001 * ((w + 0.6) / 1.2)),
  };
  it.each(Object.keys(rules))(
    "%s follows its update rule over 700 up and 700 down pulses",
    async (device) => {
      await withEmu({ rows: 2, cols: 2, device, seed: 1, noise: 0 }, async (b) => {
        const g = (await curve(b, { pulses: 700, set: 2, reset: -2 })).map((p) => p.conductance);
        let w = 0;
        const expected = [G(w)];
        for (const up of [true, false]) {
          for (let k = 0; k < 700; k++) {
            w = clip(rules[device]!(w, up));
            expected.push(G(w));
          }
        }
        for (let k = 0; k < g.length; k += 7) expect(g[k]! / expected[k]!, `point ${k}`).toBeCloseTo(1, 5);
      });
    },
  );

  it("aihw-constant with aihwkit's device-to-device spread: bounds vary by w_max_dtod 0.3 (σ ≈ 7 uS at the top)", async () => {
    await withEmu({ rows: 8, cols: 8, device: "aihw-constant", seed: 5 }, async (b) => {
      await pulseAll(b, 8000, 2, -2, 1e-6);
      const s = std(await readAll(b));
      expect(s).toBeGreaterThan(4e-6);
      expect(s).toBeLessThan(11e-6);
    });
  });
});

describe("phase-change memory (pcm)", () => {
  const K = 25e-6 / 2; // aihwkit g_max over w_max
  it("gradual SET along PCMPresetDevice's ExpStep, abrupt RESET to the reset level, partial RESET below the full amplitude", async () => {
    await withEmu({ rows: 2, cols: 2, device: "pcm", seed: 1, noise: 0 }, async (b) => {
      const g = (await curve(b, { pulses: 60, set: 2, reset: -2.5, width: 1e-6 })).map((p) => p.conductance);
      let w = 0.01; // reset level
      const expected = [w * K];
      for (let k = 0; k < 60; k++) {
        w = Math.min(w + 0.01 * (1 + 27.235 * Math.exp(-2.5 * w)), 2);
        expected.push(w * K);
      }
      for (let k = 0; k <= 60; k++) expect(g[k]! / expected[k]!, `SET ${k}`).toBeCloseTo(1, 4);
      expect(g[1]! - g[0]!).toBeGreaterThan(10 * (g[60]! - g[59]!)); // fast first, slow near the top
      for (let k = 61; k <= 120; k++) expect(g[k]! / (0.01 * K), `RESET ${k}`).toBeCloseTo(1, 4); // one pulse is enough
      // Partial RESET: −1.75 V is half way from the 1 V threshold to the 2.5 V full RESET.
      await pulse(b, 1, 1, 2, 1e-6, 30);
      const before = await read(b, 1, 1);
      await pulse(b, 1, 1, -1.75, 1e-6);
      const after = await read(b, 1, 1);
      expect((after - 0.01 * K) / (before - 0.01 * K)).toBeCloseTo(0.5, 3);
    });
  });

  /** ν of aihwkit's PCMLikeNoiseModel for a device programmed to g. */
  const nu = (g: number) => Math.min(Math.max(-0.0155 * Math.log(g / 25e-6) + 0.0244, 0.049), 0.1);

  it("the drift exponent fitted from a retention run is the configured ν(ĝ) at every programmed level", async () => {
    await withEmu({ rows: 2, cols: 4, device: "pcm", seed: 1, noise: 0 }, async (b) => {
      // Eight levels from 1 to 40 SET pulses (the reset state is 0.5 % of gmax).
      const counts = Int16Array.from([0, 1, 2, 4, 7, 12, 20, 40]);
      await lastValueFrom(
        b.pulseBlock({ r0: 0, c0: 0, rows: 2, cols: 4, counts, vp: 2, vn: -2.5, width: 1e-6 }),
      );
      const tp = await lastValueFrom(b.clock());
      const pts = await lastValueFrom(retention(b, { interval: 500, count: 20 }).pipe(toArray()));
      for (let d = 0; d < 8; d++) {
        const x = pts.map((p) => Math.log((p.t - tp + 20) / 20));
        const y = pts.map((p) => Math.log(p.map.data[d]!));
        const fitted = -slope(x, y);
        expect(fitted, `device ${d}`).toBeCloseTo(nu(pts[0]!.map.data[d]!), 3);
      }
      // The levels span both clips of ν (0.1 for the reset state, 0.049 near gmax).
      expect(nu(pts[0]!.map.data[0]!)).toBe(0.1);
      expect(nu(pts[0]!.map.data[7]!)).toBe(0.049);
    });
  });

  it("with programming, drift-exponent and read noise on, the mean fitted ν over 64 devices matches the mean configured ν", async () => {
    await withEmu({ rows: 8, cols: 8, device: "pcm", seed: 3 }, async (b) => {
      const counts = new Int16Array(64).map((_, i) => 3 + (i % 4));
      await lastValueFrom(
        b.pulseBlock({ r0: 0, c0: 0, rows: 8, cols: 8, counts, vp: 2, vn: -2.5, width: 1e-6 }),
      );
      const tp = await lastValueFrom(b.clock());
      const pts = await lastValueFrom(retention(b, { interval: 200, count: 30 }).pipe(toArray()));
      const x = pts.map((p) => Math.log((p.t - tp + 20) / 20));
      const fitted: number[] = [];
      const configured: number[] = [];
      for (let d = 0; d < 64; d++) {
        const g = pts.map((p) => p.map.data[d]!);
        // The SET noise of this PCM is large: a device driven to 0 S has no drift to fit.
        if (g.some((v) => !(v > 0))) continue;
        fitted.push(-slope(x, g.map(Math.log)));
        configured.push(nu(mean(g.slice(0, 3))));
      }
      expect(fitted.length).toBeGreaterThan(48);
      expect(Math.abs(mean(fitted) - mean(configured))).toBeLessThan(0.008);
      expect(std(fitted)).toBeGreaterThan(0.004); // ν is drawn per device, and reads are noisy
    });
  });

  it("a drifted device read twice at the same clock gives two values (1/f read noise), a WAIT lowers it (drift)", async () => {
    await withEmu({ rows: 2, cols: 2, device: "pcm", seed: 9 }, async (b) => {
      await pulse(b, 0, 0, 2, 1e-6, 5);
      const r1 = await read(b, 0, 0);
      const r2 = await read(b, 0, 0);
      expect(r1).not.toBe(r2);
      const early = mean(await Promise.all(Array.from({ length: 20 }, () => read(b, 0, 0))));
      await lastValueFrom(b.wait(86400));
      const late = mean(await Promise.all(Array.from({ length: 20 }, () => read(b, 0, 0))));
      expect(late).toBeLessThan(early * 0.8);
    });
  });
});

describe("threshold switch on PCM (ts-pcm) and FIRE", () => {
  const C = 1e-9;
  const VTH = 1.2;
  const VHOLD = 0.6;
  /** Firings per 1 ms window that count as "learned" (our choice for the test). */
  const TARGET = 20;

  it("fires only above the switch threshold, faster for a lower PCM resistance, each firing setting the PCM (positive feedback)", async () => {
    await withEmu({ rows: 2, cols: 2, device: "ts-pcm", seed: 1, noise: 0 }, async (b) => {
      await pulse(b, 0, 0, 2, 1e-6, 3);
      await pulse(b, 0, 1, 2, 1e-6, 20);
      const g = [await read(b, 0, 0), await read(b, 0, 1)];
      expect(Array.from(await fire(b, { r0: 0, c0: 0, nr: 1, nc: 2 }, 1.0, 0.01))).toEqual([0, 0]);
      const e0 = await energy(b);
      const first = await fire(b, { r0: 0, c0: 0, nr: 1, nc: 2 }, 2, 0.01);
      const e1 = await energy(b);
      // The relaxation period C·ln((v − vhold)/(v − vth))/G + 1 µs at the starting conductance bounds
      // the count from below (each firing raises G, so the rate only rises).
      for (const d of [0, 1]) {
        const period = (C * Math.log((2 - VHOLD) / (2 - VTH))) / g[d]! + 1e-6;
        expect(first[d]!).toBeGreaterThanOrEqual(Math.floor(0.01 / period));
      }
      expect(first[1]!).toBeGreaterThan(first[0]!);
      expect(e1 - e0).toBeCloseTo((first[0]! + first[1]!) * 2 * C * (VTH - VHOLD), 15);
      const after = [await read(b, 0, 0), await read(b, 0, 1)];
      expect(after[0]!).toBeGreaterThan(g[0]!);
      const second = await fire(b, { r0: 0, c0: 0, nr: 1, nc: 1 }, 2, 0.01);
      expect(second[0]!).toBeGreaterThan(first[0]!);
    });
  });

  it("forgetting by partial RESET slows the firing; relearning from there takes fewer FIRE windows than naive learning", async () => {
    await withEmu({ rows: 1, cols: 2, device: "ts-pcm", seed: 2, noise: 0 }, async (b) => {
      const window = async () => (await fire(b, { r0: 0, c0: 0, nr: 1, nc: 1 }, 1.6, 0.001))[0]!;
      const windows = async (target: number) => {
        for (let k = 1; k <= 500; k++) if ((await window()) >= target) return k;
        return Number.POSITIVE_INFINITY;
      };
      await pulse(b, 0, 0, 2, 1e-6, 1); // a weak synapse that fires at all
      const naive = await windows(TARGET);
      const trained = await window();
      await pulse(b, 0, 0, -1.6, 1e-6); // partial RESET (below the 2.5 V full RESET)
      const forgotten = await window();
      expect(forgotten).toBeLessThan(trained);
      const relearn = await windows(TARGET);
      expect(naive).toBeGreaterThan(3);
      expect(naive).toBeLessThan(500);
      expect(relearn).toBeLessThan(naive);
    });
  });

  it("FIRE on a device without a threshold switch is refused with 203; FIRE's t is bounded", async () => {
    await withEmu({ rows: 2, cols: 2, device: "agsi", seed: 1 }, async (b) => {
      expect(await errorCode(fire(b, { r0: 0, c0: 0, nr: 1, nc: 1 }, 2, 0.01))).toBe(203);
    });
    await withEmu({ rows: 2, cols: 2, device: "ts-pcm", seed: 1 }, async (b) => {
      expect(await errorCode(fire(b, { r0: 0, c0: 0, nr: 1, nc: 1 }, 2, 5))).toBe(203);
      expect(await errorCode(fire(b, { r0: 0, c0: 0, nr: 1, nc: 1 }, 9, 0.01))).toBe(301);
      expect(await errorCode(fire(b, { r0: 0, c0: 0, nr: 3, nc: 1 }, 2, 0.01))).toBe(305);
    });
  });
});

describe("self-rectifying memristor (srm)", () => {
  it("reads G at 0.2 V, G·h(V) below it (sinh, V0 = 25 mV) and G/1e5 in reverse; NL 1 gives 0.60 after half the pulses", async () => {
    await withEmu({ rows: 2, cols: 2, device: "srm", seed: 1, noise: 0 }, async (b) => {
      const g = (await curve(b, { pulses: 100 })).map((p) => p.conductance);
      const half = norm(g[50]!, 1e-8, 1e-6); // 100 LTP pulses: half is 50
      // NeuroSim's curve for NL 1 over 100 pulses (A from NeuroSim's table), computed here.
      expect(half).toBeCloseTo(
        norm(neurosimG(50, { nl: 1, pmax: 100, gmin: 1e-8, gmax: 1e-6 }), 1e-8, 1e-6),
        4,
      );
      await pulse(b, 1, 1, 3.2, 1e-4, 100);
      expect(await read(b, 1, 1)).toBeCloseTo(1e-6, 12);
      await lastValueFrom(b.configure({ readVoltage: 0.1 }));
      const h01 = (0.2 / 0.1) * (Math.sinh(0.1 / 0.025) / Math.sinh(0.2 / 0.025));
      expect((await read(b, 1, 1)) / (1e-6 * h01)).toBeCloseTo(1, 5);
      await lastValueFrom(b.configure({ readVoltage: -0.2 }));
      expect((await read(b, 1, 1)) / 1e-11).toBeCloseTo(1, 5);
    });
  });
});

describe("charge-trap flash (ctf)", () => {
  const G = (tp: number) => 1e-7 + (9.9e-6 * Math.log(1 + tp / 1e-5)) / Math.log(1 + 1e-2 / 1e-5);
  it("programs one way, logarithmically in the programming time and exponentially in the amplitude; a negative pulse erases its 8-row block", async () => {
    await withEmu({ rows: 16, cols: 4, device: "ctf", seed: 1, noise: 0 }, async (b) => {
      let n = 0;
      for (const k of [1, 1, 3, 5, 40]) {
        await pulse(b, 0, 0, 3.2, 1e-4, k);
        n += k;
        expect((await read(b, 0, 0)) / G(n * 1e-4), `${n} pulses`).toBeCloseTo(1, 5);
      }
      await pulse(b, 0, 1, 2.9, 1e-4);
      expect((await read(b, 0, 1)) / G(1e-4 * Math.exp(-1)), "0.3 V lower is e times slower").toBeCloseTo(
        1,
        5,
      );
      await pulse(b, 0, 2, 1.9, 1e-4, 100);
      expect(await read(b, 0, 2)).toBeCloseTo(1e-7, 12); // below the 2 V threshold
      await pulseAll(b, 10, 3.2, -2.8, 1e-4);
      const programmed = await readAll(b);
      await pulse(b, 0, 0, -1.5, 1e-4, 10); // below the erase threshold: nothing
      expect(await readAll(b)).toEqual(programmed);
      await pulse(b, 3, 1, -2.8, 1e-4);
      const after = await readAll(b);
      for (let i = 0; i < 64; i++) {
        if (i < 32) expect(after[i], `device ${i} erased`).toBeCloseTo(1e-7, 12);
        else expect(after[i], `device ${i} kept`).toBe(programmed[i]);
      }
    });
  });
});
