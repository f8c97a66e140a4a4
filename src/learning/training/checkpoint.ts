/**
 * Checkpoints of a training (`xbar train --checkpoint FILE`, `xbar train --resume FILE`): after every
 * completed epoch, what a later process needs to continue with the next epoch as if the run had not
 * stopped. The devices' conductances are not in it: they are on the board, which must be the same
 * board (its identity is checked) and must have kept them (a real array, or emu:// with state=FILE).
 *
 * A checkpoint holds
 * - the command's options (everything that rebuilds the run) and the boards' URLs (secrets redacted:
 *   a token is taken again from token-file=, $XBAR_TOKEN or $XBAR_TOKEN_FILE) with their identity;
 * - the progress (`TrainProgress`): the completed epochs' reports, the calibrated device range, the
 *   state of the random generator (the next epoch draws the image order an uninterrupted run would),
 *   each layer's host-side state (software weights; an array layer's counters and refresh budget),
 *   SSL's clock and sparsity figures, and the totals of the board work so far.
 *
 * Written atomically (a temporary file renamed over it), as JSON.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { errnoCode, errorMessage, XbarError } from "../../../firmware-protocol/errors.ts";
import type { RandomState } from "../../../firmware-protocol/random.ts";
import { redactSecrets } from "../../../firmware-protocol/redact.ts";
import type { Board, Identity } from "../../board/board.ts";
import { stateDir } from "../../board/default-url.ts";
import type { DeviceRange } from "../nn/calibrate.ts";
import type { Layer, LayerHostState } from "../nn/layer.ts";
import type { SparsityReport } from "./ssl.ts";
import type { EpochReport, TrainResult } from "./train.ts";

/** What a training needs, besides its options and the boards' devices, to go on after its last epoch. */
export interface TrainProgress {
  reports: EpochReport[];
  range?: DeviceRange;
  rng: RandomState;
  /** Host-side state of the network's layers, in order. */
  layers: LayerHostState[];
  /** "ssl": board time counted so far and the waits. */
  drift?: { trainClock: number; waited: number };
  sparsity?: SparsityReport[];
  /** Board work and wall time so far (calibration and initialisation included). */
  totals: TrainResult["totals"];
}

/** The identity a resumed run checks: the same board, not just one of the same kind. */
export type BoardIdentity = Pick<Identity, "vendor" | "model" | "serial" | "rows" | "cols" | "technology">;

export interface BoardRecord {
  /** The URL, secrets redacted, an emulator's relative state= path made absolute. */
  url: string;
  identity: BoardIdentity;
}

const FORMAT = "xbar train checkpoint";

export interface TrainCheckpoint {
  format: typeof FORMAT;
  version: 1;
  /** When it was written (ISO 8601). */
  written: string;
  /** The command's options, as parsed (JSON values). */
  options: Record<string, unknown>;
  boards: BoardRecord[];
  progress: TrainProgress;
}

// ---- the progress inside a run ----

/** Host-side state of every layer (at an epoch's end). */
export function layerStates(layers: readonly Layer[]): LayerHostState[] {
  return layers.map((l) => {
    if (!l.hostState) throw new XbarError(ErrorCode.INTERNAL, `a ${l.kind} layer without a host state`);
    return l.hostState();
  });
}

/** Gives each layer its saved state; refused when the network differs from the checkpoint's. */
export function restoreLayers(layers: readonly Layer[], states: readonly LayerHostState[]): void {
  if (states.length !== layers.length)
    throw new XbarError(
      ErrorCode.CANNOT_RESUME,
      `the checkpoint holds ${states.length} layer(s), the network has ${layers.length}`,
    );
  layers.forEach((l, i) => {
    if (!l.restoreHostState)
      throw new XbarError(ErrorCode.INTERNAL, `a ${l.kind} layer without a host state`);
    l.restoreHostState(states[i]!);
  });
}

/** Two runs' totals added (link bytes only when both count them). */
export function addTotals(a: TrainResult["totals"], b: TrainResult["totals"]): TrainResult["totals"] {
  const link =
    a.link && b.link
      ? { sent: a.link.sent + b.link.sent, received: a.link.received + b.link.received }
      : undefined;
  return {
    pulses: a.pulses + b.pulses,
    reads: a.reads + b.reads,
    vmms: a.vmms + b.vmms,
    energy: a.energy + b.energy,
    seconds: a.seconds + b.seconds,
    link,
  };
}

// ---- boards ----

/** The URL as a checkpoint keeps it: no secret, and an emulator's state file found from any folder. */
export function recordedUrl(url: string): string {
  const q = url.indexOf("?");
  if (url.startsWith("emu://") && q >= 0) {
    const params = new URLSearchParams(url.slice(q + 1));
    const state = params.get("state");
    if (state && !isAbsolute(state)) {
      params.set("state", resolve(state));
      url = `${url.slice(0, q + 1)}${params.toString()}`;
    }
  }
  return redactSecrets(url);
}

