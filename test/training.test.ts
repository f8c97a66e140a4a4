/**
 * Networks on arrays and the training rules, at a reduced size fast enough for CI. The full-size runs
 * are in docs/experiments.md. Every run is seeded, so each figure here is reproducible.
 */
import { lastValueFrom } from "rxjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Random } from "../firmware-protocol/random.ts";
import type { Board } from "../src/board/board.ts";
import { connect } from "../src/board/connect.ts";
import { parseIdx } from "../src/learning/datasets/idx.ts";
import { type Dataset, loadMnist } from "../src/learning/datasets/mnist.ts";
import { Allocator } from "../src/learning/nn/allocate.ts";
import { ArrayLayer } from "../src/learning/nn/array-layer.ts";
import { calibrateRange } from "../src/learning/nn/calibrate.ts";
import { SoftwareLayer } from "../src/learning/nn/layer.ts";
import { type TrainOptions, type TrainResult, trainResult } from "../src/learning/training/train.ts";

let trainSet: Dataset;
let testSet: Dataset;
/** The claim tests of claims 1 and 2 draw their images from the first 15 000 training images. */
let trainSet15k: Dataset;
const boards: Board[] = [];
beforeAll(() => {
  trainSet = loadMnist("train", { crop: 20, limit: 6000 });
  trainSet15k = loadMnist("train", { crop: 20, limit: 15000 });
  testSet = loadMnist("test", { crop: 20, limit: 2000 });
});
afterAll(async () => {
  await Promise.all(boards.map((b) => b.close()));
});

async function board(url: string): Promise<Board> {
  const b = await connect(url);
  boards.push(b);
  return b;
}

async function run(o: Partial<TrainOptions> & Pick<TrainOptions, "rule">): Promise<TrainResult> {
  return trainResult({
    boards: [],
    epochs: 2,
    imagesPerEpoch: 1500,
    hidden: 32,
    testImages: 1000,
    seed: 3,
    train: trainSet,
    test: testSet,
    ...o,
  });
}

describe("IDX loader", () => {
  it("reads the original MNIST files: 60 000 + 10 000 images, labels 5 0 4 1 9 first", () => {
    const all = loadMnist("train", { crop: 28, limit: 5 });
    expect(all.inputs).toBe(784);
    expect(Array.from(all.labels)).toEqual([5, 0, 4, 1, 9]);
    expect(trainSet.inputs).toBe(400);
    expect(loadMnist("test", { crop: 20 }).count).toBe(10000);
    const max = all.images.reduce((a, v) => Math.max(a, v), 0);
    expect(max).toBe(1);
    // The 20 x 20 crop is the centre of the 28 x 28 image.
    const crop = loadMnist("train", { crop: 20, limit: 1 });
    expect(crop.images[0]).toBe(all.images[4 * 28 + 4]);
    expect(crop.images[399]).toBe(all.images[23 * 28 + 23]);
  });

  it("refuses files that are not IDX, with the reason", () => {
    expect(() => parseIdx(new Uint8Array([1, 2, 3]), "x")).toThrow(/too short/);
    expect(() => parseIdx(new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]), "x")).toThrow(
      /unsigned byte/,
    );
    expect(() => parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), "x")).toThrow(/expected 13 bytes/);
    expect(parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]), "x")).toEqual({
      dims: [2],
      data: new Uint8Array([7, 9]),
    });
  });
});

