/**
 * Real Redis and PostgreSQL for the fleet tests and the scale script, started from Debian's packages
 * on free loopback ports in temporary directories (no Docker, nothing left behind):
 *
 * - `startRedis()`: /usr/bin/redis-server, no persistence, bound to 127.0.0.1;
 * - `startPostgres()`: initdb + postgres from /usr/lib/postgresql/<version>/bin. PostgreSQL refuses
 *   to run as root, so when we are root (CI is) both run as the `postgres` user the Debian package
 *   creates, else as `nobody`; the data directory is handed to that user first.
 *
 * Both resolve with a URL and a `stop()` that ends the server and removes its directory. A server
 * still running when this process exits is killed then. `servicesMissing()` names what is not
 * installed (the caller decides between skipping and failing: CI=true requires them).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REDIS_SERVER = "/usr/bin/redis-server";

/** The newest /usr/lib/postgresql/N/bin holding initdb and postgres, if any. */
export function postgresBin(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

/** What is missing to run the fleet tests ("" when nothing). */
export function servicesMissing(): string {
  const missing = [];
  if (!existsSync(REDIS_SERVER)) missing.push("redis-server (apt-get install redis-server)");
  if (!postgresBin()) missing.push("PostgreSQL (apt-get install postgresql)");
  return missing.join(", ");
}

/** A free TCP port on 127.0.0.1 (free when asked; the server binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Service {
  url: string;
  port: number;
  /** The server's process (PostgreSQL: the postmaster, parent of every backend). */
  pid: number;
  /** Ends the server (SIGTERM, SIGKILL after 5 s) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
const killAll = () => {
  for (const c of children) c.kill("SIGKILL");
};

function track(child: ChildProcess): Promise<void> {
  if (children.size === 0) process.on("exit", killAll);
  children.add(child);
  return new Promise((resolve) => {
    child.once("exit", () => {
      children.delete(child);
      if (children.size === 0) process.off("exit", killAll);
      resolve();
    });
  });
}

/** Starts `cmd` and waits for `ready` in its output (stdout or stderr). */
async function startServer(
  cmd: string,
  args: string[],
  ready: RegExp,
  dir: string,
  opts: { uid?: number; gid?: number } = {},
): Promise<{ stop: () => Promise<void>; pid: number }> {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  const exited = track(child);
  let log = "";
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd}: not ready within 20 s:\n${log}`)), 20_000);
    const onData = (d: Buffer) => {
      if (log.length < 16384) log += d.toString();
      if (ready.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited before it was ready:\n${log}`));
    });
  }).catch(async (e) => {
    await stop();
    throw e;
  });
  return { stop, pid: child.pid! };
}

export async function startRedis(): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), "xbar-redis-"));
  const port = await freePort();
  const { stop, pid } = await startServer(
    REDIS_SERVER,
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      "no",
      // BullMQ asks for this; the default (volatile-lru) could evict its keys under memory pressure.
      "--maxmemory-policy",
      "noeviction",
    ],
    /Ready to accept connections/,
    dir,
  );
  return { url: `redis://127.0.0.1:${port}`, port, pid, stop };
}

/** The uid and gid PostgreSQL runs as: ours unless we are root, then `postgres` or `nobody`. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ["postgres", "nobody"]) {
    try {
      const uid = Number(execFileSync("id", ["-u", name], { encoding: "utf8" }).trim());
      const gid = Number(execFileSync("id", ["-g", name], { encoding: "utf8" }).trim());
      return { uid, gid };
    } catch {}
  }
  throw new Error("running as root and there is no postgres or nobody user to run PostgreSQL as");
}

/** initdb in a temp dir and postgres on a free port; the URL names database `xbar`, user `xbar`. */
export async function startPostgres(): Promise<Service> {
  const bin = postgresBin();
  if (!bin) throw new Error("PostgreSQL is not installed (apt-get install postgresql)");
  const dir = mkdtempSync(join(tmpdir(), "xbar-pg-"));
  const data = join(dir, "data");
  const user = postgresUser();
  if (user) chownSync(dir, user.uid, user.gid);
  try {
    execFileSync(
      join(bin, "initdb"),
      ["-D", data, "-U", "xbar", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
      { stdio: ["ignore", "pipe", "pipe"], cwd: dir, ...user },
    );
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
  }
  const port = await freePort();
  const { stop, pid } = await startServer(
    join(bin, "postgres"),
    [
      "-D",
      data,
      "-p",
      String(port),
      "-k",
      dir,
      "-c",
      "listen_addresses=127.0.0.1",
      // A test database: durability across a power cut is not what is tested here.
      "-c",
      "fsync=off",
      "-c",
      "max_connections=200",
    ],
    /database system is ready to accept connections/,
    dir,
    user,
  );
  const url = `postgres://xbar@127.0.0.1:${port}`;
  // The database `xbar` (initdb makes only `postgres`).
  const pg = await import("pg");
  const c = new pg.default.Client({ connectionString: `${url}/postgres` });
  await c.connect();
  await c.query("CREATE DATABASE xbar");
  await c.end();
  return { url: `${url}/xbar`, port, pid, stop };
}
