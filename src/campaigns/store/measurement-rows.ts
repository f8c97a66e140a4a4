/**
 * Measurements as rows of the run store: the columns, a typed array as a little-endian blob with
 * its dtype and shape, the batched writer of a step attempt, and a stored row read back.
 */
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import type { Row, SqlValue } from "./sql.ts";

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
  // A fresh copy at offset 0 (a Buffer from PostgreSQL may be a view into a shared pool).
  const copy = new Uint8Array(blob);
  return new C(copy.buffer, 0, copy.byteLength / C.BYTES_PER_ELEMENT);
}

if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1)
  throw new XbarError(ErrorCode.INTERNAL, "run store: big-endian host");

/** The columns of a measurement row, in insert order. */
export const MEASUREMENT_COLUMNS =
  "step_id, seq, kind, taken, board_clock, row, col, x, y, label, dtype, shape, data, meta";
/** Rows per INSERT (14 parameters each: far below both engines' limits). */
const BATCH = 500;

export function measurementValues(stepId: number, seq: number, m: Measurement, taken: string): SqlValue[] {
  return [
    stepId,
    seq,
    m.kind,
    taken,
    m.boardClock ?? null,
    m.row ?? null,
    m.col ?? null,
    m.x ?? null,
    m.y ?? null,
    m.label ?? null,
    m.array ? dtypeOf(m.array.data) : null,
    m.array ? JSON.stringify(m.array.shape) : null,
    m.array ? toBlob(m.array.data) : null,
    m.meta === undefined ? null : JSON.stringify(m.meta),
  ];
}

/**
 * Measurements of one step attempt on their way to the store, in order. `record` never waits: what
 * arrives while an insert is under way goes out with the next one (one multi-row INSERT), so a fast
 * step costs few round trips to PostgreSQL and a slow one commits each measurement as it is taken.
 * A failed insert is rethrown by the next `record` and by `flush`.
 */
export class MeasurementWriter {
  private seq = 0;
  private buffer: SqlValue[][] = [];
  private writing?: Promise<void>;
  private failure?: unknown;

  constructor(
    private readonly store: { insertMeasurements(rows: SqlValue[][]): Promise<void> },
    readonly stepId: number,
  ) {}

  record(m: Measurement): void {
    if (this.failure) throw this.failure;
    this.buffer.push(measurementValues(this.stepId, this.seq++, m, new Date().toISOString()));
    this.writing ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.buffer.length > 0) await this.store.insertMeasurements(this.buffer.splice(0, BATCH));
    } catch (e) {
      this.failure = e;
    } finally {
      this.writing = undefined;
    }
  }

  /** Resolves when everything recorded so far is committed. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failure) throw this.failure;
  }
}

/** A measurement row as read back (the columns of `MEASUREMENT_COLUMNS` and its id). */
export function storedMeasurement(r: Row): StoredMeasurement {
  const opt = (v: unknown) => (v === null ? undefined : Number(v));
  return {
    id: Number(r.id),
    stepId: Number(r.step_id),
    seq: Number(r.seq),
    kind: String(r.kind),
    taken: String(r.taken),
    boardClock: opt(r.board_clock),
    row: opt(r.row),
    col: opt(r.col),
    x: opt(r.x),
    y: opt(r.y),
    label: r.label === null ? undefined : String(r.label),
    array:
      r.data instanceof Uint8Array
        ? { data: fromBlob(r.dtype as DType, r.data), shape: JSON.parse(String(r.shape)) as number[] }
        : undefined,
    meta:
      typeof r.meta === "string"
        ? ((JSON.parse(r.meta) as Record<string, unknown> | null) ?? undefined)
        : undefined,
  };
}
