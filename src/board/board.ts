/**
 * # The Board interface: the device-abstraction layer
 *
 * This is the contract that training rules, pipelines and campaigns program against. Nothing above
 * this file knows whether the array is a real test board on a serial port, a board behind a TCP
 * bridge, or the emulated board started in-process for `emu://`. If a piece of code needs to know,
 * the abstraction is wrong: extend this interface instead.
 *
 * ## Why Observables
 * Every operation returns a *cold* Observable: nothing is sent until it is subscribed, and each
 * subscription sends the operation once. This is the one place where the serial edge (Promises,
 * timers) turns into Observables, so pipelines compose with `concatMap`, `mergeMap`, `retry` and
 * `takeUntil` without raw Promises in the middle.
 *
 * ## Cancellation
 * Unsubscribing before the reply does not un-send a request already on the wire: the board finishes
 * it (each command is short and ends with the array idle). Multi-step operators in `operators/`
 * stop issuing commands and call `abort()` when unsubscribed, so the array is left idle.
 *
 * ## Errors
 * Every failure is an `XbarError` (drivers/errors.ts) with a numeric code: the board's own codes
 * (3xx for the safety envelope, PROTOCOL.md §5), or host codes (601 timeout, 602 disconnected, …).
 * Operations outside the envelope are refused on the host *before* anything is sent (context
 * `side: "host"`), and would be refused again by the board (`side: "board"`).
 *
 * ## Units
 * SI throughout: volts, seconds, siemens, amperes, joules. Rows and columns are zero-based.
 */
import type { Observable } from "rxjs";
import type { Limits, Scheme } from "../../firmware-protocol/index.ts";

export type { Limits, Scheme };

/** What the board says it is (IDN). */
export interface Identity {
  vendor: string;
  model: string;
  serial: string;
  firmware: string;
  /** Protocol major version (`proto=`). */
  protocol: number;
  /** Protocol minor version (`minor=`; 0 for a 1.0 board, which does not send it). */
  protocolMinor: number;
  /** The board's time profile (IDN timing=, e.g. "command:0.00002,..."), or "" when not reported. */
  timing: string;
  rows: number;
  cols: number;
  /** Device technology, e.g. "agsi", "linear". */
  technology: string;
  /** Verbs the board supports. */
  operations: string[];
  /** Requests the host may keep in flight. */
  window: number;
  /** Longest line the board accepts and sends, bytes. */
  maxLine: number;
  /** Array effects the board reports (IDN effects=): "none", or e.g. "sneak,disturb,stuck:0.01:0". */
  effects: string;
  /**
   * Bits of the board's input DAC and sensing ADC (IDN dac=, adc=; protocol 1.1), absent for a board
   * that takes float32 on the wire. With them, bulk vectors travel quantised at that resolution.
   */
  dacBits?: number;
  adcBits?: number;
}

/** Board configuration (CFG). Limits here can only narrow the board's hard limits. */
export interface BoardConfig {
  /** Read voltage, V. Default 0.2. */
  readVoltage: number;
  /** Biasing of unselected lines. Default "V/2". */
  scheme: Scheme;
  /** Current compliance, A. Default 1e-4. */
  compliance: number;
  /** Read integration time, s. Default 1e-6. */
  readTime: number;
  /** Narrowed envelope: largest |amplitude| (V), longest width (s), most pulses, most energy (J). */
  vmax: number;
  wmax: number;
  nmax: number;
  emax: number;
}

/** Counters kept by the board itself (STAT). */
export interface Counters {
  pulses: number;
  reads: number;
  vmms: number;
  /** Energy spent by pulses, reads and VMMs, J: the board's own account. */
  energy: number;
  commands: number;
  errors: number;
  /** Board clock, s since boot (virtual on an emulated board). */
  clock: number;
  /**
   * Bytes on the board's links since boot or the last clear (STAT rx, tx; protocol 1.1): `sent` by
   * hosts to the board, `received` by hosts from it. Absent when the board does not count them.
   */
  link?: { sent: number; received: number };
}

/** A rectangle of conductances, row-major. */
export interface ConductanceMap {
  r0: number;
  c0: number;
  rows: number;
  cols: number;
  /** Conductances, S, `rows * cols` values. */
  data: Float32Array;
}

export interface Block {
  r0: number;
  c0: number;
  rows: number;
  cols: number;
}

export interface PulseSpec {
  row: number;
  col: number;
  /** Amplitude, V: positive potentiates (SET), negative depresses (RESET). */
  amplitude: number;
  /** Width, s. */
  width: number;
  /** Pulses in the train; default 1. */
  count?: number;
  /** Read the device after the train; default false. */
  readAfter?: boolean;
}

export interface PulseResult {
  row: number;
  col: number;
  /** Pulses applied. */
  applied: number;
  /** Conductance after the train, S (when `readAfter`). */
  conductance?: number;
}

