/**
 * Reads a campaign file: YAML → sweep expansion → schema validation of every run, before anything
 * is sent to a board. Errors name the file, line and field, e.g.
 *   xbar: E608 BAD_INPUT: campaign.yaml:12: steps[2].characterize.pulses: expected a number (got "ten")
 */

import { readFileSync } from "node:fs";
import { isNode, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { errnoCode, errorMessage, XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import { CampaignSchema, STEP_BODIES, STEP_KINDS, type Step, type StepKind } from "./schema.ts";

export interface CampaignRun {
  /** Sweep values of this run ({} without a sweep). */
  params: Record<string, string | number>;
  url: string;
  /** The SMU of `iv` steps, if any. */
  instrument?: string;
  steps: Step[];
}

export interface Campaign {
  name: string;
  description?: string;
  file?: string;
  text: string;
  sweep: Record<string, Array<string | number>>;
  runs: CampaignRun[];
  /** "FILE:LINE" of a path in the file (for errors found later, e.g. against the board's limits). */
  where(path: Path): string;
}

export type Path = Array<string | number>;

/** Formats a path as steps[2].characterize.pulses. */
const fmtPath = (path: Path) =>
  path.reduce<string>((s, p) => (typeof p === "number" ? `${s}[${p}]` : s ? `${s}.${p}` : p), "") || "(top)";

class Located {
  constructor(
    private readonly doc: ReturnType<typeof parseDocument>,
    private readonly lines: LineCounter,
    private readonly file: string,
  ) {}

  /** The line of the deepest node of `path` that exists in the document. */
  line(path: Path): number | undefined {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) return this.lines.linePos(node.range[0]).line;
    }
    return undefined;
  }

  error(path: Path, message: string, extra = ""): XbarError {
    const line = this.line(path);
    return new XbarError(
      ErrorCode.BAD_INPUT,
      `${this.file}${line ? `:${line}` : ""}: ${fmtPath(path)}: ${message}${extra}`,
    );
  }
}

function issueMessage(issue: z.core.$ZodIssue, value: unknown): string {
  const got = value === undefined ? "" : ` (got ${JSON.stringify(value)})`;
  switch (issue.code) {
    case "unrecognized_keys":
      return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    case "invalid_type":
      return value === undefined
        ? `missing (expected ${issue.expected})`
        : `expected ${issue.expected}${got}`;
    default:
      return `${issue.message.replace(/^Invalid input: /, "")}${got}`;
  }
}

const getIn = (v: unknown, path: Path): unknown =>
  path.reduce<unknown>(
    (o, k) => (o && typeof o === "object" ? (o as Record<string | number, unknown>)[k] : undefined),
    v,
  );

/** Replaces `{name}` in every string of `v` by the sweep value; a string that is only `{name}` takes the value. */
function substitute(
  v: unknown,
  params: Record<string, string | number>,
  path: Path,
  unknownKey: (path: Path, key: string) => never,
): unknown {
  if (typeof v === "string") {
    const whole = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(v);
    if (whole) {
      if (!(whole[1]! in params)) unknownKey(path, whole[1]!);
      return params[whole[1]!];
    }
    return v.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, k: string) => {
      if (!(k in params)) unknownKey(path, k);
      return String(params[k]);
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => substitute(x, params, [...path, i], unknownKey));
  if (v && typeof v === "object")
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, substitute(x, params, [...path, k], unknownKey)]),
    );
  return v;
}

/** Every combination of the sweep's values, the first key varying slowest. */
export function expandSweep(
  sweep: Record<string, Array<string | number>>,
): Array<Record<string, string | number>> {
  let out: Array<Record<string, string | number>> = [{}];
  for (const [k, values] of Object.entries(sweep))
    out = out.flatMap((p) => values.map((v) => ({ ...p, [k]: v })));
  return out;
}

export function loadCampaignFile(file: string): Campaign {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `cannot read campaign file ${file}: ${errnoCode(e) ?? errorMessage(e)}`,
    );
  }
  return parseCampaign(text, file);
}

