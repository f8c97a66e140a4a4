/**
 * Every `xbar emulate` example in `xbar emulate --help`, README.md, PROTOCOL.md and docs/*.md runs as
 * written (issue 13 finding 5: the documented `--token SECRET` was refused). Each example line is
 * taken from the text, parsed by the real command line (commander, the option checks, runEmulate),
 * started, reached by a client (with the example's token) and stopped. Only what cannot run as
 * written on a test machine is changed, and said here: the TCP port becomes 0 (any free port), a
 * serial path becomes one end of a fresh pty pair (socat), files an example names (lab.token,
 * curve.csv) are made in a temporary working folder first.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { connect } from "../src/board/connect.ts";
import { runEmulate } from "../src/cli/emulate.ts";
import { buildProgram, main } from "../src/cli/main.ts";
import { type PtyPair, startPtyPair, which } from "../tools/pty.ts";
import { REPO_ROOT } from "../tools/run-xbar.ts";

const TOKEN = "0123456789abcdef0123456789abcdef";
const work = mkdtempSync(join(tmpdir(), "xbar-doc-examples-"));
const home = process.cwd();
const pairs: PtyPair[] = [];

/** Runs `xbar ARGS` in this process and returns what it printed. */
async function xbar(args: string[]): Promise<string> {
  let text = "";
  const grab = (s: string | Uint8Array) => {
    text += String(s);
    return true;
  };
  const o = vi.spyOn(process.stdout, "write").mockImplementation(grab);
  try {
    await main(["node", "xbar", ...args]);
  } finally {
    o.mockRestore();
    process.exitCode = undefined;
  }
  return text;
}

interface Example {
  source: string;
  line: string;
  env: Record<string, string>;
  args: string[];
}

/** The `xbar emulate ...` command of a documentation line: its environment assignments and its words. */
function parseExample(source: string, line: string): Example | undefined {
  const at = line.indexOf("xbar emulate ");
  if (at < 0) return undefined;
  const before = line.slice(0, at).replace(/`/g, " ").trim().split(/\s+/);
  const env: Record<string, string> = {};
  for (const w of before) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(w);
    if (m) env[m[1]!] = m[2]!;
  }
  // The command ends at a backtick, a shell operator, a comment or a parenthesised note.
  const rest = line
    .slice(at + "xbar emulate ".length)
    .split(/`|\s&|\s#|\s\(|\s\||;/)[0]!
    .trim();
  const args = (rest.match(/"[^"]*"|'[^']*'|\S+/g) ?? []).map((w) => w.replace(/^["']|["']$/g, ""));
  return { source, line: line.trim(), env, args };
}

function examplesOf(source: string, text: string): Example[] {
  return (
    text
      .split("\n")
      .map((l) => parseExample(source, l))
      .filter((e): e is Example => e?.args.some((a) => a === "--listen" || a === "--serial") === true)
      // A synopsis (`--listen [HOST:]PORT | --serial PATH`) or a mention (`xbar emulate --listen`)
      // is not an example.
      .filter((e) => !e.args.some((a) => /[[\]|]/.test(a)))
      .filter((e) =>
        e.args.every((a, i) => (a !== "--listen" && a !== "--serial") || /^[^-]/.test(e.args[i + 1] ?? "-")),
      )
  );
}

/** Serves the example until a client has identified the board, then stops it; resolves with the URL. */
async function runExample(ex: Example): Promise<{ url: string; rows: number }> {
  const args = [...ex.args];
  const li = args.indexOf("--listen");
  if (li >= 0) args[li + 1] = args[li + 1]!.replace(/\d+$/, "0");
  const si = args.indexOf("--serial");
  let hostPath: string | undefined;
  if (si >= 0) {
    const pair = await startPtyPair();
    pairs.push(pair);
    args[si + 1] = pair.boardPath;
    hostPath = pair.hostPath;
  }
  let release!: () => void;
  const until = new Promise<void>((r) => {
    release = r;
  });
  let served!: (url: string) => void;
  const serving = new Promise<string>((r) => {
    served = r;
  });
  const program = await buildProgram(["node", "xbar", "emulate"]);
  program.exitOverride();
  const emulate = program.commands.find((c) => c.name() === "emulate")!;
  emulate.exitOverride();
  emulate.action((o) =>
    runEmulate(
      o,
      (s) => {
        const m = /serving on (\S+)/.exec(s);
        if (m) served(m[1]!);
      },
      until,
    ),
  );
  const saved = { ...process.env };
  Object.assign(process.env, ex.env);
  const done = program.parseAsync(["node", "xbar", "emulate", ...args]);
  try {
    const url = await Promise.race([serving, done.then(() => "")]);
    expect(url, `${ex.source}: ${ex.line} did not serve`).not.toBe("");
    const token = ex.args.includes("--token-file") || ex.args.includes("--token") || ex.env.XBAR_TOKEN;
    const target = hostPath ?? url.replace("0.0.0.0", "127.0.0.1");
    const board = await connect(target, token ? { token: TOKEN } : {});
    const rows = board.identity.rows;
    await board.close();
    return { url, rows };
  } finally {
    release();
    await done.catch(() => {});
    process.env = saved;
  }
}

let examples: Example[] = [];

beforeAll(async () => {
  process.chdir(work);
  writeFileSync("lab.token", `${TOKEN}\n`);
  await xbar(
    ["characterize", "--port", "emu://?rows=4&cols=4&device=linear", "--row", "0", "--col", "0"].concat([
      "--pulses",
      "20",
      "--out",
      "curve.csv",
    ]),
  );
  const help = await xbar(["emulate", "--help"]);
  const docs = readdirSync(join(REPO_ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`);
  examples = [
    ...examplesOf("xbar emulate --help", help),
    ...["README.md", "firmware-protocol/PROTOCOL.md", ...docs].flatMap((f) =>
      examplesOf(f, readFileSync(join(REPO_ROOT, f), "utf8")),
    ),
  ];
});

afterAll(async () => {
  process.chdir(home);
  for (const p of pairs) await p.stop();
});

describe("documented xbar emulate examples", () => {
  it("are found in every source, the remote example with its token among them", () => {
    const sources = new Set(examples.map((e) => e.source));
    for (const s of [
      "xbar emulate --help",
      "README.md",
      "firmware-protocol/PROTOCOL.md",
      "docs/reliability.md",
    ])
      expect(sources, s).toContain(s);
    expect(examples.filter((e) => e.args.includes("--allow-remote")).length).toBeGreaterThanOrEqual(3);
  });

  it("each runs as written: it serves, a client identifies the board, it stops", async () => {
    const failures: string[] = [];
    for (const ex of examples) {
      if (ex.args.includes("--serial") && !which("socat")) continue;
      try {
        const r = await runExample(ex);
        expect(r.rows).toBeGreaterThan(0);
      } catch (e) {
        failures.push(`${ex.source}: ${ex.line}\n  -> ${(e as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