export function boardRecord(b: Board): BoardRecord {
  const { vendor, model, serial, rows, cols, technology } = b.identity;
  return { url: recordedUrl(b.url), identity: { vendor, model, serial, rows, cols, technology } };
}

/**
 * Why a board at `url` cannot have kept its devices since an earlier process (undefined when it can):
 * an emulator in this process without a state file starts afresh each time.
 */
export function forgetsDevices(url: string): string | undefined {
  const inProcess = /^(emu|bench-emu|arc1-emu|smu-emu):\/\//.exec(url);
  if (!inProcess) return undefined;
  const q = url.indexOf("?");
  if (inProcess[1] === "emu" && q >= 0 && new URLSearchParams(url.slice(q + 1)).get("state"))
    return undefined;
  return `${redactSecrets(url)} is an emulator in this process that keeps its devices nowhere (no state=FILE): the conductances trained before the stop are gone`;
}

/** How to make an emulated training resumable, for messages. */
export const RESUMABLE_EMU =
  'train on an emulated board that keeps its devices in a file: --port "emu://?rows=512&cols=256&device=agsi&seed=1&state=FILE"';

/** Refuses boards that cannot have kept the checkpoint's devices (before anything is sent to them). */
export function checkKeepsDevices(urls: readonly string[]): void {
  for (const u of urls) {
    const why = forgetsDevices(u);
    if (why)
      throw new XbarError(
        ErrorCode.CANNOT_RESUME,
        `cannot resume: ${why}. To resume a training, ${RESUMABLE_EMU}`,
      );
  }
}

/** Refuses a board other than the one the checkpoint was trained on. */
export function checkIdentity(record: BoardRecord, board: Board): void {
  const now = boardRecord(board).identity;
  const was = record.identity;
  const differ = (Object.keys(was) as Array<keyof BoardIdentity>).filter((k) => now[k] !== was[k]);
  if (differ.length === 0) return;
  const show = (i: BoardIdentity) => differ.map((k) => `${k} ${i[k]}`).join(", ");
  throw new XbarError(
    ErrorCode.CANNOT_RESUME,
    `cannot resume: the board at ${redactSecrets(board.url)} is not the one the checkpoint was trained on (${show(now)}; the checkpoint's: ${show(was)})`,
  );
}

// ---- the file ----

/** Float32Array as base64 (little-endian bytes), and back. */
const encode = (w: Float32Array) => Buffer.from(w.buffer, w.byteOffset, w.byteLength).toString("base64");
function decode(s: string): Float32Array {
  const bytes = Buffer.from(s, "base64");
  const w = new Float32Array(bytes.length / 4);
  new Uint8Array(w.buffer).set(bytes);
  return w;
}

/** Writes a checkpoint atomically: a temporary file beside it, renamed over it. */
export function writeCheckpoint(
  path: string,
  c: Omit<TrainCheckpoint, "format" | "version" | "written">,
): void {
  const layers = c.progress.layers.map((l) => (l.kind === "software" ? { ...l, w: encode(l.w) } : l));
  const body: TrainCheckpoint = {
    format: FORMAT,
    version: 1,
    written: new Date().toISOString(),
    ...c,
    progress: { ...c.progress, layers: layers as unknown as LayerHostState[] },
  };
  mkdirSync(dirname(resolve(path)), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(body)}\n`);
  renameSync(tmp, path);
}

/** Reads a checkpoint; refused (BAD_INPUT) when the file is missing or is not one. */
export function readCheckpoint(path: string): TrainCheckpoint {
  let c: TrainCheckpoint;
  try {
    c = JSON.parse(readFileSync(path, "utf8")) as TrainCheckpoint;
  } catch (e) {
    const why = errnoCode(e) ?? errorMessage(e);
    throw new XbarError(ErrorCode.BAD_INPUT, `cannot read the checkpoint ${path}: ${why}`);
  }
  if (c?.format !== FORMAT || c.version !== 1 || !c.progress || !Array.isArray(c.boards))
    throw new XbarError(ErrorCode.BAD_INPUT, `${path} is not a checkpoint of xbar train (version 1)`);
  const layers = c.progress.layers.map((l) =>
    l.kind === "software" ? { ...l, w: decode(l.w as unknown as string) } : l,
  );
  return { ...c, progress: { ...c.progress, layers } };
}

/** A new checkpoint file in the state folder, named after the time: <state>/train/YYYY-MM-DDTHH-MM-SS[-N].json. */
export function defaultCheckpointPath(env: NodeJS.ProcessEnv = process.env, now = new Date()): string {
  const dir = join(stateDir(env), "train");
  const stamp = now.toISOString().slice(0, 19).replace(/:/g, "-");
  let path = join(dir, `${stamp}.json`);
  for (let n = 2; existsSync(path); n++) path = join(dir, `${stamp}-${n}.json`);
  return path;
}
