/**
 * Who runs a run: a token `HOST:PID:RANDOM[:job N]` the runner claims it under (run-store.ts,
 * `claimRun`). A process killed outright (SIGKILL, power loss) cannot mark its run ended; a reader on
 * the same computer can tell its process is gone, and shows the run as what a resume will record:
 * aborted, with its running steps interrupted.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { errnoCode } from "../../../firmware-protocol/errors.ts";

/** A token naming this process as a run's owner. */
export const ownerToken = (): string => `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

/**
 * True when `owner` names a process of this computer that no longer exists. False when it is alive,
 * on another computer (a worker elsewhere: the job engine recovers it), or not a token of this form.
 */
export function ownerIsGone(owner: string | null | undefined): boolean {
  const m = /^(.+):(\d+):[0-9a-f]{8}(?::|$)/.exec(owner ?? "");
  if (!m || m[1] !== hostname()) return false;
  try {
    process.kill(Number(m[2]), 0);
    return false;
  } catch (e) {
    return errnoCode(e) === "ESRCH";
  }
}

/** The error a run left running by a process that is gone shows (and a resume records). */
export const OWNER_GONE = "the process ended without closing the run";
