/**
 * What listens is bounded (issue 13, findings 1 and 2; PROTOCOL.md §3 "Connections"): a client that
 * does not read its replies stops being read and is dropped when it stays stalled; connections are
 * capped, refused with REJECT 405; a connection that does not open the session in time, or an owner
 * that stays idle, is closed; a connection that does not own the board gets a small line buffer;
 * one connection at a time owns the board (402 to the others).
 */
import { once } from "node:events";
import { type AddressInfo, connect as netConnect, type Server, type Socket } from "node:net";
import { firstValueFrom } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { decodeLine, ErrorCode, encodeRequest } from "../firmware-protocol/index.ts";
import {
  EmulatedBoard,
  type ListenOptions,
  type ServeOptions,
  serveStream,
  serveTcp,
} from "../mocks/index.ts";
import { connect } from "../src/board/connect.ts";

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

/** A TCP server whose connections are served by serveStream; keeps the board's side of each socket. */
async function rawServer(board: EmulatedBoard, opts: ServeOptions) {
  const served: Socket[] = [];
  const server = (await import("node:net")).createServer((s) => {
    served.push(s);
    serveStream(board, s, opts);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(() => {
    for (const s of served) s.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, served };
}

async function listen(board: EmulatedBoard, opts: ListenOptions): Promise<number> {
  const server: Server = await serveTcp(board, { host: "127.0.0.1", ...opts });
  cleanup.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

async function dial(port: number): Promise<Socket> {
  const s = netConnect({ port, host: "127.0.0.1" });
  s.on("error", () => {});
  await once(s, "connect");
  cleanup.push(() => s.destroy());
  return s;
}

/** Collects the lines a socket receives. */
function linesOf(s: Socket): string[] {
  const got: string[] = [];
  let buf = "";
  s.setEncoding("latin1").on("data", (d: string) => {
    buf += d;
    let i = buf.indexOf("\n");
    while (i >= 0) {
      got.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      i = buf.indexOf("\n");
    }
  });
  return got;
}

const until = async (cond: () => boolean, ms: number, what: string) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** Waits until `value()` has not changed for `quietMs`. */
async function settle(value: () => number, quietMs: number, maxMs: number): Promise<number> {
  const t0 = Date.now();
  let last = value();
  let since = Date.now();
  while (Date.now() - t0 < maxMs) {
    await new Promise((r) => setTimeout(r, 20));
    const v = value();
    if (v !== last) {
      last = v;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) break;
  }
  return last;
}

const readAlls = (n: number) => {
  let text = "";
  for (let i = 0; i < n; i++) text += encodeRequest(1 + (i % 60000), "READALL");
  return text;
};

describe("a client that does not read its replies (finding 1)", () => {
  it("is no longer read once its replies wait above the output budget, and loses nothing when it reads again", async () => {
    const board = new EmulatedBoard({ rows: 64, cols: 64, device: "linear" });
    const budget = 64 * 1024;
    const { port, served } = await rawServer(board, { outputBudget: budget, stallTimeoutMs: 60_000 });
    const client = await dial(port);
    client.pause(); // never reads
    const N = 1500; // each reply is ~22 KB: 33 MB if the board answered everything at once
    client.write(readAlls(N));
    const executed = await settle(() => board.counters.cmds, 300, 10_000);
    const sock = served[0]!;
    const reply = Math.ceil((64 * 64 * 4) / 3) * 4 + 64;
    // The board stopped: what waits in its socket is the budget plus at most one reply.
    expect(sock.writableLength).toBeLessThanOrEqual(budget + reply);
    expect(executed).toBeLessThan(N);
    // Reading again resumes the board: every request is answered once.
    const got = linesOf(client);
    client.resume();
    await until(() => got.length >= N, 20_000, `${N} replies`);
    expect(got.length).toBe(N);
    expect(board.counters.cmds).toBe(N);
    expect(got.every((l) => decodeLine(l).ok)).toBe(true);
  });

  it("is dropped when it stays stalled past stallTimeoutMs", async () => {
    const board = new EmulatedBoard({ rows: 64, cols: 64, device: "linear" });
    const drops: string[] = [];
    const { port, served } = await rawServer(board, {
      outputBudget: 16 * 1024,
      stallTimeoutMs: 200,
      onDrop: (r) => drops.push(r),
    });
    const client = await dial(port);
    client.pause();
    client.write(readAlls(2000));
    const t0 = Date.now();
    // The client does not read, so it cannot see the close itself: the board's side is watched.
    await until(() => drops.length > 0, 5000, "the drop");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(served[0]!.destroyed).toBe(true);
    expect(drops[0]).toMatch(/not taken/);
  });
});

describe("connections (finding 2)", () => {
  it("past maxConnections a connection is told REJECT 405 and closed; a free slot is usable again", async () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear" });
    const port = await listen(board, { maxConnections: 2 });
    const a = await dial(port);
    await dial(port);
    const c = await dial(port);
    const got = linesOf(c);
    await once(c, "close");
    const d = decodeLine(got[0] ?? "");
    expect(d.ok && d.message.kind === "event" && d.message.name).toBe("REJECT");
    expect(d.ok && d.message.kind === "event" && d.message.args.get("code")).toBe(
      String(ErrorCode.CONNECTION_CLOSED),
    );
    a.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const e = await dial(port);
    const ok = linesOf(e);
    e.write(encodeRequest(1, "NOP"));
    await until(() => ok.length > 0, 2000, "NOP reply");
    expect(ok[0]).toMatch(/^1 OK/);
  });

  it("the client reports the refusal as E405", async () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear" });
    const port = await listen(board, { maxConnections: 1 });
    await dial(port);
    const err = await connect(`socket://127.0.0.1:${port}`, { baseTimeoutMs: 2000 }).catch((e) => e);
    expect(err).toMatchObject({ code: ErrorCode.CONNECTION_CLOSED });
    expect(err.message).toMatch(/too many connections/);
  });

  it("a connection that does not open the session within admitTimeoutMs is closed, whatever it trickles", async () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear", token: "t0ken-for-test" });
    const port = await listen(board, { admitTimeoutMs: 250 });
    const s = await dial(port);
    const got = linesOf(s);
    const trickle = setInterval(() => s.write("x"), 50);
    const t0 = Date.now();
    await once(s, "close");
    clearInterval(trickle);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(got.at(-1)).toMatch(/^! REJECT code=405/);
  });

  it("the owner's connection is closed after idleTimeoutMs without a request; the client says E405", async () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear" });
    const port = await listen(board, { idleTimeoutMs: 300 });
    const b = await connect(`socket://127.0.0.1:${port}`);
    cleanup.push(() => void b.close());
    await firstValueFrom(b.read(0, 0)); // active: not closed
    await new Promise((r) => setTimeout(r, 450));
    const err = await firstValueFrom(b.read(0, 0)).catch((e) => e);
    expect(err.code).toBe(ErrorCode.CONNECTION_CLOSED);
    expect(err.message).toMatch(/without a request/);
  });

  it("a connection that does not own the board gets a 4 KiB line buffer, the owner the board's maxLine", async () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear" });
    const port = await listen(board, {});
    const owner = await dial(port);
    const ownerLines = linesOf(owner);
    owner.write(encodeRequest(1, "HELLO"));
    await until(() => ownerLines.length > 0, 2000, "HELLO reply");
    const guest = await dial(port);
    const got = linesOf(guest);
    guest.write(`${"A".repeat(64 * 1024)}\n`);
    await until(() => got.length > 0, 2000, "guest verdict");
    expect(got[0]).toMatch(/^! REJECT code=103/);
    // The owner may send a line of 64 KiB (garbage: refused for its checksum, not its length).
    owner.write(`${"A".repeat(64 * 1024)}\n`);
    await until(() => ownerLines.length > 1, 2000, "owner verdict");
    expect(ownerLines[1]).toMatch(/^! REJECT code=101/);
  });
});

