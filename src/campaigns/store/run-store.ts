/**
 * The run store: one SQLite file (WAL) recording every campaign and run, committed step by step.
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
 */
import { randomUUID } from "node:crypto";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import { redactSecrets } from "../../../firmware-protocol/redact.ts";
import { closeDatabase, type Database, lockHolder, openDatabase, openSnapshot, type Row } from "./sqlite.ts";

export type RunStatus = "pending" | "running" | "completed" | "aborted" | "failed";
export type StepStatus = "running" | "completed" | "interrupted" | "failed";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS campaigns (
  id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, name TEXT NOT NULL, file TEXT,
  text TEXT NOT NULL, created TEXT NOT NULL, software TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE,
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id), idx INTEGER NOT NULL,
  params TEXT NOT NULL, url TEXT NOT NULL, status TEXT NOT NULL,
  started TEXT, ended TEXT, error TEXT, identity TEXT, config TEXT, limits TEXT,
  software TEXT NOT NULL, host TEXT
);
CREATE TABLE IF NOT EXISTS steps (
  id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), idx INTEGER NOT NULL,
  attempt INTEGER NOT NULL, kind TEXT NOT NULL, spec TEXT NOT NULL, status TEXT NOT NULL,
  started TEXT NOT NULL, ended TEXT, error TEXT, result TEXT,
  UNIQUE (run_id, idx, attempt)
);
CREATE TABLE IF NOT EXISTS measurements (
  id INTEGER PRIMARY KEY, step_id INTEGER NOT NULL REFERENCES steps(id), seq INTEGER NOT NULL,
  kind TEXT NOT NULL, taken TEXT NOT NULL, board_clock REAL,
  row INTEGER, col INTEGER, x REAL, y REAL, label TEXT,
  dtype TEXT, shape TEXT, data BLOB, meta TEXT
);
CREATE INDEX IF NOT EXISTS measurements_step ON measurements(step_id);
`;

export interface Measurement {
  kind: string;
  boardClock?: number;
  row?: number;
  col?: number;
  x?: number;
  y?: number;
  label?: string;
  /** An array: stored as a little-endian blob with its dtype and shape. */
  array?: { data: Float32Array | Float64Array | Int32Array; shape: number[] };
  meta?: Record<string, unknown>;
}

export interface StoredMeasurement extends Omit<Measurement, "array" | "meta"> {
  id: number;
  stepId: number;
  seq: number;
  taken: string;
  array?: { data: Float32Array | Float64Array | Int32Array; shape: number[] };
  meta?: Record<string, unknown>;
}

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

const DTYPES = { f32: Float32Array, f64: Float64Array, i32: Int32Array } as const;
type DType = keyof typeof DTYPES;
const dtypeOf = (a: Float32Array | Float64Array | Int32Array): DType =>
  a instanceof Float32Array ? "f32" : a instanceof Float64Array ? "f64" : "i32";

/** Typed array to little-endian bytes (every platform Node runs on is little-endian; checked). */
function toBlob(a: Float32Array | Float64Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

function fromBlob(dtype: DType, blob: Uint8Array): Float32Array | Float64Array | Int32Array {
  const C = DTYPES[dtype];
  const copy = blob.slice();
  return new C(copy.buffer, 0, copy.byteLength / C.BYTES_PER_ELEMENT);
}

/**
 * Every string the store writes passes through redactSecrets first, so no access token or URL
 * password reaches the file: board URLs, the campaign's text, errors, specs, results, metadata.
 */
function redacting(db: Database): Database {
  const run = db.run.bind(db);
  db.run = ((sql: string, values?: Parameters<Database["run"]>[1]) =>
    run(
      sql,
      Array.isArray(values) ? values.map((v) => (typeof v === "string" ? redactSecrets(v) : v)) : values,
    )) as Database["run"];
  return db;
}

if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1)
  throw new XbarError(ErrorCode.INTERNAL, "run store: big-endian host");

export class RunStore {
  private constructor(
    readonly path: string,
    private readonly db: Database,
    private readonly release: () => void = () => closeDatabase(db, path),
    /** Set when this is a snapshot of a database another process holds (see `openForReading`). */
    readonly snapshotOf?: number,
  ) {}

  static open(path: string): RunStore {
    const db = redacting(openDatabase(path));
    db.exec(SCHEMA);
    return new RunStore(path, db);
  }

  /**
   * Opens for reading: the database itself when it is free, else (a campaign holds it) a snapshot of
   * everything committed so far, with `snapshotOf` set to the holder's pid. Writes to a snapshot are
   * lost when it is closed, so commands that write must use `open`.
   */
  static openForReading(path: string): RunStore {
    let holder = lockHolder(path);
    if (holder === undefined) {
      try {
        return RunStore.open(path);
      } catch (e) {
        // A campaign may have taken the file since we looked.
        holder = lockHolder(path);
        if (holder === undefined) throw e;
      }
    }
    const snap = openSnapshot(path);
    return new RunStore(path, snap.db, snap.close, holder);
  }

  close(): void {
    this.release();
  }

  private tx<T>(fn: () => T): T {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const r = fn();
      this.db.exec("COMMIT");
      return r;
    } catch (e) {
      this.db.exec("ROLLBACK");
      throw e;
    }
  }

  /** Records a campaign and all its runs (pending), in one transaction. */
  createCampaign(c: {
    name: string;
    file?: string;
    text: string;
    software: string;
    runs: Array<{ params: Record<string, unknown>; url: string }>;
  }): { campaign: CampaignRow; runs: RunRow[] } {
    return this.tx(() => {
      const created = now();
      const cid = num(
        this.db.run(
          "INSERT INTO campaigns (uuid, name, file, text, created, software) VALUES (?, ?, ?, ?, ?, ?)",
          [randomUUID(), c.name, c.file ?? null, c.text, created, c.software],
        ).lastInsertRowid,
      );
      c.runs.forEach((r, i) => {
        this.db.run(
          "INSERT INTO runs (uuid, campaign_id, idx, params, url, status, software) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
          [randomUUID(), cid, i, JSON.stringify(r.params), r.url, c.software],
        );
      });
      return { campaign: this.campaign(cid)!, runs: this.runsOf(cid) };
    });
  }

  campaign(id: number): CampaignRow | undefined {
    const r = this.db.get("SELECT * FROM campaigns WHERE id = ?", [id]) as Row | null;
    return r ? (r as unknown as CampaignRow) : undefined;
  }

  private toRun(r: Row): RunRow {
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

  run(id: number): RunRow | undefined {
    const r = this.db.get("SELECT * FROM runs WHERE id = ?", [id]) as Row | null;
    return r ? this.toRun(r) : undefined;
  }

  runsOf(campaignId: number): RunRow[] {
    return (this.db.all("SELECT * FROM runs WHERE campaign_id = ? ORDER BY idx", [campaignId]) as Row[]).map(
      (r) => this.toRun(r),
    );
  }

  runs(): RunRow[] {
    return (this.db.all("SELECT * FROM runs ORDER BY id") as Row[]).map((r) => this.toRun(r));
  }

  startRun(id: number, info: { identity: unknown; config: unknown; limits: unknown; host: string }): void {
    this.db.run(
      "UPDATE runs SET status = 'running', started = COALESCE(started, ?), ended = NULL, error = NULL, identity = ?, config = ?, limits = ?, host = ? WHERE id = ?",
      [now(), json(info.identity), json(info.config), json(info.limits), info.host, id],
    );
  }

  endRun(id: number, status: Exclude<RunStatus, "pending" | "running">, error?: string): void {
    this.tx(() => {
      this.db.run(
        "UPDATE steps SET status = 'interrupted', ended = ? WHERE run_id = ? AND status = 'running'",
        [now(), id],
      );
      this.db.run("UPDATE runs SET status = ?, ended = ?, error = ? WHERE id = ?", [
        status,
        now(),
        error ?? null,
        id,
      ]);
    });
  }

  /** Marks steps left "running" by a process that died as interrupted, and the run as aborted. */
  recoverRun(id: number): void {
    const r = this.run(id);
    if (r?.status === "running") this.endRun(id, "aborted", "the process ended without closing the run");
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

  steps(runId: number): StepRow[] {
    return (this.db.all("SELECT * FROM steps WHERE run_id = ? ORDER BY idx, attempt", [runId]) as Row[]).map(
      (r) => this.toStep(r),
    );
  }

  /** Indices of the steps of a run that completed. */
  completedSteps(runId: number): Set<number> {
    const rows = this.db.all("SELECT idx FROM steps WHERE run_id = ? AND status = 'completed'", [
      runId,
    ]) as Row[];
    return new Set(rows.map((r) => num(r.idx)));
  }

  beginStep(runId: number, idx: number, kind: string, spec: unknown): number {
    return this.tx(() => {
      const prev = this.db.get("SELECT MAX(attempt) AS a FROM steps WHERE run_id = ? AND idx = ?", [
        runId,
        idx,
      ]) as Row;
      const attempt = prev.a === null ? 1 : num(prev.a) + 1;
      return num(
        this.db.run(
          "INSERT INTO steps (run_id, idx, attempt, kind, spec, status, started) VALUES (?, ?, ?, ?, ?, 'running', ?)",
          [runId, idx, attempt, kind, JSON.stringify(spec), now()],
        ).lastInsertRowid,
      );
    });
  }

  endStep(stepId: number, status: StepStatus, result?: unknown, error?: string): void {
    this.db.run("UPDATE steps SET status = ?, ended = ?, result = ?, error = ? WHERE id = ?", [
      status,
      now(),
      json(result),
      error ?? null,
      stepId,
    ]);
  }

  private seq = new Map<number, number>();

  /** Records one measurement (committed at once: autocommit). */
  record(stepId: number, m: Measurement): void {
    const seq = this.seq.get(stepId) ?? 0;
    this.seq.set(stepId, seq + 1);
    this.db.run(
      "INSERT INTO measurements (step_id, seq, kind, taken, board_clock, row, col, x, y, label, dtype, shape, data, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      [
        stepId,
        seq,
        m.kind,
        now(),
        m.boardClock ?? null,
        m.row ?? null,
        m.col ?? null,
        m.x ?? null,
        m.y ?? null,
        m.label ?? null,
        m.array ? dtypeOf(m.array.data) : null,
        m.array ? JSON.stringify(m.array.shape) : null,
        m.array ? toBlob(m.array.data) : null,
        json(m.meta),
      ],
    );
  }

  /** Measurements of the completed attempts of a run's steps (optionally of one kind), in order. */
  measurements(
    runId: number,
    kind?: string,
  ): Array<StoredMeasurement & { stepIdx: number; stepKind: string }> {
    const rows = this.db.all(
      `SELECT m.*, s.idx AS step_idx, s.kind AS step_kind FROM measurements m JOIN steps s ON m.step_id = s.id
       WHERE s.run_id = ? AND s.status = 'completed' ${kind ? "AND m.kind = ?" : ""} ORDER BY s.idx, m.seq`,
      kind ? [runId, kind] : [runId],
    ) as Row[];
    return rows.map((r) => ({
      id: num(r.id),
      stepId: num(r.step_id),
      stepIdx: num(r.step_idx),
      stepKind: String(r.step_kind),
      seq: num(r.seq),
      kind: String(r.kind),
      taken: String(r.taken),
      boardClock: r.board_clock === null ? undefined : num(r.board_clock),
      row: r.row === null ? undefined : num(r.row),
      col: r.col === null ? undefined : num(r.col),
      x: r.x === null ? undefined : num(r.x),
      y: r.y === null ? undefined : num(r.y),
      label: r.label === null ? undefined : String(r.label),
      array:
        r.data instanceof Uint8Array
          ? { data: fromBlob(r.dtype as DType, r.data), shape: JSON.parse(String(r.shape)) as number[] }
          : undefined,
      meta: parse(r.meta) ?? undefined,
    }));
  }

  /** Counts of measurements per run (all attempts), for `runs list`. */
  measurementCount(runId: number): number {
    const r = this.db.get(
      "SELECT COUNT(*) AS n FROM measurements m JOIN steps s ON m.step_id = s.id WHERE s.run_id = ?",
      [runId],
    ) as Row;
    return num(r.n);
  }
}
