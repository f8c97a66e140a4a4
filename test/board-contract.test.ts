/**
 * The Board contract (src/board/board.ts), not the wire: one suite run against every kind of board
 * the stack drives, so that pipelines, campaigns and training rules can rely on the same behaviour
 * whether the board speaks our protocol, is a bench of SMU and matrix, or is an ArC ONE.
 *
 *   protocol board   emu://        (our protocol, emulated board in-process)
 *   bench board      bench-emu://  (emulated 2400 SMU + 707B matrix in-process, on the same physics)
 *   bench over TCP   bench://      (the same emulated instruments served on two TCP ports)
 *   ArC ONE          arc1-emu://   (emulated ArC ONE speaking its own protocol, in-process)
 *
 * Every board is 4 x 4 agsi, seed 1: a fresh device reads 3.08 nS (NeuroSim Gmin).
 */
import { lastValueFrom, take, toArray } from "rxjs";
import { afterAll, describe, expect, it } from "vitest";
import { XbarError } from "../firmware-protocol/errors.ts";
import { ErrorCode } from "../firmware-protocol/index.ts";
import { arc1InProcess, type EmulatedArc1 } from "../mocks/arc1.ts";
import { EmulatedBench, serveBenchTcp } from "../mocks/bench.ts";
import type { BenchBoard } from "../src/board/bench-board.ts";
import { type Board, OPERATIONS } from "../src/board/board.ts";
import { connect } from "../src/board/connect.ts";
import { connectArc1 } from "../src/board/connect-arc1.ts";
import { characterize, programVerify, retention } from "../src/pipelines/index.ts";

const GMIN = 3.0769e-9;
const GMAX = 38.462e-9;
const SET = { amplitude: 3.2, width: 3e-4 };
const RESET = { amplitude: -2.8, width: 3e-4 };

const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const s of stops.reverse()) await s();
});

interface Target {
  name: string;
  open: () => Promise<Board>;
  /** Whether the board composes VMM on the host. */
  composed: boolean;
  /** Instruments idle after an abort: SMU output off and all crosspoints open, where that applies. */
  idle?: (b: Board) => Promise<void>;
}

/** The emulated ArC ONE of the last ArC ONE target opened. */
let lastArc1: EmulatedArc1 | undefined;

const benchIdle = async (b: Board) => {
  const s = await (b as BenchBoard).instrumentState();
  expect(s).toEqual({ output: false, closed: [] });
};

const TARGETS: Target[] = [
  {
    name: "protocol board (emu://)",
    open: () => connect("emu://?rows=4&cols=4&device=agsi&seed=1"),
    composed: false,
  },
  {
    name: "bench board (bench-emu://)",
    open: () => connect("bench-emu://?rows=4&cols=4&device=agsi&seed=1"),
    composed: true,
    idle: benchIdle,
  },
  {
    name: "bench board over TCP (bench://)",
    open: async () => {
      const bench = new EmulatedBench({ rows: 4, cols: 4, device: "agsi", seed: 1 });
      const served = await serveBenchTcp(bench);
      stops.push(served.stop);
      return connect(`bench://?smu=${served.smu}&matrix=${served.matrix}&rows=4&cols=4`);
    },
    composed: true,
    idle: benchIdle,
  },
  {
    name: "ArC ONE (arc1-emu://)",
    // As connect("arc1-emu://?rows=4&cols=4&device=agsi&seed=1"), keeping the emulator to look at.
    open: () =>
      connectArc1("arc1-emu://?rows=4&cols=4&device=agsi&seed=1", {
        arc1: () => {
          const link = arc1InProcess({ rows: 4, cols: 4, device: "agsi", seed: 1 });
          lastArc1 = link.arc1;
          return { host: link.host, technology: link.arc1.array.technology };
        },
      }),
    composed: true,
    idle: async () => expect(lastArc1?.idle).toBe(true),
  },
];

async function codeOf(p: Promise<unknown>): Promise<{ code: number; side?: unknown }> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(XbarError);
    return { code: (e as XbarError).code, side: (e as XbarError).context.side };
  }
  throw new Error("expected a refusal");
}

