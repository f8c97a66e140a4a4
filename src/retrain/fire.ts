/**
 * FIRE (PROTOCOL.md §6) for threshold-switch cells: bias a block at `v` for `t` seconds and count
 * each cell's firings. Each firing also partially SETs the cell's PCM.
 *
 * The Board interface (src/board.ts) has no `fire()` yet, so this reaches the board's line client
 * (`CrossbarBoard.client`), the one implementation of Board, and sends the protocol's FIRE verb. It
 * works on every link (emu://, socket://, a serial path) since they speak the same bytes. When Board
 * gains `fire(block, v, t)`, this file becomes a one-line call to it.
 */
import { defer, map, type Observable } from "rxjs";
import { XbarError } from "../../drivers/index.ts";
import {
  type Args,
  argPacked,
  checkAddress,
  checkAmplitude,
  ErrorCode,
} from "../../firmware-protocol/index.ts";
import type { Block, Board } from "../board.ts";

interface LineClient {
  request(verb: string, args?: Record<string, number>): Promise<Args>;
}

/** Whether the board offers FIRE (IDN ops) and can be reached with it. */
export function canFire(board: Board): boolean {
  return board.identity.operations.includes("FIRE") && "client" in board;
}

/** FIRE over a block: emits the firing counts, row-major. */
export function fire(board: Board, block: Block, v: number, t: number): Observable<Uint32Array> {
  return defer(async () => {
    const ctx = { command: "FIRE", port: board.url, side: "host" } as const;
    if (!board.identity.operations.includes("FIRE"))
      throw new XbarError(
        ErrorCode.UNKNOWN_COMMAND,
        `${board.url} does not offer FIRE (its devices are ${board.identity.technology}; threshold-switch cells, e.g. tech=ts-pcm, are needed)`,
        ctx,
      );
    const client = (board as unknown as { client?: LineClient }).client;
    if (!client)
      throw new XbarError(ErrorCode.BAD_ARGUMENT, "this Board implementation cannot send FIRE", ctx);
    try {
      checkAmplitude(board.limits, v);
      checkAddress(board.identity.rows, board.identity.cols, block.r0, block.c0, block.rows, block.cols);
    } catch (e) {
      throw new XbarError((e as { code: number }).code, (e as Error).message, ctx);
    }
    if (!(t > 0 && t <= 1))
      throw new XbarError(ErrorCode.BAD_ARGUMENT, `FIRE t=${t} s outside (0, 1] s`, ctx);
    return client.request("FIRE", { r0: block.r0, c0: block.c0, nr: block.rows, nc: block.cols, v, t });
  }).pipe(map((a) => argPacked(a, "spikes", "u32") as Uint32Array));
}