describe("layers on arrays", () => {
  it("tiles a layer over two small boards: forward and backward match the weights it holds", async () => {
    const a = await board("emu://?rows=12&cols=16&device=linear&seed=1");
    const b = await board("emu://?rows=12&cols=16&device=linear&seed=2");
    const pulse = { vp: 2, vn: -2, width: 1e-4 };
    const range = await calibrateRange(a, 11, 15, pulse);
    const placement = new Allocator([a, b]).place(21, 16, "test layer");
    expect(placement.tiles.length).toBeGreaterThan(2); // rows cut into bands, columns across boards
    expect(new Set(placement.tiles.map((t) => t.board)).size).toBe(2);
    const layer = new ArrayLayer(20, 8, placement, { range, pulse, rule: "bidirectional" });
    const rng = new Random(1);
    await layer.initRandom(rng, 0.3);
    const w = await lastValueFrom(layer.weights());
    const sw = new SoftwareLayer(20, 8, w);
    const x = Float32Array.from({ length: 20 }, () => rng.uniform());
    const y = await lastValueFrom(layer.forward(x));
    const ys = sw.forwardSync(x);
    for (let j = 0; j < 8; j++) expect(y[j]).toBeCloseTo(ys[j]!, 4);
    const d = Float32Array.from({ length: 8 }, () => rng.uniform() - 0.5);
    const e = await lastValueFrom(layer.backward(d));
    const es = sw.backwardSync(d);
    for (let i = 0; i < 20; i++) expect(e[i]).toBeCloseTo(es[i]!, 4);
  });

  it("a gain scales the weight a pair stands for, in the forward pass and in the weights read back", async () => {
    const a = await board("emu://?rows=8&cols=8&device=linear&seed=1");
    const pulse = { vp: 2, vn: -2, width: 1e-4 };
    const range = await calibrateRange(a, 7, 7, pulse);
    const placement = new Allocator([a]).place(4, 4);
    const one = new ArrayLayer(3, 2, placement, { range, pulse, rule: "bidirectional" });
    const four = new ArrayLayer(3, 2, placement, { range, pulse, rule: "bidirectional", gain: 4 });
    await one.initRandom(new Random(2), 0.5);
    const w1 = await lastValueFrom(one.weights());
    const w4 = await lastValueFrom(four.weights());
    for (let i = 0; i < w1.length; i++) expect(w4[i]).toBeCloseTo(4 * w1[i]!, 5);
    const x = Float32Array.of(0.3, 0.9, 0.1);
    const y = await lastValueFrom(four.forward(x));
    const ys = new SoftwareLayer(3, 2, w4).forwardSync(x);
    for (let j = 0; j < 2; j++) expect(y[j]).toBeCloseTo(ys[j]!, 4);
  });

  it("refuses a layer that does not fit the boards, naming it", async () => {
    const a = await board("emu://?rows=8&cols=8&device=linear&seed=1");
    expect(() => new Allocator([a]).place(9, 20, "layer 1")).toThrow(/layer 1 needs 9x20 devices/);
  });

  it("the unidirectional update only potentiates, and the refresh rewrites saturated pairs", async () => {
    const a = await board("emu://?rows=8&cols=8&device=linear&seed=1");
    const pulse = { vp: 2, vn: -2, width: 1e-4 };
    const range = await calibrateRange(a, 7, 7, pulse);
    const layer = new ArrayLayer(3, 2, new Allocator([a]).place(4, 4), {
      range,
      pulse,
      rule: "unidirectional",
      refreshFraction: 0,
    });
    await layer.depressAll();
    const before = await lastValueFrom(a.counters());
    await lastValueFrom(layer.update(Float32Array.of(1, 0.5, 0), Float32Array.of(0.2, -0.2), { lr: 0.5 }));
    const after = await lastValueFrom(a.counters());
    expect(after.pulses).toBeGreaterThan(before.pulses);
    const w = await lastValueFrom(layer.weights());
    // ΔW = −lr·x·δ: negative for output 0, positive for output 1, none for the zero input.
    expect(w[0]).toBeLessThan(0);
    expect(w[1]).toBeGreaterThan(0);
    expect(w[4]).toBe(0);
    const g = await lastValueFrom(a.readBlock({ r0: 0, c0: 0, rows: 4, cols: 4 }));
    // Nothing was depressed: every device is at or above Gmin.
    for (const v of g.data) expect(v).toBeGreaterThanOrEqual(range.gmin * 0.999);
    // Raise every pair high, then refresh: the pairs come down and keep their weights.
    await lastValueFrom(
      a.pulseBlock({
        r0: 0,
        c0: 0,
        rows: 4,
        cols: 4,
        counts: new Int16Array(16).fill(800),
        vp: 2,
        vn: -2,
        width: 1e-4,
      }),
    );
    const high = await lastValueFrom(layer.weights());
    expect(await layer.refresh()).toBeGreaterThan(0);
    const low = await lastValueFrom(a.readBlock({ r0: 0, c0: 0, rows: 4, cols: 4 }));
    expect(Math.max(...low.data)).toBeLessThan(range.gmin + 0.6 * (range.gmax - range.gmin));
    const kept = await lastValueFrom(layer.weights());
    for (let i = 0; i < kept.length; i++) expect(kept[i]!).toBeCloseTo(high[i]!, 1);
  });
});

