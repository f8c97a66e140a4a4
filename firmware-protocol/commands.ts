/**
 * The command table of PROTOCOL.md §6 as data: one descriptor per verb, with every argument's name,
 * type, unit, default and range, and every reply field. Everything else derives from it:
 * - the host's typed requests and replies (`RequestOf<"PULSE">`, `ReplyOf<"PULSE">`, command-types.ts)
 *   and their encoding (request.ts), so `call("PULSE", { r, c, v, w })` is checked by the compiler;
 * - the emulated board's dispatch (a handler per verb, mocks/handlers.ts, typed by the same types);
 * - every range check, on both sides (`checkRequest`, request.ts): static ranges (`min`/`max`),
 *   choices (`oneOf`), addresses (`address`), packed lengths (`length`) and the safety envelope
 *   (`envelope`, `narrows`).
 * A new verb is one entry here plus its handler on the board. Keys are listed in wire order: a sender
 * writes them in this order (PROTOCOL.md §2).
 */
import type { PackedType } from "./packed.ts";

/** SI units of PROTOCOL.md §4. */
export type Unit = "V" | "s" | "S" | "A" | "J";

/** Which envelope check (envelope.ts) applies to a value, on the host before sending and on the board. */
export type EnvelopeCheck =
  | "amplitude" // |v| <= vmax (301)
  | "width" // wmin <= w <= wmax (302)
  | "count" // integer 0..nmax, of |n| for signed counts (303)
  | "listLength" // the number of entries of a pulse list, 0..plmax (303)
  | "readVoltage" // |v| <= vrmax (306)
  | "compliance"; // 0 < cc <= ccmax (304)

/** Role of an argument in the address of what a command touches (checked against the array, 305). */
export type AddressRole = "row" | "col" | "rows" | "cols";

/** Limits a CFG argument may narrow (never widen beyond the board's hard limit: 308). */
export type Narrowable = "vmax" | "wmax" | "nmax" | "emax";

export interface ParamSpec {
  /**
   * "int" and "number" are decimal numbers (integers only for "int"), "token" a token, "packed" a
   * packed array of `packed`, "number|packed" a number for every entry or a packed array of `packed`.
   */
  readonly type: "int" | "number" | "token" | "packed" | "number|packed";
  readonly packed?: PackedType;
  /**
   * Length of a packed value: a product of other arguments' names ("nr*nc", "k*nr"), each standing for
   * its value (an integer) or its length (a packed array).
   */
  readonly length?: string;
  readonly unit?: Unit;
  /** Absent from a request unless given; `default` is what the board assumes then. */
  readonly optional?: true;
  readonly default?: number | string;
  /** Static range, inclusive unless named in `open`. */
  readonly min?: number;
  readonly max?: number;
  readonly open?: "min" | "max" | "both";
  /** The allowed tokens. */
  readonly oneOf?: readonly string[];
  readonly envelope?: EnvelopeCheck;
  readonly address?: AddressRole;
  /** A CFG argument that narrows this limit: positive, at most the board's hard limit. */
  readonly narrows?: Narrowable;
  /** Signed values (PBLK counts): the envelope applies to |value|. */
  readonly signed?: true;
  /**
   * Protocol 1.1: the value may be the token `last`, the input vector of the last VMM (k=1) on the
   * same block, which the board holds (PROTOCOL.md §6, held vectors).
   */
  readonly held?: true;
  readonly doc: string;
}

export interface FieldSpec {
  readonly type: "int" | "number" | "token" | "packed";
  readonly packed?: PackedType;
  readonly unit?: Unit;
  /** Present only in some replies (PULSE g with rd=1, LIM gmax, IDN effects). */
  readonly optional?: true;
  readonly doc: string;
}

export interface CommandDescriptor {
  /** "program" changes device states; "read" only senses; "control" neither. */
  readonly kind: "program" | "read" | "control";
  readonly params: Readonly<Record<string, ParamSpec>>;
  readonly fields: Readonly<Record<string, FieldSpec>>;
  readonly doc: string;
}

// ---- Building blocks, reused across verbs ----

