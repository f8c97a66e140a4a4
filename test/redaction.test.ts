/**
 * The token stays secret (issue 13 finding 3): not in any message, not in the run database, not in
 * exports, and it need not be on a command line (token-file=, XBAR_TOKEN). Every byte the campaign
 * commands leave behind is searched for it.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { firstValueFrom } from "rxjs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ErrorCode, REDACTED, redactSecrets, XbarError } from "../firmware-protocol/index.ts";
import { connect, startEmulatorServer } from "../src/board/connect.ts";
import { resolveToken } from "../src/board/token.ts";
import { main } from "../src/cli/main.ts";

const TOKEN = "tok-2921311244-secret";
const dir = mkdtempSync(join(tmpdir(), "xbar-redaction-"));
let url = "";
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  const server = await startEmulatorServer({
    listen: { host: "127.0.0.1", port: 0 },
    token: TOKEN,
    rows: 8,
    cols: 8,
    device: "linear",
  });
  url = server.url;
  stops.push(server.stop);
});
afterAll(async () => {
  for (const s of stops) await s();
});

/** Runs `xbar ARGS` in this process; returns the exit code and everything written to stdout and stderr. */
async function xbar(args: string[], env: Record<string, string> = {}) {
  let text = "";
  const grab = (s: string | Uint8Array) => {
    text += typeof s === "string" ? s : Buffer.from(s).toString();
    return true;
  };
  const o = vi.spyOn(process.stdout, "write").mockImplementation(grab);
  const e = vi.spyOn(process.stderr, "write").mockImplementation(grab);
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const code = await main(["node", "xbar", ...args]);
    return { code, text };
  } finally {
    process.env = saved;
    o.mockRestore();
    e.mockRestore();
    process.exitCode = undefined;
  }
}

describe("messages", () => {
  it("a host-side refusal names the port without its token", async () => {
    const b = await connect(`${url}?token=${TOKEN}`);
    const err = await firstValueFrom(b.pulse({ row: 0, col: 0, amplitude: 9, width: 1e-4 })).catch((e) => e);
    await b.close();
    expect(err).toBeInstanceOf(XbarError);
    expect(err.code).toBe(ErrorCode.AMPLITUDE_LIMIT);
    expect(err.message).toContain(`token=${REDACTED}`);
    expect(JSON.stringify({ m: err.message, d: err.detail, c: err.context, s: err.stack })).not.toContain(
      TOKEN,
    );
    expect(b.url).not.toContain(TOKEN);
  });

  it("xbar prints no token, neither for a refusal nor for a failure", async () => {
    const r1 = await xbar(
      ["pulse", "--port", `${url}?token=${TOKEN}`, "--row", "0", "--col", "0"].concat([
        "--amplitude",
        "9",
        "--width",
        "1e-4",
      ]),
    );
    expect(r1.code).toBe(1);
    expect(r1.text).toMatch(/E301/);
    const r2 = await xbar(["idn", "--port", `${url}?token=wrong-${TOKEN}`]);
    expect(r2.text).toMatch(/E403/);
    for (const r of [r1, r2]) expect(r.text).not.toContain(TOKEN);
  });

  it("redactSecrets hides token= values and URL passwords, and nothing else", () => {
    expect(redactSecrets(`on socket://h:1?token=${TOKEN}&x=1`)).toBe("on socket://h:1?token=***&x=1");
    // In a protocol line the value runs to the next space: the checksum goes with it.
    expect(redactSecrets(`1 HELLO token=${TOKEN}*0badc0de`)).toBe("1 HELLO token=***");
    expect(redactSecrets("postgres://lab:pa55word@db:5432/runs")).toBe("postgres://lab:***@db:5432/runs");
    expect(redactSecrets('board: "socket://h:1?token=abc-defgh"')).toBe('board: "socket://h:1?token=***"');
    const plain = "socket://127.0.0.1:5025 emu://?rows=8&seed=1 token bucket";
    expect(redactSecrets(plain)).toBe(plain);
  });
});

describe("the token from a file or the environment", () => {
  it("socket://HOST:PORT?token-file=PATH and XBAR_TOKEN open the board; the command line holds no token", async () => {
    const file = join(dir, "lab.token");
    writeFileSync(file, `${TOKEN}\n`);
    const a = await connect(`${url}?token-file=${file}`);
    await a.close();
    const r = await xbar(["idn", "--port", url], { XBAR_TOKEN: TOKEN });
    expect(r.code).toBe(0);
    expect(r.text).toMatch(/8 x 8/);
    // ... and --help says so, on the board commands and on emulate.
    expect((await xbar(["idn", "--help"])).text).toMatch(/XBAR_TOKEN.*token-file=/s);
    expect((await xbar(["emulate", "--help"])).text).toMatch(/--token-file.*XBAR_TOKEN/s);
  });

  it("a stored URL (token=***) takes its token from the environment, else says where to give it (E607)", () => {
    const q = new URLSearchParams({ token: REDACTED });
    expect(resolveToken(q, { XBAR_TOKEN: TOKEN })).toBe(TOKEN);
    expect(() => resolveToken(q, {})).toThrow(/XBAR_TOKEN/);
    expect(resolveToken(new URLSearchParams(), {})).toBeUndefined();
  });
});

describe("the run database and exports", () => {
  it("hold no token anywhere: every byte of the database, its journal, the CSV and Parquet exports", async () => {
    const db = join(dir, "runs.sqlite");
    const campaign = join(dir, "secret.yaml");
    writeFileSync(
      campaign,
      [
        "name: secret",
        `board: "${url}?token=${TOKEN}"`,
        "steps:",
        "  - identify: {}",
        "  - characterize: { row: 0, col: 0, pulses: 4 }",
        "",
      ].join("\n"),
    );
    const run = await xbar(["run", campaign, "--db", db]);
    expect(run.code, run.text).toBe(0);
    const csv = join(dir, "out.csv");
    const pq = join(dir, "out.parquet");
    const outputs = [
      run,
      await xbar(["runs", "list", "--db", db, "--json"]),
      await xbar(["runs", "show", "1", "--db", db, "--json"]),
      await xbar(["runs", "show", "1", "--db", db, "--campaign"]),
      await xbar(["runs", "export", "--campaign", "1", "--db", db, "--csv", csv, "--parquet", pq]),
    ];
    expect(outputs.at(-1)!.code, outputs.at(-1)!.text).toBe(0);
    expect(readFileSync(csv, "utf8")).toContain(`token=${REDACTED}`);
    // Lines that hold the token (none), so that a failure shows where it leaked.
    for (const o of outputs) expect(o.text.split("\n").filter((l) => l.includes(TOKEN))).toEqual([]);
    const files = readdirSync(dir).filter((f) => f !== "lab.token" && f !== "secret.yaml");
    expect(files).toEqual(expect.arrayContaining(["runs.sqlite", "out.csv", "out.parquet"]));
    for (const f of files) {
      const bytes = readFileSync(join(dir, f));
      expect(bytes.includes(Buffer.from(TOKEN)), `${f} holds the token`).toBe(false);
    }
  });
});
