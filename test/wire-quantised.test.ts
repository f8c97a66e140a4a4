/**
 * The protocol 1.1 wire (PROTOCOL.md §2 quantised arrays, §6 held vectors): a board that reports its
 * DAC and ADC (IDN dac=, adc=) gets quantised inputs, answers q=1 with quantised replies and keeps the
 * last VMM input of a block for `OPU x=last`. 1.0 and 1.1 peers interoperate both ways: what goes on
 * the wire is asserted line by line.
 */
import { lastValueFrom } from "rxjs";
import { describe, expect, it } from "vitest";
import { CrossbarClient } from "../drivers/index.ts";
import { checksum as crcOf } from "../firmware-protocol/index.ts";
import { type BoardOptions, EmulatedBoard } from "../mocks/index.ts";
import { CrossbarBoard } from "../src/board/protocol-board.ts";
import { FaultyLink } from "./helpers/faulty-link.ts";

const BASE: BoardOptions = { rows: 8, cols: 8, device: "linear", seed: 1 };
const Q11: BoardOptions = { ...BASE, dac: 8, adc: 16 };
const block = { r0: 0, c0: 0, rows: 4, cols: 3 };
const x = new Float32Array([0.1, 0.2, 0.05, 0]);

async function open(opts: BoardOptions) {
  const link = new FaultyLink(opts);
  const board = await CrossbarBoard.open("faulty://", new CrossbarClient(link));
  return { link, board };
}

/** One forward pass and the update that follows it, as the on-chip rule does them. */
async function forwardAndUpdate(board: CrossbarBoard) {
  const y = await lastValueFrom(board.vmm(block, x));
  const pulses = await lastValueFrom(
    board.outerProductUpdate({
      ...block,
      x: x.map((v) => v / 0.2),
      d: new Float32Array([1, -1, 0.5]),
      scale: 4,
      vp: 2,
      vn: -2,
      width: 1e-4,
      heldInput: { voltsPerUnit: 0.2 },
    }),
  );
  return { y, pulses };
}

const lines = (link: FaultyLink, verb: string) => link.written.filter((l) => l.split(" ")[1] === verb);

describe("protocol 1.1 wire", () => {
  it("a 1.1 host with a float32 (1.0-style) board: sends nothing of 1.1 (no q, no scale, no last)", async () => {
    const { link, board } = await open(BASE);
    try {
      expect(board.identity.dacBits).toBeUndefined();
      const { pulses } = await forwardAndUpdate(board);
      await lastValueFrom(board.readBlock(block));
      expect(pulses).toBeGreaterThan(0);
      for (const l of link.written) expect(l).not.toMatch(/ q=|=last|@/);
      expect(lines(link, "OPU")[0]).toMatch(/ x=f32:/);
    } finally {
      await board.close();
    }
  });

  it("a 1.1 host with a 1.1 board: quantised both ways, and the update refers to the held input", async () => {
    const { link, board } = await open(Q11);
    try {
      expect(board.identity).toMatchObject({ dacBits: 8, adcBits: 16 });
      const { y, pulses } = await forwardAndUpdate(board);
      const vmm = lines(link, "VMM")[0]!;
      expect(vmm).toMatch(/ x=u8@[0-9.e-]+:/);
      expect(vmm).toMatch(/ q=1/);
      const opu = lines(link, "OPU")[0]!;
      expect(opu).toMatch(/ x=last /);
      expect(opu).toMatch(/ d=i8@/);
      // The same operations on a float32 board give the same pulses, and outputs within the
      // quantisation steps (8-bit inputs, 16-bit outputs).
      const ref = await open(BASE);
      try {
        const r = await forwardAndUpdate(ref.board);
        expect(pulses).toBe(r.pulses);
        for (let j = 0; j < y.length; j++) expect(Math.abs(y[j]! - r.y[j]!)).toBeLessThan(r.y[j]! * 0.01);
        expect(link.board.g).toEqual(ref.link.board.g);
      } finally {
        await ref.board.close();
      }
    } finally {
      await board.close();
    }
  });

  it("sends x again when the board no longer holds it (203 to x=last)", async () => {
    const { link, board } = await open(Q11);
    try {
      await lastValueFrom(board.vmm(block, x));
      // The board has lost the input it held (as after a HELLO that opened a new session).
      link.board.held.clear();
      const pulses = await lastValueFrom(
        board.outerProductUpdate({
          ...block,
          x: x.map((v) => v / 0.2),
          d: new Float32Array([1, -1, 0.5]),
          scale: 4,
          vp: 2,
          vn: -2,
          width: 1e-4,
          heldInput: { voltsPerUnit: 0.2 },
        }),
      );
      expect(pulses).toBeGreaterThan(0);
      const opus = lines(link, "OPU");
      expect(opus).toHaveLength(2);
      expect(opus[0]).toMatch(/ x=last /);
      expect(opus[1]).toMatch(/ x=u8@/);
    } finally {
      await board.close();
    }
  });

  it("a 1.0 host with a 1.1 board: float32 requests get the same float32 replies as from a 1.0 board", async () => {
    const replies: string[][] = [];
    for (const opts of [BASE, Q11]) {
      const board = new EmulatedBoard(opts);
      const out: string[] = [];
      const s = board.openSession((l) => out.push(l));
      // What a 1.0 host sends: no q, no scale, no held vectors.
      const requests = [
        "1 HELLO",
        "2 VMM r0=0 c0=0 nr=2 nc=2 x=f32:zczMPc3MTD4=",
        "3 READBLK r0=0 c0=0 nr=2 nc=2",
        "4 OPU r0=0 c0=0 nr=2 nc=2 x=f32:AACAPwAAAAA= d=f32:AACAPwAAgL8= vp=2 vn=-2 w=0.0001",
        "5 READ r=0 c=0",
      ];
      for (const r of requests) s.handle(`${r}*${crcOf(r)}`);
      replies.push(out);
    }
    expect(replies[1]).toEqual(replies[0]);
    for (const l of replies[1]!) expect(l).not.toMatch(/@/);
  });

  it("a board that sends float32 only refuses q=1 and x=last with 203, applying nothing", () => {
    const board = new EmulatedBoard(BASE);
    const out: string[] = [];
    const s = board.openSession((l) => out.push(l));
    for (const r of [
      "1 VMM r0=0 c0=0 nr=2 nc=2 x=f32:zczMPc3MTD4= q=1",
      "2 OPU r0=0 c0=0 nr=2 nc=2 x=last d=f32:AACAPwAAgL8= vp=2 vn=-2 w=0.0001",
    ])
      s.handle(`${r}*${crcOf(r)}`);
    expect(out[0]).toMatch(/^1 ERR 203 /);
    expect(out[1]).toMatch(/^2 ERR 203 /);
    expect(board.counters.pulses).toBe(0);
  });
});
