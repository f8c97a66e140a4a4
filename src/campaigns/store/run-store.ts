/**
 * The run store: every campaign and run, committed step by step, in one SQLite file (WAL; the default,
 * one computer) or in a PostgreSQL database (many workers writing, many readers). One class, one set
 * of queries for both (the engines: sql.ts; the schema's versions: migrations.ts).
 *
 *   campaigns(id, uuid, name, text, file, created)             the campaign file as given
 *   runs(id, uuid, campaign_id, idx, params, url, status, ...) one per sweep point
 *   steps(id, run_id, idx, attempt, kind, spec, status, ...)  one row per attempt of a step
 *   measurements(id, step_id, seq, kind, ...)                  every measurement as it is taken
 *
 * A run's status is pending, running, completed, aborted or failed. A step that was interrupted keeps
 * its partial measurements under its attempt (status "interrupted"); a resumed run starts the step
 * again as a new attempt, so exports and plots read completed attempts only and nothing is counted
 * twice. Arrays (conductance maps, confusion matrices) are stored as little-endian typed-array blobs.
 *
 * Across processes (workers on several computers, one of which may die or stall mid-step), a run has
 * an owner: `claimRun` takes it over, after which the previous owner's step writes are refused
 * (E652), and the database itself holds at most one completed attempt per step and one measurement
 * per (attempt, number) (migration 2).
 */
import { randomUUID } from "node:crypto";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import { redactSecrets } from "../../../firmware-protocol/redact.ts";
import {
  MEASUREMENT_COLUMNS,
  type Measurement,
  MeasurementWriter,
  measurementValues,
  type StoredMeasurement,
  storedMeasurement,
} from "./measurement-rows.ts";
import { migrate } from "./migrations.ts";
import { OWNER_GONE, ownerIsGone } from "./owner.ts";
import { PostgresDriver } from "./postgres-driver.ts";
import { isPostgresUrl, type Row, type SqlDriver, type SqlQuery, type SqlValue } from "./sql.ts";
import { lockHolder, openDatabase, openSnapshot } from "./sqlite.ts";
import { SqliteDriver } from "./sqlite-driver.ts";

export type RunStatus = "pending" | "running" | "completed" | "aborted" | "failed";
export type StepStatus = "running" | "completed" | "interrupted" | "failed";
export type { Measurement, StoredMeasurement };
export { MeasurementWriter };

export interface CampaignRow {
  id: number;
  uuid: string;
  name: string;
  file: string | null;
  text: string;
  created: string;
  software: string;
}

export interface RunRow {
  id: number;
  uuid: string;
  campaignId: number;
  idx: number;
  params: Record<string, unknown>;
  url: string;
  status: RunStatus;
  started: string | null;
  ended: string | null;
  error: string | null;
  identity: Record<string, unknown> | null;
  config: Record<string, unknown> | null;
  limits: Record<string, unknown> | null;
  software: string;
  host: string | null;
}

export interface StepRow {
  id: number;
  runId: number;
  idx: number;
  attempt: number;
  kind: string;
  spec: Record<string, unknown>;
  status: StepStatus;
  started: string;
  ended: string | null;
  error: string | null;
  result: Record<string, unknown> | null;
}

const now = () => new Date().toISOString();
const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
const parse = <T>(v: unknown): T | null => (typeof v === "string" ? (JSON.parse(v) as T) : null);
const num = (v: unknown) => Number(v);
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));

/**
 * Every string the store writes passes through redactSecrets first, so no access token or URL
 * password reaches the file: board URLs, the campaign's text, errors, specs, results, metadata.
 */
/** Every string written through `q` with its secrets (tokens, passwords) replaced by *** first. */
function redactingQueries(q: SqlQuery): SqlQuery {
  const clean = (params?: SqlValue[]) => params?.map((v) => (typeof v === "string" ? redactSecrets(v) : v));
  return {
    all: (sql, params) => q.all(sql, clean(params)),
    get: (sql, params) => q.get(sql, clean(params)),
    run: (sql, params) => q.run(sql, clean(params)),
  };
}

/** The driver with redaction on every query, in and out of transactions. */
function redacting(db: SqlDriver): SqlDriver {
  const q = redactingQueries(db);
  return {
    dialect: db.dialect,
    location: db.location,
    all: q.all,
    get: q.get,
    run: q.run,
    tx: (fn) => db.tx((inner) => fn(redactingQueries(inner))),
    close: () => db.close(),
  };
}

export class RunStore {
  private constructor(
    /** The engine: SQLite or PostgreSQL (the SQL of this class runs on both). */
    readonly db: SqlDriver,
    /** Set when this is a snapshot of an SQLite file another process holds (see `openForReading`). */
    readonly snapshotOf?: number,
  ) {}

