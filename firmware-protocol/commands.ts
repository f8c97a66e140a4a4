/**
 * The command table of PROTOCOL.md §6 as data: what each verb takes and returns. The emulated board
 * refuses keys not listed here (204); the host driver uses `kind` to size timeouts and to know which
 * requests change the array.
 */

export interface CommandSpec {
  /** Argument keys the verb takes (required ones first). */
  readonly args: readonly string[];
  readonly required: readonly string[];
  /** Keys of the OK reply. */
  readonly reply: readonly string[];
  /** "program" changes device states; "read" only senses; "control" neither. */
  readonly kind: "program" | "read" | "control";
}

const c = (
  kind: CommandSpec["kind"],
  required: string[],
  optional: string[],
  reply: string[],
): CommandSpec => ({ kind, required, args: [...required, ...optional], reply });

export const COMMANDS = {
  NOP: c("control", [], [], []),
  HELLO: c("control", [], ["token"], ["proto", "fw", "minor"]),
  IDN: c(
    "control",
    [],
    [],
    [
      "vendor",
      "model",
      "serial",
      "fw",
      "proto",
      "rows",
      "cols",
      "tech",
      "ops",
      "window",
      "maxline",
      "effects",
      "timing",
      "minor",
    ],
  ),
  LIM: c("control", [], [], ["vmax", "wmin", "wmax", "nmax", "plmax", "vrmax", "ccmax", "emax", "gmax"]),
  CFG: c(
    "control",
    [],
    ["vread", "scheme", "cc", "tread", "vmax", "wmax", "nmax", "emax"],
    ["vread", "scheme", "cc", "tread", "vmax", "wmax", "nmax", "emax"],
  ),
  READ: c("read", ["r", "c"], [], ["g"]),
  READROW: c("read", ["r"], [], ["data"]),
  READCOL: c("read", ["c"], [], ["data"]),
  READBLK: c("read", ["r0", "c0", "nr", "nc"], [], ["data"]),
  READALL: c("read", [], [], ["rows", "cols", "data"]),
  PULSE: c("program", ["r", "c", "v", "w"], ["n", "rd"], ["n", "g"]),
  PLIST: c("program", ["r", "c", "v", "w"], ["n"], ["k", "pulses"]),
  PBLK: c("program", ["r0", "c0", "nr", "nc", "n", "vp", "vn", "w"], [], ["pulses"]),
  OPU: c("program", ["r0", "c0", "nr", "nc", "x", "d", "vp", "vn", "w"], ["scale", "mode", "th"], ["pulses"]),
  VMM: c("read", ["r0", "c0", "nr", "nc", "x"], ["k"], ["y"]),
  VMMT: c("read", ["r0", "c0", "nr", "nc", "x"], ["k"], ["y"]),
  FIRE: c("program", ["r0", "c0", "nr", "nc", "v", "t"], [], ["spikes"]),
  WAIT: c("control", ["t"], [], ["t"]),
  CLK: c("control", [], [], ["t"]),
  STAT: c("control", [], ["clear"], ["pulses", "reads", "vmms", "energy", "cmds", "errors", "t"]),
  ERRQ: c("control", [], [], ["code", "msg"]),
  ABORT: c("control", [], [], ["idle"]),
  RESET: c("control", [], [], []),
} as const satisfies Record<string, CommandSpec>;

export type Verb = keyof typeof COMMANDS;

export function isVerb(v: string): v is Verb {
  return Object.hasOwn(COMMANDS, v);
}

/** Biasing schemes for unselected lines (PROTOCOL.md §6, CFG). */
export const SCHEMES = ["V/2", "V/3", "FLOAT"] as const;
export type Scheme = (typeof SCHEMES)[number];
