/**
 * Target files for `xbar program`: CSV with a header `row,col,target` (target conductance in S).
 *
 *   row,col,target
 *   0,0,2.5e-8
 *   0,1,1.0e-8
 */
import { readFileSync } from "node:fs";
import { parse } from "csv-parse/sync";
import { z } from "zod";
import { errnoCode, errorMessage, XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
import type { Target } from "../pipelines/index.ts";

const Row = z.object({
  row: z.coerce.number().int().min(0),
  col: z.coerce.number().int().min(0),
  target: z.coerce.number().positive().finite(),
});

export function readTargets(path: string): Target[] {
  const bad = (msg: string) => new XbarError(ErrorCode.BAD_INPUT, `targets file ${path}: ${msg}`);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw bad(errnoCode(e) === "ENOENT" ? "no such file" : errorMessage(e));
  }
  let records: Array<{ record: Record<string, string>; info: { lines: number } }>;
  try {
    records = parse(text, { columns: true, skip_empty_lines: true, trim: true, comment: "#", info: true });
  } catch (e) {
    throw bad(`not valid CSV: ${errorMessage(e)}`);
  }
  if (records.length === 0)
    throw bad("no targets (expected a header row,col,target and one line per device)");
  const header = Object.keys(records[0]!.record);
  for (const k of ["row", "col", "target"]) {
    if (!header.includes(k))
      throw bad(`missing column "${k}" (header is "${header.join(",")}", expected row,col,target)`);
  }
  const seen = new Set<string>();
  return records.map(({ record: rec, info }) => {
    const line = info.lines; // the file's own line number, comments and blank lines counted
    const r = Row.safeParse(rec);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw bad(
        `line ${line}, field "${String(issue.path[0])}": ${issue.message} (got "${rec[String(issue.path[0])]}")`,
      );
    }
    const key = `${r.data.row},${r.data.col}`;
    if (seen.has(key)) throw bad(`line ${line}: device row ${r.data.row} col ${r.data.col} appears twice`);
    seen.add(key);
    return r.data;
  });
}