  /** The database as shown to a person: a path or a URL without its password. */
  get location(): string {
    return this.db.location;
  }

  /**
   * Opens `location` for writing: an SQLite file path (created if missing, held by this process), or
   * a `postgres://` URL (shared with other processes); migrates its schema to this version.
   */
  static async open(location: string): Promise<RunStore> {
    const db = redacting(
      isPostgresUrl(location)
        ? await PostgresDriver.open(location)
        : new SqliteDriver(location, openDatabase(location)),
    );
    try {
      await migrate(db);
    } catch (e) {
      await db.close();
      throw e;
    }
    return new RunStore(db);
  }

  /**
   * Opens for reading. PostgreSQL: the database itself (readers never block writers). SQLite: the
   * file itself when it is free, else (a campaign holds it) a snapshot of everything committed so
   * far, with `snapshotOf` set to the holder's pid; writes to a snapshot are lost when it is closed.
   */
  static async openForReading(location: string): Promise<RunStore> {
    if (isPostgresUrl(location)) return RunStore.open(location);
    let holder = lockHolder(location);
    if (holder === undefined) {
      try {
        return await RunStore.open(location);
      } catch (e) {
        // A campaign may have taken the file since we looked.
        holder = lockHolder(location);
        if (holder === undefined) throw e;
      }
    }
    const snap = openSnapshot(location);
    const db = new SqliteDriver(location, snap.db, snap.close);
    await migrate(db);
    return new RunStore(db, holder);
  }

  close(): Promise<void> {
    return this.db.close();
  }

  /** Row locks for read-then-write in a transaction (SQLite's transaction already holds the file). */
  private get forUpdate(): string {
    return this.db.dialect === "postgres" ? " FOR UPDATE" : "";
  }

  /** Records a campaign and all its runs (pending), in one transaction. */
  async createCampaign(c: {
    name: string;
    file?: string;
    text: string;
    software: string;
    runs: Array<{ params: Record<string, unknown>; url: string }>;
  }): Promise<{ campaign: CampaignRow; runs: RunRow[] }> {
    const cid = await this.db.tx(async (q) => {
      const id = num(
        (await q.get(
          "INSERT INTO campaigns (uuid, name, file, text, created, software) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
          [randomUUID(), c.name, c.file ?? null, c.text, now(), c.software],
        ))!.id,
      );
      for (const [i, r] of c.runs.entries())
        await q.run(
          "INSERT INTO runs (uuid, campaign_id, idx, params, url, status, software) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
          [randomUUID(), id, i, JSON.stringify(r.params), r.url, c.software],
        );
      return id;
    });
    return { campaign: (await this.campaign(cid))!, runs: await this.runsOf(cid) };
  }

  /**
   * The run of sweep point `idx` of the campaign `uuid`, recorded (with the campaign) if it is not
   * yet: for workers, which get campaigns from the queue and may record the same one concurrently.
   */
  async ensureRun(c: {
    uuid: string;
    name: string;
    file?: string;
    text: string;
    software: string;
    idx: number;
    params: Record<string, unknown>;
    url: string;
  }): Promise<RunRow> {
    const id = await this.db.tx(async (q) => {
      await q.run(
        "INSERT INTO campaigns (uuid, name, file, text, created, software) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (uuid) DO NOTHING",
        [c.uuid, c.name, c.file ?? null, c.text, now(), c.software],
      );
      const cid = num((await q.get("SELECT id FROM campaigns WHERE uuid = ?", [c.uuid]))!.id);
      await q.run(
        "INSERT INTO runs (uuid, campaign_id, idx, params, url, status, software) VALUES (?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT (campaign_id, idx) DO NOTHING",
        [randomUUID(), cid, c.idx, JSON.stringify(c.params), c.url, c.software],
      );
      return num((await q.get("SELECT id FROM runs WHERE campaign_id = ? AND idx = ?", [cid, c.idx]))!.id);
    });
    return (await this.run(id))!;
  }

  private toCampaign(r: Row): CampaignRow {
    return {
      id: num(r.id),
      uuid: String(r.uuid),
      name: String(r.name),
      file: str(r.file),
      text: String(r.text),
      created: String(r.created),
      software: String(r.software),
    };
  }

  async campaign(id: number): Promise<CampaignRow | undefined> {
    const r = await this.db.get("SELECT * FROM campaigns WHERE id = ?", [id]);
    return r ? this.toCampaign(r) : undefined;
  }

