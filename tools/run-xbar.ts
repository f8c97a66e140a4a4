/**
 * Runs the `xbar` command for the end-to-end CLI tests (test/cli.test.ts and others) and the scripts
 * (scripts/fleet-scale.ts).
 *
 * - `runXbar(args)`: one invocation with an environment without XBAR_PORT and XBAR_DEBUG, the repo
 *   root as cwd; resolves with exit code, stdout and stderr. By default the command runs in this
 *   process (`main(argv)` of src/cli/main.ts, stdout and stderr captured), which costs no start-up
 *   and holds on a loaded machine; `{ spawn: true }` runs the real `node bin/xbar.mjs` (the compiled
 *   dist/) in a child process, for what only a process boundary shows (exit on a closed stdout,
 *   signals, start-up). Spawned runs share a small semaphore so that concurrent tests do not
 *   oversubscribe the CPU.
 * - `startXbar(args)` / `startProcess(cmd, args)`: a background process (`xbar emulate`, socat) whose
 *   output can be awaited line by line; every one is registered so `stopAll()` (call it in afterAll)
 *   leaves nothing running.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../src/cli/main.ts";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const XBAR_BIN = join(REPO_ROOT, "bin", "xbar.mjs");

/** Where the default board of this test process keeps its devices (never the user's own). */
export const TEST_STATE_DIR = mkdtempSync(join(tmpdir(), "xbar-state-"));

/**
 * The environment of every run: the test's own, minus what would change which board xbar uses, and
 * with a state folder of its own for the default board (XBAR_STATE_DIR).
 */
export function xbarEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XBAR_STATE_DIR: TEST_STATE_DIR, ...extra };
  delete env.XBAR_PORT;
  delete env.XBAR_DEBUG;
  return env;
}

export interface RunResult {
  args: string[];
  /** Exit code, or null when the process was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the time limit ended the run (it was then killed with SIGKILL). */
  timedOut: boolean;
  ms: number;
}

/** Non-empty lines of a text. */
export function lines(text: string): string[] {
  return text.split(/\r?\n/).filter((l) => l.length > 0);
}

/** A one-line summary of a run for assertion messages. */
export function describeRun(r: RunResult): string {
  return `xbar ${r.args.join(" ")} -> code ${r.code}${r.signal ? ` signal ${r.signal}` : ""}${r.timedOut ? " (TIMED OUT)" : ""} in ${r.ms} ms\n--- stdout ---\n${r.stdout.slice(0, 2000)}\n--- stderr ---\n${r.stderr.slice(0, 2000)}`;
}

// ---- a semaphore for foreground runs ----

const SLOTS = Math.max(2, availableParallelism()) + 1;
let busy = 0;
const waiting: Array<() => void> = [];

async function acquire(urgent: boolean): Promise<void> {
  if (busy < SLOTS) {
    busy++;
    return;
  }
  await new Promise<void>((r) => (urgent ? waiting.unshift(r) : waiting.push(r)));
}

function release(): void {
  const next = waiting.shift();
  if (next) next();
  else busy--;
}

// ---- the default time limit ----

/** The least default time limit of a run, ms: what a command took at most on a loaded machine. */
const TIMEOUT_FLOOR_MS = 20_000;
/** The default time limit of a run in start-ups of `xbar --version` measured now. */
const TIMEOUT_STARTUPS = 60;
let defaultTimeout: Promise<number> | undefined;

/**
 * The default time limit of a run, ms: 60 times the start-up of `xbar --version` measured once per
 * test process on first use (what every spawned command pays, and a gauge of how loaded the
 * machine is: ~0.2 s idle, above 1 s with two test runs on 2 cores), never under 20 s.
 */
export function defaultTimeoutMs(): Promise<number> {
  defaultTimeout ??= new Promise<number>((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [XBAR_BIN, "--version"], {
      cwd: REPO_ROOT,
      env: xbarEnv(),
      stdio: "ignore",
    });
    child.once("error", () => resolve(TIMEOUT_FLOOR_MS));
    child.once("close", (code) => {
      const startupMs = performance.now() - t0;
      resolve(
        code === 0 ? Math.max(TIMEOUT_FLOOR_MS, Math.round(TIMEOUT_STARTUPS * startupMs)) : TIMEOUT_FLOOR_MS,
      );
    });
  });
  return defaultTimeout;
}

// ---- background processes ----

const live = new Set<ChildProcess>();

export interface RunOptions {
  /** Time limit of the run, ms (default: `defaultTimeoutMs()`, measured on this machine). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * Jump the queue of the semaphore: for steps of a sequential session against a background process,
   * which would otherwise wait behind every queued run at each step.
   */
  urgent?: boolean;
  /** Called with the child right after spawning (e.g. to close its stdout early); implies `spawn`. */
  onSpawn?: (child: ChildProcess) => void;
  /** Run `node bin/xbar.mjs` in a child process instead of `main(argv)` in this one. */
  spawn?: boolean;
}

