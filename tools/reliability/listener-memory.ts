/**
 * Measuring what a client can make the emulator's listener hold: the board runs in a child process
 * (listener-child.ts), its resident memory is read from /proc (Linux), and clients misbehave at it
 * from this process. Used by test/listener-memory.test.ts (a bound) and scripts/listener-memory.mts
 * (the figures of docs/reliability.md).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { join } from "node:path";
import { encodeRequest } from "../../firmware-protocol/index.ts";
import type { ListenOptions } from "../../mocks/index.ts";
import { REPO_ROOT } from "../run-xbar.ts";

export interface ListenerChild {
  port: number;
  pid: number;
  /** Resident memory now and its peak since start (VmRSS, VmHWM), MiB. */
  memory(): { rss: number; peak: number };
  /** What the board's process still holds after a garbage collection (heap used + external), MiB. */
  held(): Promise<number>;
  stop(): Promise<void>;
}

export async function startListenerChild(opts: {
  rows?: number;
  cols?: number;
  listen?: ListenOptions;
}): Promise<ListenerChild> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      "--expose-gc",
      "--import",
      "tsx",
      join(REPO_ROOT, "tools", "reliability", "listener-child.ts"),
      JSON.stringify(opts),
    ],
    { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`listener child exited with ${code}`)));
  });
  const pid = child.pid!;
  let heldWaiter: ((mib: number) => void) | undefined;
  child.stdout!.on("data", (d: string) => {
    const m = /HELD (\d+)/.exec(d);
    if (m && heldWaiter) heldWaiter(Number(m[1]) / 2 ** 20);
  });
  const field = (text: string, key: string) =>
    Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(text)?.[1]) / 1024;
  return {
    port,
    pid,
    memory() {
      const s = readFileSync(`/proc/${pid}/status`, "utf8");
      return { rss: field(s, "VmRSS"), peak: field(s, "VmHWM") };
    },
    held() {
      return new Promise<number>((resolve) => {
        heldWaiter = resolve;
        child.kill("SIGUSR2");
      });
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 2000);
      await once(child, "exit");
      clearTimeout(t);
    },
  };
}

/** A connected socket that ignores errors (the board may drop it). */
export async function dial(port: number): Promise<Socket> {
  const s = netConnect({ port, host: "127.0.0.1" });
  s.on("error", () => {});
  await once(s, "connect");
  return s;
}

/** `n` well-formed READALL requests, one line each. */
export function readAllLines(n: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(encodeRequest(1 + (i % 60000), "READALL"));
  return parts.join("");
}

/**
 * A client that sends `n` READALL requests and never reads a reply (finding 1's reproduction);
 * resolves after `ms`, with the socket (still open unless the board dropped it).
 */
export async function floodWithoutReading(port: number, n: number, ms: number): Promise<Socket> {
  const s = await dial(port);
  s.pause();
  s.write(readAllLines(n));
  await new Promise((r) => setTimeout(r, ms));
  return s;
}

/** `k` connections, each holding an unfinished line of `bytes` bytes. */
export async function holdUnfinishedLines(port: number, k: number, bytes: number): Promise<Socket[]> {
  const line = Buffer.alloc(bytes, 0x41);
  const socks: Socket[] = [];
  for (let i = 0; i < k; i++) {
    const s = await dial(port);
    s.write(line);
    socks.push(s);
  }
  await Promise.all(
    socks.map((s) =>
      s.writableLength === 0 ? Promise.resolve() : Promise.race([once(s, "drain"), once(s, "close")]),
    ),
  );
  return socks;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
