/**
 * Fault behaviours of the emulated link (mocks/faults.ts) and the driver's recovery from them:
 * lost, corrupted, delayed and split lines; a board reset in the middle of a command (re-handshake,
 * unknown outcome for programming, re-sent reads); a pulled plug; a hung board; how far a
 * multi-step operation got.
 */
import { Duplex, PassThrough } from "node:stream";
import { firstValueFrom, lastValueFrom, toArray } from "rxjs";
import { describe, expect, it } from "vitest";
import { CrossbarClient, StreamTransport, XbarError } from "../drivers/index.ts";
import { argNumber, ErrorCode } from "../firmware-protocol/index.ts";
import {
  type BoardOptions,
  EmulatedBoard,
  type FaultSpec,
  parseFaults,
  serveStream,
  withFaults,
} from "../mocks/index.ts";
import { connect } from "../src/board/connect.ts";
import { characterize, programVerify, retention } from "../src/pipelines/index.ts";

const BOARD: BoardOptions = { rows: 8, cols: 8, device: "linear", seed: 1 };

function duplexPair(): [Duplex, Duplex] {
  const a = new PassThrough();
  const b = new PassThrough();
  return [Duplex.from({ readable: a, writable: b }), Duplex.from({ readable: b, writable: a })];
}

/** A board served behind a fault layer, and a client on the other end. */
function faultyClient(faults: FaultSpec, opts: ConstructorParameters<typeof CrossbarClient>[1] = {}) {
  const board = new EmulatedBoard(BOARD);
  const [hostEnd, boardEnd] = duplexPair();
  const faulty = withFaults(boardEnd, faults, board);
  serveStream(board, faulty);
  const client = new CrossbarClient(new StreamTransport(hostEnd, "faulty", board.maxLine), {
    baseTimeoutMs: 40,
    retries: 50,
    ...opts,
  });
  return { board, client, stats: faulty.faultStats };
}

describe("fault spec", () => {
  it("parses every behaviour and refuses bad items naming them", () => {
    expect(
      parseFaults(
        "drop:0.02,dropbyte:0.001,corrupt:0.03,delay:5ms,split,reset-after:10,disconnect-after:20,stall-after:30,seed:3",
      ),
    ).toEqual({
      drop: 0.02,
      dropByte: 0.001,
      corrupt: 0.03,
      delayMs: 5,
      split: true,
      resetAfter: 10,
      disconnectAfter: 20,
      stallAfter: 30,
      seed: 3,
    });
    expect(parseFaults("delay:0.2s").delayMs).toBe(200);
    for (const bad of ["drop:2", "drop", "delay:fast", "reset-after:0", "explode", "split:1", "seed:x"])
      expect(() => parseFaults(bad), bad).toThrow(bad.split(":")[0]);
  });
});

