/**
 * The SQL engines under the run store: one small asynchronous interface, two implementations.
 *
 *   RunStore (run-store.ts: every query, one code path)
 *      └── SqlDriver ── sqlite (sqlite-driver.ts: node-sqlite3-wasm, one file, one writer)
 *                   └── postgres (postgres-driver.ts: pure-JS `pg`, a pool, many writers)
 *
 * Queries are written once, with `?` placeholders (the PostgreSQL driver numbers them $1, $2, ...)
 * and `RETURNING id` on inserts, which both engines understand. What differs between the engines is
 * only the DDL of the migrations (migrations.ts) and how a transaction is held.
 */

export type SqlValue = number | string | null | Uint8Array | bigint;
/** A result row as the engine returns it (ids may be strings from PostgreSQL's BIGINT). */
export type Row = Record<string, unknown>;

export type Dialect = "sqlite" | "postgres";

export interface SqlQuery {
  all(sql: string, params?: SqlValue[]): Promise<Row[]>;
  get(sql: string, params?: SqlValue[]): Promise<Row | undefined>;
  run(sql: string, params?: SqlValue[]): Promise<void>;
}

export interface SqlDriver extends SqlQuery {
  readonly dialect: Dialect;
  /** The database as shown to a person: a path, or a URL without its password. */
  readonly location: string;
  /**
   * Runs `fn` in one transaction on one connection: committed when it resolves, rolled back when it
   * throws. Queries outside `fn` never interleave with it (SQLite: one connection, serialised;
   * PostgreSQL: a connection of its own).
   */
  tx<T>(fn: (q: SqlQuery) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** True for a `postgres://` or `postgresql://` URL (else the location is an SQLite file path). */
export const isPostgresUrl = (location: string): boolean => /^postgres(ql)?:\/\//i.test(location);

/** A URL with its password replaced by `***` (for messages, logs and records). */
export function redactUrl(location: string): string {
  if (!isPostgresUrl(location)) return location;
  try {
    const u = new URL(location);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return location.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
  }
}

/** `?` placeholders to PostgreSQL's `$1, $2, ...` (our queries hold no `?` inside literals). */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
