/**
 * `npm run bench` (second part): one training epoch of 8 000 images of the 400-100-10 network on the
 * Ag:a-Si preset, through the whole protocol stack, against the same epoch in software (the baseline,
 * measured in the same run); over emu://, TCP and a socat pty; and the bytes on the wire per training
 * image against the raw payload of the vectors that must cross (inputs, outputs, errors, updates).
 */
import { availableParallelism, cpus, totalmem } from "node:os";
import type { Board } from "../src/board/board.ts";
import { loadMnist } from "../src/learning/datasets/mnist.ts";
import { type TrainOptions, type TrainResult, trainResult } from "../src/learning/training/train.ts";
import { type EmuConfig, type OpenLink, onPath, openInProcess, openPty, openTcp } from "./links.ts";
import { clientOf } from "./measure.ts";
import { num, ratio, table } from "./table.ts";

const IMAGES = 8000;
const HIDDEN = 100;
const ARRAY: EmuConfig = { rows: 512, cols: 256, device: "agsi", seed: 1 };
/** Raw f32 payload of one image: x (401) in, 200 currents out; 101 in, 20 out; 20 errors in, 101 out;
 * the two updates (401 + 200, 101 + 20 values). */
const PAYLOAD_BYTES = 4 * (401 + 200 + 101 + 20 + 20 + 101 + 401 + 200 + 101 + 20);

const log = (m: string) => process.stderr.write(`bench train: ${m}\n`);
const trainSet = loadMnist("train", { crop: 20 });
const testSet = loadMnist("test", { crop: 20, limit: 100 });

async function epoch(
  boards: Board[],
  o: Partial<TrainOptions> & Pick<TrainOptions, "rule">,
  onProgress: (image: number) => void = () => {},
): Promise<TrainResult> {
  return trainResult(
    {
      boards,
      epochs: 1,
      imagesPerEpoch: IMAGES,
      hidden: HIDDEN,
      testImages: 100,
      train: trainSet,
      test: testSet,
      seed: 1,
      ...o,
    },
    (e) => {
      if (e.type === "progress") onProgress(e.image);
    },
  );
}

interface Row {
  what: string;
  seconds: number;
  accuracy: number;
  bytesPerImage?: number;
}

async function onLink(
  name: string,
  open: () => Promise<OpenLink>,
  update: "bidirectional" | "unidirectional",
  batch = 1,
): Promise<Row> {
  const link = await open();
  try {
    const t = clientOf(link.board).transport.bytes;
    // Bytes per training image: from the first progress report (100 images in) to the last, so that
    // calibration and initialisation are left out.
    let first: { image: number; bytes: number } | undefined;
    let last: { image: number; bytes: number } | undefined;
    const r = await epoch([link.board], { rule: "onchip", update, batch }, (image) => {
      const mark = { image, bytes: t.sent + t.received };
      if (!first) first = mark;
      else if (image < IMAGES) last = mark;
    });
    const perImage = first && last ? (last.bytes - first.bytes) / (last.image - first.image) : Number.NaN;
    return {
      what: `onchip ${update}${batch > 1 ? `, batch ${batch}` : ""}, ${name}`,
      seconds: r.epochs[0]!.trainSeconds,
      accuracy: r.final.accuracy,
      bytesPerImage: perImage,
    };
  } finally {
    await link.close();
  }
}

async function main(): Promise<void> {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const out: string[] = [];
  out.push(
    `xbar bench, training — ${cpu}, ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, ${new Date().toISOString()}`,
  );
  out.push(
    `One epoch of ${IMAGES} images, 400-${HIDDEN}-10, ${ARRAY.device} ${ARRAY.rows}x${ARRAY.cols} (time of the training images, evaluation excluded)`,
  );
  log("software epoch (baseline)");
  const sw = await epoch([], { rule: "software" });
  const rows: Row[] = [
    { what: "software (baseline)", seconds: sw.epochs[0]!.trainSeconds, accuracy: sw.final.accuracy },
  ];
  for (const update of ["bidirectional", "unidirectional"] as const) {
    log(`${update} on emu://`);
    rows.push(await onLink("emu://", () => openInProcess(ARRAY), update));
  }
  // The schedule of record for claim 2 (docs/experiments.md): net pulse blocks every 10 images.
  log("unidirectional, batch 10, on emu://");
  rows.push(await onLink("emu://", () => openInProcess(ARRAY), "unidirectional", 10));
  log("bidirectional over TCP");
  rows.push(await onLink("TCP", () => openTcp(ARRAY), "bidirectional"));
  const socat = onPath("socat");
  if (socat) {
    log("bidirectional over a pty");
    rows.push(await onLink("pty", () => openPty(socat, ARRAY), "bidirectional"));
    log("unidirectional, batch 10, over a pty");
    rows.push(await onLink("pty", () => openPty(socat, ARRAY), "unidirectional", 10));
  } else out.push("(socat not found: the pty row is skipped)");
  const base = rows[0]!.seconds;
  const emu = rows[1]!.seconds;
  out.push(
    table(
      [
        "run",
        "epoch s",
        "vs software",
        "vs emu:// bidirectional",
        "images/s",
        "bytes/image",
        "vs raw payload",
        "test acc (100 imgs)",
      ],
      rows.map((r) => [
        r.what,
        num(r.seconds),
        ratio(r.seconds / base),
        r.bytesPerImage === undefined ? "-" : ratio(r.seconds / emu),
        num(IMAGES / r.seconds),
        r.bytesPerImage === undefined ? "-" : num(r.bytesPerImage),
        r.bytesPerImage === undefined ? "-" : ratio(r.bytesPerImage / PAYLOAD_BYTES),
        `${(r.accuracy * 100).toFixed(0)}%`,
      ]),
      ["l", "r", "r", "r", "r", "r", "r", "r"],
    ),
  );
  out.push(
    `   aim: one on-chip epoch on emu:// under 10 s: ${num(emu)} s (${emu < 10 ? "met" : "not met"}); raw payload ${PAYLOAD_BYTES} B/image (f32 vectors)`,
  );
  out.push(`BENCH_TRAIN_JSON ${JSON.stringify({ images: IMAGES, payloadBytes: PAYLOAD_BYTES, rows })}`);
  process.stdout.write(`${out.join("\n")}\n`);
}

main().then(
  () => setTimeout(() => process.exit(0), 2000).unref(),
  (e) => {
    process.stderr.write(`bench train failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