describe("recovery from link faults", () => {
  it("drop, corrupt, dropped bytes, delay and split lines: every pulse applied once, every read right", async () => {
    const { board, client, stats } = faultyClient(
      { drop: 0.05, corrupt: 0.05, dropByte: 0.0005, delayMs: 1, split: true, seed: 11 },
      { window: 8 },
    );
    await client.request("HELLO");
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      work.push(client.request("PULSE", { r: i % 8, c: (i >> 3) % 8, v: 2, w: 1e-4, n: 1 + (i % 3) }));
      work.push(client.request("READ", { r: i % 8, c: 0 }));
    }
    await Promise.all(work);
    const expected = Array.from({ length: 200 }, (_, i) => 1 + (i % 3)).reduce((a, b) => a + b);
    expect(board.counters.pulses).toBe(expected);
    expect(stats.dropped + stats.corrupted).toBeGreaterThan(20);
    expect(client.stats.retransmissions).toBeGreaterThan(0);
    await client.close();
  });

  it("emu://?fault=… puts the same faults behind connect(), and the Board works through them", async () => {
    const board = await connect(
      "emu://?rows=8&cols=8&device=linear&fault=drop:0.05,corrupt:0.05,split,seed:4",
      {
        baseTimeoutMs: 40,
        retries: 50,
      },
    );
    for (let i = 0; i < 20; i++)
      await firstValueFrom(board.pulse({ row: 1, col: 2, amplitude: 2, width: 1e-4, count: 5 }));
    const c = await firstValueFrom(board.counters());
    expect(c.pulses).toBe(100);
    await board.close();
  });

  it("a reset in the middle of a PULSE: 610 UNKNOWN_OUTCOME (not re-sent), re-handshake, the host's CFG restored", async () => {
    // Request 4 (HELLO, CFG, READ, then the PULSE) is executed, then the board reboots before its reply.
    const { board, client } = faultyClient({ resetAfter: 4 });
    const boots: string[] = [];
    client.events.subscribe((e) => boots.push(e.name));
    await client.request("HELLO");
    await client.request("CFG", { vmax: 3 });
    await client.request("READ", { r: 0, c: 0 });
    const err = await client.request("PULSE", { r: 0, c: 0, v: 2, w: 1e-4, n: 5 }).catch((e) => e);
    expect(err).toBeInstanceOf(XbarError);
    expect(err.code).toBe(ErrorCode.UNKNOWN_OUTCOME);
    expect(err.context).toMatchObject({ command: "PULSE", outcome: "unknown" });
    expect(board.counters.pulses).toBe(0); // counters restarted with the reboot …
    expect(board.g[0]).toBeGreaterThan(1e-6); // … but the pulses were applied once, not twice
    const applied = Math.round((board.g[0]! - 1e-6) / ((1e-4 - 1e-6) / 1000));
    expect(applied).toBe(5);
    expect(boots).toEqual(["BOOT"]);
    expect(client.stats).toMatchObject({ reboots: 1, unknownOutcomes: 1 });
    // The session was opened again and the narrowed envelope is in force on the board again.
    const lim = await client.request("LIM");
    expect(argNumber(lim, "vmax")).toBe(3);
    await client.close();
  });

  it("a reset in the middle of a READ: the read is sent again and answered", async () => {
    const { board, client } = faultyClient({ resetAfter: 2 });
    await client.request("HELLO");
    const reply = await client.request("READ", { r: 0, c: 0 });
    expect(argNumber(reply, "g")).toBeCloseTo(1e-6, 12);
    expect(board.boots).toBe(1);
    expect(client.stats.reboots).toBe(1);
    await client.close();
  });

  it("RESET of the host's own is not a crash: nothing is failed, the envelope returns to the defaults", async () => {
    const { client } = faultyClient({}, { window: 4 });
    await client.request("HELLO");
    await client.request("CFG", { vmax: 3 });
    await Promise.all([
      client.request("RESET"),
      client.request("NOP"),
      client.request("READ", { r: 0, c: 0 }),
    ]);
    await new Promise((r) => setTimeout(r, 20));
    expect(client.stats.reboots).toBe(0);
    expect(argNumber(await client.request("LIM"), "vmax")).toBe(5);
    await client.close();
  });

  it("a pulled plug: 602 DISCONNECTED, programming in flight reported as unknown outcome, later requests refused", async () => {
    const { client, board } = faultyClient({ disconnectAfter: 3 }, { window: 4 });
    await client.request("HELLO");
    await client.request("READ", { r: 0, c: 0 });
    const [a, b] = await Promise.all([
      client.request("PULSE", { r: 0, c: 1, v: 2, w: 1e-4 }).catch((e) => e),
      client.request("READ", { r: 0, c: 1 }).catch((e) => e),
    ]);
    expect(a.code).toBe(ErrorCode.DISCONNECTED);
    expect(a.context.outcome).toBe("unknown");
    expect(b.code).toBe(ErrorCode.DISCONNECTED);
    expect(b.context.outcome).toBe("lost");
    await expect(client.request("NOP")).rejects.toMatchObject({ code: ErrorCode.DISCONNECTED });
    // The board never executed the request that reached it as the link went: the array is idle.
    expect(board.counters.pulses).toBe(0);
  });

  it("a hung board: 601 TIMEOUT after the retries, naming command and tag", async () => {
    const { client } = faultyClient({ stallAfter: 2 }, { baseTimeoutMs: 20, retries: 2 });
    await client.request("HELLO");
    const err = await client.request("READ", { r: 1, c: 1 }).catch((e) => e);
    expect(err.code).toBe(ErrorCode.TIMEOUT);
    expect(err.context).toMatchObject({ command: "READ", tag: 2 });
    await client.close();
  });
});

