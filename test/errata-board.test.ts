/**
 * Protocol 1.1 errata on the board side (PROTOCOL.md, Changelog), one test per erratum, and 1.0/1.1
 * interoperation in both directions: a host that follows 1.0 against a 1.1 board, and the 1.1 host
 * against a board answering as 1.0 did (`protocol: "1.0"`, emu://?proto=1.0).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Duplex, PassThrough } from "node:stream";
import { lastValueFrom } from "rxjs";
import { describe, expect, it } from "vitest";
import { CrossbarClient, XbarError } from "../drivers/index.ts";
import {
  argInt,
  checksum,
  createLineReader,
  decodeLine,
  ErrorCode,
  encodeRequest,
  frame,
  type Message,
} from "../firmware-protocol/index.ts";
import { type BoardOptions, EmulatedBoard, serveStream } from "../mocks/index.ts";
import { connect, startEmulatorServer } from "../src/board/connect.ts";
import { FaultyLink } from "./helpers/faulty-link.ts";

const OPTS: BoardOptions = { rows: 8, cols: 8, device: "linear", seed: 1 };

/** A session whose replies are decoded into `got`. */
function open(opts: BoardOptions = OPTS) {
  const board = new EmulatedBoard(opts);
  const got: Message[] = [];
  const s = board.openSession((line) => {
    const d = decodeLine(line);
    if (d.ok) got.push(d.message);
  });
  const send = (line: string) => s.handle(line.replace(/\n$/, ""));
  return { board, got, send, settled: () => settled(s) };
}

/** Waits until a session has answered everything it received (it defers work to keep the loop free). */
async function settled(s: { busy: boolean; queued: number }): Promise<void> {
  for (let i = 0; i < 1000 && (s.busy || s.queued > 0); i++) await new Promise((r) => setTimeout(r, 1));
  await new Promise((r) => setImmediate(r));
}