describe("mini-batch updates", () => {
  it("an array layer sends nothing until the batch is full, then the net counts; opposite updates cancel", async () => {
    const a = await board("emu://?rows=8&cols=8&device=linear&seed=1");
    const pulse = { vp: 2, vn: -2, width: 1e-4 };
    const range = await calibrateRange(a, 7, 7, pulse);
    for (const rule of ["unidirectional", "bidirectional"] as const) {
      const layer = new ArrayLayer(3, 2, new Allocator([a]).place(4, 4), {
        range,
        pulse,
        rule,
        refreshFraction: 0,
        batch: 3,
      });
      await layer.depressAll();
      const pulses = async () => (await lastValueFrom(a.counters())).pulses;
      const x = Float32Array.of(1, 0.5, 0);
      const p0 = await pulses();
      await lastValueFrom(layer.update(x, Float32Array.of(0.2, -0.2), { lr: 0.5 }));
      await lastValueFrom(layer.update(x, Float32Array.of(-0.2, 0.2), { lr: 0.5 }));
      expect(await pulses()).toBe(p0);
      // The third image completes the batch: the first two cancelled, so only its own update is sent.
      await lastValueFrom(layer.update(x, Float32Array.of(0.2, -0.2), { lr: 0.5 }));
      const sent = (await pulses()) - p0;
      expect(sent).toBeGreaterThan(0);
      const w = await lastValueFrom(layer.weights());
      expect(w[0]).toBeLessThan(0);
      expect(w[1]).toBeGreaterThan(0);
      expect(w[4]).toBe(0); // zero input: no pulse
      // The same single update through a batch-1 layer costs the same pulses as the whole batch did.
      const one = new ArrayLayer(3, 2, new Allocator([a]).place(4, 4), {
        range,
        pulse,
        rule,
        refreshFraction: 0,
      });
      await one.depressAll();
      const p1 = await pulses();
      await lastValueFrom(one.update(x, Float32Array.of(0.2, -0.2), { lr: 0.5 }));
      expect((await pulses()) - p1).toBe(sent);
      // A partial batch waits for flush().
      await lastValueFrom(layer.update(x, Float32Array.of(0.2, -0.2), { lr: 0.5 }));
      const p2 = await pulses();
      await lastValueFrom(layer.flush());
      expect(await pulses()).toBeGreaterThan(p2);
      await lastValueFrom(layer.flush());
    }
    expect(
      () =>
        new ArrayLayer(3, 2, new Allocator([a]).place(4, 4), {
          range,
          pulse,
          rule: "unidirectional",
          batch: 0,
        }),
    ).toThrow(/batch must be an integer >= 1/);
  });

  it("a batched update leaves the same conductances as the OPU would, sparse (pulse list) or dense (block)", async () => {
    const pulse = { vp: 2, vn: -2, width: 1e-4 };
    for (const dense of [false, true]) {
      const a = await board("emu://?rows=32&cols=16&device=linear&seed=1");
      const b = await board("emu://?rows=32&cols=16&device=linear&seed=1");
      const range = await calibrateRange(a, 31, 15, pulse);
      await calibrateRange(b, 31, 15, pulse);
      const o = { range, pulse, rule: "bidirectional" as const, refreshFraction: 0 };
      const batched = new ArrayLayer(20, 4, new Allocator([a]).place(21, 8), { ...o, batch: 2 });
      const single = new ArrayLayer(20, 4, new Allocator([b]).place(21, 8), o);
      await batched.depressAll();
      await single.depressAll();
      // Sparse: one input row active, so few devices get pulses; dense: every input active.
      const x = Float32Array.from({ length: 20 }, (_, i) => (dense || i === 3 ? 0.5 : 0));
      const d = Float32Array.of(-0.3, 0.2, -0.1, 0.25);
      const zero = new Float32Array(4);
      await lastValueFrom(batched.update(x, d, { lr: 0.2 }));
      await lastValueFrom(batched.update(x, zero, { lr: 0.2 }));
      await lastValueFrom(single.update(x, d, { lr: 0.2 }));
      const ga = await lastValueFrom(a.readBlock({ r0: 0, c0: 0, rows: 21, cols: 8 }));
      const gb = await lastValueFrom(b.readBlock({ r0: 0, c0: 0, rows: 21, cols: 8 }));
      expect(Array.from(ga.data)).toEqual(Array.from(gb.data));
      expect(Math.max(...ga.data)).toBeGreaterThan(range.gmin * 1.5);
    }
  });

  it("a software layer changes its weights once per batch, by the sum of the updates", () => {
    const w0 = Float32Array.from({ length: 3 * 2 }, (_, i) => i / 10);
    const l = new SoftwareLayer(2, 2, w0, { batch: 2 });
    l.updateSync(Float32Array.of(1, 0), Float32Array.of(1, 0), { lr: 0.1 });
    expect(Array.from(l.w)).toEqual(Array.from(w0));
    l.updateSync(Float32Array.of(0, 1), Float32Array.of(0, 1), { lr: 0.1 });
    const ref = new SoftwareLayer(2, 2, w0);
    ref.updateSync(Float32Array.of(1, 0), Float32Array.of(1, 0), { lr: 0.1 });
    ref.updateSync(Float32Array.of(0, 1), Float32Array.of(0, 1), { lr: 0.1 });
    for (let i = 0; i < w0.length; i++) expect(l.w[i]).toBeCloseTo(ref.w[i]!, 6);
  });
});