/** Runs `xbar ARGS` to completion. Never rejects: a time-out shows in `timedOut`. */
export async function runXbar(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const opts = { ...options, timeoutMs: options.timeoutMs ?? (await defaultTimeoutMs()) };
  if (!opts.spawn && !opts.onSpawn) return runInProcess(args, opts);
  await acquire(opts.urgent ?? false);
  try {
    return await runOnce(args, opts);
  } finally {
    release();
  }
}

/** In-process runs capture the process's stdout and stderr: one at a time. */
let inProcessQueue: Promise<unknown> = Promise.resolve();

function runInProcess(args: string[], opts: RunOptions): Promise<RunResult> {
  const run = inProcessQueue.then(() => runInProcessNow(args, opts));
  inProcessQueue = run.catch(() => {});
  return run;
}

async function runInProcessNow(args: string[], opts: RunOptions): Promise<RunResult> {
  const t0 = Date.now();
  const env = opts.env ?? xbarEnv();
  const saved = { ...process.env };
  for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k];
  Object.assign(process.env, env);
  let stdout = "";
  let stderr = "";
  const writes = { out: process.stdout.write, err: process.stderr.write };
  const capture =
    (append: (s: string) => void) =>
    (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      append(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
      const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      cb?.();
      return true;
    };
  process.stdout.write = capture((s) => (stdout += s)) as typeof process.stdout.write;
  process.stderr.write = capture((s) => (stderr += s)) as typeof process.stderr.write;
  process.exitCode = undefined;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  let code: number | null = null;
  try {
    code = await Promise.race([
      main([process.execPath, XBAR_BIN, ...args]),
      new Promise<null>((res) => {
        timer = setTimeout(() => {
          timedOut = true;
          res(null);
        }, opts.timeoutMs ?? TIMEOUT_FLOOR_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    process.exitCode = undefined;
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  return { args, code, signal: null, stdout, stderr, timedOut, ms: Date.now() - t0 };
}

function runOnce(args: string[], opts: RunOptions): Promise<RunResult> {
  const t0 = Date.now();
  return new Promise<RunResult>((done) => {
    const child = spawn(process.execPath, [XBAR_BIN, ...args], {
      cwd: REPO_ROOT,
      env: opts.env ?? xbarEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    live.add(child);
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stdout!.on("error", () => {});
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? TIMEOUT_FLOOR_MS);
    child.once("error", (err) => {
      stderr += `\n[spawn error] ${err.message}`;
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      done({ args, code, signal, stdout, stderr, timedOut, ms: Date.now() - t0 });
    });
    opts.onSpawn?.(child);
  });
}

export interface Background {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `re` in stdout; rejects if the process exits first or on time-out. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves when the process has exited (immediately if it already has). */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` and waits up to `graceMs` for the exit; SIGKILL after that. */
  stop(
    signal?: NodeJS.Signals,
    graceMs?: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }>;
}

/** Starts a background process (registered for `stopAll()`). */
export function startProcess(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = xbarEnv(),
): Background {
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    notify();
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    if (err.length < 65536) err += d;
  });
  let status: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.once("error", (e) => {
      err += `\n[spawn error] ${e.message}`;
      status ??= { code: null, signal: null };
      live.delete(child);
      notify();
      res(status);
    });
    child.once("close", (code, signal) => {
      status ??= { code, signal };
      live.delete(child);
      notify();
      res(status);
    });
  });
  const bg: Background = {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor: (re, timeoutMs = 15_000) =>
      new Promise<RegExpMatchArray>((res, rej) => {
        const check = () => {
          const m = re.exec(out);
          if (m) return finish(() => res(m));
          if (status)
            return finish(() =>
              rej(
                new Error(
                  `${command} ${args.join(" ")} exited (${JSON.stringify(status)}) before printing ${re}\nstdout: ${out}\nstderr: ${err}`,
                ),
              ),
            );
        };
        const timer = setTimeout(
          () =>
            finish(() =>
              rej(
                new Error(
                  `${command} ${args.join(" ")}: no ${re} within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`,
                ),
              ),
            ),
          timeoutMs,
        );
        const finish = (f: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        listeners.add(check);
        check();
      }),
    exited: () => exit,
    stop: async (signal = "SIGTERM", graceMs = 3000) => {
      if (status) return { ...status, killed: false };
      child.kill(signal);
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        child.kill("SIGKILL");
      }, graceMs);
      const s = await exit;
      clearTimeout(timer);
      return { ...s, killed };
    },
  };
  return bg;
}

/** Starts `xbar ARGS` in the background. */
export function startXbar(args: string[]): Background {
  return startProcess(process.execPath, [XBAR_BIN, ...args]);
}

/** Kills every process started here that is still running and waits for them to exit. */
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((res) => {
          if (child.exitCode !== null || child.signalCode !== null) {
            live.delete(child);
            return res();
          }
          child.once("close", () => res());
          child.kill("SIGKILL");
        }),
    ),
  );
  live.clear();
}

/** The absolute path of an executable on PATH, or undefined. */
export { which } from "./pty.ts";
