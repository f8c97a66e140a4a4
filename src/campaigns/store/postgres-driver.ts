/**
 * The run store's PostgreSQL engine: the pure-JS `pg` client (no native build), a small pool per
 * process. Many processes write at once (one per worker, each with several boards) and read at once
 * (`xbar runs ...`, exports, plots): PostgreSQL's MVCC gives every reader a consistent view without a
 * snapshot copy, and each transaction runs on a connection of its own.
 *
 * Types: BIGINT ids arrive as strings (the store converts them), BYTEA as a Buffer, DOUBLE PRECISION
 * as a number. A connection that fails is reported as E650 STORE_UNAVAILABLE with the URL, never the
 * password.
 */
import pg from "pg";
import { errorMessage, XbarError } from "../../../drivers/index.ts";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import {
  numberPlaceholders,
  type Row,
  redactUrl,
  type SqlDriver,
  type SqlQuery,
  type SqlValue,
} from "./sql.ts";

/** Connections per process (a worker's boards share them; steps write little at a time). */
const POOL_SIZE = 4;

export class PostgresDriver implements SqlDriver {
  readonly dialect = "postgres" as const;
  readonly location: string;
  private readonly direct: SqlQuery;

  private constructor(
    url: string,
    private readonly pool: pg.Pool,
  ) {
    this.location = redactUrl(url);
    this.direct = PostgresDriver.on(pool);
  }

  static async open(url: string): Promise<PostgresDriver> {
    const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE, connectionTimeoutMillis: 10_000 });
    // An idle connection that dies (server restart) must not crash the process: the next query fails.
    pool.on("error", () => {});
    const d = new PostgresDriver(url, pool);
    try {
      await d.get("SELECT 1 AS one");
    } catch (e) {
      await pool.end().catch(() => {});
      throw new XbarError(
        ErrorCode.STORE_UNAVAILABLE,
        `cannot reach the run database ${d.location}: ${errorMessage(e)}`,
      );
    }
    return d;
  }

  private static on(c: pg.Pool | pg.PoolClient): SqlQuery {
    const q = async (sql: string, params: SqlValue[] = []) =>
      (await c.query(numberPlaceholders(sql), params as unknown[])).rows as Row[];
    return {
      all: q,
      get: async (sql, params) => (await q(sql, params))[0],
      run: async (sql, params) => {
        await q(sql, params);
      },
    };
  }

  all(sql: string, params?: SqlValue[]): Promise<Row[]> {
    return this.direct.all(sql, params);
  }

  get(sql: string, params?: SqlValue[]): Promise<Row | undefined> {
    return this.direct.get(sql, params);
  }

  run(sql: string, params?: SqlValue[]): Promise<void> {
    return this.direct.run(sql, params);
  }

  async tx<T>(fn: (q: SqlQuery) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const r = await fn(PostgresDriver.on(client));
      await client.query("COMMIT");
      return r;
    } catch (e) {
      await client.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
