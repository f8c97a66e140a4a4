/**
 * Helpers of the physics tests: everything goes through connect("emu://…") and the protocol, as a
 * host program would; nothing here calls a device model directly.
 */
import { firstValueFrom, lastValueFrom, toArray } from "rxjs";
import { argInt, argNumber, argPacked, argToken } from "../../firmware-protocol/index.ts";
import type { Board } from "../../src/board/board.ts";
import { connect } from "../../src/board/connect.ts";
import type { CrossbarBoard } from "../../src/board/protocol-board.ts";
import { type CharacterizePoint, characterize } from "../../src/pipelines/index.ts";

/** Opens an emulated board; `opts` become the emu:// query. */
export async function emu(opts: Record<string, string | number>): Promise<Board> {
  const q = new URLSearchParams(Object.entries(opts).map(([k, v]) => [k, String(v)]));
  return connect(`emu://?${q}`);
}

/** Runs `body` on a fresh board and always closes it. */
export async function withEmu<T>(
  opts: Record<string, string | number>,
  body: (b: Board) => Promise<T>,
): Promise<T> {
  const b = await emu(opts);
  try {
    return await body(b);
  } finally {
    await b.close();
  }
}

/** The characterize operator's points, in order. */
export async function curve(
  b: Board,
  opts: { row?: number; col?: number; pulses: number; set?: number; reset?: number; width?: number },
): Promise<CharacterizePoint[]> {
  return lastValueFrom(
    characterize(b, {
      row: opts.row ?? 0,
      col: opts.col ?? 0,
      pulses: opts.pulses,
      setAmplitude: opts.set,
      resetAmplitude: opts.reset,
      width: opts.width,
    }).pipe(toArray()),
  );
}

export async function readAll(b: Board): Promise<Float32Array> {
  return (await firstValueFrom(b.readAll())).data;
}

export async function read(b: Board, r: number, c: number): Promise<number> {
  return firstValueFrom(b.read(r, c));
}

export async function pulse(b: Board, r: number, c: number, v: number, w: number, n = 1): Promise<void> {
  await firstValueFrom(b.pulse({ row: r, col: c, amplitude: v, width: w, count: n }));
}

/** Pulses every device of the board `n` times (one PBLK command). */
export async function pulseAll(b: Board, n: number, vp: number, vn: number, w: number): Promise<void> {
  const { rows, cols } = b.identity;
  await firstValueFrom(
    b.pulseBlock({ r0: 0, c0: 0, rows, cols, counts: new Int16Array(rows * cols).fill(n), vp, vn, width: w }),
  );
}

/** A raw request on the board's link (for what the Board interface does not cover: FIRE, IDN effects). */
export function raw(b: Board) {
  return (b as CrossbarBoard).client;
}

export async function idnEffects(b: Board): Promise<string> {
  return argToken(await raw(b).request("IDN"), "effects");
}

/** FIRE over the protocol: spike counts of a block. */
export async function fire(
  b: Board,
  block: { r0: number; c0: number; nr: number; nc: number },
  v: number,
  t: number,
): Promise<Uint32Array> {
  const a = await raw(b).request("FIRE", { ...block, v, t });
  return argPacked(a, "spikes", "u32", block.nr * block.nc) as Uint32Array;
}

export async function energy(b: Board): Promise<number> {
  return argNumber(await raw(b).request("STAT"), "energy");
}

export async function errorCode(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    return (e as { code: number }).code;
  }
  return 0;
}

export { argInt };

export const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0) / xs.length;
export const std = (xs: ArrayLike<number>) => {
  const m = mean(xs);
  return Math.sqrt(Array.from(xs).reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
};

/** Least-squares slope of y over x. */
export function slope(x: number[], y: number[]): number {
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
  }
  return sxy / sxx;
}