/** A batched pulse list: one entry per device, applied in order. */
export interface PulseList {
  rows: Uint16Array | number[];
  cols: Uint16Array | number[];
  /** One amplitude for all entries or one per entry, V. */
  amplitude: number | Float32Array;
  /** One width for all or one per entry, s. */
  width: number | Float32Array;
  /** One count for all or one per entry; default 1. */
  count?: number | Uint16Array;
}

/** A dense map of signed pulse counts over a block (positive: `vp` pulses; negative: `vn` pulses). */
export interface PulseBlock extends Block {
  counts: Int16Array;
  vp: number;
  vn: number;
  width: number;
}

/**
 * An outer-product update over a block: device (i, j) receives `q(scale · x[i] · d[j])` pulses, of
 * `vp` when positive and `vn` when negative (PROTOCOL.md, OPU). The weight update of on-chip training.
 */
export interface OuterProductUpdate extends Block {
  /** One value per row of the block. */
  x: Float32Array;
  /** One value per column of the block. */
  d: Float32Array;
  /** Default 1. */
  scale?: number;
  vp: number;
  vn: number;
  width: number;
  /** "count" rounds to the nearest pulse count (default); "sign" gives one pulse (Manhattan rule). */
  mode?: "count" | "sign";
  /** Values with |scale · x · d| below this give no pulse; default 0.5. */
  threshold?: number;
  /**
   * The caller's word that `x` is the input of the last `vmm()` (k = 1) on this same block, which
   * applied `x · voltsPerUnit` volts. A board that holds that vector (protocol 1.1) is then told to
   * use it instead of receiving `x` again; any other board uses `x`, which must still be given.
   */
  heldInput?: { voltsPerUnit: number };
}

export interface BoardEventInfo {
  name: string;
  args: Record<string, string>;
}

/** What the host's side of the link has seen (the client's own account, not the board's). */
export interface LinkStats {
  /** Requests sent (first transmissions). */
  requests: number;
  /** Requests sent again with the same tag (a lost or corrupted line). */
  retransmissions: number;
  /** Lines the host could not trust (bad checksum, garbage). */
  discarded: number;
  /** Board reboots survived. */
  reboots: number;
}

export interface Board {
  /** The URL the board was reached through. */
  readonly url: string;
  readonly identity: Identity;
  /** The effective envelope, refreshed by `configure`. */
  readonly limits: Limits;
  /** Unsolicited events: "BOOT" (the board restarted), "REJECT" (it discarded a line), "FAULT". */
  readonly events: Observable<BoardEventInfo>;

  /** Sets what is given and emits the whole configuration. */
  configure(cfg?: Partial<BoardConfig>): Observable<BoardConfig>;

  /** Conductance of one device, S. */
  read(row: number, col: number): Observable<number>;
  readRow(row: number): Observable<ConductanceMap>;
  readCol(col: number): Observable<ConductanceMap>;
  readBlock(block: Block): Observable<ConductanceMap>;
  /** The whole array (in several block reads if one reply would exceed the board's line limit). */
  readAll(): Observable<ConductanceMap>;

  /** A pulse train on one device. */
  pulse(p: PulseSpec): Observable<PulseResult>;
  /** A batched pulse list in one command; emits the number of pulses applied. */
  pulseList(list: PulseList): Observable<number>;
  /** Dense signed pulse counts over a block in one command; emits the number of pulses applied. */
  pulseBlock(p: PulseBlock): Observable<number>;
  /** Outer-product update in one command; emits the number of pulses applied. */
  outerProductUpdate(u: OuterProductUpdate): Observable<number>;

  /**
   * Forward vector-matrix multiply on a block: `k` vectors of `block.rows` voltages (row-major),
   * emits the `k x block.cols` column currents, A.
   */
  vmm(block: Block, x: Float32Array, k?: number): Observable<Float32Array>;
  /** Transposed multiply: `k x block.cols` voltages on the columns, emits `k x block.rows` currents. */
  vmmT(block: Block, x: Float32Array, k?: number): Observable<Float32Array>;

  /**
   * Threshold-switch cells (neuron and synapse in one cell, IDN ops includes FIRE): biases every device
   * of the block at `volts` for `seconds` and emits each one's number of firing events, row-major.
   * Firing also partially SETs the cells' synaptic layer, so this changes device states.
   */
  fire(block: Block, volts: number, seconds: number): Observable<Uint32Array>;

  /** Waits `seconds` on the board's clock (virtual on an emulated board); emits the clock after. */
  wait(seconds: number): Observable<number>;
  clock(): Observable<number>;
  /** The board's counters; with `clear` they are reset after being reported. */
  counters(clear?: boolean): Observable<Counters>;
  /** Drains the board's error queue. */
  errors(): Observable<Array<{ code: number; message: string }>>;

  /** Stops whatever runs and grounds all lines. */
  abort(): Observable<void>;
  /** Board reset: default configuration, counters cleared; device states are kept. */
  reset(): Observable<void>;
  /** Releases the link (and stops an in-process emulator). */
  close(): Promise<void>;
  /** The link's counts so far, when the board is reached through a line protocol (the live view shows them). */
  linkStats?(): LinkStats;
}
