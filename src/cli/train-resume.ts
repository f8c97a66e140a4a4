/**
 * `xbar train --checkpoint FILE` and `xbar train --resume FILE` (src/learning/training/checkpoint.ts):
 * which options a checkpoint keeps, what a resumption may change (the boards' URLs, the output, the
 * view, where the next checkpoints go), the checks before a board is touched, and the messages.
 */
import { rmSync } from "node:fs";
import type { Command } from "commander";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import { XbarError } from "../../firmware-protocol/errors.ts";
import type { Board } from "../board/board.ts";
import type { PulseShape } from "../learning/nn/calibrate.ts";
import {
  boardRecord,
  checkIdentity,
  checkKeepsDevices,
  defaultCheckpointPath,
  forgetsDevices,
  RESUMABLE_EMU,
  type TrainCheckpoint,
  type TrainProgress,
  writeCheckpoint,
} from "../learning/training/checkpoint.ts";
import type { TrainOptions } from "../learning/training/train.ts";

/** The options of `xbar train` that rebuild a run: a checkpoint keeps them, a resumption takes them. */
const STORED = [
  "rule",
  "update",
  "pulseMode",
  "threshold",
  "epochs",
  "imagesPerEpoch",
  "hidden",
  "crop",
  "pool",
  "seed",
  "lr",
  "lrDecay",
  "testImages",
  "refreshFraction",
  "batch",
  "refreshAt",
  "hybridLr",
  "transferScale",
  "gain",
  "stepTime",
  "drift",
  "sparsityThreshold",
] as const;

/** Options a resumption may give: where the boards are now, the output, the view, the next checkpoints. */
const RESUME_MAY_GIVE = new Set(["resume", "checkpoint", "port", "json"]);

export const RESUME_HELP = `
Checkpoints and resume:
  After every completed epoch the training is saved to a checkpoint file (--checkpoint FILE; by
  default a new file in xbar's state folder, named after the time and deleted when the training
  completes, none on a board that cannot be resumed on; its name is printed at the start):
  the options, the epochs done, the device range, the random generator (the next epoch's image order),
  the host-side layers (software weights; an array layer's refresh budget and counters) and the boards'
  URLs (tokens left out) and identities. After Ctrl-C, Stop on the view or a crash,
    xbar train --resume FILE
  continues with the next epoch on the same board(s) (the identity is checked; --port gives a board's
  new URL), without measuring the range or initialising the arrays again: the devices' conductances
  are the board's, so a board must keep them. Real boards do; an emulator in this process keeps them
  only in a file: emu://?...&state=FILE (emu:// without state= is refused, E623 CANNOT_RESUME). The
  output and --json then show every epoch. A stop in the middle of an epoch keeps the pulses that
  epoch had sent on the devices; the epoch is trained again from its first image. Rules: software,
  onchip, ssl (an emulated PCM board restarts its devices' drift clocks), hybrid (between epochs of
  the software pretraining; the transfers come after it); not snn.`;

/** The options a checkpoint keeps (JSON values), with the pulse the run uses. */
export function storedOptions(o: Record<string, unknown>, pulse: PulseShape): Record<string, unknown> {
  const kept: Record<string, unknown> = { pulse };
  for (const k of STORED) if (o[k] !== undefined) kept[k] = o[k];
  return kept;
}

/**
 * The options of a resumed run: the checkpoint's, with the output, view and port options given now.
 * Any other option given on the command line is refused (the run must go on as it started).
 */
export function resumedOptions(
  ck: TrainCheckpoint,
  given: Record<string, unknown>,
  cmd: Command,
): Record<string, unknown> {
  for (const opt of cmd.options) {
    const key = opt.attributeName();
    if (cmd.getOptionValueSource(key) !== "cli" || RESUME_MAY_GIVE.has(key) || key.startsWith("view"))
      continue;
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `--resume continues the run with the options it started with: ${opt.long} cannot be given with it (only --port, --checkpoint, --json and the --view options)`,
    );
  }
  const now: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(given)) if (RESUME_MAY_GIVE.has(k) || k.startsWith("view")) now[k] = v;
  return { ...ck.options, ...now };
}

