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
import type { Board } from "../src/board/board.ts";
import { connect, startEmulatorServer } from "../src/board/connect.ts";
import { Cleanup, startPtyPair, which } from "../tools/pty.ts";

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

async function build(make: (cleanup: Cleanup) => Promise<Board>): Promise<OpenLink> {
  const cleanup = new Cleanup("bench: cleanup failed");
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
export const onPath = which;

export function openPty(socat: string, c: EmuConfig): Promise<OpenLink> {
  return build(async (cleanup) => {
    const pty = await startPtyPair({ socat, prefix: "xbar-bench-" });
    cleanup.add(() => pty.stop());
    const server = await startEmulatorServer({ ...c, serial: pty.boardPath });
    cleanup.add(() => within(server.stop(), 3000, "serial emulator server stop()"));
    const board = await connect(pty.hostPath);
    cleanup.add(() => board.close());
    return board;
  });
}
