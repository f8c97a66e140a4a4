/**
 * One error class for everything the host side reports: a numeric code (PROTOCOL.md §5, host-side
 * codes 6xx), the code's name in the message so logs can be searched, and the context of what was
 * being done (command, tag, device address, port). Tests check `code`, never the text.
 */
import { errorCodeName } from "./constants.ts";
import { redactSecrets } from "./redact.ts";

export interface ErrorContext {
  /** The protocol verb, e.g. "PULSE". */
  command?: string;
  tag?: number;
  row?: number;
  col?: number;
  /** The port or URL the board was reached through. */
  port?: string;
  /** "host" when the host refused before sending, "board" when the board replied ERR. */
  side?: "host" | "board";
  /** How far a multi-step operation got, e.g. pulses applied before the failure. */
  progress?: Record<string, number>;
  [key: string]: unknown;
}

export class XbarError extends Error {
  readonly detail: string;
  readonly context: ErrorContext;

  /** Secrets (tokens, URL passwords) in `detail` and `context.port` are redacted (redact.ts). */
  constructor(
    readonly code: number,
    detail: string,
    context: ErrorContext = {},
    options?: { cause?: unknown },
  ) {
    const ctx =
      typeof context.port === "string" ? { ...context, port: redactSecrets(context.port) } : context;
    const text = redactSecrets(detail);
    super(`E${code} ${errorCodeName(code)}: ${text}${describe(ctx)}`, options);
    this.detail = text;
    this.context = ctx;
    this.name = "XbarError";
  }
}

function describe(ctx: ErrorContext): string {
  const parts: string[] = [];
  if (ctx.command) parts.push(ctx.tag !== undefined ? `${ctx.command} tag ${ctx.tag}` : ctx.command);
  if (ctx.row !== undefined && ctx.col !== undefined) parts.push(`device r=${ctx.row} c=${ctx.col}`);
  if (ctx.side) parts.push(`refused by the ${ctx.side}`);
  if (ctx.progress)
    parts.push(
      Object.entries(ctx.progress)
        .map(([k, v]) => `${k}=${v}`)
        .join(" "),
    );
  if (ctx.port) parts.push(`on ${ctx.port}`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

/** True when `e` is an XbarError, and has `code` when one is given: branch on codes, never on casts. */
export function isXbarError(e: unknown, code?: number): e is XbarError {
  return e instanceof XbarError && (code === undefined || e.code === code);
}

/** The message of whatever was thrown: an Error's message, anything else as text. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The code of a Node.js system error (`"ENOENT"`, `"EADDRINUSE"`, …), or undefined for anything else. */
export function errnoCode(e: unknown): string | undefined {
  return e instanceof Error && "code" in e && typeof e.code === "string" ? e.code : undefined;
}
