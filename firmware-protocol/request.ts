/**
 * Requests and replies through the command table (commands.ts): encoding a host's typed request,
 * parsing it on the board, the range checks both sides run, and the reply both ways. No verb or key
 * is named here; everything is read from the table.
 *
 *   host:  RequestOf<V> ─▶ checkRequest ─▶ encodeRequestArgs ─▶ line ─▶ … ─▶ decodeReply ─▶ ReplyOf<V>
 *   board: line ─▶ parseRequest (202/203/204) ─▶ checkRequest (203/3xx) ─▶ handler ─▶ encodeReply
 */
import type { ParsedRequest, ReplyInput, ReplyOf, RequestOf } from "./command-types.ts";
import { COMMANDS, type EnvelopeCheck, type FieldSpec, type ParamSpec, type Verb } from "./commands.ts";
import { ErrorCode } from "./constants.ts";
import {
  checkAddress,
  checkAmplitude,
  checkCompliance,
  checkCount,
  checkListLength,
  checkNarrow,
  checkReadVoltage,
  checkWidth,
  type Limits,
} from "./envelope.ts";
import {
  type ArgInput,
  type Args,
  argInt,
  argNumber,
  argPacked,
  argToken,
  checkKeys,
  ProtocolError,
} from "./message.ts";
import { isPacked, type PackedValue, quantise } from "./packed.ts";

/** A request's values as the checks see them (typed requests and parsed ones both fit). */
export type RequestValues = Readonly<
  Record<string, number | string | ArrayLike<number> | PackedValue | undefined>
>;

/** Plain values as the checks see them: numbers, tokens, arrays of numbers (before any quantisation). */
export type CheckValues = Readonly<Record<string, number | string | ArrayLike<number> | undefined>>;

/** A packed value already encoded (quantised, or typed), as opposed to plain numbers. */
export function isPackedValue(v: unknown): v is PackedValue {
  return typeof v === "object" && v !== null && "type" in v && "data" in v;
}

/** The token that stands for a vector the board holds (protocol 1.1, PROTOCOL.md §6). */
export const HELD = "last";

const params = (verb: Verb): [string, ParamSpec][] =>
  Object.entries(COMMANDS[verb].params as Readonly<Record<string, ParamSpec>>);

/** The arguments of a typed request, in table order, packed arrays with the table's element type. */
export function encodeRequestArgs<V extends Verb>(verb: V, req: RequestOf<V>): ArgInput {
  const values = req as RequestValues;
  const out: ArgInput = {};
  for (const [key, p] of params(verb)) {
    const v = values[key];
    if (v === undefined) continue;
    out[key] = typeof v !== "object" || isPackedValue(v) ? v : { type: p.packed!, data: v };
  }
  return out;
}

/**
 * A typed request with the table's defaults filled in (what the board will assume), for checkRequest:
 * give it plain values (numbers and arrays, not quantised ones).
 */
export function withDefaults<V extends Verb>(verb: V, req: RequestOf<V>): CheckValues {
  const values = req as CheckValues;
  const out: Record<string, CheckValues[string]> = { ...values };
  for (const [key, p] of params(verb))
    if (out[key] === undefined && p.default !== undefined) out[key] = p.default;
  return out;
}

/**
 * The board's parse of a request: unknown keys (204), missing ones (202), values that do not parse
 * or have the wrong packed type (203). Defaults are applied; ranges are checkRequest's business.
 */
export function parseRequest<V extends Verb>(verb: V, args: Args): ParsedRequest<V> {
  checkKeys(args, COMMANDS[verb].args);
  const out: Record<string, unknown> = {};
  for (const [key, p] of params(verb)) {
    if (!args.has(key)) {
      if (p.default !== undefined) out[key] = p.default;
      else if (!p.optional) argToken(args, key); // throws 202
      continue;
    }
    switch (p.type) {
      case "int":
        out[key] = argInt(args, key);
        break;
      case "number":
        out[key] = argNumber(args, key);
        break;
      case "token":
        out[key] = argToken(args, key);
        break;
      case "packed":
        out[key] = p.held && args.get(key) === HELD ? HELD : argPacked(args, key, p.packed!);
        break;
      case "number|packed":
        out[key] = isPacked(args.get(key)!) ? argPacked(args, key, p.packed!) : argNumber(args, key);
        break;
    }
  }
  return out as ParsedRequest<V>;
}