  async campaignByUuid(uuid: string): Promise<CampaignRow | undefined> {
    const r = await this.db.get("SELECT * FROM campaigns WHERE uuid = ?", [uuid]);
    return r ? this.toCampaign(r) : undefined;
  }

  async campaigns(): Promise<CampaignRow[]> {
    return (await this.db.all("SELECT * FROM campaigns ORDER BY id")).map((r) => this.toCampaign(r));
  }

  /**
   * A run as stored, except that one left "running" by a process of this computer that is gone
   * (killed outright) is shown as what resuming it records: aborted (owner.ts).
   */
  private toRun(r: Row): RunRow {
    if (r.status === "running" && ownerIsGone(str(r.owner)))
      r = { ...r, status: "aborted", error: OWNER_GONE };
    return {
      id: num(r.id),
      uuid: String(r.uuid),
      campaignId: num(r.campaign_id),
      idx: num(r.idx),
      params: parse(r.params) ?? {},
      url: String(r.url),
      status: r.status as RunStatus,
      started: str(r.started),
      ended: str(r.ended),
      error: str(r.error),
      identity: parse(r.identity),
      config: parse(r.config),
      limits: parse(r.limits),
      software: String(r.software),
      host: str(r.host),
    };
  }

  async run(id: number): Promise<RunRow | undefined> {
    const r = await this.db.get("SELECT * FROM runs WHERE id = ?", [id]);
    return r ? this.toRun(r) : undefined;
  }

  async runsOf(campaignId: number): Promise<RunRow[]> {
    const rows = await this.db.all("SELECT * FROM runs WHERE campaign_id = ? ORDER BY idx", [campaignId]);
    return rows.map((r) => this.toRun(r));
  }

  async runs(): Promise<RunRow[]> {
    return (await this.db.all("SELECT * FROM runs ORDER BY id")).map((r) => this.toRun(r));
  }

  /** Refuses (E652) when `owner` is given and another process has taken the run over since. */
  private async checkOwner(q: SqlQuery, runId: number, owner: string | undefined): Promise<void> {
    if (owner === undefined) return;
    const r = await q.get(`SELECT owner FROM runs WHERE id = ?${this.forUpdate}`, [runId]);
    if (r && r.owner !== owner)
      throw new XbarError(
        ErrorCode.RUN_TAKEN_OVER,
        `run ${runId} was taken over by ${String(r.owner)} (this is ${owner})`,
      );
  }

  /**
   * Makes `owner` the run's owner. Steps left "running" by a previous owner (a process that died,
   * or one that stalled and lost its job) are marked interrupted, and a run left "running" aborted;
   * from now on that previous owner's step writes are refused (E652).
   */
  async claimRun(id: number, owner: string): Promise<void> {
    await this.db.tx(async (q) => {
      const r = await q.get(`SELECT status FROM runs WHERE id = ?${this.forUpdate}`, [id]);
      if (r?.status === "running") {
        await q.run(
          "UPDATE steps SET status = 'interrupted', ended = ? WHERE run_id = ? AND status = 'running'",
          [now(), id],
        );
        await q.run("UPDATE runs SET status = 'aborted', ended = ?, error = ? WHERE id = ?", [
          now(),
          OWNER_GONE,
          id,
        ]);
      }
      await q.run("UPDATE runs SET owner = ? WHERE id = ?", [owner, id]);
    });
  }

  async startRun(
    id: number,
    info: { identity: unknown; config: unknown; limits: unknown; host: string },
    owner?: string,
  ): Promise<void> {
    await this.db.tx(async (q) => {
      await this.checkOwner(q, id, owner);
      await q.run(
        "UPDATE runs SET status = 'running', started = COALESCE(started, ?), ended = NULL, error = NULL, identity = ?, config = ?, limits = ?, host = ? WHERE id = ?",
        [now(), json(info.identity), json(info.config), json(info.limits), info.host, id],
      );
    });
  }

  async endRun(
    id: number,
    status: Exclude<RunStatus, "pending" | "running">,
    error?: string,
    owner?: string,
  ): Promise<void> {
    await this.db.tx(async (q) => {
      await this.checkOwner(q, id, owner);
      await q.run(
        "UPDATE steps SET status = 'interrupted', ended = ? WHERE run_id = ? AND status = 'running'",
        [now(), id],
      );
      await q.run("UPDATE runs SET status = ?, ended = ?, error = ? WHERE id = ?", [
        status,
        now(),
        error ?? null,
        id,
      ]);
    });
  }

  private toStep(r: Row): StepRow {
    return {
      id: num(r.id),
      runId: num(r.run_id),
      idx: num(r.idx),
      attempt: num(r.attempt),
      kind: String(r.kind),
      spec: parse(r.spec) ?? {},
      status: r.status as StepStatus,
      started: String(r.started),
      ended: str(r.ended),
      error: str(r.error),
      result: parse(r.result),
    };
  }