/** Per-seed differences a − b, in points. */
const gapsOf = (a: TrainResult[], b: TrainResult[]) =>
  a.map((x, i) => (x.final.accuracy - b[i]!.final.accuracy) * 100);

// Each claim at a reduced size, in the configuration its test or describe title names: claims 2 and 3
// on docs/experiments.md's seeds (1, 2, 3; claim 2 with its schedule of record), claim 1 with another
// schedule and other seeds (its
// title says which, and that in docs/experiments.md's configuration claim 1 does not hold). The runs
// of record are in docs/experiments.md. Every run is seeded (board and host), so each figure in a
// comment was measured and is reproduced.
describe("the claims at reduced size (400-32-10), each in the configuration its title names; claim 1 in a schedule and on seeds other than docs/experiments.md's", () => {
  it("claim 1 in a configuration other than docs/experiments.md's: 400-32-10, one update per image, lr 0.1 × 0.7 per epoch in both arms, 3 epochs of 2000 images, 2000 test images, seeds 3, 4, 5: the linear device trained on chip (bidirectional, ±2 V, 100 µs) comes within 2 points of software on each seed. In docs/experiments.md's configuration (400-100-10, constant lr 0.1, 3 epochs of 4000 images, 10 000 test images, seeds 1, 2, 3) claim 1 does not hold", {
    timeout: 600_000,
  }, async () => {
    // NOT the configuration of record. docs/experiments.md measures claim 1 with the work's network
    // (400-100-10), a constant learning rate of 0.1 and one update per image, 3 epochs of 4000 images,
    // all 10 000 test images, seeds 1, 2, 3, and finds that it does NOT hold (software − linear device
    // +0.85, +3.23, −0.36 points: seed 2 is over 2 points), as does the README's status line. This test
    // shows a different, narrower thing: with a rate that decays by × 0.7 per epoch (both arms) on a
    // 32-unit hidden layer, seeds 3, 4, 5, the linear device stays within 2 points of software on each
    // seed. Measured gaps (software − linear device): 1.30, 0.75, −0.05 points. The decay is not what
    // separates this result from the docs': with a constant rate, at this size and on these seeds, the
    // gaps measure 0.90, 0.05, −0.75 points (also within 2); the docs' failing seed is seed 2 of the
    // 400-100-10 network. With a nonlinear device (agsi) in place of the linear one this test fails.
    const sw: TrainResult[] = [];
    const hw: TrainResult[] = [];
    for (const seed of [3, 4, 5]) {
      const o = {
        hidden: 32,
        imagesPerEpoch: 2000,
        epochs: 3,
        lrDecay: 0.7,
        testImages: 2000,
        seed,
        train: trainSet15k,
      };
      sw.push(await run({ rule: "software", ...o }));
      hw.push(
        await run({
          rule: "onchip",
          ...o,
          boards: [await board(`emu://?rows=512&cols=256&device=linear&seed=${seed}`)],
          update: "bidirectional",
          pulse: { vp: 2, vn: -2, width: 1e-4 },
        }),
      );
    }
    for (const r of hw) {
      expect(r.totals.pulses).toBeGreaterThan(0);
      expect(r.totals.vmms).toBeGreaterThan(3 * 2000 * 3); // two forward and one backward VMM per image
    }
    for (const g of gapsOf(sw, hw)) expect(Math.abs(g)).toBeLessThan(2);
  });

  describe("claim 2 on Ag:a-Si, schedule of record (400-32-10, 3 epochs of 1500 images in batches of 10, lr × 0.8 per epoch, 1000 test images, seeds 1, 2, 3)", () => {
    const SEEDS = [1, 2, 3];
    const arms: Record<string, TrainResult[]> = {};
    beforeAll(async () => {
      const o = { rule: "onchip" as const, epochs: 3, batch: 10, lrDecay: 0.8, train: trainSet15k };
      for (const device of ["agsi", "agsi-var"])
        for (const update of ["bidirectional", "unidirectional"] as const) {
          const rs: TrainResult[] = [];
          for (const seed of SEEDS)
            rs.push(
              await run({
                ...o,
                seed,
                update,
                boards: [await board(`emu://?rows=512&cols=128&device=${device}&seed=${seed}`)],
              }),
            );
          arms[`${device} ${update}`] = rs;
        }
    }, 900_000);

    it("the unidirectional update beats the bidirectional one on every seed, by at least 3 points", () => {
      // Measured (deterministic since the layers' updates are sent in order): +8.7, +11.8, +9.8 points.
      for (const x of gapsOf(arms["agsi unidirectional"]!, arms["agsi bidirectional"]!))
        expect(x).toBeGreaterThan(3);
      for (const r of arms["agsi unidirectional"]!) expect(r.refreshes).toBeGreaterThan(0);
    });

    it("with that variation the unidirectional rule is ahead on average and never behind beyond the test set's sampling error", () => {
      // Measured: +13.8, −1.0, +12.9 points. One seed is 1.0 point behind: less than the sampling error
      // of a difference of two accuracies near 76 % on 1000 test images (1.96 · √(2 · 0.76 · 0.24 / 1000)
      // ≈ 3.7 points), so that seed neither confirms nor refutes the rule there.
      const gaps = gapsOf(arms["agsi-var unidirectional"]!, arms["agsi-var bidirectional"]!);
      const unidirectional = arms["agsi-var unidirectional"]!.map((r) => r.final.accuracy);
      for (const [i, x] of gaps.entries()) {
        const p = unidirectional[i]!;
        const sampling = 100 * 1.96 * Math.sqrt((2 * p * (1 - p)) / 1000);
        expect(x).toBeGreaterThan(-sampling);
      }
      expect(gaps.reduce((a, b) => a + b, 0) / gaps.length).toBeGreaterThan(3);
    });
  });

  describe("claim 3, hybrid training after 2 software epochs (400-32-10, 1500 images per epoch, 1000 test images, seeds 1, 2, 3)", () => {
    const SEEDS = [1, 2, 3];
    const sw: TrainResult[] = [];
    const hy: TrainResult[] = [];
    beforeAll(async () => {
      for (const seed of SEEDS) {
        sw.push(await run({ rule: "software", epochs: 3, seed }));
        hy.push(
          await run({
            rule: "hybrid",
            boards: [await board(`emu://?rows=512&cols=128&device=agsi&seed=${seed}`)],
            epochs: 2,
            pretrainEpochs: 2,
            seed,
          }),
        );
      }
    }, 600_000);

    it("comes within 1.5 points of the software network (3 software epochs) on every seed, with no reads and fewer pulses than write-verify", () => {
      // Measured: the hybrid network is ahead by 1.3, 0.8, 2.3 points.
      for (const g of gapsOf(sw, hy)) expect(g).toBeLessThan(1.5);
      for (const r of hy) {
        const [wv, ol] = r.transfers!;
        expect(wv!.method).toBe("write-verify");
        expect(ol!.method).toBe("open-loop");
        expect(ol!.reads).toBe(0);
        expect(wv!.reads).toBeGreaterThan(0);
        expect(ol!.pulses).toBeLessThan(wv!.pulses);
      }
    });

    it("the hybrid epoch itself adds more than a point over the open-loop transfer on every seed", () => {
      // Measured: +2.7, +2.5, +3.7 points (accuracy after the hybrid epoch minus right after the transfer).
      for (const r of hy) expect((r.final.accuracy - r.transfers![1]!.accuracy) * 100).toBeGreaterThan(1);
    });
  });
});
