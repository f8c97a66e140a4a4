/**
 * The live view on real runs (issue 16), through the `xbar` process (its server, its signals):
 * - `xbar view --port URL` watches a board: the page is served, the event stream carries the board's
 *   map and counters, and Ctrl-C ends it (exit 130);
 * - a paced run (`emu://?timescale=...`: the board takes its own time) takes the same time with and
 *   without a viewer that stalls (connected to the event stream, never reading). The frames of this
 *   run are small; the server's bound for a stalled viewer under large frames (1.4 MB maps at 50/s)
 *   is test/view-server.test.ts's.
 */
import { request } from "node:http";
import { type Socket, connect as tcpConnect } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { startXbar, stopAll } from "../tools/run-xbar.ts";

afterAll(() => stopAll());

/** Reads the event stream of a view until `until` matches what arrived; resolves with the text. */
function readEvents(base: string, until: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const req = request(`${base}events`, { headers: { Accept: "text/event-stream" } }, (res) => {
      res.setEncoding("utf8").on("data", (d: string) => {
        text += d;
        if (until.test(text)) {
          clearTimeout(timer);
          req.destroy();
          resolve(text);
        }
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no ${until} in the event stream within ${timeoutMs} ms: ${text.slice(0, 500)}`));
    }, timeoutMs);
    req.on("error", (e) => {
      if (!until.test(text)) reject(e);
    });
    req.end();
  });
}

/** A viewer that connects to the event stream and never reads (a stalled browser tab). */
function stalledViewer(base: string): Promise<Socket> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(Number(port), hostname, () => {
      socket.write(`GET /events HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`);
      socket.pause();
      resolve(socket);
    });
    socket.on("error", reject);
  });
}

describe("xbar view --port", () => {
  it("serves the page and streams the board's map and counters; Ctrl-C ends it with 130", async () => {
    const view = startXbar([
      "view",
      "--port",
      "emu://?rows=8&cols=8&device=agsi&seed=1",
      "--listen",
      "127.0.0.1:0",
    ]);
    const base = (await view.waitFor(/view on (http:\/\/\S+\/)/, 30_000))[1]!;
    const page = await fetch(base);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    const events = await readEvents(
      base,
      /"map\/0"[\s\S]*"counters\/0"|"counters\/0"[\s\S]*"map\/0"/,
      30_000,
    );
    expect(events).toMatch(/^data: /m);
    const status = await view.stop("SIGINT", 10_000);
    expect(status.killed, view.stderr()).toBe(false);
    expect(status.code).toBe(130);
  });
});

describe("a paced run and a stalled viewer", () => {
  /** `xbar train` on a board that takes a fiftieth of its own time; its total seconds as it reports them. */
  async function pacedRun(stall: boolean): Promise<{ seconds: number; stalled?: Socket }> {
    const run = startXbar([
      "train",
      "--rule",
      "onchip",
      "--port",
      "emu://?rows=24&cols=48&device=linear&seed=1&timescale=0.02",
      "--pool",
      "5",
      "--hidden",
      "4",
      "--epochs",
      "1",
      "--images-per-epoch",
      "150",
      "--test-images",
      "20",
      "--view",
      "127.0.0.1:0",
      "--view-refresh",
      "0.01",
    ]);
    const base = (await run.waitFor(/view on (http:\/\/\S+\/)/, 30_000))[1]!;
    const stalled = stall ? await stalledViewer(base) : undefined;
    const totals = await run.waitFor(/^totals: .*, ([0-9.]+) s\b/m, 120_000);
    const status = await run.exited();
    expect(status.code, run.stderr()).toBe(0);
    return { seconds: Number(totals[1]), stalled };
  }

  it("takes the same time with a viewer that never reads as with none", async () => {
    const alone = await pacedRun(false);
    const watched = await pacedRun(true);
    watched.stalled?.destroy();
    // A view that waited on its viewer would hold the run for as long as the viewer stalls (here:
    // to the end of the test). The margin is for the machine's load, which other test files change
    // between the two runs: about half of each run is the host's CPU, half the board's paced time.
    expect(watched.seconds).toBeLessThan(alone.seconds * 1.5 + 1);
    console.log(`paced run: ${alone.seconds} s alone, ${watched.seconds} s with a stalled viewer`);
  }, 300_000);
});
