/**
 * The ArC ONE driver and its emulator: what the wire carries (parameter lines out, raw float32
 * resistances back), FormFinder run on the board, a board that stops answering (E601, then
 * recovered by a reset and INIT), and `xbar emulate --arc1` as its own process on a socat pty.
 */
import { Duplex } from "node:stream";
import { lastValueFrom } from "rxjs";
import { afterAll, describe, expect, it } from "vitest";
import { Arc1Client } from "../drivers/arc1/client.ts";
import { initPacket, ReadMode, Session, SneakPath } from "../drivers/arc1/protocol.ts";
import { XbarError } from "../firmware-protocol/errors.ts";
import { ErrorCode } from "../firmware-protocol/index.ts";
import { arc1InProcess } from "../mocks/arc1.ts";
import { Arc1Board } from "../src/board/arc1-board.ts";
import { connect } from "../src/board/connect.ts";
import { type PtyPair, startPtyPair, which } from "../tools/pty.ts";
import { startXbar, stopAll } from "../tools/run-xbar.ts";

/** Wraps the host's end so that every byte written and read is recorded. */
function recording(end: Duplex): { stream: Duplex; sent: string[]; received: Buffer[] } {
  const sent: string[] = [];
  const received: Buffer[] = [];
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _e, cb) {
      sent.push(chunk.toString("latin1"));
      end.write(chunk, cb);
    },
    destroy(err, cb) {
      end.destroy();
      cb(err);
    },
  });
  end.on("data", (d: Buffer) => {
    received.push(d);
    stream.push(d);
  });
  return { stream, sent, received };
}

const CONF = {
  readCycles: 30,
  words: 4,
  bits: 4,
  readMode: ReadMode.TIA4P,
  session: Session.LOCAL,
  sneak: SneakPath.ONE_THIRD,
  vread: 0.2,
};

afterAll(() => stopAll());

describe("ArC ONE protocol on the wire", () => {
  it("INIT is acknowledged with the line 1; READ_ONE sends job and 1-based address, gets 4 bytes back", async () => {
    const { host, arc1 } = arc1InProcess({ rows: 4, cols: 4, device: "agsi", seed: 1 });
    const rec = recording(host);
    const client = new Arc1Client(rec.stream, "recorded");
    try {
      await client.init(CONF);
      expect(rec.sent.join("")).toBe(`00\n${initPacket(CONF)}`);
      expect(initPacket(CONF)).toBe("0\n30\n4\n4\n2\n0\n0\n0.200000\n");
      expect(Buffer.concat(rec.received).toString("latin1")).toBe("1\n");
      rec.sent.length = 0;
      rec.received.length = 0;
      const r = await client.readOne(2, 3);
      expect(rec.sent.join("")).toBe("1\n2\n3\n");
      const bytes = Buffer.concat(rec.received);
      expect(bytes.length).toBe(4);
      expect(bytes.readFloatLE(0)).toBe(r);
      // 0.2 V on a fresh agsi device (3.0769 nS): 325 MΩ.
      expect(r).toBeCloseTo(1 / 3.0769e-9, -4);
      expect(arc1.jobs).toBe(3);
    } finally {
      await client.close();
    }
  });

  it("FormFinder runs on the board: rising pulses until the resistance falls below the threshold", async () => {
    const board = (await connect("arc1-emu://?rows=4&cols=4&device=agsi&seed=1")) as Arc1Board;
    try {
      const pts = await board.formFinder(
        {
          vmin: 0.5,
          vstep: 0.5,
          vmax: 4,
          pwmin: 1e-4,
          pwstep: 100,
          pwmax: 4e-4,
          interpulse: 1e-3,
          rthr: 1e8,
          rthrPercent: 0,
          mode: 0,
          seriesR: 7,
          pulses: 1,
        },
        [[1, 2]],
      );
      expect(pts.length).toBeGreaterThan(3);
      expect(pts.every((p) => p.word === 2 && p.bit === 3)).toBe(true);
      expect(pts.at(-1)!.resistance).toBeLessThan(1e8);
      expect(pts.slice(0, -1).every((p) => p.resistance >= 1e8)).toBe(true);
      const volts = pts.map((p) => p.voltage);
      expect(volts).toEqual([...volts].sort((a, b) => a - b));
      expect(await lastValueFrom(board.read(1, 2))).toBeCloseTo(1 / pts.at(-1)!.resistance, 12);
      expect(() => board.formFinder({ ...FF_BAD }, [[0, 0]])).toThrow(XbarError);
    } finally {
      await board.close();
    }
  });

  it("a board that stops answering: E601 naming the job, then reset and INIT bring it back", async () => {
    const { host, arc1 } = arc1InProcess({ rows: 4, cols: 4, device: "agsi", seed: 1 });
    const client = new Arc1Client(host, "arc1-emu://", 200);
    const board = await Arc1Board.open("arc1-emu://", client, { rows: 4, cols: 4 });
    try {
      arc1.silent = true;
      let err: unknown;
      try {
        await lastValueFrom(board.read(0, 0));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(XbarError);
      expect((err as XbarError).code).toBe(ErrorCode.TIMEOUT);
      expect((err as XbarError).context.command).toBe("1 (READ_ONE)");
      expect(client.dirty).toBe(true);
      arc1.silent = false;
      // The next operation first resets and initialises the board again.
      expect(await lastValueFrom(board.read(0, 0))).toBeCloseTo(3.0769e-9, 12);
      expect(client.dirty).toBe(false);
    } finally {
      await board.close();
    }
  });
});

const FF_BAD = {
  vmin: 0.5,
  vstep: 0.5,
  vmax: 40,
  pwmin: 1e-4,
  pwstep: 100,
  pwmax: 1e-3,
  interpulse: 1e-3,
  rthr: 1e8,
  rthrPercent: 0,
  mode: 0,
  seriesR: 7,
  pulses: 1,
};

const haveSocat = Boolean(which("socat"));
describe.skipIf(!haveSocat && process.env.CI !== "true")("xbar emulate --arc1 on a socat pty", () => {
  let pair: PtyPair | undefined;
  afterAll(async () => {
    await stopAll();
    await pair?.stop();
  });

  it("serves an ArC ONE that arc1:// reaches through the other end", { timeout: 30_000 }, async () => {
    pair = await startPtyPair({ prefix: "xbar-arc1-cli-" });
    const emu = startXbar(["emulate", "--arc1", "--serial", pair.boardPath, "--rows", "4", "--cols", "4"]);
    await emu.waitFor(/ArC ONE \(emulated\) agsi 4x4 seed 1 serving on/);
    const b = await connect(`arc1://${pair.hostPath}?rows=4&cols=4&boot=0`);
    try {
      expect(b.identity.model).toBe("ArC-ONE");
      expect(await lastValueFrom(b.read(3, 3))).toBeCloseTo(3.0769e-9, 12);
    } finally {
      await b.close();
    }
  });
});
