/** Protocol constants: see PROTOCOL.md sections 1, 3 and 5. */

/**
 * Major version of PROTOCOL.md, the `proto=` of HELLO, IDN and BOOT: bumped on every incompatible
 * change. A host accepts any minor version of its major one.
 */
export const PROTOCOL_VERSION = 1;

/**
 * Minor version (`minor=` of HELLO, IDN and BOOT; absent means 0): compatible revisions, each listed
 * in PROTOCOL.md's changelog. 1.1: the errata of issue 12 and the time model.
 */
export const PROTOCOL_MINOR = 1;

/** Longest line (bytes, terminator included) any receiver must accept (PROTOCOL.md §1). */
export const MAX_LINE = 8 * 1024 * 1024;

/** Replies remembered by a board for replay of repeated tags (PROTOCOL.md §3). */
export const REPLAY_WINDOW = 64;

/** Replies larger than this may be left out of the replay window. */
export const REPLAY_MAX_REPLY = 1024 * 1024;

/** Tags wrap from this value back to 0. */
export const MAX_TAG = 65535;

/**
 * Blocks whose last VMM input (k=1) a 1.1-wire board holds for `OPU x=last` (PROTOCOL.md §6, held
 * vectors); the oldest is dropped first.
 */
export const HELD_BLOCKS = 16;

/** Depth of the board's error queue. */
export const ERROR_QUEUE_DEPTH = 32;

/** Numeric error codes, grouped by layer (PROTOCOL.md §5). Tests check codes, never message texts. */
export const ErrorCode = {
  BAD_CHECKSUM: 101,
  MALFORMED: 102,
  LINE_TOO_LONG: 103,
  BAD_TAG: 104,
  UNKNOWN_COMMAND: 201,
  MISSING_ARGUMENT: 202,
  BAD_ARGUMENT: 203,
  UNKNOWN_ARGUMENT: 204,
  AMPLITUDE_LIMIT: 301,
  WIDTH_LIMIT: 302,
  COUNT_LIMIT: 303,
  COMPLIANCE_LIMIT: 304,
  ADDRESS_RANGE: 305,
  READ_VOLTAGE_LIMIT: 306,
  ENERGY_LIMIT: 307,
  WIDEN_REFUSED: 308,
  QUEUE_OVERFLOW: 350,
  ABORTED: 401,
  BUSY: 402,
  UNAUTHORIZED: 403,
  COMPLIANCE_TRIP: 404,
  /** The board closes this connection: too many connections, idle, or not admitted in time (§3, Connections). */
  CONNECTION_CLOSED: 405,
  INTERNAL: 500,
  // Host side only, never on the wire.
  TIMEOUT: 601,
  DISCONNECTED: 602,
  VERSION_MISMATCH: 603,
  PORT_NOT_FOUND: 604,
  PORT_BUSY: 605,
  CONNECTION_REFUSED: 606,
  BAD_URL: 607,
  BAD_INPUT: 608,
  CLOSED: 609,
  UNKNOWN_OUTCOME: 610,
  /** Devices did not reach their targets (stuck, out of pulse budget); exit status 3. */
  NOT_CONVERGED: 620,
  /** The user interrupted a run (Ctrl-C, SIGTERM, Stop); exit status 130. */
  INTERRUPTED: 621,
  /** The board lacks the size or an operation the job needs (e.g. too small, no FIRE); exit status 1. */
  UNSUITABLE_BOARD: 622,
  /**
   * A checkpoint cannot be resumed (`xbar train --resume`): another board (its identity differs), a
   * board that cannot have kept its devices (emu:// without state=), or a point a rule cannot resume from.
   */
  CANNOT_RESUME: 623,
  // Bench instruments (host side): an SMU, a switching matrix or an ArC ONE refused or misbehaved.
  /** An instrument refused a command (its error queue named why): a crosspoint, a level, a mode. */
  INSTRUMENT_REFUSED: 640,
  /** The source-measure unit reached its current compliance during a read or a pulse. */
  IN_COMPLIANCE: 641,
  // The run store and the fleet (many boards, many computers): host side only.
  STORE_UNAVAILABLE: 650,
  STORE_TOO_NEW: 651,
  RUN_TAKEN_OVER: 652,
  QUEUE_UNAVAILABLE: 653,
  UNKNOWN_BOARD: 654,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;
export type ErrorCodeValue = (typeof ErrorCode)[ErrorCodeName];

const names = new Map<number, string>(Object.entries(ErrorCode).map(([k, v]) => [v, k]));

/** The symbolic name of a code, e.g. 301 → "AMPLITUDE_LIMIT"; "UNKNOWN" for codes not in the table. */
export function errorCodeName(code: number): string {
  return names.get(code) ?? "UNKNOWN";
}
