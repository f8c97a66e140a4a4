/**
 * On-chip training over the protocol 1.1 wire (quantised arrays at an 8-bit DAC / 16-bit ADC, held
 * vectors) against the same runs over float32. Configuration: 400-32-10 network, bidirectional
 * on-chip rule, agsi 512x256 emulated board, 600 training images, 500 test images, seeds 1 to 5.
 *
 * The accuracy of one seed is no measure of the wire: a run of this size is chaotic (one pulse count
 * changed anywhere re-deals the device noise of every later pulse), so the same seed differs by
 * several points between any two wires, also a 16-bit one (docs/experiments-wire.md). What the wire
 * changes is audited instead, update by update: the pulses the board applied against those the
 * float32 factors give (bench/update-audit.ts), and the accuracy is compared as a mean over seeds.
 */
import { lastValueFrom } from "rxjs";
import { describe, expect, it } from "vitest";
import { auditUpdates, type UpdateAudit } from "../bench/update-audit.ts";
import { Random } from "../firmware-protocol/random.ts";
import { connect } from "../src/board/connect.ts";
import type { CrossbarBoard } from "../src/board/protocol-board.ts";
import { loadMnist } from "../src/learning/datasets/mnist.ts";
import { trainResult } from "../src/learning/training/train.ts";

const IMAGES = 600;
const SEEDS = [1, 2, 3, 4, 5];
const train = loadMnist("train", { crop: 20, limit: 3000 });
const test = loadMnist("test", { crop: 20, limit: 500 });

async function run(wire: string, seed: number) {
  const raw = await connect(`emu://?rows=512&cols=256&device=agsi&seed=${seed}${wire}`);
  const { board, audit } = auditUpdates(raw);
  try {
    const bytes = (raw as CrossbarBoard).client.transport.bytes;
    let first = 0;
    let last = 0;
    const r = await trainResult(
      {
        boards: [board],
        rule: "onchip",
        update: "bidirectional",
        epochs: 1,
        imagesPerEpoch: IMAGES,
        hidden: 32,
        testImages: 500,
        train,
        test,
        seed,
      },
      (e) => {
        if (e.type !== "progress") return;
        if (e.image === 100) first = bytes.sent + bytes.received;
        if (e.image === 500) last = bytes.sent + bytes.received;
      },
    );
    return { accuracy: r.final.accuracy, bytesPerImage: (last - first) / 400, link: r.totals.link, audit };
  } finally {
    await raw.close();
  }
}

const sum = (audits: UpdateAudit[], key: keyof UpdateAudit) => audits.reduce((s, a) => s + a[key], 0);

describe("on-chip training over the 1.1 wire", () => {
  it("sends under a third of float32's bytes per image, changes under 1 % of the pulses, and learns within 2 points of float32 over 5 seeds", async () => {
    const f32 = [];
    const q = [];
    for (const seed of SEEDS) {
      f32.push(await run("", seed));
      q.push(await run("&dac=8&adc=16", seed));
    }
    expect(q[0]!.bytesPerImage).toBeLessThan(f32[0]!.bytesPerImage / 3);
    // The board's own link counters (STAT rx, tx) saw the run too.
    expect(q[0]!.link!.sent + q[0]!.link!.received).toBeGreaterThan(q[0]!.bytesPerImage * IMAGES * 0.9);

    // The audit is exact on float32: the board applied the pulses the factors give, no more, no fewer.
    const fa = f32.map((r) => r.audit);
    expect(sum(fa, "updates")).toBe(SEEDS.length * IMAGES * 2);
    expect(sum(fa, "changed")).toBe(0);
    expect(sum(fa, "applied")).toBe(sum(fa, "expected"));

    // The 8-bit factors (and the held 8-bit input as row factors) move a count by one now and then
    // (measured: 0.65 % of the pulses), in both directions alike (measured: net +0.03 %); a factor
    // wasting a bit of the code range, or truncated instead of rounded, fails here.
    const qa = q.map((r) => r.audit);
    const expected = sum(qa, "expected");
    expect(sum(qa, "changed") / expected).toBeLessThan(0.01);
    expect(Math.abs(sum(qa, "applied") - expected) / expected).toBeLessThan(0.002);

    // Accuracy, mean over the seeds (measured: 8-bit 34.1 %, float32 29.6 %). The per-seed gap has a
    // standard deviation of several points (6.5 at 2 000 images, docs/experiments-wire.md), so a mean
    // of 5 seeds is uncertain by about 3: this bound only catches a gross cost; the audits above are
    // the fine guard.
    const mean = (rs: { accuracy: number }[]) => rs.reduce((s, r) => s + r.accuracy, 0) / rs.length;
    expect(mean(q)).toBeGreaterThan(0.3);
    expect(mean(q) - mean(f32)).toBeGreaterThan(-0.02);
  }, 120_000);

  it("the forward and backward passes over the 1.1 wire stay within the converters' resolution of float32's", async () => {
    // One board that reports an 8-bit DAC and a 16-bit ADC, layer 1's block (401 x 200) at random
    // conductances: the same VMM / VMMT through the 1.1 wire (CrossbarBoard) and in float32 (the client).
    const board = (await connect(
      "emu://?rows=512&cols=256&device=agsi&seed=1&dac=8&adc=16",
    )) as CrossbarBoard;
    try {
      const rng = new Random(5);
      const block = { r0: 0, c0: 0, rows: 401, cols: 200 };
      const req = { r0: 0, c0: 0, nr: 401, nc: 200 };
      const counts = Int16Array.from({ length: 401 * 200 }, () => rng.int(100));
      await lastValueFrom(board.pulseBlock({ ...block, counts, vp: 3.2, vn: -2.8, width: 300e-6 }));
      let forward = { err: 0, sq: 0 };
      let backward = { err: 0, sq: 0 };
      for (let k = 0; k < 20; k++) {
        const x = new Float32Array(401).fill(0.2);
        for (let i = 0; i < 400; i++) x[i] = 0.2 * train.images[k * 400 + i]!;
        const yq = await lastValueFrom(board.vmm(block, x));
        const yf = (await board.client.call("VMM", { ...req, x })).y as Float32Array;
        for (let j = 0; j < 200; j += 2) {
          const zf = yf[j]! - yf[j + 1]!;
          forward = { err: forward.err + (yq[j]! - yq[j + 1]! - zf) ** 2, sq: forward.sq + zf * zf };
        }
        // Column voltages ±s·δ of an error vector whose entries span three decades.
        const delta = Array.from({ length: 100 }, () => (rng.uniform() - 0.5) * Math.exp(-7 * rng.uniform()));
        const s = 0.2 / Math.max(...delta.map(Math.abs));
        const v = Float32Array.from({ length: 200 }, (_, c) => (c % 2 ? -s : s) * delta[c >> 1]!);
        const eq = await lastValueFrom(board.vmmT(block, v));
        const ef = (await board.client.call("VMMT", { ...req, x: v })).y as Float32Array;
        for (let i = 0; i < 401; i++)
          backward = { err: backward.err + (eq[i]! - ef[i]!) ** 2, sq: backward.sq + ef[i]! ** 2 };
      }
      // rms error over rms value (measured: forward 1.3e-4, backward 9e-3, the 8-bit DAC's step on
      // the error voltages); a scale that wasted a bit of either converter would double them.

      expect(Math.sqrt(forward.err / forward.sq)).toBeLessThan(2.5e-4);
      expect(Math.sqrt(backward.err / backward.sq)).toBeLessThan(1.5e-2);
    } finally {
      await board.close();
    }
  }, 30_000);
});
