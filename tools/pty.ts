/**
 * What the conformance links (test/helpers/links.ts), the xbar runner (tools/run-xbar.ts), the
 * benchmarks (bench/links.ts, bench/instruments.ts) and the firmware harness (tools/firmware.ts) share
 * about child processes and pty pairs:
 *
 * - `which(cmd)`: the absolute path of an executable on PATH, or undefined;
 * - `Cleanup`: steps run in reverse order of registration, every one even if an earlier one fails;
 * - `startPtyPair()`: a socat pty pair linked at DIR/board and DIR/host in a fresh temp dir, with a
 *   `stop()` that kills socat (SIGTERM, then SIGKILL) and removes the dir. A socat still running when
 *   the process exits is killed then, so none is ever left behind.
 *
 * Whether a missing socat is an error or a skip is the caller's decision (see links.ts, cli.test.ts).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** The absolute path of an executable on PATH, or undefined. */
export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

/**
 * Cleanup steps, run in reverse order of registration; every step runs even if an earlier one
 * throws, and the failures are rethrown together as an AggregateError with `message`.
 * `run()` is idempotent: later calls return the first run's promise.
 */
export class Cleanup {
  private readonly steps: Array<() => Promise<void> | void> = [];
  private done?: Promise<void>;

  constructor(private readonly message = "cleanup failed") {}

  add(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }

  run(): Promise<void> {
    this.done ??= (async () => {
      const errors: unknown[] = [];
      for (const step of this.steps.reverse()) {
        try {
          await step();
        } catch (e) {
          errors.push(e);
        }
      }
      if (errors.length > 0) throw new AggregateError(errors, this.message);
    })();
    return this.done;
  }
}

// ---- socat children, killed on process exit whatever happened ----

const children = new Set<ChildProcess>();

function killChildren(): void {
  for (const child of children) child.kill("SIGKILL");
}

function track(child: ChildProcess): void {
  if (children.size === 0) process.on("exit", killChildren);
  children.add(child);
}

function untrack(child: ChildProcess): void {
  if (children.delete(child) && children.size === 0) process.off("exit", killChildren);
}

// ---- pty pair ----

export interface PtyPairOptions {
  /** The socat executable (default: `which("socat")`; an error if it is not on PATH). */
  socat?: string;
  /** Prefix of the temp dir's name (default "xbar-pty-"). */
  prefix?: string;
  /** How long to wait for socat to make both links, ms (default 5000). */
  timeoutMs?: number;
}

export interface PtyPair {
  /** The end the board (emulator) serves on: DIR/board. */
  readonly boardPath: string;
  /** The end the host opens: DIR/host. */
  readonly hostPath: string;
  /** The temp dir holding both links (removed by `stop()`). */
  readonly dir: string;
  /** Kills socat (SIGTERM, SIGKILL after 1 s) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `socat` linking two raw ptys at DIR/board and DIR/host in a new temp dir; resolves once both
 * links exist. Rejects (having stopped socat and removed the dir) when socat exits first or makes no
 * pair in time; the message then carries socat's own log.
 */
export async function startPtyPair(opts: PtyPairOptions = {}): Promise<PtyPair> {
  const socat = opts.socat ?? which("socat");
  if (!socat) throw new Error("socat is not on PATH: install socat to make a pty pair");
  const timeoutMs = opts.timeoutMs ?? 5000;
  const cleanup = new Cleanup("pty pair: stop failed");
  try {
    const dir = await mkdtemp(join(tmpdir(), opts.prefix ?? "xbar-pty-"));
    cleanup.add(() => rm(dir, { recursive: true, force: true }));
    const boardPath = join(dir, "board");
    const hostPath = join(dir, "host");
    const child = spawn(
      socat,
      ["-d", "-d", `pty,raw,echo=0,link=${boardPath}`, `pty,raw,echo=0,link=${hostPath}`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    track(child);
    let log = "";
    child.stderr?.on("data", (d: Buffer) => {
      if (log.length < 8192) log += d.toString();
    });
    let exited = false;
    const exit = new Promise<void>((resolve) => {
      const done = () => {
        exited = true;
        untrack(child);
        resolve();
      };
      child.once("exit", done);
      child.once("error", (err) => {
        log += `\n${err.message}`;
        done();
      });
    });
    cleanup.add(async () => {
      if (!exited) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 1000);
        await exit;
        clearTimeout(timer);
      }
      child.stderr?.destroy();
    });
    const deadline = Date.now() + timeoutMs;
    while (!(existsSync(boardPath) && existsSync(hostPath))) {
      if (exited) throw new Error(`socat exited before making the pty pair:\n${log}`);
      if (Date.now() > deadline)
        throw new Error(`socat made no pty pair within ${timeoutMs / 1000} s:\n${log}`);
      await Promise.race([new Promise<void>((resolve) => setTimeout(resolve, 5)), exit]);
    }
    return { boardPath, hostPath, dir, stop: () => cleanup.run() };
  } catch (e) {
    await cleanup.run().catch(() => {});
    throw e;
  }
}