/** Refuses a checkpoint whose training is complete. */
export function checkUnfinished(ck: TrainCheckpoint, path: string): void {
  const o = ck.options;
  const total = (o.epochs as number) + (o.rule === "hybrid" ? 1 : 0);
  if (ck.progress.reports.length >= total)
    throw new XbarError(
      ErrorCode.CANNOT_RESUME,
      `the training of ${path} is complete (its ${total} epoch(s) are done): nothing to resume`,
    );
}

/** The boards of a resumed run: the checkpoint's, or those given with --port (as many), checked first. */
export function resumedUrls(ck: TrainCheckpoint, port: string[] | undefined): string[] {
  const urls = port ?? ck.boards.map((b) => b.url);
  if (urls.length !== ck.boards.length)
    throw new XbarError(
      ErrorCode.CANNOT_RESUME,
      `cannot resume: the checkpoint was trained on ${ck.boards.length} board(s), --port gives ${urls.length}`,
    );
  checkKeepsDevices(urls);
  return urls;
}

/** Checks every board is the one the checkpoint was trained on (after the handshake, before any work). */
export function checkBoards(ck: TrainCheckpoint, boards: readonly Board[]): void {
  for (const [i, record] of ck.boards.entries()) checkIdentity(record, boards[i]!);
}

/** The command that resumes from `path`, quoted for a shell when it needs to be. */
export function resumeCommand(path: string): string {
  const arg = /^[\w./:@%+=,-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`;
  return `xbar train --resume ${arg}`;
}

/** Where a run writes its checkpoints, and whether it could be resumed from them. */
export class Checkpoints {
  readonly path: string;
  /** Why the boards cannot be resumed on, or undefined. */
  readonly notResumable: string | undefined;
  /** The last checkpoint on disk: the one resumed from, then this run's once an epoch has completed. */
  last: string | undefined;

  constructor(
    private readonly options: Record<string, unknown>,
    urls: readonly string[],
    given: { checkpoint?: string; resume?: string },
  ) {
    this.path = given.checkpoint ?? given.resume ?? defaultCheckpointPath();
    this.chosenHere = given.checkpoint === undefined && given.resume === undefined;
    this.notResumable = urls.map(forgetsDevices).find(Boolean);
    this.last = given.resume;
  }

  /** True when the path is the default one in the state folder (not named by the user). */
  private readonly chosenHere: boolean;

  /**
   * The training completed: there is nothing to resume, so a checkpoint of the state folder is
   * deleted (the folder would otherwise gather one per run); one the user named is kept.
   */
  completed(): void {
    if (this.chosenHere && this.last === this.path) rmSync(this.path, { force: true });
  }

  /** The line printed at the start. */
  note(): string {
    if (!this.notResumable)
      return `checkpoint after every epoch: ${this.path}${this.chosenHere ? " (deleted when the training completes)" : ""}`;
    if (this.chosenHere)
      return `no checkpoint: ${this.notResumable}, so this run cannot be resumed; to be able to, ${RESUMABLE_EMU}`;
    return `checkpoint after every epoch: ${this.path} (for the record: ${this.notResumable}, so this run cannot be resumed; to be able to, ${RESUMABLE_EMU})`;
  }

  /**
   * The callback for TrainOptions.onCheckpoint, for these boards; none (nothing gathered or written)
   * when no file was named and the boards cannot be resumed on.
   */
  writer(boards: readonly Board[]): TrainOptions["onCheckpoint"] {
    if (this.chosenHere && this.notResumable) return undefined;
    const records = boards.map(boardRecord);
    return (progress: TrainProgress) => {
      writeCheckpoint(this.path, { options: this.options, boards: records, progress });
      this.last = this.path;
    };
  }

  /** What an interrupted run says about resuming. */
  resumeLine(): string {
    if (this.notResumable) return `it cannot be resumed (${this.notResumable})`;
    if (!this.last) return "no checkpoint was written (none before the first epoch ends)";
    return `resume with: ${resumeCommand(this.last)}`;
  }
}
