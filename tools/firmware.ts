/**
 * The reference firmware in C (firmware/) for the tests: building it with make, and running its host
 * build on the board end of a socat pty pair.
 *
 *   make -C firmware host|asan|test ─▶ firmware/build/<target>/…
 *   startPtyPair() ─ DIR/board ◀─ xbar-fw DIR/board --rows … ─ DIR/host ◀─ the host (openSerial, connect)
 *
 * Whether a missing C toolchain is an error or a skip: `toolchainMissing()` names what is missing;
 * callers skip with that message unless CI=true, where the toolchain is required (.ci/run installs it).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Cleanup, startPtyPair, which } from "./pty.ts";

export const FIRMWARE_DIR = fileURLToPath(new URL("../firmware/", import.meta.url));

export type FirmwareTarget = "host" | "asan" | "test";

const BINARY: Record<FirmwareTarget, string> = {
  host: "build/host/xbar-fw",
  asan: "build/asan/xbar-fw",
  test: "build/host/xfw-vectors",
};

/** What is missing to build the host firmware (make, a C compiler, socat), or undefined. */
export function toolchainMissing(): string | undefined {
  const missing = ["make", "socat"].filter((c) => !which(c));
  if (!which("cc") && !which("gcc")) missing.push("a C compiler (cc/gcc)");
  return missing.length ? `firmware: ${missing.join(", ")} not on PATH` : undefined;
}

const builds = new Map<FirmwareTarget, Promise<string>>();

/** Builds a target with make (once per process; make itself skips what is up to date). */
export function buildFirmware(target: FirmwareTarget): Promise<string> {
  let p = builds.get(target);
  if (!p) {
    p = promisify(execFile)("make", ["-C", FIRMWARE_DIR, target], { maxBuffer: 1 << 22 }).then(
      () => `${FIRMWARE_DIR}${BINARY[target]}`,
      (e: Error & { stderr?: string }) => {
        throw new Error(`make -C firmware ${target} failed:\n${e.stderr ?? e.message}`);
      },
    );
    builds.set(target, p);
  }
  return p;
}

export interface FirmwareOptions {
  rows: number;
  cols: number;
  device: string;
  seed: number;
  /** Wall seconds per board second of pulse trains and WAITs (--timescale); default 0, at once. */
  timescale?: number;
  /** Compliance trips (--trip), as the emulator's complianceTrip (`trip=1`). */
  trip?: boolean;
  /** Bits of the DAC and ADC (--dac, --adc; both or neither): the 1.1 wire, as the emulator's `dac`/`adc`. */
  dac?: number;
  adc?: number;
}

export interface RunningFirmware {
  /** The end the host opens (a serial device path). */
  readonly hostPath: string;
  readonly child: ChildProcess;
  /** What the firmware wrote on stderr (sanitizer reports land here). */
  stderr(): string;
  /** Resident set size of the firmware process, kB (Linux /proc). */
  rssKb(): number;
  /** Kills the firmware and socat, removes the pty dir. Idempotent. */
  stop(): Promise<void>;
}

/** Starts `binary` serving on a fresh pty pair. */
export async function startFirmware(binary: string, opts: FirmwareOptions): Promise<RunningFirmware> {
  const cleanup = new Cleanup("firmware: stop failed");
  try {
    const pty = await startPtyPair({ prefix: "xbar-fw-" });
    cleanup.add(() => pty.stop());
    const child = spawn(
      binary,
      [
        pty.boardPath,
        "--rows",
        String(opts.rows),
        "--cols",
        String(opts.cols),
        "--device",
        opts.device,
        "--seed",
        String(opts.seed),
        ...(opts.timescale ? ["--timescale", String(opts.timescale)] : []),
        ...(opts.trip ? ["--trip"] : []),
        ...(opts.dac !== undefined ? ["--dac", String(opts.dac)] : []),
        ...(opts.adc !== undefined ? ["--adc", String(opts.adc)] : []),
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let err = "";
    child.stderr?.on("data", (d: Buffer) => {
      if (err.length < 65536) err += d.toString();
    });
    const exited = new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.once("error", (e) => {
        err += `\n${e.message}`;
        resolve();
      });
    });
    cleanup.add(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 1000);
        await exited;
        clearTimeout(timer);
      }
      child.stderr?.destroy();
    });
    return {
      hostPath: pty.hostPath,
      child,
      stderr: () => err,
      rssKb: () => {
        const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        return m ? Number(m[1]) : Number.NaN;
      },
      stop: () => cleanup.run(),
    };
  } catch (e) {
    await cleanup.run().catch(() => {});
    throw e;
  }
}
