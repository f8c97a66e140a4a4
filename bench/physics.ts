/**
 * Cost of the emulator's physics (issue 3): memory per emulated device, and the time of a full-array
 * read (READALL) and a full-array VMM (one input vector) at 256x256 and 1024x1024, for the plain model
 * (agsi, no effects: the foundation's fast path) and the richest (PCM with drift and 1/f read noise,
 * sneak paths on), with ratios against the plain model measured in the same run.
 *
 *   node --import tsx bench/physics.ts            (or call benchPhysics() from bench/index.ts)
 *
 * Times are the fastest of the runs (this machine is shared: the minimum is what the code costs, the
 * median also counts other processes; both are printed in the JSON). "board" is the emulator alone (Session.handle of one request line, reply encoding
 * included); "stack" is the whole in-process stack (connect("emu://…"), Board.readAll / Board.vmm).
 * Memory is the growth of ArrayBuffer memory when a board is made (after a forced GC), per device.
 */
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { firstValueFrom } from "rxjs";
import { encodeRequest } from "../firmware-protocol/index.ts";
import { type BoardOptions, EmulatedBoard } from "../mocks/index.ts";
import { connect } from "../src/board/connect.ts";
import { int, num, ratio, round, table } from "./table.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

interface Model {
  name: string;
  opts: Omit<BoardOptions, "rows" | "cols">;
  query: string;
}

const MODELS: Model[] = [
  { name: "plain (agsi, no effects)", opts: { device: "agsi", seed: 1 }, query: "device=agsi&seed=1" },
  {
    name: "richest (pcm, drift, sneak)",
    opts: { device: "pcm", seed: 1, effects: { sneak: true } },
    query: "device=pcm&seed=1&sneak=1",
  },
];
const SIZES = [256, 1024];

/** Fastest and median time (ms) of `fn`: one warm-up, then at least `min` runs within `budgetMs`. */
async function timeOf(
  fn: () => unknown,
  min: number,
  max: number,
  budgetMs: number,
): Promise<{ best: number; median: number }> {
  await fn();
  const times: number[] = [];
  const end = performance.now() + budgetMs;
  while (times.length < min || (times.length < max && performance.now() < end)) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { best: times[0]!, median: times[Math.floor(times.length / 2)]! };
}

function input(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => 0.05 + (0.15 * ((i * 7919) % 101)) / 100);
}

