/**
 * The safety envelope at every boundary (PROTOCOL.md §4): each limit at the boundary, just inside and
 * just outside — refused on the host before anything is sent (side "host", no request written) and,
 * sent raw past the host's checks, refused again by the board (side "board") with the same code;
 * then property-based agreement of host and board over random values.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { firstValueFrom } from "rxjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { XbarError } from "../drivers/index.ts";
import { type ArgInput, ErrorCode } from "../firmware-protocol/index.ts";
import type { Board } from "../src/board/board.ts";
import { connect } from "../src/board/connect.ts";
import type { CrossbarBoard } from "../src/board/protocol-board.ts";

let board: CrossbarBoard;
/** Verdicts checked, for docs/reliability.md (scripts/reliability-figures.mts sets XBAR_FIGURES_DIR). */
const tried = { host: 0, board: 0 };
beforeAll(async () => {
  board = (await connect("emu://?rows=8&cols=8&device=linear&seed=1")) as CrossbarBoard;
});
afterAll(async () => {
  await board.close();
  const dir = process.env.XBAR_FIGURES_DIR;
  if (dir) writeFileSync(join(dir, "envelope.json"), JSON.stringify(tried));
});

async function outcome(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (e) {
    if (!(e instanceof XbarError)) throw e;
    return e.code;
  }
}

/** Host side: the Board refuses with `code` (0 = accepted) and, when it refuses, writes nothing. */
async function host(op: (b: Board) => Promise<unknown>, code: number): Promise<void> {
  const before = board.client.stats.requests;
  let err: unknown;
  try {
    await op(board);
  } catch (e) {
    err = e;
  }
  tried.host++;
  if (code === 0) {
    expect(err).toBeUndefined();
    return;
  }
  expect(err).toBeInstanceOf(XbarError);
  expect((err as XbarError).code).toBe(code);
  expect((err as XbarError).context.side).toBe("host");
  expect(board.client.stats.requests).toBe(before); // nothing reached the wire
}

/** Board side: the same operation sent raw (no host checks) is refused with `code` by the board. */
async function raw(verb: string, args: ArgInput, code: number): Promise<void> {
  tried.board++;
  const err = await board.client.request(verb, args).catch((e: unknown) => e);
  if (code === 0) {
    expect(err).not.toBeInstanceOf(Error);
    return;
  }
  expect(err).toBeInstanceOf(XbarError);
  expect((err as XbarError).code).toBe(code);
  expect((err as XbarError).context.side).toBe("board");
}

const pulse = (v: number, w: number, n: number) => (b: Board) =>
  firstValueFrom(b.pulse({ row: 0, col: 0, amplitude: v, width: w, count: n }));
const pulseRaw = (v: number, w: number, n: number, code: number) =>
  raw("PULSE", { r: 0, c: 0, v, w, n }, code);

