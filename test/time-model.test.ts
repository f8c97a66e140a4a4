/**
 * The emulator in time (issue 12, PROTOCOL.md §3 "Timing"): timescale, ABORT part-way through a
 * pulse train, the event loop never held for long, a baud-limited link. Limits on wall time are
 * derived from the profile's durations plus a margin for a loaded machine, never fixed guesses.
 */
import { Duplex, PassThrough } from "node:stream";
import { lastValueFrom } from "rxjs";
import { describe, expect, it } from "vitest";
import { CrossbarClient, StreamTransport } from "../drivers/index.ts";
import {
  argInt,
  decodeLine,
  ErrorCode,
  encodeRequest,
  isXbarError,
  type Message,
} from "../firmware-protocol/index.ts";
import { DEFAULT_PROFILE, EmulatedBoard, pulseTime, serveStream } from "../mocks/index.ts";
import { connect } from "../src/board/connect.ts";
import type { CrossbarBoard } from "../src/board/protocol-board.ts";

/** Scheduling slack of a loaded 2-core machine, ms. */
const SLACK_MS = 150;

function sessionOf(board: EmulatedBoard) {
  const replies: Array<{ at: number; m: Message }> = [];
  const s = board.openSession((line) => {
    const d = decodeLine(line);
    if (d.ok) replies.push({ at: performance.now(), m: d.message });
  });
  const send = (tag: number, verb: string, args?: Parameters<typeof encodeRequest>[2]) =>
    s.handle(encodeRequest(tag, verb, args).slice(0, -1));
  const reply = async (tag: number, timeoutMs = 5000) => {
    const t0 = performance.now();
    for (;;) {
      const r = replies.find((x) => x.m.kind !== "event" && x.m.tag === tag);
      if (r) return r;
      if (performance.now() - t0 > timeoutMs) throw new Error(`no reply to tag ${tag}`);
      await new Promise((res) => setTimeout(res, 2));
    }
  };
  return { s, send, reply, replies };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("timescale", () => {
  it("timescale 1: ABORT interrupts a 100 s pulse train part-way; 401 says how many pulses, the counters agree", async () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear", timescale: 1 });
    const { send, reply } = sessionOf(board);
    const t0 = performance.now();
    send(1, "PULSE", { r: 0, c: 0, v: 2, w: 0.01, n: 10000 }); // 100 s of board time
    await sleep(200);
    const tAbort = performance.now();
    send(2, "ABORT");
    const r1 = await reply(1);
    const r2 = await reply(2);
    expect(r1.m.kind).toBe("err");
    if (r1.m.kind !== "err") return;
    expect(r1.m.code).toBe(401);
    const applied = Number(/^pulses=(\d+)/.exec(r1.m.message)?.[1]);
    const per = pulseTime(DEFAULT_PROFILE, 0.01, 1) * 1000;
    // About 200 ms worth of 10 ms pulses were applied (as many as the time until ABORT holds), then
    // the train stopped.
    expect(applied).toBeGreaterThanOrEqual(Math.max(1, Math.floor((tAbort - t0 - SLACK_MS) / per)));
    expect(applied).toBeLessThanOrEqual(Math.ceil((tAbort - t0 + SLACK_MS) / per));
    expect(board.counters.pulses).toBe(applied);
    expect(r1.at - tAbort).toBeLessThan(SLACK_MS); // stopped at once, not after 100 s
    expect(r2.m.kind === "ok" && r2.m.args.get("idle")).toBe("1");
    expect(r2.at).toBeGreaterThanOrEqual(r1.at); // replies in the order of the requests
  });

  it("a command takes its profile time times the timescale (PULSE n=100 w=1 ms: 0.1 s at 1, 0.05 s at 0.5)", async () => {
    for (const timescale of [1, 0.5]) {
      const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear", timescale });
      const { send, reply } = sessionOf(board);
      const t0 = performance.now();
      send(1, "PULSE", { r: 1, c: 1, v: 2, w: 1e-3, n: 100 });
      const r = await reply(1);
      const want = pulseTime(DEFAULT_PROFILE, 1e-3, 100) * timescale * 1000;
      expect(r.at - t0).toBeGreaterThanOrEqual(want - 2);
      expect(r.at - t0).toBeLessThan(want + SLACK_MS);
      expect(r.m.kind === "ok" && argInt(r.m.args, "n")).toBe(100);
    }
  });

  it("timescale 0 (the default) answers at once: a 100 s train in well under a second", async () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear" });
    const { send, reply } = sessionOf(board);
    const t0 = performance.now();
    send(1, "PULSE", { r: 0, c: 0, v: 2, w: 0.01, n: 10000 });
    const r = await reply(1);
    expect(r.at - t0).toBeLessThan(500);
    expect(board.counters.pulses).toBe(10000);
  });

  it("WAIT takes its time at timescale 1 and ABORT ends it early with 401; the clock shows the time waited", async () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear", timescale: 1 });
    const { send, reply } = sessionOf(board);
    send(1, "WAIT", { t: 30 });
    await sleep(100);
    send(2, "ABORT");
    const r = await reply(1);
    expect(r.m.kind === "err" && r.m.code).toBe(401);
    expect(board.clock).toBeGreaterThan(0.05);
    expect(board.clock).toBeLessThan(0.1 + SLACK_MS / 1000);
  });
});

