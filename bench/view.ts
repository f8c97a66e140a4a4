/**
 * `npm run bench:view`: what the live view costs a run, and what a stalled browser costs it.
 *
 * The same small on-chip training (400-16-10 on a 416 x 64 linear board over emu://) runs, in turns:
 *   plain        no view (the baseline);
 *   view         --view: observed board, map refresh every 0.5 s at epoch ends, the server up, no browser;
 *   view+reader  a browser-like client reading every frame;
 *   view+stalled a client that stopped reading after its first bytes (the worst browser).
 * Each configuration runs ROUNDS times, interleaved; the median wall time is reported with its ratio
 * to the baseline, and for the clients the frames, deferred ticks, coalesced versions and the largest
 * number of bytes the server held for them. Also: encoding one 512 x 256 map frame.
 *
 * Writes docs/view.json (the figures docs/view.md quotes) and prints a table.
 */
import { writeFileSync } from "node:fs";
import { type Socket, connect as tcpConnect } from "node:net";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { connect } from "../src/board/connect.ts";
import { loadMnist } from "../src/learning/datasets/mnist.ts";
import { trainResult } from "../src/learning/training/train.ts";
import { ViewHub } from "../src/view/hub.ts";
import { RunView } from "../src/view/run-view.ts";
import { num, ratio, table } from "./table.ts";

const URL = "emu://?rows=416&cols=64&device=linear&seed=1";
const ROUNDS = 3;
const OPTS = {
  rule: "onchip" as const,
  epochs: 2,
  imagesPerEpoch: 200,
  hidden: 16,
  testImages: 100,
  seed: 1,
};
const trainSet = loadMnist("train", { crop: 20 });
const testSet = loadMnist("test", { crop: 20, limit: 100 });
const log = (m: string) => process.stderr.write(`bench view: ${m}\n`);

type Kind = "plain" | "view" | "view+reader" | "view+stalled";
interface Sample {
  kind: Kind;
  seconds: number;
  client?: { frames: number; deferred: number; coalesced: number; maxBuffered: number; bytes: number };
}

function client(port: number, stall: boolean): Promise<Socket> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, "127.0.0.1", () => {
      s.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      resolve(s);
    });
    s.on("data", () => {
      if (stall) s.pause();
    });
  });
}

async function once(kind: Kind): Promise<Sample> {
  const board = await connect(URL);
  let rv: RunView | undefined;
  let sock: Socket | undefined;
  let maxBuffered = 0;
  let poll: NodeJS.Timeout | undefined;
  try {
    if (kind !== "plain") {
      rv = await RunView.start({
        host: "127.0.0.1",
        port: 0,
        refresh: 0.5,
        mode: "train",
        title: "bench",
        onStop: () => {},
      });
      if (kind !== "view") {
        sock = await client(rv.server.port, kind === "view+stalled");
        poll = setInterval(() => {
          for (const c of rv!.view.hub.clientStats()) maxBuffered = Math.max(maxBuffered, c.buffered);
        }, 50);
      }
    }
    const boards = rv ? [rv.view.observe(board)] : [board];
    const t0 = performance.now();
    await trainResult({ ...OPTS, boards, train: trainSet, test: testSet }, (e) => {
      if (!rv) return;
      rv.view.trainEvent(e, OPTS.imagesPerEpoch, OPTS.epochs);
      if (e.type === "epoch") rv.refresher.request("epoch end");
    });
    const seconds = (performance.now() - t0) / 1000;
    const c = rv?.view.hub.clientStats()[0];
    return {
      kind,
      seconds,
      client: c && {
        frames: c.frames,
        deferred: c.deferred,
        coalesced: c.coalesced,
        bytes: c.bytes,
        maxBuffered: Math.max(maxBuffered, c.buffered),
      },
    };
  } finally {
    if (poll) clearInterval(poll);
    sock?.destroy();
    await rv?.finish("completed");
    await board.close();
  }
}

function encodeMs(): number {
  const hub = new ViewHub();
  const g = new Float32Array(512 * 256).map((_, k) => 1e-6 + (k % 97) * 1e-7);
  const t0 = performance.now();
  const n = 50;
  let bytes = 0;
  for (let k = 0; k < n; k++) {
    hub.set("map/0", { data: Buffer.from(g.buffer).toString("base64") });
    bytes = JSON.stringify(hub.get("map/0")).length;
  }
  hub.close();
  log(`map frame 512 x 256: ${bytes} bytes`);
  return (performance.now() - t0) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const kinds: Kind[] = ["plain", "view", "view+reader", "view+stalled"];
await once("plain"); // warm-up (JIT, dataset pages)
const samples: Sample[] = [];
for (let r = 0; r < ROUNDS; r++)
  for (const k of kinds) {
    const s = await once(k);
    log(`round ${r + 1} ${k}: ${s.seconds.toFixed(2)} s`);
    samples.push(s);
  }
const base = median(samples.filter((s) => s.kind === "plain").map((s) => s.seconds));
const rows = kinds.map((k) => {
  const ss = samples.filter((s) => s.kind === k);
  const t = median(ss.map((s) => s.seconds));
  const c = ss[ss.length - 1]!.client;
  return {
    kind: k,
    seconds: t,
    ratio: t / base,
    frames: c?.frames,
    deferred: c?.deferred,
    coalesced: c?.coalesced,
    maxBufferedBytes: ss.reduce((m, s) => Math.max(m, s.client?.maxBuffered ?? 0), 0) || undefined,
  };
});
const mapEncodeMs = encodeMs();
const machine = {
  cpus: availableParallelism(),
  model: cpus()[0]?.model,
  loadavg: loadavg().map((x) => Number(x.toFixed(2))),
  node: process.version,
};
process.stdout.write(
  `${table(
    ["run", "median s", "vs plain", "frames", "deferred", "coalesced", "max held (B)"],
    rows.map((r) => [
      r.kind,
      num(r.seconds, 2),
      ratio(r.ratio),
      String(r.frames ?? "-"),
      String(r.deferred ?? "-"),
      String(r.coalesced ?? "-"),
      String(r.maxBufferedBytes ?? "-"),
    ]),
  )}\nencoding one 512 x 256 map frame: ${mapEncodeMs.toFixed(2)} ms; machine ${JSON.stringify(machine)}\n`,
);
const out = join(import.meta.dirname, "..", "docs", "view.json");
writeFileSync(
  out,
  `${JSON.stringify({ command: "npm run bench:view", date: new Date().toISOString(), options: OPTS, url: URL, rounds: ROUNDS, rows, mapEncodeMs, machine }, null, 2)}\n`,
);
log(`wrote ${out}`);