describe("how far an operation got", () => {
  it("characterize over a link that goes away reports the pulses applied before the failure", async () => {
    const board = await connect("emu://?rows=8&cols=8&device=linear&fault=disconnect-after:15", {
      baseTimeoutMs: 200,
    });
    // Handshake: HELLO IDN LIM CFG (4 requests); then READ and PULSEs: request 15 is the 10th pulse.
    const err = await lastValueFrom(
      characterize(board, { row: 0, col: 0, pulses: 20 }).pipe(toArray()),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(XbarError);
    expect(err.code).toBe(ErrorCode.DISCONNECTED);
    expect(err.context.progress).toEqual({ pulses: 9, of: 40, points: 10 });
    expect(err.message).toMatch(/pulses=9/);
    await board.close();
  });

  it("program-and-verify reports rounds, confirmed pulses and the pulse list in flight", async () => {
    // Handshake (4 requests), then per round a READBLK of the two targets and a PULSELIST:
    // request 8 is round 2's pulse list, request 9 the read after it.
    const targets = [
      { row: 0, col: 0, target: 5e-5 },
      { row: 0, col: 1, target: 5e-5 },
    ];
    const progressWhenCut = async (after: number) => {
      const board = await connect(`emu://?rows=8&cols=8&device=linear&fault=disconnect-after:${after}`, {
        baseTimeoutMs: 200,
      });
      try {
        const err = await lastValueFrom(programVerify(board, targets, { setAmplitude: 2 })).catch((e) => e);
        expect(err.code).toBe(ErrorCode.DISCONNECTED);
        return err.context.progress;
      } finally {
        await board.close();
      }
    };
    // Cut on the read after round 2: both pulse lists were acknowledged, nothing is in flight.
    const onRead = await progressWhenCut(9);
    expect(onRead).toMatchObject({ devices: 2, round: 2, pulsesInFlight: 0 });
    expect(onRead.pulses).toBeGreaterThan(0);
    // Cut on round 2's pulse list: its pulses are reported in flight, not confirmed, and with round 1's
    // confirmed ones they account for every pulse of the run above.
    const onList = await progressWhenCut(8);
    expect(onList).toMatchObject({ devices: 2, round: 2 });
    expect(onList.pulsesInFlight).toBeGreaterThan(0);
    expect(onList.pulses + onList.pulsesInFlight).toBe(onRead.pulses);
  });

  it("retention reports the reads taken before the link went", async () => {
    // Handshake (4), then CLK, READBLK, and per interval WAIT + READBLK: request 12 is the 4th READBLK.
    const board = await connect("emu://?rows=8&cols=8&device=linear&fault=disconnect-after:12", {
      baseTimeoutMs: 200,
    });
    const block = { r0: 0, c0: 0, rows: 2, cols: 2 };
    const err = await lastValueFrom(
      retention(board, { block, interval: 10, count: 8 }).pipe(toArray()),
    ).catch((e) => e);
    expect(err.code).toBe(ErrorCode.DISCONNECTED);
    expect(err.context.progress).toEqual({ reads: 3, of: 9 });
    await board.close();
  });
});
