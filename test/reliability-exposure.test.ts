/**
 * Exposure: the emulator binds to loopback unless told otherwise; another address needs
 * --allow-remote and a token, which clients present as `HELLO token=` (socket://HOST:PORT?token=…).
 * Boards without a token keep accepting a bare HELLO (every existing link and vector).
 */
import { firstValueFrom } from "rxjs";
import { afterAll, describe, expect, it } from "vitest";
import { XbarError } from "../drivers/index.ts";
import { argInt, decodeLine, ErrorCode, encodeRequest, type Message } from "../firmware-protocol/index.ts";
import { EmulatedBoard } from "../mocks/index.ts";
import { connect, startEmulatorServer } from "../src/board/connect.ts";
import type { CrossbarBoard } from "../src/board/protocol-board.ts";
import { parseListen, runEmulate } from "../src/cli/emulate.ts";
import { runXbar } from "../tools/run-xbar.ts";

const TOKEN = "s3cret-T0ken";

/** One session of a board: each request line in, the decoded replies out. */
function session(board: EmulatedBoard) {
  let out: string[] = [];
  const s = board.openSession((l) => out.push(l));
  return (tag: number, verb: string, args?: Record<string, string | number>): Message => {
    out = [];
    s.handle(encodeRequest(tag, verb, args).replace(/\n$/, ""));
    expect(out).toHaveLength(1);
    const d = decodeLine(out[0]!.replace(/\n$/, ""));
    if (!d.ok) throw new Error("malformed reply");
    return d.message;
  };
}

const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const s of stops) await s();
});

describe("access token on the board (PROTOCOL.md §3)", () => {
  it("without the token nothing is executed: 403 for requests, for a bare HELLO and for a wrong token", () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear", token: TOKEN });
    const send = session(board);
    expect(send(1, "PULSE", { r: 0, c: 0, v: 2, w: 1e-4 })).toMatchObject({ kind: "err", code: 403 });
    expect(send(2, "HELLO")).toMatchObject({ kind: "err", code: 403 });
    expect(send(3, "HELLO", { token: "s3cret-T0kem" })).toMatchObject({ kind: "err", code: 403 });
    expect(send(4, "READ", { r: 0, c: 0 })).toMatchObject({ kind: "err", code: 403 });
    expect(board.counters.pulses).toBe(0);
    expect(send(5, "HELLO", { token: TOKEN })).toMatchObject({ kind: "ok" });
    expect(send(6, "PULSE", { r: 0, c: 0, v: 2, w: 1e-4 })).toMatchObject({ kind: "ok" });
    expect(board.counters.pulses).toBe(1);
    // Another session of the same board has not presented it.
    expect(session(board)(1, "READ", { r: 0, c: 0 })).toMatchObject({ kind: "err", code: 403 });
    // A reboot ends the session.
    board.reboot();
    expect(send(7, "READ", { r: 0, c: 0 })).toMatchObject({ kind: "err", code: 403 });
  });

  it("a board without a token accepts HELLO with or without token=", () => {
    const send = session(new EmulatedBoard({ rows: 4, cols: 4, device: "linear" }));
    expect(send(1, "HELLO")).toMatchObject({ kind: "ok" });
    expect(send(2, "HELLO", { token: "anything-at-all" })).toMatchObject({ kind: "ok" });
  });

  it("refuses a token that is too short or has spaces", () => {
    expect(() => new EmulatedBoard({ token: "short" })).toThrow(/token/);
    expect(() => new EmulatedBoard({ token: "has a space" })).toThrow(/token/);
  });
});

