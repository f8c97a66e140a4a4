/**
 * The three links the benchmark measures, each opened through the public stack (`connect(url)`) so
 * that every figure includes the whole path a user's code takes:
 *
 *   in-process  connect("emu://?…")                       EmulatedBoard in this process, PassThrough pair
 *   tcp         startEmulatorServer({listen: 127.0.0.1:0}) ◀─ connect("socket://127.0.0.1:PORT")
 *   pty         socat pty pair DIR/board ⇄ DIR/host: startEmulatorServer({serial: DIR/board}) ◀─ connect(DIR/host)
 *
 * Every opener returns the Board and a `close()` that releases what it started (board, server,
 * socat, temp dir). `close()` is idempotent and runs every step even if one fails.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import type { Board } from "../src/board.ts";
import { connect, startEmulatorServer } from "../src/connect.ts";

export interface EmuConfig {
  rows: number;
  cols: number;
  device: string;
  seed: number;
}

export interface OpenLink {
  board: Board;
  close(): Promise<void>;
}

/** Cleanup steps, run in reverse order of registration; every step runs even if an earlier one throws. */
class Cleanup {
  private readonly steps: Array<() => Promise<void> | void> = [];
  private done?: Promise<void>;

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
      if (errors.length > 0) throw new AggregateError(errors, "bench: cleanup failed");
    })();
    return this.done;
  }
}

async function build(make: (cleanup: Cleanup) => Promise<Board>): Promise<OpenLink> {
  const cleanup = new Cleanup();
  try {
    const board = await make(cleanup);
    return { board, close: () => cleanup.run() };
  } catch (e) {
    await cleanup.run().catch(() => {});
    throw e;
  }
}

/** Rejects after `ms` unless `p` settles first (so a stuck stop() cannot hang the run). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export const emuUrl = (c: EmuConfig) =>
  `emu://?rows=${c.rows}&cols=${c.cols}&device=${c.device}&seed=${c.seed}`;

export function openInProcess(c: EmuConfig): Promise<OpenLink> {
  return build(async (cleanup) => {
    const board = await connect(emuUrl(c));
    cleanup.add(() => board.close());
    return board;
  });
}

export function openTcp(c: EmuConfig): Promise<OpenLink> {
  return build(async (cleanup) => {
    const server = await startEmulatorServer({ ...c, listen: { host: "127.0.0.1", port: 0 } });
    // Registered first, so it runs after the board is closed (server.close waits for open connections).
    cleanup.add(() => within(server.stop(), 3000, "TCP emulator server stop()"));
    const board = await connect(server.url);
    cleanup.add(() => board.close());
    return board;
  });
}

/** The absolute path of an executable on PATH, or undefined. */
export function onPath(cmd: string): string | undefined {
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

/** socat children still running, killed on process exit whatever happened (no orphaned socat). */
const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function startSocat(socat: string, cleanup: Cleanup): Promise<{ boardPath: string; hostPath: string }> {
  const dir = await mkdtemp(join(tmpdir(), "xbar-bench-"));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const boardPath = join(dir, "board");
  const hostPath = join(dir, "host");
  const child = spawn(
    socat,
    ["-d", "-d", `pty,raw,echo=0,link=${boardPath}`, `pty,raw,echo=0,link=${hostPath}`],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  children.add(child);
  let log = "";
  child.stderr!.on("data", (d: Buffer) => {
    if (log.length < 8192) log += d.toString();
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", () => {
      exited = true;
      children.delete(child);
      resolve();
    });
    child.once("error", (err) => {
      log += `\n${err.message}`;
      exited = true;
      children.delete(child);
      resolve();
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
  const deadline = Date.now() + 5000;
  while (!(existsSync(boardPath) && existsSync(hostPath))) {
    if (exited) throw new Error(`socat exited before making the pty pair:\n${log}`);
    if (Date.now() > deadline) throw new Error(`socat made no pty pair within 5 s:\n${log}`);
    await sleep(5);
  }
  return { boardPath, hostPath };
}

export function openPty(socat: string, c: EmuConfig): Promise<OpenLink> {
  return build(async (cleanup) => {
    const { boardPath, hostPath } = await startSocat(socat, cleanup);
    const server = await startEmulatorServer({ ...c, serial: boardPath });
    cleanup.add(() => within(server.stop(), 3000, "serial emulator server stop()"));
    const board = await connect(hostPath);
    cleanup.add(() => board.close());
    return board;
  });
}
