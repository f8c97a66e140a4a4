/**
 * Placing layers on arrays. A layer's physical matrix is (nIn + 1) rows x 2·nOut columns
 * (differential pairs side by side: column 2j holds G+, 2j+1 holds G−). It is cut into tiles that fit
 * the boards, filling each board's columns left to right; a layer taller than a board is cut into row
 * bands whose currents the host adds up; tiles never split a pair.
 */

import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import type { Board } from "../../board/board.ts";

export interface Tile {
  board: Board;
  /** Origin of the tile on its board. */
  r0: number;
  c0: number;
  /** The part of the layer's physical matrix it holds. */
  rowStart: number;
  rows: number;
  colStart: number;
  cols: number;
}

export interface Placement {
  tiles: Tile[];
}

/** Free columns per board, shared by successive `place` calls. */
export class Allocator {
  private readonly used = new Map<Board, number>();
  constructor(readonly boards: Board[]) {
    if (boards.length === 0) throw new XbarError(ErrorCode.BAD_INPUT, "no boards to place layers on");
  }

  /** Places a physical matrix of `rows x cols` (cols even). Throws when the boards are full. */
  place(rows: number, cols: number, name = "layer"): Placement {
    const tiles: Tile[] = [];
    let colStart = 0;
    let bi = 0;
    while (colStart < cols) {
      const board = this.boards[bi];
      if (!board) {
        const free = this.boards
          .map((b) => `${b.identity.rows}x${b.identity.cols - (this.used.get(b) ?? 0)}`)
          .join(", ");
        throw new XbarError(
          ErrorCode.UNSUITABLE_BOARD,
          `${name} needs ${rows}x${cols} devices; the boards have no room left (free: ${free})`,
        );
      }
      const br = board.identity.rows;
      const bc = board.identity.cols;
      const used = this.used.get(board) ?? 0;
      const bands = Math.ceil(rows / br);
      // Columns this board can give: every row band needs its own columns on the board.
      const free = bc - used;
      const width = Math.min(cols - colStart, Math.floor(free / bands / 2) * 2);
      if (width < 2) {
        bi++;
        continue;
      }
      let c0 = used;
      for (let b = 0; b < bands; b++) {
        const rowStart = b * br;
        tiles.push({
          board,
          r0: 0,
          c0,
          rowStart,
          rows: Math.min(br, rows - rowStart),
          colStart,
          cols: width,
        });
        c0 += width;
      }
      this.used.set(board, c0);
      colStart += width;
    }
    return { tiles };
  }
}