describe("one connection at a time owns the board (issue 12 erratum, PROTOCOL.md §3)", () => {
  it("a second client is refused with E402 while the first holds the board, and gets it once it leaves", async () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear" });
    const port = await listen(board, {});
    const first = await connect(`socket://127.0.0.1:${port}`);
    const err = await connect(`socket://127.0.0.1:${port}`).catch((e) => e);
    expect(err).toMatchObject({ code: ErrorCode.BUSY, context: { command: "HELLO", side: "board" } });
    await first.close();
    await new Promise((r) => setTimeout(r, 50));
    const second = await connect(`socket://127.0.0.1:${port}`);
    expect(second.identity.rows).toBe(4);
    await second.close();
  });

  it("the same tagged PULSE on two connections is applied once (the other is refused with 402)", async () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear" });
    const port = await listen(board, {});
    const a = await dial(port);
    const b = await dial(port);
    const ga = linesOf(a);
    const gb = linesOf(b);
    const pulse = encodeRequest(7, "PULSE", { r: 0, c: 0, v: 2, w: 1e-4 });
    a.write(pulse);
    await until(() => ga.length > 0, 2000, "reply on a");
    b.write(pulse);
    await until(() => gb.length > 0, 2000, "reply on b");
    expect(ga[0]).toMatch(/^7 OK/);
    expect(gb[0]).toMatch(/^7 ERR 402/);
    expect(board.counters.pulses).toBe(1);
  });
});