describe.each(TARGETS)("Board contract: $name", (t) => {
  it("says what it does natively; the rest (but FIRE) is composed", async () => {
    const b = await t.open();
    try {
      const { native, composed } = b.capabilities;
      expect(new Set([...native, ...composed, "fire"])).toEqual(new Set(OPERATIONS));
      expect(native.filter((op) => composed.includes(op))).toEqual([]);
      expect(composed).not.toContain("fire");
      expect(native.includes("vmm")).toBe(!t.composed);
      expect(b.capabilities.timing.read).toBeGreaterThan(0);
    } finally {
      await b.close();
    }
  });

  it("reads, pulses, pulse-reads; composed reads and VMM agree with single reads", async () => {
    const b = await t.open();
    try {
      const g0 = await lastValueFrom(b.read(1, 2));
      expect(g0).toBeCloseTo(GMIN, 12);
      const up = await lastValueFrom(b.pulse({ row: 1, col: 2, ...SET, count: 5, readAfter: true }));
      expect(up.applied).toBe(5);
      expect(up.conductance!).toBeGreaterThan(1.5 * GMIN);
      expect(await lastValueFrom(b.read(1, 2))).toBeCloseTo(up.conductance!, 12);
      const down = await lastValueFrom(b.pulse({ row: 1, col: 2, ...RESET, count: 5, readAfter: true }));
      expect(down.conductance!).toBeLessThan(up.conductance!);
      const all = await lastValueFrom(b.readAll());
      expect(all.data[1 * 4 + 2]).toBeCloseTo(down.conductance!, 12);
      const row = await lastValueFrom(b.readRow(1));
      expect(Array.from(row.data)).toEqual(Array.from(all.data.slice(4, 8)));
      const x = new Float32Array([0.1, 0.2, 0, 0.1]);
      const y = await lastValueFrom(b.vmm({ r0: 0, c0: 0, rows: 4, cols: 4 }, x));
      for (let j = 0; j < 4; j++) {
        let want = 0;
        for (let i = 0; i < 4; i++) want += x[i]! * all.data[i * 4 + j]!;
        expect(y[j]! / want).toBeCloseTo(1, 4);
      }
      const c = await lastValueFrom(b.counters());
      expect(c.pulses).toBe(10);
      expect(c.reads).toBeGreaterThanOrEqual(3 + 16 + 4);
      expect(c.energy).toBeGreaterThan(0);
    } finally {
      await b.close();
    }
  });

  it("batched pulses (list, block, OPU) apply the same pulses as single ones", async () => {
    const b = await t.open();
    try {
      const n1 = await lastValueFrom(
        b.pulseList({ rows: [0, 3], cols: [0, 3], amplitude: 3.2, width: 3e-4, count: 2 }),
      );
      expect(n1).toBe(4);
      const n2 = await lastValueFrom(
        b.pulseBlock({
          r0: 0,
          c0: 0,
          rows: 2,
          cols: 2,
          counts: new Int16Array([1, 0, 0, -1]),
          vp: 3.2,
          vn: -2.8,
          width: 3e-4,
        }),
      );
      expect(n2).toBe(2);
      const n3 = await lastValueFrom(
        b.outerProductUpdate({
          r0: 2,
          c0: 2,
          rows: 2,
          cols: 2,
          x: new Float32Array([1, 0]),
          d: new Float32Array([2, 0]),
          vp: 3.2,
          vn: -2.8,
          width: 3e-4,
        }),
      );
      expect(n3).toBe(2);
      const m = await lastValueFrom(b.readAll());
      expect(m.data[0]).toBeGreaterThan(GMIN * 1.2);
      expect(m.data[15]).toBeGreaterThan(GMIN * 1.2);
      expect(m.data[2 * 4 + 2]).toBeGreaterThan(GMIN * 1.2);
      expect(m.data[1]).toBeCloseTo(GMIN, 12);
    } finally {
      await b.close();
    }
  });

  it("program-and-verify converges on a 2 x 2 block", async () => {
    const b = await t.open();
    try {
      const targets = [0, 1, 2, 3].map((k) => ({ row: k >> 1, col: k & 1, target: 15e-9 }));
      const last = await lastValueFrom(programVerify(b, targets, { tolerance: 0.1, maxRounds: 60 }));
      expect(last.done).toBe(true);
      expect(last.converged).toBe(4);
      for (const d of last.devices!) expect(Math.abs(d.conductance - 15e-9)).toBeLessThanOrEqual(1.5e-9);
    } finally {
      await b.close();
    }
  });

  it("characterises a device and records retention", async () => {
    const b = await t.open();
    try {
      const pts = await lastValueFrom(characterize(b, { row: 2, col: 1, pulses: 10 }).pipe(toArray()));
      expect(pts).toHaveLength(21);
      expect(pts[10]!.conductance).toBeGreaterThan(pts[0]!.conductance);
      expect(pts[20]!.conductance).toBeLessThan(pts[10]!.conductance);
      expect(Math.max(...pts.map((p) => p.conductance))).toBeLessThanOrEqual(GMAX * 1.01);
      const ret = await lastValueFrom(
        retention(b, { block: { r0: 2, c0: 0, rows: 1, cols: 2 }, interval: 0.02, count: 2 }).pipe(toArray()),
      );
      expect(ret).toHaveLength(3);
      expect(ret[2]!.t - ret[0]!.t).toBeGreaterThanOrEqual(0.04 - 1e-9);
      expect(ret[2]!.map.data[1]).toBeCloseTo(ret[0]!.map.data[1]!, 12);
    } finally {
      await b.close();
    }
  });

  it("refuses out-of-envelope operations on the host, with nothing applied", async () => {
    const b = await t.open();
    try {
      const before = await lastValueFrom(b.counters());
      expect(await codeOf(lastValueFrom(b.pulse({ row: 0, col: 0, amplitude: 99, width: 3e-4 })))).toEqual({
        code: ErrorCode.AMPLITUDE_LIMIT,
        side: "host",
      });
      expect((await codeOf(lastValueFrom(b.pulse({ row: 0, col: 0, amplitude: 3, width: 100 })))).code).toBe(
        ErrorCode.WIDTH_LIMIT,
      );
      expect((await codeOf(lastValueFrom(b.read(4, 0)))).code).toBe(ErrorCode.ADDRESS_RANGE);
      expect(
        (
          await codeOf(
            lastValueFrom(b.pulseList({ rows: [0, 9], cols: [0, 0], amplitude: 3.2, width: 3e-4 })),
          )
        ).code,
      ).toBe(ErrorCode.ADDRESS_RANGE);
      expect((await codeOf(lastValueFrom(b.configure({ readVoltage: 5 })))).code).toBe(
        ErrorCode.READ_VOLTAGE_LIMIT,
      );
      const after = await lastValueFrom(b.counters());
      expect(after.pulses).toBe(before.pulses);
      expect(await lastValueFrom(b.read(0, 0))).toBeCloseTo(GMIN, 12);
      if (t.composed)
        expect((await codeOf(lastValueFrom(b.fire({ r0: 0, c0: 0, rows: 1, cols: 1 }, 1, 0.01)))).code).toBe(
          ErrorCode.UNSUITABLE_BOARD,
        );
    } finally {
      await b.close();
    }
  });

  it("unsubscribing mid-operation stops it and leaves the instruments idle", async () => {
    const b = await t.open();
    try {
      // Take 3 points of a 41-point characterisation, then unsubscribe (abortOnUnsubscribe sends ABORT).
      const pts = await lastValueFrom(
        characterize(b, { row: 3, col: 3, pulses: 20 }).pipe(take(3), toArray()),
      );
      expect(pts).toHaveLength(3);
      await lastValueFrom(b.abort());
      const c = await lastValueFrom(b.counters());
      expect(c.pulses).toBeLessThan(40);
      if (t.idle) await t.idle(b);
      // The board still answers, and the stopped device kept its state.
      expect(await lastValueFrom(b.read(3, 3))).toBeGreaterThan(GMIN);
    } finally {
      await b.close();
    }
  });
});