  /** The steps of a run, every attempt; a step left running by a process that is gone shows as interrupted. */
  async steps(runId: number): Promise<StepRow[]> {
    const rows = await this.db.all("SELECT * FROM steps WHERE run_id = ? ORDER BY idx, attempt", [runId]);
    const run = await this.db.get("SELECT status, owner FROM runs WHERE id = ?", [runId]);
    const gone = run?.status === "running" && ownerIsGone(str(run.owner));
    return rows.map((r) => this.toStep(gone && r.status === "running" ? { ...r, status: "interrupted" } : r));
  }

  /** Indices of the steps of a run that completed. */
  async completedSteps(runId: number): Promise<Set<number>> {
    const rows = await this.db.all("SELECT idx FROM steps WHERE run_id = ? AND status = 'completed'", [
      runId,
    ]);
    return new Set(rows.map((r) => num(r.idx)));
  }

  async beginStep(runId: number, idx: number, kind: string, spec: unknown, owner?: string): Promise<number> {
    return this.db.tx(async (q) => {
      await this.checkOwner(q, runId, owner);
      const prev = (await q.get("SELECT MAX(attempt) AS a FROM steps WHERE run_id = ? AND idx = ?", [
        runId,
        idx,
      ]))!;
      const attempt = prev.a === null ? 1 : num(prev.a) + 1;
      return num(
        (await q.get(
          "INSERT INTO steps (run_id, idx, attempt, kind, spec, status, started) VALUES (?, ?, ?, ?, ?, 'running', ?) RETURNING id",
          [runId, idx, attempt, kind, JSON.stringify(spec), now()],
        ))!.id,
      );
    });
  }

  async endStep(
    stepId: number,
    status: StepStatus,
    result?: unknown,
    error?: string,
    owner?: string,
  ): Promise<void> {
    await this.db.tx(async (q) => {
      const s = await q.get("SELECT run_id FROM steps WHERE id = ?", [stepId]);
      if (s) await this.checkOwner(q, num(s.run_id), owner);
      await q.run("UPDATE steps SET status = ?, ended = ?, result = ?, error = ? WHERE id = ?", [
        status,
        now(),
        json(result),
        error ?? null,
        stepId,
      ]);
    });
  }

  /** A writer for the measurements of a step attempt (numbered 0, 1, ... in the order recorded). */
  recorder(stepId: number): MeasurementWriter {
    return new MeasurementWriter(this, stepId);
  }

  /** Inserts rows of `measurementValues` (one statement, so one commit). */
  async insertMeasurements(rows: SqlValue[][]): Promise<void> {
    if (rows.length === 0) return;
    const one = `(${Array.from({ length: 14 }, () => "?").join(", ")})`;
    await this.db.run(
      `INSERT INTO measurements (${MEASUREMENT_COLUMNS}) VALUES ${rows.map(() => one).join(", ")}`,
      rows.flat(),
    );
  }

  /** Records one measurement and waits for its commit (a writer is cheaper for many). */
  async record(stepId: number, m: Measurement): Promise<void> {
    const r = await this.db.get("SELECT COALESCE(MAX(seq) + 1, 0) AS n FROM measurements WHERE step_id = ?", [
      stepId,
    ]);
    await this.insertMeasurements([measurementValues(stepId, num(r!.n), m, now())]);
  }

  /** Measurements of the completed attempts of a run's steps (optionally of one kind), in order. */
  async measurements(
    runId: number,
    kind?: string,
  ): Promise<Array<StoredMeasurement & { stepIdx: number; stepKind: string }>> {
    const rows = await this.db.all(
      `SELECT m.*, s.idx AS step_idx, s.kind AS step_kind FROM measurements m JOIN steps s ON m.step_id = s.id
       WHERE s.run_id = ? AND s.status = 'completed' ${kind ? "AND m.kind = ?" : ""} ORDER BY s.idx, m.seq`,
      kind ? [runId, kind] : [runId],
    );
    return rows.map((r) => ({
      ...storedMeasurement(r),
      stepIdx: num(r.step_idx),
      stepKind: String(r.step_kind),
    }));
  }

  /** Counts of measurements per run (all attempts), for `runs list`. */
  async measurementCount(runId: number): Promise<number> {
    const r = await this.db.get(
      "SELECT COUNT(*) AS n FROM measurements m JOIN steps s ON m.step_id = s.id WHERE s.run_id = ?",
      [runId],
    );
    return num(r!.n);
  }
}