const fmt = (x: number) => Number(x.toPrecision(6)).toString();

/** A static range of the table: `min`/`max`, inclusive unless `open` says otherwise (203). */
function checkRange(key: string, p: ParamSpec, v: number): void {
  const lo = p.min ?? -Infinity;
  const hi = p.max ?? Infinity;
  const openLo = p.open === "min" || p.open === "both";
  const openHi = p.open === "max" || p.open === "both";
  if ((openLo ? v > lo : v >= lo) && (openHi ? v < hi : v <= hi)) return;
  const u = p.unit ? ` ${p.unit}` : "";
  let what: string;
  if (lo === -Infinity && hi === Infinity) what = "must be finite";
  else if (hi === Infinity) what = `must be ${openLo ? ">" : ">="} ${fmt(lo)}${u}`;
  else if (lo === -Infinity) what = `must be ${openHi ? "<" : "<="} ${fmt(hi)}${u}`;
  else what = `outside ${openLo ? "(" : "["}${fmt(lo)}, ${fmt(hi)}${openHi ? ")" : "]"}${u}`;
  throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `${key}=${fmt(v)}${u} ${what}`);
}

const ENVELOPE: Record<EnvelopeCheck, (lim: Limits, v: number) => void> = {
  amplitude: checkAmplitude,
  width: checkWidth,
  count: checkCount,
  readVoltage: checkReadVoltage,
  compliance: checkCompliance,
  listLength: checkListLength,
};

function checkEnvelope(lim: Limits, p: ParamSpec, v: number): void {
  if (p.envelope) ENVELOPE[p.envelope](lim, p.signed ? Math.abs(v) : v);
}

/** Length a packed parameter must have, from its `length` expression ("nr*nc", "k*nr", "r"). */
function expectedLength(req: CheckValues, expr: string): number {
  let n = 1;
  for (const name of expr.split("*")) {
    const v = req[name];
    n *= typeof v === "number" ? v : typeof v === "object" ? v.length : Number.NaN;
  }
  return n;
}

export interface CheckContext {
  /** The effective envelope. */
  limits: Limits;
  /** Array size. */
  rows: number;
  cols: number;
  /** The board's hard limits, for CFG's narrowing (308); the host, which does not know them, omits it. */
  hard?: Limits;
}

/**
 * Every range check of the table, the same on the host (before sending) and on the board (before
 * applying anything): integers, static ranges and choices (203), the address (305), list lengths
 * (303), packed lengths (203), the envelope (3xx) per value or per entry, CFG narrowing (308).
 * Checks that need the board's state (energy, reply size, device kind) stay with the handlers.
 */
export function checkRequest(verb: Verb, req: CheckValues, ctx: CheckContext): void {
  const ps = params(verb);
  // Scalars: integers, ranges, choices.
  for (const [key, p] of ps) {
    const v = req[key];
    if (typeof v === "number") {
      if (p.type === "int" && !Number.isSafeInteger(v))
        throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `${key}=${v} is not an integer`);
      if (p.min !== undefined || p.max !== undefined) checkRange(key, p, v);
    } else if (typeof v === "string" && p.oneOf && !p.oneOf.includes(v)) {
      throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `${key} ${v} is not one of ${p.oneOf.join(", ")}`);
    }
  }
  checkScalarAddress(ps, req, ctx);
  // Pulse-list lengths, then the length of every packed value.
  for (const [key, p] of ps) {
    const v = req[key];
    if (p.envelope === "listLength" && typeof v === "object") checkListLength(ctx.limits, v.length);
  }
  for (const [key, p] of ps) {
    const v = req[key];
    if (typeof v !== "object" || p.length === undefined) continue;
    const want = expectedLength(req, p.length);
    if (v.length !== want)
      throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `${key} has ${v.length} elements, expected ${want}`);
  }
  // The envelope: scalars in table order, then packed values entry by entry.
  for (const [key, p] of ps) {
    const v = req[key];
    if (typeof v === "number" && p.type !== "number|packed") checkEnvelope(ctx.limits, p, v);
    if (typeof v === "number" && p.narrows && ctx.hard) checkNarrow(ctx.hard, p.narrows, v);
  }
  checkEntries(ps, req, ctx);
}