describe("1.1 errata, board side", () => {
  it("§7's example request carries its right checksum", async () => {
    const { readFileSync } = await import("node:fs");
    const spec = readFileSync(new URL("../firmware-protocol/PROTOCOL.md", import.meta.url), "utf8");
    const example = spec.slice(spec.indexOf("## 7. Examples"));
    const requests = [...example.matchAll(/^> (.*)\*([0-9a-f]{8})$/gm)];
    expect(requests.length).toBeGreaterThanOrEqual(2);
    for (const [, body, crc] of requests) expect(crc, body).toBe(checksum(body!));
    // The example's IDN reply lists every key of the command table, effects included.
    expect(example).toMatch(/< 1 OK vendor=.* effects=none/);
  });

  it.each([
    ["a duplicate key", "2 READ r=0 c=0 c=1"],
    ["an empty value", "2 READ r=0 c="],
    ["a key without =", "2 READ r=0 c"],
    ["a trailing space", "2 READ r=0 c=0 "],
    ["a lowercase verb", "2 read r=0 c=0"],
  ])("a request with %s (tag and checksum valid) gets a tagged ERR 102, not REJECT", async (_what, body) => {
    const { got, send, settled } = open();
    send(frame(body));
    await settled();
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ kind: "err", tag: 2, code: ErrorCode.MALFORMED });
  });

  it("a malformed request does not loop: the 1.1 client gets ERR 102 once, nothing resent", async () => {
    const link = new FaultyLink();
    const client = new CrossbarClient(link, { baseTimeoutMs: 500 });
    await client.request("HELLO");
    // A request the encoder would never write, as a buggy or independent host might.
    link.hostToBoard = (l) => (l.includes(" NOP") ? frame(`${l.slice(0, l.indexOf(" "))} NOP x`) : l);
    const err = await client.request("NOP").catch((e) => e);
    expect(err).toBeInstanceOf(XbarError);
    expect(err.code).toBe(ErrorCode.MALFORMED);
    expect(client.stats.retransmissions).toBe(0);
    await client.close();
  });

  it("the replay window is keyed by tag and checksum: the same tag with another request runs it", async () => {
    const { board, got, send, settled } = open();
    send(encodeRequest(5, "PULSE", { r: 0, c: 0, v: 2, w: 1e-4, n: 2 }));
    send(encodeRequest(5, "PULSE", { r: 1, c: 1, v: 2, w: 1e-4, n: 3 })); // same tag, new request
    send(encodeRequest(5, "PULSE", { r: 1, c: 1, v: 2, w: 1e-4, n: 3 })); // a retransmission of it
    await settled();
    expect(board.counters.pulses).toBe(5);
    expect(got.map((m) => m.kind === "ok" && argInt(m.args, "n"))).toEqual([2, 3, 3]);
  });

  it("a repeated HELLO starts a new session: empty replay window and the default configuration", async () => {
    const { board, got, send, settled } = open();
    send(encodeRequest(1, "HELLO"));
    send(encodeRequest(2, "CFG", { vmax: 3, vread: 0.3 }));
    send(encodeRequest(3, "PULSE", { r: 0, c: 0, v: 2, w: 1e-4 }));
    send(encodeRequest(4, "HELLO"));
    send(encodeRequest(3, "PULSE", { r: 0, c: 0, v: 2, w: 1e-4 })); // not a retransmission any more
    send(encodeRequest(5, "CFG"));
    await settled();
    expect(board.counters.pulses).toBe(2);
    const cfg = got.at(-1)!;
    expect(cfg.kind === "ok" && [cfg.args.get("vmax"), cfg.args.get("vread")]).toEqual(["5", "0.2"]);
  });

  it("CFG is the session's: the next connection to the same board starts from the defaults", async () => {
    const board = new EmulatedBoard(OPTS);
    const a: Message[] = [];
    const b: Message[] = [];
    const sa = board.openSession((l) => a.push((decodeLine(l) as { message: Message }).message));
    sa.handle(encodeRequest(1, "CFG", { vmax: 2 }).slice(0, -1));
    sa.handle(encodeRequest(2, "PULSE", { r: 0, c: 0, v: 3, w: 1e-4 }).slice(0, -1));
    await settled(sa);
    expect(a[1]).toMatchObject({ kind: "err", code: ErrorCode.AMPLITUDE_LIMIT });
    // One connection at a time owns the board (§3, Connections): B gets 402 while A holds it ...
    const sb = board.openSession((l) => b.push((decodeLine(l) as { message: Message }).message));
    sb.handle(encodeRequest(1, "PULSE", { r: 0, c: 0, v: 3, w: 1e-4 }).slice(0, -1));
    await settled(sb);
    expect(b[0]).toMatchObject({ kind: "err", code: ErrorCode.BUSY });
    // ... and once A's link has closed, B's session was never narrowed by A's CFG.
    sa.close();
    sb.handle(encodeRequest(2, "PULSE", { r: 0, c: 0, v: 3, w: 1e-4 }).slice(0, -1));
    await settled(sb);
    expect(b[1], JSON.stringify(b[1])).toMatchObject({ kind: "ok" });
  });

  it("a CAN byte at the end of a line is noise (102), not an over-long line (103)", async () => {
    const { input, output } = createLineReader();
    const lines: string[] = [];
    output.on("data", (l: string) => lines.push(l));
    input.write(Buffer.from("1 NOP*c0ffee00\x18\n\x18\n", "latin1"));
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => decodeLine(l))).toMatchObject([
      { ok: false, code: ErrorCode.MALFORMED },
      { ok: false, code: ErrorCode.MALFORMED },
    ]);
  });

  it("STAT rx counts the bytes received: blank lines, a lone CAN and the dropped part of an over-long line too", async () => {
    const board = new EmulatedBoard({ ...OPTS, maxLine: 64 });
    const [host, far] = (() => {
      const a = new PassThrough();
      const b = new PassThrough();
      return [Duplex.from({ readable: a, writable: b }), Duplex.from({ readable: b, writable: a })];
    })();
    const detach = serveStream(board, far);
    const replies: string[] = [];
    const reader = createLineReader();
    host.pipe(reader.input);
    reader.output.on("data", (l: string) => replies.push(l));
    const hello = encodeRequest(1, "HELLO");
    const noise = `\n\r\n\x18\n${"x".repeat(200)}\n\n`;
    host.write(Buffer.from(hello + noise, "latin1"));
    await new Promise((r) => setTimeout(r, 20));
    const stat = encodeRequest(2, "STAT");
    host.write(stat);
    for (let i = 0; i < 100 && !replies.some((l) => l.startsWith("2 OK")); i++)
      await new Promise((r) => setTimeout(r, 5));
    const reply = decodeLine(replies.find((l) => l.startsWith("2 OK"))!);
    expect(reply.ok && reply.message.kind === "ok" && argInt(reply.message.args, "rx")).toBe(
      Buffer.byteLength(hello + noise + stat, "latin1"),
    );
    detach();
  });

  it.each(["3E0", "+3", ".5", "03", "1."])(
    "number %s is refused (203): the grammar of §2 is strict",
    async (num) => {
      const { got, send, settled } = open();
      send(frame(`1 WAIT t=${num}`));
      await settled();
      expect(got[0]).toMatchObject({ kind: "err", code: ErrorCode.BAD_ARGUMENT });
    },
  );

  it("STAT clear=2 is refused (203) as rd=2 is", async () => {
    const { got, send, settled } = open();
    send(encodeRequest(1, "STAT", { clear: 2 }));
    await settled();
    expect(got[0]).toMatchObject({ kind: "err", code: ErrorCode.BAD_ARGUMENT });
  });

  it("IDN reports the ADC's full scale in force when none was given (never adc:8:0)", async () => {
    const { got, send, settled } = open({ ...OPTS, effects: { adcBits: 8 } });
    send(encodeRequest(1, "IDN"));
    const fx = got[0]!.kind === "ok" ? got[0]!.args.get("effects") : "";
    await settled();
    expect(fx).toMatch(/^adc:8:[0-9.e-]+$/);
    expect(fx).not.toBe("adc:8:0");
  });

  it("a board announces BOOT when it starts (emu://: the host sees it, and is not thrown by it)", async () => {
    const board = await connect("emu://?rows=8&cols=8&device=linear");
    const hello = board.identity;
    expect(hello.protocol).toBe(1);
    expect(hello.protocolMinor).toBe(1);
    expect((board as unknown as { client: CrossbarClient }).client.stats.reboots).toBe(0);
    await board.close();
  });

  it("a board restarted with its state file keeps its array; the host sees BOOT, settles a PULSE in flight with 610 and restores CFG", async () => {
    const state = join(mkdtempSync(join(tmpdir(), "xbar-state-")), "board.state");
    const first = new EmulatedBoard({ ...OPTS, state });
    const s1 = first.openSession(() => {});
    s1.handle(encodeRequest(1, "PULSE", { r: 2, c: 3, v: 2, w: 1e-4, n: 20 }).slice(0, -1));
    await settled(s1);
    const g = first.g[2 * 8 + 3]!;
    first.stop(); // the process ends (its state written)
    // A host on a serial line: its PULSE is on the wire while the board process restarts.
    const link = new FaultyLink({ ...OPTS, state });
    expect(link.board.g[2 * 8 + 3]).toBe(g); // the array survived the restart
    const client = new CrossbarClient(link, { baseTimeoutMs: 2000 });
    await client.request("HELLO");
    await client.request("CFG", { vmax: 3 });
    link.hostToBoard = (l) => (l.includes(" PULSE ") ? null : l); // it reaches the old process only
    const pulse = client.request("PULSE", { r: 0, c: 0, v: 2, w: 1e-4 }).catch((e) => e);
    await new Promise((r) => setTimeout(r, 20));
    link.hostToBoard = (l) => l;
    link.board.reboot(); // the new process starts: BOOT
    const err = await pulse;
    expect(err.code).toBe(ErrorCode.UNKNOWN_OUTCOME);
    expect(err.context.outcome).toBe("unknown");
    // The re-handshake restored the host's CFG on the new process.
    const cfg = await client.request("CFG");
    expect(cfg.get("vmax")).toBe("3");
    expect(client.stats.reboots).toBe(1);
    await client.close();
  });

  it("xbar emulate --state: startEmulatorServer keeps the array across a stop and a start", async () => {
    const state = join(mkdtempSync(join(tmpdir(), "xbar-state-")), "emu.state");
    const opts = { listen: { host: "127.0.0.1", port: 0 }, rows: 8, cols: 8, device: "linear", state };
    let server = await startEmulatorServer(opts);
    let board = await connect(server.url);
    await lastValueFrom(board.pulse({ row: 1, col: 1, amplitude: 2, width: 1e-4, count: 30 }));
    const before = await lastValueFrom(board.read(1, 1));
    await board.close();
    await server.stop();
    server = await startEmulatorServer(opts);
    board = await connect(server.url);
    expect(await lastValueFrom(board.read(1, 1))).toBeCloseTo(before, 12);
    await board.close();
    await server.stop();
  });
});

