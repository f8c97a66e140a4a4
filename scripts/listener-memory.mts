/**
 * Figures of docs/reliability.md, "What listens": what misbehaving clients can make an emulated
 * board's TCP listener hold. The board runs in a child process (tools/reliability/listener-child.ts) and
 * its resident memory (VmRSS) and peak (VmHWM) are read from /proc, so Linux only.
 *
 *   npx tsx scripts/listener-memory.mts      # about 20 s; writes docs/listener-memory.json
 */
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { encodeRequest, MAX_LINE } from "../firmware-protocol/index.ts";
import { LISTEN_DEFAULTS, SERVE_DEFAULTS } from "../mocks/index.ts";
import {
  dial,
  floodWithoutReading,
  holdUnfinishedLines,
  type ListenerChild,
  sleep,
  startListenerChild,
} from "../tools/reliability/listener-memory.ts";

const MiB = (x: number) => Math.round(x * 10) / 10;
const results: Record<string, unknown> = {};

async function withChild<T>(
  opts: Parameters<typeof startListenerChild>[0],
  f: (c: ListenerChild) => Promise<T>,
) {
  const c = await startListenerChild(opts);
  try {
    await sleep(300);
    return await f(c);
  } finally {
    await c.stop();
  }
}

// 1. A client that sends READALL requests and never reads (issue 13's reproduction, 64 x 64 array).
results.nonReadingClient = await withChild({ rows: 64, cols: 64 }, async (c) => {
  const before = c.memory();
  const heldBefore = await c.held();
  const s = await floodWithoutReading(c.port, 20_000, 3000);
  const after = c.memory();
  const heldAfter = await c.held();
  s.destroy();
  return {
    requests: 20_000,
    replyBytes: Math.ceil((64 * 64 * 4) / 3) * 4,
    wouldQueueMiB: MiB((20_000 * Math.ceil((64 * 64 * 4) / 3) * 4) / 2 ** 20),
    rssBeforeMiB: MiB(before.rss),
    peakAfterMiB: MiB(after.peak),
    peakGrowthMiB: MiB(after.peak - before.rss),
    heldGrowthMiB: MiB(heldAfter - heldBefore),
  };
});

// 2. Connections that are not the board's session, each holding an unfinished line of 1 MiB.
results.guestsWithUnfinishedLines = await withChild(
  { rows: 16, cols: 16, listen: { maxConnections: 64 } },
  async (c) => {
    const owner = await dial(c.port);
    owner.write(encodeRequest(1, "HELLO"));
    await sleep(200);
    const before = c.memory();
    const heldBefore = await c.held();
    const k = 60;
    const socks = await holdUnfinishedLines(c.port, k, 1 << 20);
    await sleep(500);
    const after = c.memory();
    const heldAfter = await c.held();
    for (const s of socks) s.destroy();
    owner.destroy();
    return {
      connections: k,
      sentPerConnectionMiB: 1,
      peakGrowthMiB: MiB(after.peak - before.rss),
      heldGrowthMiB: MiB(heldAfter - heldBefore),
      heldPerConnectionKiB: Math.round(((heldAfter - heldBefore) * 1024) / k),
    };
  },
);

// 3. The session's own unfinished line, just under the board's maxLine.
results.ownerUnfinishedLine = await withChild({ rows: 16, cols: 16 }, async (c) => {
  const owner = await dial(c.port);
  owner.write(encodeRequest(1, "HELLO"));
  await sleep(200);
  const before = c.memory();
  const heldBefore = await c.held();
  owner.write(Buffer.alloc(MAX_LINE - 16, 0x41));
  await sleep(1500);
  const after = c.memory();
  const heldAfter = await c.held();
  owner.destroy();
  return {
    lineMiB: MiB((MAX_LINE - 16) / 2 ** 20),
    peakGrowthMiB: MiB(after.peak - before.rss),
    heldGrowthMiB: MiB(heldAfter - heldBefore),
  };
});

// 4. 2 000 connections at once against the default cap.
results.connectionFlood = await withChild({ rows: 16, cols: 16 }, async (c) => {
  const before = c.memory();
  const socks = await Promise.all(Array.from({ length: 2000 }, () => dial(c.port).catch(() => undefined)));
  let open = 0;
  const live = socks.filter((s) => s !== undefined);
  for (const s of live) s.resume(); // read, so a close by the board is seen
  await sleep(1500);
  for (const s of live) if (!s.destroyed && s.readable && !s.readableEnded) open++;
  const after = c.memory();
  for (const s of live) s.destroy();
  return { attempted: 2000, stillOpenAfter1500ms: open, peakGrowthMiB: MiB(after.peak - before.rss) };
});

const out = {
  command: "npx tsx scripts/listener-memory.mts",
  date: new Date().toISOString(),
  machine: `${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, node ${process.version}`,
  limits: { ...SERVE_DEFAULTS, ...LISTEN_DEFAULTS, maxLine: MAX_LINE },
  results,
};
writeFileSync(new URL("../docs/listener-memory.json", import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
console.log(JSON.stringify(out, null, 2));