export function parseCampaign(text: string, file = "campaign.yaml"): Campaign {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = lines.linePos(e.pos[0]).line;
    throw new XbarError(ErrorCode.BAD_INPUT, `${file}:${line}: not valid YAML: ${e.message.split("\n")[0]}`);
  }
  const at = new Located(doc, lines, file);
  const raw = doc.toJS() as unknown;
  const head = CampaignSchema.safeParse(raw);
  if (!head.success) {
    const issue = head.error.issues[0]!;
    const path = issue.path as Path;
    throw at.error(path, issueMessage(issue, getIn(raw, path)));
  }
  const sweep = head.data.sweep ?? {};
  const points = expandSweep(sweep);
  const runs = points.map((params): CampaignRun => {
    const label = Object.keys(params).length
      ? ` (in the run with ${Object.entries(params)
          .map(([k, v]) => `${k}=${v}`)
          .join(", ")})`
      : "";
    const unknownKey = (path: Path, key: string): never => {
      throw at.error(
        path,
        `"{${key}}" is not a sweep parameter`,
        Object.keys(sweep).length ? ` (sweep has ${Object.keys(sweep).join(", ")})` : " (there is no sweep)",
      );
    };
    const url = substitute(head.data.board, params, ["board"], unknownKey);
    if (typeof url !== "string") throw at.error(["board"], "must be a URL string");
    const steps = head.data.steps.map((s, i, all): Step => {
      const path: Path = ["steps", i];
      const v = substitute(s, params, path, unknownKey);
      if (!v || typeof v !== "object" || Array.isArray(v) || Object.keys(v).length !== 1)
        throw at.error(
          path,
          `a step is one of ${STEP_KINDS.join(", ")}, e.g. "- characterize: { row: 0, col: 0, pulses: 20 }"`,
        );
      const kind = Object.keys(v)[0]!;
      if (!(STEP_KINDS as string[]).includes(kind))
        throw at.error([...path, kind], `unknown step "${kind}" (steps: ${STEP_KINDS.join(", ")})`);
      const body = (v as Record<string, unknown>)[kind] ?? {};
      const r = STEP_BODIES[kind as StepKind].safeParse(body);
      if (!r.success) {
        const issue = r.error.issues[0]!;
        const p: Path = [...path, kind, ...(issue.path as Path)];
        throw at.error(p, issueMessage(issue, getIn(body, issue.path as Path)), label);
      }
      const step = { kind, body: r.data } as Step;
      checkStep(step, (sub, msg) => at.error([...path, kind, ...sub], msg, label));
      if (
        step.kind === "program" &&
        step.body.relative &&
        !all.slice(0, i).some((x) => x && typeof x === "object" && "characterize" in x)
      )
        throw at.error(
          [...path, kind, "relative"],
          "needs a characterize step before it (its range is measured there)",
        );
      return step;
    });
    const instrument =
      head.data.instrument === undefined
        ? undefined
        : substitute(head.data.instrument, params, ["instrument"], unknownKey);
    if (instrument !== undefined && typeof instrument !== "string")
      throw at.error(["instrument"], "must be a URL string");
    const iv = steps.findIndex((s) => s.kind === "iv");
    if (iv >= 0 && !instrument)
      throw at.error(
        ["steps", iv, "iv"],
        'needs an instrument: add e.g. "instrument: smu-emu://" or "instrument: socket://HOST:PORT"',
      );
    return { params, url, instrument, steps };
  });
  const where = (path: Path) => {
    const line = at.line(path);
    return line ? `${file}:${line}` : file;
  };
  return { name: head.data.name, description: head.data.description, file, text, sweep, runs, where };
}

/** Cross-field checks the schema cannot express. */
function checkStep(step: Step, fail: (path: Path, msg: string) => XbarError): void {
  if (step.kind === "program" && !(step.body.low < step.body.high))
    throw fail(["low"], `must be below high (${step.body.low} >= ${step.body.high})`);
  if (step.kind === "form" && !(step.body.start <= step.body.stop))
    throw fail(["start"], `must not exceed stop (${step.body.start} > ${step.body.stop})`);
  if (step.kind === "program" && step.body.relative && step.body.high > 1)
    throw fail(
      ["high"],
      `with relative: true, levels are fractions of the measured range, in (0, 1] (got ${step.body.high})`,
    );
}