describe("the event loop", () => {
  it("turns every slice or so during a heavy command at timescale 0 (a PBLK with disturb over 96x96)", async () => {
    const board = new EmulatedBoard({ rows: 96, cols: 96, device: "linear", effects: { disturb: true } });
    const { send, reply } = sessionOf(board);
    // Each interval between two turns of the loop is measured twice: in wall time (which counts time the
    // process was descheduled by a loaded machine) and in CPU time of the process (which counts other
    // threads of the process running in parallel, e.g. V8's concurrent GC). The loop was held for at most
    // the smaller of the two.
    const cpu = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const held: number[] = [];
    let lastCpu = cpu();
    let lastWall = performance.now();
    let ticking = true;
    const tick = () => {
      const c = cpu();
      const w = performance.now();
      held.push(Math.min(c - lastCpu, w - lastWall));
      lastCpu = c;
      lastWall = w;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const c0 = cpu();
    const n = new Int16Array(96 * 96).fill(1);
    send(1, "PBLK", { r0: 0, c0: 0, nr: 96, nc: 96, n: { type: "i16", data: n }, vp: 2, vn: -2, w: 1e-6 });
    const r = await reply(1, 60_000);
    ticking = false;
    const took = cpu() - c0;
    expect(r.m.kind).toBe("ok");
    // One of the first two intervals holds the command's start (decoding the line, checking the envelope,
    // planning the job), which is not sliced: they are bounded, not counted as slices.
    const [first, second, ...slices] = held;
    expect(Math.max(first!, second!)).toBeLessThan(100);
    // The command took many slices of the session's 5 ms in CPU, yet the loop turned after each: all but
    // 5 % of the intervals within a slice plus a margin (one train, the test's polling), and none so long
    // that a timer or SIGINT would wait noticeably (a stop-the-world GC pause may fall in one).
    expect(took).toBeGreaterThan(10 * 5);
    expect(slices.length).toBeGreaterThan(took / 25);
    const over = slices.filter((ms) => ms > 5 + 20).length;
    expect(over).toBeLessThanOrEqual(Math.max(1, Math.floor(slices.length * 0.05)));
    expect(Math.max(...slices)).toBeLessThan(100);
  });

  it("turns during a loop of requests on emu://, so timers (and SIGINT) run as over a socket", async () => {
    const board = await connect("emu://?rows=8&cols=8&device=linear");
    let fired = 0;
    const timer = setInterval(() => fired++, 5);
    const t0 = performance.now();
    let reads = 0;
    // Reads back to back until the 5 ms timer has fired 5 times and 20 reads were made: a loop whose
    // replies chained within one turn of the event loop would starve the timer until the 10 s limit.
    while ((fired < 5 || reads < 20) && performance.now() - t0 < 10_000) {
      await lastValueFrom(board.read(0, 0));
      reads++;
    }
    clearInterval(timer);
    await board.close();
    expect(reads).toBeGreaterThanOrEqual(20);
    expect(fired).toBeGreaterThanOrEqual(5);
  });
});

describe("baud", () => {
  /** Two connected in-process Duplex ends. */
  function duplexPair(): [Duplex, Duplex] {
    const a = new PassThrough();
    const b = new PassThrough();
    return [Duplex.from({ readable: a, writable: b }), Duplex.from({ readable: b, writable: a })];
  }

  it("a link at 9600 baud moves 960 bytes per second each way: a request and its reply take their bytes' time", async () => {
    const board = new EmulatedBoard({ rows: 8, cols: 8, device: "linear" });
    const [hostEnd, boardEnd] = duplexPair();
    const detach = serveStream(board, boardEnd, { baud: 9600 });
    const t = new StreamTransport(hostEnd, "emu://");
    const got: Array<{ at: number; line: string }> = [];
    const sub = t.lines.subscribe((line) => got.push({ at: performance.now(), line }));
    const req = encodeRequest(1, "READALL");
    const t0 = performance.now();
    t.write(req);
    while (got.length === 0 && performance.now() - t0 < 5000) await sleep(5);
    const bytes = req.length + got[0]!.line.length + 1;
    const want = (bytes / 960) * 1000;
    expect(got[0]!.at - t0).toBeGreaterThanOrEqual(want - 5);
    expect(got[0]!.at - t0).toBeLessThan(want + SLACK_MS);
    sub.unsubscribe();
    detach();
    boardEnd.destroy();
    await t.close();
  });

  it("emu://?baud= reaches the same link through connect()", async () => {
    const board = await connect("emu://?rows=8&cols=8&device=linear&baud=19200");
    const t0 = performance.now();
    await lastValueFrom(board.readAll());
    // READALL of 64 float32 is ~380 bytes of reply at 1920 B/s: at least 0.15 s.
    expect(performance.now() - t0).toBeGreaterThan(150);
    await board.close();
  });

  it("a reply that takes many timeouts to arrive is waited for, not resent: the timeout counts silence", async () => {
    // READALL of 32x32 float32 at 19200 baud: ~5.5 kB of reply, ~2.9 s, against a 150 ms timeout.
    const board = (await connect("emu://?rows=32&cols=32&device=linear&baud=19200", {
      baseTimeoutMs: 150,
    })) as CrossbarBoard;
    const t0 = performance.now();
    const map = await lastValueFrom(board.readAll());
    expect(map.data).toHaveLength(32 * 32);
    expect(performance.now() - t0).toBeGreaterThan(10 * 150);
    expect(board.client.stats.retransmissions).toBe(0);
    expect(board.client.stats.waitsExtended).toBeGreaterThan(5);
    await board.close();
  });

  it("a link that carries noise, not a reply, still times out: noise makes lines, which end the wait", async () => {
    // A board that never answers, on a line that keeps bringing garbage (with the odd LF in it).
    const hostEnd = new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() });
    let tick = 0;
    // Bytes every 10 ms, an LF every 30 ms: a partial line is nearly always pending, and growing.
    const noise = setInterval(() => hostEnd.push(++tick % 3 === 0 ? "\n" : "\x7f\x13noise"), 10);
    const client = new CrossbarClient(new StreamTransport(hostEnd, "noise"), {
      baseTimeoutMs: 100,
      retries: 1,
    });
    const t0 = performance.now();
    const e = await client.request("READALL").catch((x: unknown) => x);
    clearInterval(noise);
    expect(isXbarError(e, ErrorCode.TIMEOUT)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(2 * 100 + SLACK_MS);
    expect(client.stats.waitsExtended).toBe(0);
    await client.close();
  });

  it("a link that goes silent part-way through a line still times out (E601 after every attempt)", async () => {
    // A board that answers each request with the start of a line, then nothing.
    const hostEnd = new Duplex({
      read() {},
      write(_chunk, _encoding, done) {
        this.push("1 OK rows=8 data=AAAA");
        done();
      },
    });
    const client = new CrossbarClient(new StreamTransport(hostEnd, "half-line"), {
      baseTimeoutMs: 100,
      retries: 1,
    });
    const t0 = performance.now();
    const e = await client.request("READALL").catch((x: unknown) => x);
    expect(isXbarError(e, ErrorCode.TIMEOUT)).toBe(true);
    // Two attempts, each extended once at most by the bytes that arrived after it was sent.
    expect(performance.now() - t0).toBeLessThan(4 * 100 + SLACK_MS);
    expect(client.stats.retransmissions).toBe(1);
    await client.close();
  });
});
