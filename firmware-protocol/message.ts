/**
 * Messages and their text form (PROTOCOL.md §2). Pure functions from and to strings: no I/O here.
 *
 *   encode*(…) → "12 PULSE r=0 c=3 v=3.2 w=0.0003*1a2b3c4d\n"
 *   decodeLine("12 OK n=1*…")  → { ok: true, message: { kind: "ok", tag: 12, args: Map { n → "1" } } }
 */
import { checksum } from "./checksum.ts";
import { ErrorCode, MAX_LINE, MAX_TAG } from "./constants.ts";
import { errorMessage } from "./errors.ts";
import { OVERLONG } from "./framing-marker.ts";
import {
  dequantise,
  isPacked,
  type PackedArray,
  type PackedType,
  type PackedValue,
  pack,
  unpack,
} from "./packed.ts";

/** Raw argument values as they stood on the wire (tokens already percent-decoded). */
export type Args = Map<string, string>;

export interface Request {
  kind: "request";
  tag: number;
  verb: string;
  args: Args;
}
export interface OkReply {
  kind: "ok";
  tag: number;
  args: Args;
}
export interface ErrReply {
  kind: "err";
  tag: number;
  code: number;
  message: string;
}
export interface BoardEvent {
  kind: "event";
  name: string;
  args: Args;
}
export type Message = Request | OkReply | ErrReply | BoardEvent;

/** A value to send: numbers are written as JavaScript writes them, strings as tokens. */
export type ArgValue = number | string | PackedValue;
export type ArgInput = Record<string, ArgValue | undefined>;

/** A line the receiver could not accept: a typed "discarded" record, never silently dropped bytes. */
export interface Discarded {
  ok: false;
  code: number;
  reason: string;
  /** The tag, when it could be read from a line whose checksum was right. */
  tag?: number;
  /** The first bytes of the line, for diagnosis. */
  excerpt: string;
}
export type Decoded = { ok: true; message: Message; crc: string } | Discarded;

/** Error for a message that is well framed but whose content is wrong (codes 2xx/3xx). */
export class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "ProtocolError";
  }
}

const VERB_RE = /^[A-Z]+$/;
const KEY_RE = /^[a-z0-9]+$/;
const TAG_RE = /^(0|[1-9][0-9]{0,4})$/;
const TOKEN_SAFE = /^[!-)+-<>-~]*$/; // printable ASCII without space, "*", "=" (and "%" only as escape)

export function encodeToken(s: string): string {
  if (TOKEN_SAFE.test(s) && !s.includes("%")) return s;
  return encodeURIComponent(s).replace(
    /[*=!'()~]/g,
    (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function encodeValue(key: string, v: ArgValue): string {
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `${key} is not a finite number`);
    return String(v);
  }
  if (typeof v === "string") {
    if (v.length === 0) throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `${key} is empty`);
    return encodeToken(v);
  }
  return pack(v.type, v.data, v.scale);
}

function encodeArgs(args: ArgInput | undefined): string {
  if (!args) return "";
  let out = "";
  for (const [k, v] of Object.entries(args)) {
    if (v === undefined) continue;
    if (!KEY_RE.test(k)) throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `bad key "${k}"`);
    out += ` ${k}=${encodeValue(k, v)}`;
  }
  return out;
}

/** Appends the checksum and the terminator to a body. */
export function frame(body: string): string {
  return `${body}*${checksum(body)}\n`;
}

function checkTag(tag: number): void {
  if (!(Number.isInteger(tag) && tag >= 0 && tag <= MAX_TAG))
    throw new ProtocolError(ErrorCode.BAD_TAG, `tag ${tag} outside 0..${MAX_TAG}`);
}

export function encodeRequest(tag: number, verb: string, args?: ArgInput): string {
  checkTag(tag);
  if (!VERB_RE.test(verb) || verb === "OK" || verb === "ERR")
    throw new ProtocolError(ErrorCode.MALFORMED, `bad verb "${verb}"`);
  return frame(`${tag} ${verb}${encodeArgs(args)}`);
}
export function encodeOk(tag: number, args?: ArgInput): string {
  checkTag(tag);
  return frame(`${tag} OK${encodeArgs(args)}`);
}
export function encodeErr(tag: number, code: number, message: string): string {
  checkTag(tag);
  // Messages are printable ASCII: anything else becomes "?" so the line stays decodable.
  return frame(`${tag} ERR ${code} ${message.replace(/[\r\n\t]/g, " ").replace(/[^ -~]/g, "?")}`);
}
export function encodeEvent(name: string, args?: ArgInput): string {
  return frame(`! ${name}${encodeArgs(args)}`);
}

function discard(code: number, reason: string, line: string, tag?: number): Discarded {
  return { ok: false, code, reason, tag, excerpt: line.slice(0, 40) };
}

function parseArgs(parts: string[], from: number): Args | string {
  const args: Args = new Map();
  for (let i = from; i < parts.length; i++) {
    const p = parts[i]!;
    const eq = p.indexOf("=");
    if (eq <= 0) return `argument "${p.slice(0, 20)}" is not key=value`;
    const key = p.slice(0, eq);
    if (!KEY_RE.test(key)) return `bad key "${key.slice(0, 20)}"`;
    if (args.has(key)) return `key "${key}" given twice`;
    let value = p.slice(eq + 1);
    if (value.length === 0) return `key "${key}" has no value`;
    if (value.includes("%") && !isPacked(value)) {
      try {
        value = decodeURIComponent(value);
      } catch {
        return `key "${key}" has a bad percent-escape`;
      }
    }
    args.set(key, value);
  }
  return args;
}

