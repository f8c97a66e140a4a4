/**
 * The examples of every command other than `xbar emulate` (which test/doc-examples.test.ts serves and
 * reaches), as the `Examples:` of each command's --help and the code blocks of README.md write them
 * (issue 13 finding 5: every example runs as written).
 *
 * - Every example is parsed by the real command line (commander and each option's own checks) with
 *   the commands' actions replaced by nothing: no example may be refused as bad usage.
 * - Every example that a test machine can complete in seconds runs as written, in this process, in a
 *   temporary working folder with its own default board (XBAR_STATE_DIR), and must exit 0. What is
 *   changed to make it run here, and only that: `socket://127.0.0.1:5025` and `/dev/ttyUSB0` become the
 *   test's emulated board on a free TCP port; the files an example reads (pattern.csv, lab.sqlite, examples/ of
 *   the clone) are made first by other examples or by the test; a `> FILE` redirection writes to the capture.
 * - The others are listed by reason below (LONG: a training of minutes to hours, a server that runs
 *   until Ctrl-C, or a Redis at lab-db), so a new example lands in one list or the other, never unseen.
 */
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulatorServer } from "../src/board/connect.ts";
import { buildProgram } from "../src/cli/main.ts";
import { REPO_ROOT, runXbar, xbarEnv } from "../tools/run-xbar.ts";

const work = mkdtempSync(join(tmpdir(), "xbar-doc-commands-"));
const home = process.cwd();
const TOKEN = "0123456789abcdef0123456789abcdef";
const stops: Array<() => Promise<void>> = [];
/** The test's boards: as `xbar emulate --listen 127.0.0.1:5025` serves one, and one that needs lab.token. */
const urls = { plain: "", guarded: "" };

