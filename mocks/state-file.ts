/**
 * Non-volatile devices across restarts: an emulated board started with a state file loads its
 * devices' conductances from it and writes them back after programming (debounced) and when it
 * stops, as a real array keeps its states through a power cycle. Configuration, counters, the clock
 * and the replay window are not kept: a restart clears them, and the board announces BOOT.
 *
 * Format: the line `XBARSTATE 1 {"rows":R,"cols":C,"device":"NAME"}` then R·C little-endian float64
 * conductances (S, row-major). A file made for another size or device is refused, never reinterpreted.
 * Device models with more state per device than the conductance (PCM drift) restart it at load.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

/** What the state file needs of the board. */
export interface StatefulArray {
  readonly rows: number;
  readonly cols: number;
  readonly preset: { readonly name: string };
  readonly devices: { readonly g: Float64Array; version: number };
}

const MAGIC = "XBARSTATE 1 ";

function header(a: StatefulArray): string {
  return JSON.stringify({ rows: a.rows, cols: a.cols, device: a.preset.name });
}

/** Loads the conductances from `path` if it exists; returns whether it did. Throws RangeError on a mismatch. */
export function loadState(a: StatefulArray, path: string): boolean {
  if (!existsSync(path)) return false;
  const buf = readFileSync(path);
  const nl = buf.indexOf(10);
  const head = nl > 0 ? buf.subarray(0, nl).toString("latin1") : "";
  if (!head.startsWith(MAGIC)) throw new RangeError(`state file ${path} is not an xbar board state`);
  if (head.slice(MAGIC.length) !== header(a))
    throw new RangeError(
      `state file ${path} was written by another board (${head.slice(MAGIC.length)}), not ${header(a)}`,
    );
  const n = a.rows * a.cols;
  const body = buf.subarray(nl + 1);
  if (body.length !== n * 8)
    throw new RangeError(`state file ${path} is truncated (${body.length} of ${n * 8} bytes)`);
  const g = a.devices.g;
  for (let i = 0; i < n; i++) g[i] = body.readDoubleLE(i * 8);
  a.devices.version++;
  return true;
}

/** Writes the conductances to `path` atomically (a temporary file renamed over it). */
export function saveState(a: StatefulArray, path: string): void {
  const g = a.devices.g;
  const body = Buffer.alloc(g.length * 8);
  for (let i = 0; i < g.length; i++) body.writeDoubleLE(g[i]!, i * 8);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, Buffer.concat([Buffer.from(`${MAGIC}${header(a)}\n`, "latin1"), body]));
  renameSync(tmp, path);
}

/** Keeps a state file up to date: `changed()` after commands, `flush()` when the board stops. */
export class StateKeeper {
  private saved: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly array: StatefulArray,
    readonly path: string,
    /** Delay between a change and its write, ms (changes in between are written together). */
    private readonly debounceMs = 200,
  ) {
    loadState(array, path);
    this.saved = array.devices.version;
  }

  /** Called after every command: schedules a write if the devices changed. */
  changed(): void {
    if (this.array.devices.version === this.saved || this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.debounceMs);
    this.timer.unref();
  }

  /** Writes now if anything changed since the last write. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.array.devices.version === this.saved) return;
    saveState(this.array, this.path);
    this.saved = this.array.devices.version;
  }
}