describe("safety envelope at every boundary, on the host and on the board", () => {
  it("reports the hard limits the tests below rely on", () => {
    expect(board.limits).toEqual({
      vmax: 5,
      wmin: 1e-8,
      wmax: 1e-2,
      nmax: 10000,
      plmax: 65536,
      vrmax: 1,
      ccmax: 1e-3,
      emax: 1,
      gmax: 1e-4,
    });
  });

  it("amplitude |v| <= vmax (301), both polarities", async () => {
    for (const [v, code] of [
      [5, 0],
      [-5, 0],
      [4.9999, 0],
      [-4.9999, 0],
      [5.0001, ErrorCode.AMPLITUDE_LIMIT],
      [-5.0001, ErrorCode.AMPLITUDE_LIMIT],
      [Number.POSITIVE_INFINITY, ErrorCode.AMPLITUDE_LIMIT],
    ] as const) {
      await host(pulse(v, 1e-6, 1), code);
      if (Number.isFinite(v)) await pulseRaw(v, 1e-6, 1, code);
    }
  });

  it("width in [wmin, wmax] (302)", async () => {
    for (const [w, code] of [
      [1e-8, 0],
      [1.0001e-8, 0],
      [0.9999e-8, ErrorCode.WIDTH_LIMIT],
      [1e-2, 0],
      [0.9999e-2, 0],
      [1.0001e-2, ErrorCode.WIDTH_LIMIT],
      [0, ErrorCode.WIDTH_LIMIT],
    ] as const) {
      await host(pulse(2, w, 1), code);
      await pulseRaw(2, w, 1, code);
    }
  });

  it("count n <= nmax per device per command (303)", async () => {
    for (const [n, code] of [
      [10000, 0],
      [9999, 0],
      [10001, ErrorCode.COUNT_LIMIT],
      [-1, ErrorCode.COUNT_LIMIT],
    ] as const) {
      await host(pulse(0.5, 1e-8, n), code);
      if (n >= 0) await pulseRaw(0.5, 1e-8, n, code);
    }
  });

  it("pulse list length k <= plmax (303)", async () => {
    for (const [k, code] of [
      [65536, 0],
      [65535, 0],
      [65537, ErrorCode.COUNT_LIMIT],
    ] as const) {
      const rows = new Uint16Array(k);
      const cols = new Uint16Array(k);
      await host((b) => firstValueFrom(b.pulseList({ rows, cols, amplitude: 0.5, width: 1e-8 })), code);
      await raw(
        "PLIST",
        { r: { type: "u16", data: rows }, c: { type: "u16", data: cols }, v: 0.5, w: 1e-8 },
        code,
      );
    }
  });

  it("read voltage |v| <= vrmax, in CFG and in VMM inputs (306)", async () => {
    for (const [v, code] of [
      [1, 0],
      [0.9999, 0],
      [1.0001, ErrorCode.READ_VOLTAGE_LIMIT],
      [-1.0001, ErrorCode.READ_VOLTAGE_LIMIT],
    ] as const) {
      await host((b) => firstValueFrom(b.configure({ readVoltage: v })), code);
      await raw("CFG", { vread: v }, code);
      const x = Float32Array.of(v, 0);
      const block = { r0: 0, c0: 0, rows: 2, cols: 2 };
      await host((b) => firstValueFrom(b.vmm(block, x)), code);
      await raw("VMM", { r0: 0, c0: 0, nr: 2, nc: 2, x: { type: "f32", data: x } }, code);
    }
    await firstValueFrom(board.configure({ readVoltage: 0.2 }));
  });

  it("compliance in (0, ccmax] (304)", async () => {
    for (const [cc, code] of [
      [1e-3, 0],
      [0.9999e-3, 0],
      [1.0001e-3, ErrorCode.COMPLIANCE_LIMIT],
      [0, ErrorCode.COMPLIANCE_LIMIT],
    ] as const) {
      await host((b) => firstValueFrom(b.configure({ compliance: cc })), code);
      await raw("CFG", { cc }, code);
    }
    await firstValueFrom(board.configure({ compliance: 1e-4 }));
  });

  it("energy per command <= emax (307): refused on the host (LIM gmax) and by the board, before any pulse", async () => {
    // The bound of one train: v² · Gmax · w · n, Gmax = 100 µS for the linear device (LIM gmax=).
    expect(board.limits.gmax).toBe(1e-4);
    const e40 = 5 * 5 * 1e-4 * 1e-2 * 40;
    await firstValueFrom(board.configure({ emax: e40 }));
    const before = (await firstValueFrom(board.counters())).pulses;
    await pulseRaw(5, 1e-2, 40, 0);
    await pulseRaw(5, 1e-2, 39, 0);
    await pulseRaw(5, 1e-2, 41, ErrorCode.ENERGY_LIMIT);
    // The host refuses the same train before sending (side "host", nothing on the wire) …
    await host(pulse(5, 1e-2, 41), ErrorCode.ENERGY_LIMIT);
    await host(
      (b) =>
        firstValueFrom(b.pulseList({ rows: [0, 1], cols: [0, 1], amplitude: 5, width: 1e-2, count: 21 })),
      ErrorCode.ENERGY_LIMIT,
    );
    await host(
      (b) =>
        firstValueFrom(
          b.pulseBlock({
            r0: 0,
            c0: 0,
            rows: 1,
            cols: 2,
            counts: Int16Array.of(21, -21),
            vp: 5,
            vn: -5,
            width: 1e-2,
          }),
        ),
      ErrorCode.ENERGY_LIMIT,
    );
    await host(pulse(5, 1e-2, 40), 0);
    const after = (await firstValueFrom(board.counters())).pulses;
    expect(after - before).toBe(119); // … and the board applied none of the refused trains
    await firstValueFrom(board.configure({ emax: 1 }));
  });

  it("a narrowed envelope (CFG vmax, wmax, nmax) is enforced at its new boundary on both sides; widening is 308", async () => {
    await firstValueFrom(board.configure({ vmax: 3, wmax: 1e-3, nmax: 100 }));
    expect(board.limits).toMatchObject({ vmax: 3, wmax: 1e-3, nmax: 100 });
    for (const [v, w, n, code] of [
      [3, 1e-3, 100, 0],
      [3.0001, 1e-6, 1, ErrorCode.AMPLITUDE_LIMIT],
      [2, 1.0001e-3, 1, ErrorCode.WIDTH_LIMIT],
      [2, 1e-6, 101, ErrorCode.COUNT_LIMIT],
    ] as const) {
      await host(pulse(v, w, n), code);
      await pulseRaw(v, w, n, code);
    }
    await raw("CFG", { vmax: 5.0001 }, ErrorCode.WIDEN_REFUSED);
    await raw("CFG", { nmax: 10001 }, ErrorCode.WIDEN_REFUSED);
    await firstValueFrom(board.configure({ vmax: 5, wmax: 1e-2, nmax: 10000 }));
  });

  it("property: for random amplitudes, widths and counts, host and board agree on every verdict", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.double({ min: -7, max: 7, noNaN: true }),
        fc.double({ min: 0, max: 2e-2, noNaN: true }),
        fc.integer({ min: 0, max: 12000 }),
        async (vs, w, n) => {
          // Inside the envelope a train spends at most 5² · 100 µS · 10 ms · 10 000 = 0.25 J < emax.
          const expected =
            Math.abs(vs) > 5
              ? ErrorCode.AMPLITUDE_LIMIT
              : !(w >= 1e-8 && w <= 1e-2)
                ? ErrorCode.WIDTH_LIMIT
                : n > 10000
                  ? ErrorCode.COUNT_LIMIT
                  : 0;
          const h = await outcome(
            firstValueFrom(board.pulse({ row: 1, col: 1, amplitude: vs, width: w, count: n })),
          );
          const b = await outcome(board.client.request("PULSE", { r: 1, c: 1, v: vs, w, n }));
          tried.host++;
          tried.board++;
          expect(h).toBe(expected);
          expect(b).toBe(expected);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });
});