/** Examples that do not run in a test, each with its reason (matched against the start of the line). */
const LONG: Array<[RegExp, string]> = [
  [/^xbar train /, "a training run of minutes to hours (its arguments are parsed)"],
  [/^xbar retrain( --port| --forget| *$)/, "the full-size retraining (the --size 8 example runs)"],
  [/ --view \d+/, "serves the view until the run ends, then trains or runs a campaign"],
  [/^xbar view /, "a web server that runs until Ctrl-C (test/view-*.test.ts serve it)"],
  [/^xbar (worker|submit|queue) /, "a Redis server at lab-db (test/fleet.test.ts runs them on its own)"],
  [/^xbar run --resume /, "needs an interrupted run (test/sigint-emu.test.ts resumes one)"],
  [/--port "?arc1:/, "an ArC ONE on a pty (test/arc1.test.ts)"],
  [
    /--port \/tmp\/xbar-host/,
    "the host end of the README's socat pair (test/doc-examples.test.ts serves it)",
  ],
  [/postgres:\/\/lab@db\.lab/, "a PostgreSQL server at db.lab (test/run-store-postgres.test.ts copies runs)"],
];

interface Example {
  source: string;
  line: string;
  env: Record<string, string>;
  args: string[];
  /** The file of a `> FILE` redirection. */
  stdoutTo?: string;
}

/** An example line, `xbar ...` or `npx xbar ...`, with its environment assignments; undefined if none. */
function parseExample(source: string, raw: string): Example | undefined {
  const line = raw.replace(/^\s*\$?\s*/, "");
  const m = /^((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)(?:npx\s+)?xbar(\s.*)?$/.exec(line);
  if (!m) return undefined;
  const env: Record<string, string> = {};
  for (const a of m[1]!.trim().split(/\s+/).filter(Boolean)) {
    const [k, ...v] = a.split("=");
    env[k!] = v.join("=");
  }
  // The command ends at a comment, a description column (two spaces), a note in parentheses, `&&`.
  let rest = (m[2] ?? "").split(/\s#|\s{2,}|\s\(|\s&&|\s&\s|\s&$/)[0]!.trim();
  let stdoutTo: string | undefined;
  const redirect = /\s>\s*(\S+)$/.exec(rest);
  if (redirect) {
    stdoutTo = redirect[1];
    rest = rest.slice(0, redirect.index);
  }
  const args = (rest.match(/"[^"]*"|'[^']*'|\S+/g) ?? []).map((w) => w.replace(/^["']|["']$/g, ""));
  return { source, line: `xbar ${rest}`.trim(), env, args, stdoutTo };
}

/** The example lines of a text: those under `Examples:` (help) or in ``` blocks (Markdown). */
function examplesOf(source: string, text: string, markdown: boolean): Example[] {
  const lines: string[] = [];
  let inside = false;
  for (const l of text.replace(/\\\n\s*/g, " ").split("\n")) {
    if (markdown ? l.startsWith("```") : /^Examples?:/.test(l)) {
      inside = markdown ? !inside : true;
      continue;
    }
    if (!markdown && inside && l.trim() === "") inside = false;
    if (inside) lines.push(l);
  }
  return lines
    .map((l) => parseExample(source, l))
    .filter((e): e is Example => e !== undefined && e.args[0] !== "emulate" && e.args.length > 0);
}

/** Runs `xbar ARGS` in this process, with this test's default board and the example's environment. */
const xbar = (args: string[], env: Record<string, string> = {}) =>
  runXbar(args, { env: xbarEnv({ XBAR_STATE_DIR: join(work, "state"), ...env }) });

/** Every command path of the program (`runs list`, `queue cancel`, ...). */
function commandPaths(c: Command, prefix: string[] = []): string[][] {
  return c.commands.flatMap((s) => [[...prefix, s.name()], ...commandPaths(s, [...prefix, s.name()])]);
}

let examples: Example[] = [];

beforeAll(async () => {
  process.chdir(work);
  // The examples name the campaign files of a clone, from its top folder.
  symlinkSync(join(REPO_ROOT, "examples"), "examples");
  writeFileSync("lab.token", `${TOKEN}\n`);
  for (const [kind, token] of [
    ["plain", undefined],
    ["guarded", TOKEN],
  ] as const) {
    const served = await startEmulatorServer({ token, listen: { host: "127.0.0.1", port: 0 } });
    stops.push(served.stop);
    urls[kind] = served.url;
  }
  const paths = commandPaths(await buildProgram([]));
  const helps: Array<{ p: string[]; text: string }> = [];
  for (const p of [[], ...paths]) helps.push({ p, text: (await xbar([...p, "--help"])).stdout });
  examples = [
    ...helps.flatMap(({ p, text }) =>
      examplesOf(`xbar ${p.join(" ")} --help`.replace("  ", " "), text, false),
    ),
    ...examplesOf("README.md", readFileSync(join(REPO_ROOT, "README.md"), "utf8"), true),
  ];
}, 60_000);

afterAll(async () => {
  process.chdir(home);
  for (const stop of stops) await stop();
});

/**
 * The example as it runs here: a real board's path and the documented socket become the test's board,
 * `socket://HOST:5025` (served with lab.token) the test's board that needs the token.
 */
function localArgs(ex: Example): string[] {
  return ex.args.map((a) =>
    a === "socket://127.0.0.1:5025" || a === "/dev/ttyUSB0"
      ? urls.plain
      : a === "socket://HOST:5025"
        ? urls.guarded
        : a,
  );
}

const longReason = (ex: Example) => LONG.find(([re]) => re.test(ex.line))?.[1];

describe("documented examples of the xbar commands", () => {
  it("are found in the help of the commands and in the README", () => {
    const sources = new Set(examples.map((e) => e.source));
    for (const s of [
      "xbar --help",
      "xbar idn --help",
      "xbar runs show --help",
      "xbar train --help",
      "README.md",
    ])
      expect(sources, s).toContain(s);
    expect(examples.length).toBeGreaterThan(40);
  });

  it("each parses: no example is refused as bad usage", async () => {
    const failures: string[] = [];
    for (const ex of examples) {
      const program = await buildProgram(["node", "xbar", ...ex.args]);
      const silence = (c: Command): void => {
        c.exitOverride();
        c.configureOutput({ writeOut: () => {}, writeErr: () => {} });
        if (c.commands.length === 0) c.action(() => {});
        for (const s of c.commands) silence(s);
      };
      silence(program);
      try {
        await program.parseAsync(["node", "xbar", ...localArgs(ex)]);
      } catch (e) {
        failures.push(`${ex.source}: ${ex.line}\n  -> ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it("each that completes in seconds runs as written and exits 0; the others are listed by reason", async () => {
    // Targets within the default board's range (Ag:a-Si, up to 38 nS).
    writeFileSync("pattern.csv", "row,col,target\n0,0,2e-8\n1,1,3e-8\n");
    // The examples of `xbar runs` read the default run database (runs 1 to 5, campaign 1): the
    // campaign of the examples, run twice, makes it.
    for (let i = 0; i < 2; i++) expect((await xbar(["run", "examples/three-presets.yaml"])).code).toBe(0);
    const order = (ex: Example) => (ex.args[0] === "run" && !ex.args.includes("--dry-run") ? 0 : 1);
    const runnable = examples.filter((ex) => !longReason(ex)).sort((a, b) => order(a) - order(b));
    expect(runnable.length).toBeGreaterThan(25);
    const failures: string[] = [];
    for (const ex of runnable) {
      const r = await xbar(localArgs(ex), ex.env);
      if (ex.stdoutTo) writeFileSync(ex.stdoutTo, r.stdout);
      if (r.code !== 0) failures.push(`${ex.source}: ${ex.line}\n  -> exit ${r.code}: ${r.stderr.trim()}`);
    }
    expect(failures).toEqual([]);
  }, 240_000);
});