function checkScalarAddress(ps: [string, ParamSpec][], req: CheckValues, ctx: CheckContext): void {
  const role: Partial<Record<string, number>> = {};
  let any = false;
  for (const [key, p] of ps) {
    const v = req[key];
    if (p.address && typeof v === "number") {
      role[p.address] = v;
      any = true;
    }
  }
  if (!any) return;
  const { row, col } = role;
  const nr = role.rows ?? (row === undefined ? ctx.rows : 1);
  const nc = role.cols ?? (col === undefined ? ctx.cols : 1);
  checkAddress(ctx.rows, ctx.cols, row ?? 0, col ?? 0, nr, nc);
}

/** Per-entry checks of packed values (pulse lists, counts, VMM inputs), entry by entry in table order. */
function checkEntries(ps: [string, ParamSpec][], req: CheckValues, ctx: CheckContext): void {
  const colKey = ps.find(([key, p]) => p.address === "col" && typeof req[key] === "object")?.[0];
  const steps: Array<(i: number) => void> = [];
  let len = 0;
  for (const [key, p] of ps) {
    const v = req[key];
    if (typeof v === "object") {
      if (p.address === "row" && colKey !== undefined) {
        const c = req[colKey] as ArrayLike<number>;
        steps.push((i) => checkAddress(ctx.rows, ctx.cols, v[i]!, c[i]!));
      } else if (p.envelope && p.envelope !== "listLength") {
        steps.push((i) => i < v.length && checkEnvelope(ctx.limits, p, v[i]!));
      } else continue;
      len = Math.max(len, v.length);
    } else if (typeof v === "number" && p.type === "number|packed") {
      // A number given for every entry is checked as every entry would be.
      steps.push(() => checkEnvelope(ctx.limits, p, v));
    }
  }
  if (steps.length === 0) return;
  for (let i = 0; i < len; i++) for (const step of steps) step(i);
}

/** Decodes an OK reply's fields by the table (keys the table does not list are ignored). */
export function decodeReply<V extends Verb>(verb: V, args: Args): ReplyOf<V> {
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(COMMANDS[verb].fields as Readonly<Record<string, FieldSpec>>)) {
    if (f.optional && !args.has(key)) continue;
    if (f.type === "int") out[key] = argInt(args, key);
    else if (f.type === "number") out[key] = argNumber(args, key);
    else if (f.type === "token") out[key] = argToken(args, key);
    else out[key] = argPacked(args, key, f.packed!);
  }
  return out as ReplyOf<V>;
}

/**
 * A handler's reply as wire arguments, in table order, packed with the table's element type; with
 * `bits` (protocol 1.1, `q=1`), float32 arrays are quantised at that resolution.
 */
export function encodeReply<V extends Verb>(verb: V, reply: ReplyInput<V>, bits?: number): ArgInput {
  const values = reply as RequestValues;
  const out: ArgInput = {};
  for (const [key, f] of Object.entries(COMMANDS[verb].fields as Readonly<Record<string, FieldSpec>>)) {
    const v = values[key];
    if (v === undefined) continue;
    if (typeof v !== "object" || isPackedValue(v)) out[key] = v;
    else
      out[key] = bits !== undefined && f.packed === "f32" ? quantise(v, bits) : { type: f.packed!, data: v };
  }
  return out;
}