/**
 * Decodes one line (without or with its terminator). Never throws: what it cannot accept comes back
 * as a `Discarded` record with a protocol error code.
 */
export function decodeLine(raw: string, maxLine = MAX_LINE): Decoded {
  let line = raw;
  if (line.endsWith("\n")) line = line.slice(0, -1);
  // LineGuard replaces an over-long line by a line of just the OVERLONG marker (it never passes a
  // received line of that one byte on as it is). A CAN byte anywhere else is noise: 102 below.
  if (line === OVERLONG || line.length + 1 > maxLine) {
    return discard(ErrorCode.LINE_TOO_LONG, `line longer than ${maxLine} bytes`, line);
  }
  if (line.endsWith("\r")) line = line.slice(0, -1);
  // Only printable ASCII may stand in a line (noise often is not).
  if (!/^[ -~]*$/.test(line))
    return discard(ErrorCode.MALFORMED, "non-printable or non-ASCII byte in line", line);
  const star = line.lastIndexOf("*");
  if (star < 0) return discard(ErrorCode.BAD_CHECKSUM, "no checksum", line);
  const body = line.slice(0, star);
  const crc = line.slice(star + 1);
  if (crc !== checksum(body)) return discard(ErrorCode.BAD_CHECKSUM, "checksum mismatch", line);
  const parts = body.split(" ");
  const head = parts[0]!;
  if (head === "!") {
    const name = parts[1] ?? "";
    if (!VERB_RE.test(name)) return discard(ErrorCode.MALFORMED, "bad event name", line);
    const args = parseArgs(parts, 2);
    if (typeof args === "string") return discard(ErrorCode.MALFORMED, args, line);
    return { ok: true, crc, message: { kind: "event", name, args } };
  }
  if (!TAG_RE.test(head) || Number(head) > MAX_TAG)
    return discard(ErrorCode.BAD_TAG, "tag missing or out of range", line);
  const tag = Number(head);
  const verb = parts[1] ?? "";
  if (verb === "ERR") {
    const code = Number(parts[2]);
    if (!Number.isInteger(code) || !/^[0-9]+$/.test(parts[2] ?? "")) {
      return discard(ErrorCode.MALFORMED, "ERR without a numeric code", line, tag);
    }
    return { ok: true, crc, message: { kind: "err", tag, code, message: parts.slice(3).join(" ") } };
  }
  if (!VERB_RE.test(verb)) return discard(ErrorCode.MALFORMED, "missing or bad verb", line, tag);
  const args = parseArgs(parts, 2);
  if (typeof args === "string") return discard(ErrorCode.MALFORMED, args, line, tag);
  if (verb === "OK") return { ok: true, crc, message: { kind: "ok", tag, args } };
  return { ok: true, crc, message: { kind: "request", tag, verb, args } };
}

// ---- Typed access to arguments. Each throws a ProtocolError with code 202 or 203 naming the key. ----

function required(args: Args, key: string): string {
  const v = args.get(key);
  if (v === undefined) throw new ProtocolError(ErrorCode.MISSING_ARGUMENT, `missing argument ${key}`);
  return v;
}

const NUMBER_RE = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?(e[-+]?[0-9]+)?$/;

export function argNumber(args: Args, key: string, fallback?: number): number {
  if (fallback !== undefined && !args.has(key)) return fallback;
  const raw = required(args, key);
  if (!NUMBER_RE.test(raw))
    throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `${key}=${raw.slice(0, 20)} is not a number`);
  return Number(raw);
}

export function argInt(args: Args, key: string, fallback?: number): number {
  const v = argNumber(args, key, fallback);
  if (!Number.isSafeInteger(v))
    throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `${key}=${v} is not an integer`);
  return v;
}

export function argToken(args: Args, key: string, fallback?: string): string {
  if (fallback !== undefined && !args.has(key)) return fallback;
  return required(args, key);
}

export function argPacked(args: Args, key: string, type: PackedType, length?: number): PackedArray {
  const raw = required(args, key);
  let got: ReturnType<typeof unpack>;
  try {
    got = unpack(raw);
  } catch (e) {
    throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `${key}: ${errorMessage(e)}`);
  }
  let un: { type: string; data: PackedArray };
  // A quantised array (protocol 1.1) stands for float32 values: it is read as them.
  if (got.scale === undefined) un = got;
  else if (type === "f32") un = { type, data: dequantise(got.data, got.scale) as Float32Array<ArrayBuffer> };
  else
    throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `${key} must be a packed ${type} array, not quantised`);
  if (un.type !== type)
    throw new ProtocolError(ErrorCode.BAD_ARGUMENT, `${key} must be a packed ${type} array, not ${un.type}`);
  if (length !== undefined && un.data.length !== length) {
    throw new ProtocolError(
      ErrorCode.BAD_ARGUMENT,
      `${key} has ${un.data.length} elements, expected ${length}`,
    );
  }
  return un.data;
}

/** A number given for every entry, or a packed array with one value per entry. */
export function argScalarOrPacked(
  args: Args,
  key: string,
  type: PackedType,
  length: number,
  fallback?: number,
): PackedArray | number {
  const raw = args.get(key);
  if (raw !== undefined && isPacked(raw)) return argPacked(args, key, type, length);
  return argNumber(args, key, fallback);
}

/** Refuses keys a command does not take (error 204). */
export function checkKeys(args: Args, allowed: readonly string[]): void {
  for (const k of args.keys()) {
    if (!allowed.includes(k)) throw new ProtocolError(ErrorCode.UNKNOWN_ARGUMENT, `unknown argument ${k}`);
  }
}