const ADDR = {
  r: { type: "int", address: "row", doc: "row (word line), zero-based" },
  c: { type: "int", address: "col", doc: "column (bit line), zero-based" },
} as const;
const BLOCK = {
  r0: { type: "int", address: "row", doc: "first row of the block" },
  c0: { type: "int", address: "col", doc: "first column of the block" },
  nr: { type: "int", address: "rows", doc: "rows in the block" },
  nc: { type: "int", address: "cols", doc: "columns in the block" },
} as const;
const VP = {
  type: "number",
  unit: "V",
  min: 0,
  open: "min",
  envelope: "amplitude",
  doc: "amplitude of potentiating pulses (> 0)",
} as const;
const VN = {
  type: "number",
  unit: "V",
  max: 0,
  open: "max",
  envelope: "amplitude",
  doc: "amplitude of depressing pulses (< 0)",
} as const;
const W = { type: "number", unit: "s", envelope: "width", doc: "pulse width" } as const;
const DATA = { type: "packed", packed: "f32", unit: "S", doc: "conductances, row-major" } as const;
const PULSES = { type: "int", doc: "pulses applied" } as const;
/** Protocol 1.1: a reply whose packed values are quantised at the board's ADC resolution. */
const Q = {
  type: "int",
  optional: true,
  default: 0,
  min: 0,
  max: 1,
  doc: "1: packed values of the reply quantised at the ADC resolution (IDN adc=; protocol 1.1)",
} as const;
const CLOCK = { type: "number", unit: "s", doc: "board clock, s since boot" } as const;
const NARROW = (narrows: Narrowable, unit: Unit | undefined, doc: string) =>
  ({
    type: narrows === "nmax" ? "int" : "number",
    unit,
    optional: true,
    min: 0,
    open: "min",
    narrows,
    doc,
  }) as const;

const CONFIG_FIELDS = {
  vread: { type: "number", unit: "V", doc: "read voltage" },
  scheme: { type: "token", doc: "biasing of unselected lines" },
  cc: { type: "number", unit: "A", doc: "current compliance" },
  tread: { type: "number", unit: "s", doc: "read integration time" },
  vmax: { type: "number", unit: "V", doc: "pulse amplitude limit" },
  wmax: { type: "number", unit: "s", doc: "longest pulse" },
  nmax: { type: "int", doc: "pulses per device per command" },
  emax: { type: "number", unit: "J", doc: "energy per command" },
} as const;

/** Biasing schemes for unselected lines (PROTOCOL.md §6, CFG). */
export const SCHEMES = ["V/2", "V/3", "FLOAT"] as const;
export type Scheme = (typeof SCHEMES)[number];