const settle = async () => {
  for (let k = 0; k < 3; k++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
};

/** Bytes of ArrayBuffer memory a board of this model and size holds, per device (measured). */
async function memoryPerDevice(m: Model, n: number): Promise<{ measured: number; state: number }> {
  await settle();
  const before = process.memoryUsage().arrayBuffers;
  const board = new EmulatedBoard({ rows: n, cols: n, ...m.opts });
  await settle();
  const after = process.memoryUsage().arrayBuffers;
  const state = board.devices.stateBytes();
  return { measured: (after - before) / (n * n), state: state / (n * n) };
}

interface Row {
  model: string;
  size: number;
  bytesPerDevice: number;
  stateBytesPerDevice: number;
  boardReadAllMs: number;
  boardVmmMs: number;
  stackReadAllMs: number;
  stackVmmMs: number;
  medians: { boardReadAllMs: number; boardVmmMs: number; stackReadAllMs: number; stackVmmMs: number };
}

async function measureModel(
  m: Model,
  n: number,
  mem: { measured: number; state: number },
  log: (s: string) => void,
): Promise<Row> {
  log(`physics: ${m.name} ${n}x${n}`);
  // Board alone: one session, request lines straight into Session.handle.
  const board = new EmulatedBoard({ rows: n, cols: n, ...m.opts });
  let sink = 0;
  const session = board.openSession((l) => {
    sink += l.length;
  });
  let tag = 0;
  const send = (verb: string, args?: Parameters<typeof encodeRequest>[2]) => {
    tag = (tag + 1) % 65536;
    session.handle(encodeRequest(tag, verb, args).slice(0, -1));
  };
  // Spread the states (one programming pulse on every other device) so drift has work to do.
  const counts = Int16Array.from({ length: n * n }, (_, i) => (i % 2 ? 1 : 0));
  send("PBLK", { r0: 0, c0: 0, nr: n, nc: n, n: { type: "i16", data: counts }, vp: 2, vn: -2.5, w: 1e-6 });
  const x = { type: "f32" as const, data: input(n) };
  const budget = n > 512 ? 2500 : 1000;
  const boardReadAll = await timeOf(() => send("READALL"), 5, 30, budget);
  const boardVmm = await timeOf(() => send("VMM", { r0: 0, c0: 0, nr: n, nc: n, x }), 5, 200, budget);
  session.close();
  // Whole stack, in-process.
  const b = await connect(`emu://?rows=${n}&cols=${n}&${m.query}`);
  const block = { r0: 0, c0: 0, rows: n, cols: n };
  const xs = input(n);
  let stackReadAll: { best: number; median: number };
  let stackVmm: { best: number; median: number };
  try {
    await firstValueFrom(b.pulseBlock({ ...block, counts, vp: 2, vn: -2.5, width: 1e-6 }));
    stackReadAll = await timeOf(() => firstValueFrom(b.readAll()), 5, 30, budget);
    stackVmm = await timeOf(() => firstValueFrom(b.vmm(block, xs)), 5, 200, budget);
  } finally {
    await b.close();
  }
  if (sink < 0) log("unreachable");
  return {
    model: m.name,
    size: n,
    bytesPerDevice: mem.measured,
    stateBytesPerDevice: mem.state,
    boardReadAllMs: boardReadAll.best,
    boardVmmMs: boardVmm.best,
    stackReadAllMs: stackReadAll.best,
    stackVmmMs: stackVmm.best,
    medians: {
      boardReadAllMs: round(boardReadAll.median),
      boardVmmMs: round(boardVmm.median),
      stackReadAllMs: round(stackReadAll.median),
      stackVmmMs: round(stackVmm.median),
    },
  };
}

export async function benchPhysics(
  log: (s: string) => void = () => {},
): Promise<{ text: string; json: object }> {
  // Memory first, on a quiet heap, one board at a time.
  const mems = new Map<string, { measured: number; state: number }>();
  for (const n of SIZES) for (const m of MODELS) mems.set(`${m.name} ${n}`, await memoryPerDevice(m, n));
  const rows: Row[] = [];
  for (const n of SIZES)
    for (const m of MODELS) rows.push(await measureModel(m, n, mems.get(`${m.name} ${n}`)!, log));
  const plainOf = (r: Row) => rows.find((p) => p.size === r.size && p.model === MODELS[0]!.name)!;
  const header = [
    "model",
    "array",
    "B/device",
    "state B/device",
    "READALL board ms",
    "x plain",
    "VMM board ms",
    "x plain",
    "readAll stack ms",
    "x plain",
    "vmm stack ms",
    "x plain",
  ];
  const body = rows.map((r) => {
    const p = plainOf(r);
    return [
      r.model,
      `${r.size}x${r.size}`,
      num(r.bytesPerDevice, 3),
      int(r.stateBytesPerDevice),
      num(r.boardReadAllMs, 3),
      ratio(r.boardReadAllMs / p.boardReadAllMs),
      num(r.boardVmmMs, 3),
      ratio(r.boardVmmMs / p.boardVmmMs),
      num(r.stackReadAllMs, 3),
      ratio(r.stackReadAllMs / p.stackReadAllMs),
      num(r.stackVmmMs, 3),
      ratio(r.stackVmmMs / p.stackVmmMs),
    ];
  });
  const text = [
    "Emulator physics: memory per device, full-array READALL and VMM (1 vector), fastest run, ms",
    "(B/device: ArrayBuffer growth when the board is made; state: the model's typed arrays)",
    "",
    table(header, body, ["l", "l"]),
  ].join("\n");
  const json = rows.map((r) => ({
    model: r.model,
    size: r.size,
    bytesPerDevice: round(r.bytesPerDevice),
    boardReadAllMs: round(r.boardReadAllMs),
    boardVmmMs: round(r.boardVmmMs),
    stackReadAllMs: round(r.stackReadAllMs),
    stackVmmMs: round(r.stackVmmMs),
    medians: r.medians,
    vsPlain: {
      boardReadAll: round(r.boardReadAllMs / plainOf(r).boardReadAllMs, 3),
      boardVmm: round(r.boardVmmMs / plainOf(r).boardVmmMs, 3),
      stackReadAll: round(r.stackReadAllMs / plainOf(r).stackReadAllMs, 3),
      stackVmm: round(r.stackVmmMs / plainOf(r).stackVmmMs, 3),
    },
  }));
  return { text, json: { physics: json } };
}

if (process.argv[1]?.endsWith("physics.ts")) {
  const { text, json } = await benchPhysics((s) => process.stderr.write(`bench: ${s}\n`));
  process.stdout.write(`${text}\n\nPHYSICS_JSON ${JSON.stringify(json)}\n`);
}
