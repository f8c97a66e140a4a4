/**
 * The SQLite engine of the run store: node-sqlite3-wasm (SQLite compiled to WebAssembly, with a VFS
 * on node:fs), chosen because it installs without native builds or downloaded binaries.
 *
 * Journal mode: WAL, in exclusive locking mode. The WASM VFS has no shared memory (no `-shm` file),
 * and SQLite can run WAL without it only when one connection holds the database exclusively
 * (https://sqlite.org/wal.html#noshm). So a running campaign owns the file; a second process that
 * wants to write is refused (E605), one that only reads gets a snapshot (`openSnapshot`, below).
 *
 * Stale locks: the VFS locks with a `FILE.lock` directory, which a process killed outright (SIGKILL,
 * power loss) leaves behind. We write our pid to `FILE.owner` next to it; an opener that finds the
 * lock held by a pid that no longer runs removes it, and SQLite then recovers the WAL.
 *
 * Reading while a campaign runs: `openSnapshot` copies the database file and its WAL to a private
 * directory and opens the copy (SQLite recovers it from the copied WAL: every transaction committed
 * before the copy, none after, a half-written last frame ignored by its checksum). The main file is
 * written only by checkpoints; a copy during which it changed is taken again.
 */
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errnoCode, errorMessage, XbarError } from "../../../drivers/index.ts";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";

const require = createRequire(import.meta.url);
const sqlite = require("node-sqlite3-wasm") as typeof import("node-sqlite3-wasm");

export type SqlValue = number | string | null | Uint8Array | bigint;
export type Row = Record<string, SqlValue>;
export type Database = InstanceType<typeof sqlite.Database>;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === "EPERM";
  }
}

/** The live process (other than this one) that holds `path`, if any. */
export function lockHolder(path: string): number | undefined {
  const owner = `${path}.owner`;
  if (!existsSync(`${path}.lock`)) return undefined;
  const pid = existsSync(owner) ? Number(readFileSync(owner, "utf8").trim()) : Number.NaN;
  return Number.isInteger(pid) && pid !== process.pid && alive(pid) ? pid : undefined;
}

/** Opens (creating) `path` in WAL mode with an exclusive lock; clears a lock left by a dead process. */
export function openDatabase(path: string): Database {
  const lock = `${path}.lock`;
  const owner = `${path}.owner`;
  if (existsSync(lock)) {
    const pid = lockHolder(path);
    if (pid !== undefined)
      throw new XbarError(
        ErrorCode.PORT_BUSY,
        `run database ${path} is in use by process ${pid} (a campaign running?)`,
      );
    // No owner file, or its process is gone: the lock is stale.
    rmSync(lock, { recursive: true, force: true });
  }
  let db: Database;
  try {
    db = new sqlite.Database(path);
    db.exec("PRAGMA locking_mode=EXCLUSIVE");
    const mode = db.get("PRAGMA journal_mode=WAL") as Row;
    // NORMAL in WAL: every commit survives the process being killed; only a power cut may lose the
    // last commits (https://sqlite.org/pragma.html#pragma_synchronous). FULL costs an fsync per measurement.
    db.exec("PRAGMA synchronous=NORMAL");
    db.exec("PRAGMA foreign_keys=ON");
    if (mode.journal_mode !== "wal")
      throw new XbarError(ErrorCode.INTERNAL, `journal mode is ${mode.journal_mode}, not wal`);
    // Take the exclusive lock now, so that a second process is refused at open, not halfway.
    db.exec("BEGIN IMMEDIATE; COMMIT");
  } catch (e) {
    throw new XbarError(ErrorCode.BAD_INPUT, `cannot open run database ${path}: ${errorMessage(e)}`);
  }
  writeFileSync(owner, `${process.pid}\n`);
  return db;
}

export function closeDatabase(db: Database, path: string): void {
  if (db.isOpen) db.close();
  rmSync(`${path}.owner`, { force: true });
}

/** A private, consistent copy of a database that another process holds; `close` removes it. */
export function openSnapshot(path: string): { db: Database; close: () => void } {
  const wal = `${path}-wal`;
  const stamp = () => {
    const st = statSync(path);
    return `${st.size}:${st.mtimeMs}`;
  };
  let lastError = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), "xbar-snapshot-"));
    const copy = join(dir, "runs.db");
    const remove = () => rmSync(dir, { recursive: true, force: true });
    try {
      const before = stamp();
      copyFileSync(path, copy);
      if (existsSync(wal)) copyFileSync(wal, `${copy}-wal`);
      if (stamp() !== before) {
        remove();
        lastError = "the database was checkpointed during the copy";
        continue;
      }
      const db = openDatabase(copy);
      const check = db.get("PRAGMA quick_check") as Row;
      if (check.quick_check !== "ok") {
        closeDatabase(db, copy);
        remove();
        lastError = `quick_check: ${String(check.quick_check)}`;
        continue;
      }
      return {
        db,
        close: () => {
          closeDatabase(db, copy);
          remove();
        },
      };
    } catch (e) {
      remove();
      lastError = errorMessage(e);
    }
  }
  throw new XbarError(
    ErrorCode.PORT_BUSY,
    `cannot take a consistent snapshot of ${path} while it is in use: ${lastError}`,
  );
}
