/**
 * Writes the README's claim status (between the markers <!-- claims --> and <!-- /claims -->) from
 * the verdicts the experiment scripts computed and saved next to their pages:
 * docs/experiments-verdicts.json (scripts/run-experiments.mts), docs/experiments-snn-verdict.json
 * (scripts/snn-experiments.mts) and docs/experiments-ssl-verdict.json (scripts/run-ssl-experiments.mts),
 * and docs/experiments-ssl-full-verdict.json when present (run-ssl-experiments.mts --tag=full).
 * Each file holds the size and seeds the verdicts were measured at and, per claim, the verdict and the
 * figures it rests on (mean ± sd over the seeds); the paragraph states them all.
 *
 *   npx tsx scripts/claims-status.mts
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const sources: Array<[file: string, page: string, what: string]> = [
  ["docs/experiments-verdicts.json", "docs/experiments.md", "on-chip, unidirectional and hybrid training"],
  ["docs/experiments-snn-verdict.json", "docs/experiments-snn.md", "stashing"],
  ["docs/experiments-ssl-verdict.json", "docs/experiments-ssl.md", "SSL"],
];
/** Extra result sets, listed when present: SSL at the full size of issue 17. */
const optional: Array<[file: string, page: string]> = [
  ["docs/experiments-ssl-full-verdict.json", "docs/experiments-ssl-full.md"],
];
for (const [file, page] of optional) if (existsSync(file)) sources.push([file, page, ""]);
/** A verdict file: { size, claims: { claim: { verdict, detail } } } (older files: { claim: verdict }). */
type VerdictFile =
  | { size: string; claims: Record<string, { verdict: string; detail: string }> }
  | Record<string, string>;
const groups: Record<string, string[]> = {
  holds: [],
  "holds partly": [],
  "does not hold": [],
  "not re-measured": [],
};
for (const [file, page, what] of sources) {
  if (!existsSync(file)) {
    groups["not re-measured"]!.push(`${what} ([${page.replace("docs/", "")}](${page}))`);
    continue;
  }
  const f = JSON.parse(readFileSync(file, "utf8")) as VerdictFile;
  const claims =
    "claims" in f && typeof f.claims === "object"
      ? Object.entries(f.claims as Record<string, { verdict: string; detail: string }>)
      : Object.entries(f as Record<string, string>).map(
          ([c, verdict]) => [c, { verdict, detail: "" }] as const,
        );
  const size = "size" in f && typeof f.size === "string" ? f.size : "";
  for (const [claim, { verdict, detail }] of claims) {
    groups[verdict] = groups[verdict] ?? [];
    const name = /^\d/.test(claim) ? `claim ${claim}` : claim;
    const at = [detail, size && `at ${size}`].filter(Boolean).join(", ");
    groups[verdict]!.push(`${name}${at ? ` (${at})` : ""} ([${page.replace("docs/", "")}](${page}))`);
  }
}
const part = (v: string) => (groups[v]?.length ? `${v}: ${groups[v]!.join("; ")}` : `${v}: none`);
const text = `Claims, as measured at the sizes stated on each page (verdicts computed by the experiment scripts; this paragraph by \`npx tsx scripts/claims-status.mts\`): ${["holds", "holds partly", "does not hold", "not re-measured"].map(part).join(". ")}.`;
const readme = readFileSync("README.md", "utf8");
const re = /<!-- claims -->[\s\S]*?<!-- \/claims -->/;
if (!re.test(readme)) throw new Error("README.md has no <!-- claims --> … <!-- /claims --> markers");
writeFileSync("README.md", readme.replace(re, `<!-- claims -->\n${text}\n<!-- /claims -->`));
process.stderr.write(`${text}\n`);
