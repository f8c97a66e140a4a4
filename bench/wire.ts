/**
 * `npm run bench` (third part): what training costs on the wire. One epoch of 8 000 images of the
 * 400-100-10 network with the onchip rule (bidirectional) and the hybrid rule, on an emulated board
 * that takes float32 (protocol 1.0's encoding, the baseline, measured in the same run) and on one that
 * reports an 8-bit DAC and a 16-bit ADC (protocol 1.1: quantised arrays, held vectors). Prints bytes
 * on the wire per training image, the epoch time a link of 115 200 baud, 921 600 baud (8N1: 10 bits
 * per byte) and 12 Mbit/s USB (8 bits per byte, no protocol overhead) would need for those bytes, and
 * the floor set by the payload at the board's DAC/ADC resolution.
 *
 *   node --import tsx bench/wire.ts [images]
 *
 * The link times of the first table are computed from the measured bytes. The second table measures
 * them: MEASURED onchip training images on an emulated link limited to 115 200 and to 921 600 baud
 * (mocks/baud.ts; board time off, timescale 0, so that the link alone sets the pace), timed from the
 * first forward pass to the last update, beside the time computed from the bytes those images moved.
 */
import { cpus, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import type { Observable } from "rxjs";
import type { Block, Board } from "../src/board/board.ts";
import { connect } from "../src/board/connect.ts";
import { loadMnist } from "../src/learning/datasets/mnist.ts";
import type { DeviceRange } from "../src/learning/nn/calibrate.ts";
import { type TrainOptions, trainResult } from "../src/learning/training/train.ts";
import { clientOf } from "./measure.ts";
import { int, num, ratio, table } from "./table.ts";

const IMAGES = Number(process.argv[2] ?? 8000);
/** Training images timed on each baud-limited link. */
const MEASURED = 20;
const BAUDS = [115200, 921600] as const;
const HIDDEN = 100;
const ARRAY = "rows=512&cols=256&device=agsi&seed=1";
const WIRES = { "float32 (1.0)": "", "dac 8 / adc 16 bits (1.1)": "&dac=8&adc=16" } as const;
const LINKS = [
  ["115 200 baud", 115200 / 10],
  ["921 600 baud", 921600 / 10],
  ["USB 12 Mbit/s", 12e6 / 8],
] as const;

/**
 * What must cross per training image at the converters' resolution (8-bit DAC in, 16-bit ADC out;
 * differential pairs: 400+1 inputs on 200 columns, 100+1 on 20): forward inputs and outputs of both
 * layers, the output errors in and back-propagated errors out of layer 2, the column factors of both
 * updates (their row factors are the forward inputs, which the board holds).
 */
const FLOOR = {
  onchip: 401 + 200 * 2 + 101 + 20 * 2 + 20 + 101 * 2 + 200 + 20,
  // Layer 1 only on the array: forward in and out, and its update's column factors.
  hybrid: 401 + 200 * 2 + 200,
};

const log = (m: string) => process.stderr.write(`bench wire: ${m}\n`);
const train = loadMnist("train", { crop: 20 });
const test = loadMnist("test", { crop: 20, limit: 100 });

interface Row {
  rule: "onchip" | "hybrid";
  wire: keyof typeof WIRES;
  bytesPerImage: number;
  accuracy: number;
  range?: DeviceRange;
}

async function run(rule: Row["rule"], wire: Row["wire"]): Promise<Row> {
  const board: Board = await connect(`emu://?${ARRAY}${WIRES[wire]}`);
  try {
    const t = clientOf(board).transport.bytes;
    // From the first progress report of the epoch on the array (100 images in) to the last one before
    // its end: calibration, pretraining and the transfer are left out.
    let first: { image: number; bytes: number } | undefined;
    let last: { image: number; bytes: number } | undefined;
    const o: TrainOptions = {
      boards: [board],
      rule,
      update: "bidirectional",
      epochs: 1,
      imagesPerEpoch: IMAGES,
      hidden: HIDDEN,
      testImages: 100,
      train,
      test,
      seed: 1,
    };
    const r = await trainResult(o, (e) => {
      if (e.type !== "progress" || e.phase.startsWith("pretrain")) return;
      const mark = { image: e.image, bytes: t.sent + t.received };
      if (!first) first = mark;
      else if (e.image < IMAGES) last = mark;
    });
    const bytesPerImage =
      first && last ? (last.bytes - first.bytes) / (last.image - first.image) : Number.NaN;
    return { rule, wire, bytesPerImage, accuracy: r.final.accuracy, range: r.range };
  } finally {
    await board.close();
  }
}

interface Timed {
  wire: keyof typeof WIRES;
  baud: number;
  /** Wall time per training image, measured, s. */
  measured: number;
  /** Time per image the bytes those images moved need at baud/10 bytes per second, s. */
  computed: number;
  bytesPerImage: number;
}

/**
 * MEASURED onchip images on a link limited to `baud` (board time off), timed from the first forward
 * pass (the first `vmm`) to the progress report after the last update; calibration is skipped (`range`
 * from the full run) and the test comes after the last report.
 */
async function timed(wire: Timed["wire"], baud: number, range: DeviceRange | undefined): Promise<Timed> {
  const raw: Board = await connect(`emu://?${ARRAY}${WIRES[wire]}&baud=${baud}`);
  let start: { t: number; bytes: number } | undefined;
  let end: { t: number; bytes: number } | undefined;
  const t = clientOf(raw).transport.bytes;
  const now = () => ({ t: performance.now(), bytes: t.sent + t.received });
  const board = new Proxy(raw, {
    get(target, key) {
      if (key === "vmm")
        return (block: Block, x: Float32Array, k?: number): Observable<Float32Array> => {
          start ??= now();
          return target.vmm(block, x, k);
        };
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  try {
    const o: TrainOptions = {
      boards: [board],
      rule: "onchip",
      update: "bidirectional",
      epochs: 1,
      imagesPerEpoch: MEASURED,
      hidden: HIDDEN,
      testImages: 1,
      train,
      test,
      seed: 1,
      range,
    };
    await trainResult(o, (e) => {
      if (e.type === "progress" && e.image === MEASURED) end = now();
    });
    if (!start || !end) throw new Error("bench wire: the timed run reported no training");
    const bytesPerImage = (end.bytes - start.bytes) / MEASURED;
    return {
      wire,
      baud,
      measured: (end.t - start.t) / 1000 / MEASURED,
      computed: bytesPerImage / (baud / 10),
      bytesPerImage,
    };
  } finally {
    await raw.close();
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const rule of ["onchip", "hybrid"] as const)
    for (const wire of Object.keys(WIRES) as Row["wire"][]) {
      log(`${rule}, ${wire}`);
      rows.push(await run(rule, wire));
    }
  const base = (rule: Row["rule"]) => rows.find((r) => r.rule === rule && r.wire === "float32 (1.0)")!;
  const out: string[] = [];
  out.push(
    `Bytes on the wire per training image, one epoch of ${IMAGES} images, 400-${HIDDEN}-10, agsi 512x256 (link times computed from the bytes: 8N1 UART 10 bits/byte, USB 8 bits/byte)`,
  );
  out.push(
    table(
      [
        "rule",
        "wire",
        "bytes/image",
        "vs float32",
        ...LINKS.map(([name]) => `epoch at ${name}`),
        "floor bytes/image",
        "vs floor",
        "test acc (100 imgs)",
      ],
      rows.map((r) => [
        r.rule,
        r.wire,
        int(r.bytesPerImage),
        ratio(r.bytesPerImage / base(r.rule).bytesPerImage),
        ...LINKS.map(([, bytesPerS]) => `${num((r.bytesPerImage * IMAGES) / bytesPerS)} s`),
        int(FLOOR[r.rule]),
        ratio(r.bytesPerImage / FLOOR[r.rule]),
        `${(r.accuracy * 100).toFixed(0)}%`,
      ]),
      ["l", "l"],
    ),
  );
  out.push(
    `   floor: what must cross at the 8-bit DAC / 16-bit ADC resolution (row factors of the updates held on the board); aim: onchip at most a third of float32`,
  );
  const timedRows: Timed[] = [];
  for (const baud of BAUDS)
    for (const wire of Object.keys(WIRES) as Row["wire"][]) {
      log(`timed: onchip, ${wire}, ${baud} baud`);
      timedRows.push(await timed(wire, baud, base("onchip").range));
    }
  const cpu = cpus();
  const machine = `${cpu.length} x ${cpu[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}, load average ${loadavg()[0]!.toFixed(1)} at the end`;
  out.push(
    "",
    `Measured on a baud-limited emulated link (emu:// baud=, 8N1; board time off): ${MEASURED} onchip training images, first forward pass to last update; ${machine}`,
  );
  out.push(
    table(
      [
        "wire",
        "link",
        "bytes/image",
        "s/image measured",
        "s/image computed",
        "measured/computed",
        `epoch of ${IMAGES} at the measured rate`,
        "at the computed rate",
      ],
      timedRows.map((r) => [
        r.wire,
        `${int(r.baud)} baud`,
        int(r.bytesPerImage),
        num(r.measured),
        num(r.computed),
        ratio(r.measured / r.computed),
        `${num(r.measured * IMAGES)} s`,
        `${num(r.computed * IMAGES)} s`,
      ]),
      ["l", "l"],
    ),
  );
  out.push(
    `   computed: the bytes those images moved (both directions) at baud/10 bytes/s; measured beyond it: the link's round trips, the host's and the emulator's own time`,
  );
  const json = {
    images: IMAGES,
    floor: FLOOR,
    rows: rows.map(({ range: _, ...r }) => r),
    timed: timedRows,
    machine,
  };
  out.push(`BENCH_WIRE_JSON ${JSON.stringify(json)}`);
  process.stdout.write(`${out.join("\n")}\n`);
}

main().then(
  () => setTimeout(() => process.exit(0), 2000).unref(),
  (e) => {
    process.stderr.write(`bench wire failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
