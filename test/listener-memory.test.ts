/**
 * The emulator's memory stays bounded with a client that never reads its replies (issue 13 finding
 * 1): the board runs in a child process and its peak resident memory is read from /proc. Before the
 * fix, 20 000 READALL requests of a 64 x 64 array made it queue ~440 MB of replies.
 */
import { existsSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import {
  floodWithoutReading,
  type ListenerChild,
  sleep,
  startListenerChild,
} from "../tools/reliability/listener-memory.ts";

const children: ListenerChild[] = [];
afterAll(async () => {
  for (const c of children) await c.stop();
});

describe.runIf(existsSync("/proc/self/status"))("memory of the listener (Linux /proc)", () => {
  it("a client sending 20 000 READALL requests without reading: the peak RSS levels off below +24 MiB", async () => {
    const child = await startListenerChild({ rows: 64, cols: 64 });
    children.push(child);
    await sleep(200);
    const before = child.memory();
    const s = await floodWithoutReading(child.port, 20_000, 1000);
    const at1s = child.memory();
    await sleep(2000);
    const at3s = child.memory();
    s.destroy();
    // 20 000 replies of ~22 KB are ~440 MB; before the fix the board queued them as fast as it could
    // compute them (+61 MB after 3 s on the 2-core test machine, +40 MB of it after the first second).
    // Now a stalled client holds its output budget (64 KiB), one reply, and the stream buffers.
    expect(at3s.peak - before.rss).toBeLessThan(24);
    expect(at3s.peak - at1s.peak).toBeLessThan(8);
  });
});