/** The table. Order of verbs: the order of `IDN ops=`. */
export const COMMAND_TABLE = {
  NOP: { kind: "control", params: {}, fields: {}, doc: "liveness check" },
  HELLO: {
    kind: "control",
    params: { token: { type: "token", optional: true, doc: "access token of a board that requires one" } },
    fields: {
      proto: { type: "int", doc: "protocol version (major)" },
      fw: { type: "token", doc: "firmware version" },
      minor: { type: "int", optional: true, doc: "minor protocol version (absent: 0)" },
    },
    doc: "starts a session: empties the replay window, restores the default configuration",
  },
  IDN: {
    kind: "control",
    params: {},
    fields: {
      vendor: { type: "token", doc: "vendor" },
      model: { type: "token", doc: "model" },
      serial: { type: "token", doc: "serial number" },
      fw: { type: "token", doc: "firmware version" },
      proto: { type: "int", doc: "protocol version" },
      rows: { type: "int", doc: "rows of the array" },
      cols: { type: "int", doc: "columns of the array" },
      tech: { type: "token", doc: "device technology" },
      ops: { type: "token", doc: "verbs offered, comma-separated" },
      window: { type: "int", doc: "requests the host may keep in flight" },
      maxline: { type: "int", doc: "longest line, bytes" },
      effects: { type: "token", optional: true, doc: "array effects in force" },
      timing: { type: "token", optional: true, doc: "board profile: per-operation durations, s" },
      minor: { type: "int", optional: true, doc: "minor protocol version (absent: 0)" },
      dac: {
        type: "int",
        optional: true,
        doc: "bits of the input DAC: quantised arrays and held vectors (1.1)",
      },
      adc: { type: "int", optional: true, doc: "bits of the sensing ADC: replies quantised with q=1 (1.1)" },
    },
    doc: "identity and capabilities",
  },
  LIM: {
    kind: "control",
    params: {},
    fields: {
      vmax: { type: "number", unit: "V", doc: "largest |amplitude| of a programming pulse" },
      wmin: { type: "number", unit: "s", doc: "shortest pulse" },
      wmax: { type: "number", unit: "s", doc: "longest pulse" },
      nmax: { type: "int", doc: "pulses per device per command" },
      plmax: { type: "int", doc: "entries in one pulse list" },
      vrmax: { type: "number", unit: "V", doc: "largest |voltage| of a read or VMM input" },
      ccmax: { type: "number", unit: "A", doc: "largest compliance" },
      emax: { type: "number", unit: "J", doc: "energy one command may spend" },
      gmax: { type: "number", unit: "S", optional: true, doc: "conductance the energy bound uses" },
    },
    doc: "the effective safety envelope",
  },
  CFG: {
    kind: "control",
    params: {
      vread: { type: "number", unit: "V", optional: true, envelope: "readVoltage", doc: "read voltage" },
      scheme: { type: "token", optional: true, oneOf: SCHEMES, doc: "biasing of unselected lines" },
      cc: { type: "number", unit: "A", optional: true, envelope: "compliance", doc: "current compliance" },
      tread: {
        type: "number",
        unit: "s",
        optional: true,
        min: 1e-9,
        max: 1e-2,
        doc: "read integration time",
      },
      vmax: NARROW("vmax", "V", "narrows the pulse amplitude limit"),
      wmax: NARROW("wmax", "s", "narrows the longest pulse"),
      nmax: NARROW("nmax", undefined, "narrows the pulse count limit"),
      emax: NARROW("emax", "J", "narrows the energy limit"),
    },
    fields: CONFIG_FIELDS,
    doc: "sets what is given, then reports the whole configuration",
  },
  READ: {
    kind: "read",
    params: ADDR,
    fields: { g: { type: "number", unit: "S", doc: "conductance" } },
    doc: "one device",
  },
  READROW: {
    kind: "read",
    params: { r: ADDR.r, q: Q },
    fields: { data: DATA },
    doc: "the conductances of a row",
  },
  READCOL: {
    kind: "read",
    params: { c: ADDR.c, q: Q },
    fields: { data: DATA },
    doc: "the conductances of a column",
  },
  READBLK: { kind: "read", params: { ...BLOCK, q: Q }, fields: { data: DATA }, doc: "a block, row-major" },
  READALL: {
    kind: "read",
    params: { q: Q },
    fields: { rows: { type: "int", doc: "rows" }, cols: { type: "int", doc: "columns" }, data: DATA },
    doc: "the whole array, row-major",
  },
  PULSE: {
    kind: "program",
    params: {
      ...ADDR,
      v: { type: "number", unit: "V", envelope: "amplitude", doc: "amplitude, signed" },
      w: W,
      n: { type: "int", optional: true, default: 1, envelope: "count", doc: "pulses" },
      rd: {
        type: "int",
        optional: true,
        default: 0,
        min: 0,
        max: 1,
        doc: "1: read the device after the train",
      },
    },
    fields: {
      n: { type: "int", doc: "pulses applied" },
      g: { type: "number", unit: "S", optional: true, doc: "conductance after the train (rd=1)" },
    },
    doc: "a pulse train on one device",
  },
  PLIST: {
    kind: "program",
    params: {
      r: {
        type: "packed",
        packed: "u16",
        address: "row",
        envelope: "listLength",
        doc: "rows of the entries",
      },
      c: { type: "packed", packed: "u16", address: "col", length: "r", doc: "columns of the entries" },
      v: {
        type: "number|packed",
        packed: "f32",
        unit: "V",
        length: "r",
        envelope: "amplitude",
        doc: "amplitudes",
      },
      w: { type: "number|packed", packed: "f32", unit: "s", length: "r", envelope: "width", doc: "widths" },
      n: {
        type: "number|packed",
        packed: "u16",
        length: "r",
        optional: true,
        default: 1,
        envelope: "count",
        doc: "pulses per entry",
      },
    },
    fields: { k: { type: "int", doc: "entries" }, pulses: PULSES },
    doc: "a batched pulse list, applied in order",
  },
  PBLK: {
    kind: "program",
    params: {
      ...BLOCK,
      n: {
        type: "packed",
        packed: "i16",
        length: "nr*nc",
        envelope: "count",
        signed: true,
        doc: "signed counts",
      },
      vp: VP,
      vn: VN,
      w: W,
    },
    fields: { pulses: PULSES },
    doc: "a dense map of signed pulse counts over a block",
  },
  OPU: {
    kind: "program",
    params: {
      ...BLOCK,
      x: { type: "packed", packed: "f32", length: "nr", held: true, doc: "row factors, or `last` (1.1)" },
      d: { type: "packed", packed: "f32", length: "nc", doc: "column factors" },
      vp: VP,
      vn: VN,
      w: W,
      scale: {
        type: "number",
        optional: true,
        default: 1,
        open: "both",
        min: -Infinity,
        max: Infinity,
        doc: "factor of x[i] d[j]",
      },
      mode: {
        type: "token",
        optional: true,
        default: "count",
        oneOf: ["count", "sign"],
        doc: "count or sign (Manhattan)",
      },
      th: {
        type: "number",
        optional: true,
        default: 0.5,
        min: 0,
        open: "min",
        doc: "smallest |value| that gives a pulse",
      },
    },
    fields: { pulses: PULSES },
    doc: "outer-product update",
  },
  VMM: {
    kind: "read",
    params: {
      ...BLOCK,
      x: {
        type: "packed",
        packed: "f32",
        unit: "V",
        length: "k*nr",
        envelope: "readVoltage",
        doc: "k input vectors on the rows",
      },
      k: { type: "int", optional: true, default: 1, min: 1, max: 65536, doc: "vectors" },
      q: Q,
    },
    fields: { y: { type: "packed", packed: "f32", unit: "A", doc: "k x nc column currents" } },
    doc: "forward vector-matrix multiply",
  },
  VMMT: {
    kind: "read",
    params: {
      ...BLOCK,
      x: {
        type: "packed",
        packed: "f32",
        unit: "V",
        length: "k*nc",
        envelope: "readVoltage",
        doc: "k input vectors on the columns",
      },
      k: { type: "int", optional: true, default: 1, min: 1, max: 65536, doc: "vectors" },
      q: Q,
    },
    fields: { y: { type: "packed", packed: "f32", unit: "A", doc: "k x nr row currents" } },
    doc: "transposed vector-matrix multiply",
  },
  FIRE: {
    kind: "program",
    params: {
      ...BLOCK,
      v: { type: "number", unit: "V", envelope: "amplitude", doc: "bias" },
      t: { type: "number", unit: "s", min: 0, max: 1, open: "min", doc: "duration" },
    },
    fields: { spikes: { type: "packed", packed: "u32", doc: "firing events per device, row-major" } },
    doc: "threshold-switch cells: bias a block, count firings",
  },
  WAIT: {
    kind: "control",
    params: { t: { type: "number", unit: "s", min: 0, max: 86400, doc: "time to wait" } },
    fields: { t: CLOCK },
    doc: "wait, reply with the board clock afterwards",
  },
  CLK: { kind: "control", params: {}, fields: { t: CLOCK }, doc: "board clock" },
  STAT: {
    kind: "control",
    params: {
      clear: { type: "int", optional: true, default: 0, min: 0, max: 1, doc: "1: clear after reporting" },
    },
    fields: {
      pulses: { type: "number", doc: "pulses applied" },
      reads: { type: "number", doc: "device reads" },
      vmms: { type: "number", doc: "VMM vectors" },
      energy: { type: "number", unit: "J", doc: "energy spent" },
      cmds: { type: "number", doc: "commands executed" },
      errors: { type: "number", doc: "errors" },
      t: CLOCK,
      rx: { type: "number", optional: true, doc: "bytes the board received on its links (1.1)" },
      tx: { type: "number", optional: true, doc: "bytes the board sent on its links (1.1)" },
    },
    doc: "counters",
  },
  ERRQ: {
    kind: "control",
    params: {},
    fields: {
      code: { type: "int", doc: "error code, 0 when empty" },
      msg: { type: "token", doc: "message" },
    },
    doc: "pops the oldest error-queue entry",
  },
  ABORT: {
    kind: "control",
    params: {},
    fields: { idle: { type: "int", doc: "1: the array is idle" } },
    doc: "stop, ground all lines",
  },
  RESET: {
    kind: "control",
    params: {},
    fields: {},
    doc: "restore defaults, clear counters, queue and replay window; BOOT",
  },
} as const satisfies Record<string, CommandDescriptor>;

export type Verb = keyof typeof COMMAND_TABLE;

/** A descriptor with the key lists derived from it (what the board refuses as 204, what a reply holds). */
export interface CommandSpec<V extends Verb = Verb> extends CommandDescriptor {
  readonly verb: V;
  /** Argument keys the verb takes, in wire order. */
  readonly args: readonly string[];
  /** Argument keys a request must hold. */
  readonly required: readonly string[];
  /** Keys of the OK reply, in wire order. */
  readonly reply: readonly string[];
}

function derive<V extends Verb>(verb: V, d: CommandDescriptor): CommandSpec<V> {
  const params = Object.entries(d.params);
  return {
    ...d,
    verb,
    args: params.map(([k]) => k),
    required: params.filter(([, p]) => !p.optional).map(([k]) => k),
    reply: Object.keys(d.fields),
  };
}

export const COMMANDS = Object.fromEntries(
  Object.entries(COMMAND_TABLE).map(([verb, d]) => [verb, derive(verb as Verb, d)]),
) as { readonly [V in Verb]: CommandSpec<V> & (typeof COMMAND_TABLE)[V] };

export function isVerb(v: string): v is Verb {
  return Object.hasOwn(COMMAND_TABLE, v);
}
