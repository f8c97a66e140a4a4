/** What the command groups share: output, the --port option, a board for the length of an action. */

import { closeSync, openSync } from "node:fs";
import { Option } from "commander";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import { errnoCode, errorMessage, XbarError } from "../../firmware-protocol/errors.ts";
import type { Board } from "../board/board.ts";
import { defaultPort, PORT_HELP } from "./options.ts";

/** Exit codes: 0 success, 1 error, 2 bad usage, 3 devices not programmed, 130 interrupted. */
export const EXIT = { OK: 0, ERROR: 1, USAGE: 2, NOT_CONVERGED: 3, INTERRUPTED: 130 } as const;

/** A line on stdout. */
export type Out = (s: string) => void;

export const out: Out = (s) => {
  process.stdout.write(`${s}\n`);
};
export const outRaw = (s: string): void => {
  process.stdout.write(s);
};

/** A fraction in [0, 1]. */
export const rate = (v: number) => v >= 0 && v <= 1;

export async function withBoard<T>(url: string | undefined, fn: (b: Board) => Promise<T>): Promise<T> {
  const { connect } = await import("../board/connect.ts");
  const { firstValueFrom } = await import("../../drivers/rx.ts");
  const board = await connect(url ?? defaultPort());
  try {
    return await fn(board);
  } catch (e) {
    // Leave the array idle whatever failed (the board grounds its lines after every command anyway).
    await firstValueFrom(board.abort()).catch(() => {});
    throw e;
  } finally {
    await board.close();
  }
}

/** Refuses an output path that cannot be written (missing folder, a folder, no permission). */
export function checkWritable(path: string): void {
  try {
    const fd = openSync(path, "a");
    closeSync(fd);
  } catch (e) {
    const code = errnoCode(e);
    const why =
      code === "ENOENT"
        ? "its folder does not exist"
        : code === "EISDIR"
          ? "it is a folder"
          : code === "EACCES"
            ? "permission denied"
            : errorMessage(e);
    throw new XbarError(ErrorCode.BAD_INPUT, `cannot write ${path}: ${why}`);
  }
}

export const portOption = () => new Option("-p, --port <url>", `${PORT_HELP}`);