describe("FAULT: a compliance trip", () => {
  it("stops the command with 404 saying how many pulses were applied, and sends FAULT", async () => {
    const board = await connect("emu://?rows=8&cols=8&device=linear&trip=1");
    const events: string[] = [];
    const sub = board.events.subscribe((e) => events.push(e.name));
    await lastValueFrom(board.configure({ compliance: 1e-6 }));
    const err = await lastValueFrom(
      board.pulse({ row: 0, col: 0, amplitude: 3, width: 1e-4, count: 5 }),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(XbarError);
    expect(err.code).toBe(ErrorCode.COMPLIANCE_TRIP);
    expect(err.context.progress).toEqual({ pulses: 0 });
    await new Promise((r) => setImmediate(r));
    expect(events).toContain("FAULT");
    sub.unsubscribe();
    await board.close();
  });
});

describe("1.0 and 1.1 peers interoperate", () => {
  it("a 1.0 host (proto read as an integer, unknown reply keys ignored) works with a 1.1 board", async () => {
    const { got, send, settled } = open();
    send(encodeRequest(1, "HELLO"));
    send(encodeRequest(2, "IDN"));
    send(encodeRequest(3, "PULSE", { r: 0, c: 0, v: 2, w: 1e-4, n: 4, rd: 1 }));
    await settled();
    const [hello, idn, pulse] = got;
    // What a 1.0 host does with the replies: argInt(proto) === 1, then the keys it knows.
    expect(hello!.kind === "ok" && argInt(hello!.args, "proto")).toBe(1);
    expect(idn!.kind === "ok" && argInt(idn!.args, "rows")).toBe(8);
    expect(pulse!.kind === "ok" && argInt(pulse!.args, "n")).toBe(4);
  });

  it("the 1.1 host works with a board that answers as 1.0 (emu://?proto=1.0)", async () => {
    const board = await connect("emu://?rows=8&cols=8&device=linear&proto=1.0");
    expect(board.identity.protocolMinor).toBe(0);
    await lastValueFrom(board.configure({ vmax: 3 }));
    const r = await lastValueFrom(
      board.pulse({ row: 0, col: 0, amplitude: 2, width: 1e-4, count: 3, readAfter: true }),
    );
    expect(r.applied).toBe(3);
    expect(r.conductance).toBeGreaterThan(0);
    await board.close();
  });

  it("against a 1.0 board a malformed request is REJECTed: the 1.1 client resends it boundedly and ends with 601", async () => {
    const link = new FaultyLink({ ...OPTS, protocol: "1.0" });
    const client = new CrossbarClient(link, { baseTimeoutMs: 100, retries: 1, rejectResendMs: 20 });
    await client.request("HELLO");
    link.hostToBoard = (l) => (l.includes(" NOP") ? frame(`${l.slice(0, l.indexOf(" "))} NOP x`) : l);
    const err = await client.request("NOP").catch((e) => e);
    expect(err.code).toBe(ErrorCode.TIMEOUT);
    // Two timeouts of 100 ms: at most one REJECT resend per 20 ms, not one per REJECT.
    expect(client.stats.rejectResends).toBeLessThanOrEqual(Math.ceil(250 / 20) + 1);
    await client.close();
  });
});
