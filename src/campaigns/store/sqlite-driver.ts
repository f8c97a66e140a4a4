/**
 * The run store's SQLite engine behind the asynchronous SqlDriver interface. node-sqlite3-wasm is
 * synchronous and this is one connection, so every call is serialised through one queue: a
 * transaction holds the queue from BEGIN to COMMIT, and a query issued meanwhile (say, a measurement
 * of another board of the same worker) waits for it instead of landing inside it.
 * Locks, WAL and snapshots: sqlite.ts.
 */

import type { Row, SqlDriver, SqlQuery, SqlValue } from "./sql.ts";
import { closeDatabase, type Database } from "./sqlite.ts";

export class SqliteDriver implements SqlDriver {
  readonly dialect = "sqlite" as const;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly location: string,
    private readonly db: Database,
    private readonly release: () => void = () => closeDatabase(db, location),
  ) {}

  /** Runs `fn` when every earlier call has finished. */
  private serial<T>(fn: () => T | Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  private readonly direct: SqlQuery = {
    all: async (sql, params = []) => this.db.all(sql, params as never) as Row[],
    get: async (sql, params = []) => (this.db.get(sql, params as never) as Row | null) ?? undefined,
    run: async (sql, params = []) => {
      this.db.run(sql, params as never);
    },
  };

  all(sql: string, params?: SqlValue[]): Promise<Row[]> {
    return this.serial(() => this.direct.all(sql, params));
  }

  get(sql: string, params?: SqlValue[]): Promise<Row | undefined> {
    return this.serial(() => this.direct.get(sql, params));
  }

  run(sql: string, params?: SqlValue[]): Promise<void> {
    return this.serial(() => this.direct.run(sql, params));
  }

  /** Several statements at once (migrations). */
  exec(sql: string): Promise<void> {
    return this.serial(() => {
      this.db.exec(sql);
    });
  }

  tx<T>(fn: (q: SqlQuery) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const r = await fn(this.direct);
        this.db.exec("COMMIT");
        return r;
      } catch (e) {
        this.db.exec("ROLLBACK");
        throw e;
      }
    });
  }

  close(): Promise<void> {
    return this.serial(() => this.release());
  }
}