describe("listening elsewhere than loopback", () => {
  it("--listen PORT binds 127.0.0.1", () => {
    expect(parseListen("5025")).toEqual({ host: "127.0.0.1", port: 5025 });
  });

  it("a non-loopback address needs --allow-remote, and --allow-remote needs --token (E608)", async () => {
    const base = { rows: 4, cols: 4, device: "linear", seed: 1 };
    for (const [o, pattern] of [
      [{ listen: "0.0.0.0:0" }, /--allow-remote/],
      [{ listen: "0.0.0.0:0", allowRemote: true }, /--token/],
      [{ listen: "0.0.0.0:0", allowRemote: true, token: "short" }, /--token/],
      [{ listen: "127.0.0.1:0", fault: "drop:7" }, /--fault/],
    ] as const) {
      const err = await runEmulate({ ...base, ...o }, () => {}).catch((e) => e);
      expect(err).toBeInstanceOf(XbarError);
      expect(err.code).toBe(ErrorCode.BAD_INPUT);
      expect(err.message).toMatch(pattern);
    }
  });

  it("startEmulatorServer itself refuses a non-loopback address without a token (E608)", async () => {
    const err = await startEmulatorServer({ listen: { host: "0.0.0.0", port: 0 }, rows: 4, cols: 4 }).catch(
      (e) => e,
    );
    expect(err).toMatchObject({ code: ErrorCode.BAD_INPUT });
    expect(err.message).toMatch(/token/);
  });

  it("clients present the token in the URL (socket://HOST:PORT?token=); without it connect fails with 403", async () => {
    const server = await startEmulatorServer({
      listen: { host: "0.0.0.0", port: 0 },
      token: TOKEN,
      rows: 4,
      cols: 4,
      device: "linear",
    });
    stops.push(server.stop);
    const port = server.url.split(":").at(-1);
    const board = await connect(`socket://127.0.0.1:${port}?token=${TOKEN}`);
    expect(board.identity.rows).toBe(4);
    await firstValueFrom(board.pulse({ row: 0, col: 0, amplitude: 2, width: 1e-4 }));
    await board.close();
    const err = await connect(`socket://127.0.0.1:${port}`).catch((e) => e);
    expect(err).toMatchObject({ code: ErrorCode.UNAUTHORIZED, context: { command: "HELLO", side: "board" } });
    const wrong = await connect(`socket://127.0.0.1:${port}?token=not-the-token`).catch((e) => e);
    expect(wrong.code).toBe(ErrorCode.UNAUTHORIZED);
  });

  it("after a reboot the client presents the token again by itself", async () => {
    const server = await startEmulatorServer({
      listen: { host: "127.0.0.1", port: 0 },
      token: TOKEN,
      faults: { resetAfter: 6 },
      rows: 4,
      cols: 4,
      device: "linear",
    });
    stops.push(server.stop);
    const board = await connect(`${server.url}?token=${TOKEN}`, { baseTimeoutMs: 200 });
    // Handshake is 4 requests; request 6 is the second READ: the board reboots before its reply.
    await firstValueFrom(board.read(0, 0));
    const g = await firstValueFrom(board.read(1, 1));
    expect(g).toBeGreaterThan(0);
    const c = await firstValueFrom(board.counters());
    expect(c.commands).toBeGreaterThan(0); // executed after the new HELLO token=…
    expect((board as CrossbarBoard).client.stats.reboots).toBe(1);
    await board.close();
  });

  it("xbar emulate --help documents --fault, --allow-remote, --token-file, XBAR_TOKEN and --token", async () => {
    const r = await runXbar(["emulate", "--help"]);
    expect(r.code).toBe(0);
    for (const flag of [
      "--fault <spec>",
      "--allow-remote",
      "--token <secret>",
      "--token-file <file>",
      "reset-after:N",
      "XBAR_TOKEN",
    ])
      expect(r.stdout).toContain(flag);
  });

  it("xbar emulate --listen 0.0.0.0:0 without --allow-remote exits with E608", async () => {
    const r = await runXbar(["emulate", "--listen", "0.0.0.0:0"]);
    expect(r.code).toBe(2); // bad usage (E608) exits 2 since main's exit-code rules
    expect(r.stderr).toMatch(/E608.*--allow-remote/);
  });
});

describe("argInt sanity for the HELLO reply", () => {
  it("HELLO token= still answers proto", () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear", token: TOKEN });
    const m = session(board)(1, "HELLO", { token: TOKEN });
    expect(m.kind === "ok" && argInt(m.args, "proto")).toBe(1);
  });
});
