/**
 * What `xbar idn` loads before it talks to a board, kept small (issue 11: start in well under half
 * a second; `npm run bench:startup` measures it): read on the sources' static imports, the modules
 * the command's entry, its command group and `connect()` load at once do not import the whole of
 * RxJS (drivers/rx.ts takes the few values needed, each from its own module), csv-parse (a LUT
 * device's table only), or the emulator proper (board, array, serving: imported when an emu:// board
 * is opened). And drivers/rx.ts hands out the very objects "rxjs" exports.
 */
import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../tools/run-xbar.ts";

/** The value imports of a source (type-only imports are erased by the compiler). */
function valueImports(file: string): string[] {
  const text = readFileSync(join(REPO_ROOT, file), "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?([^;]*?)\s*from\s*"([^"]+)";?$/gms)) {
    if (m[1]) continue;
    const names = m[2]!.match(/^\{([^}]*)\}$/)?.[1];
    const onlyTypes = names?.split(",").every((n) => !n.trim() || /^type\s/.test(n.trim()));
    if (!onlyTypes) out.push(m[3]!);
  }
  return out;
}

/** Every module reached from `roots` by static value imports: project files and package specifiers. */
function loadedAtOnce(roots: string[]): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of valueImports(file)) {
      if (spec.startsWith(".")) visit(relative(REPO_ROOT, join(REPO_ROOT, dirname(file), spec)));
      else if (!spec.startsWith("node:")) packages.add(spec);
    }
  };
  for (const r of roots) visit(r);
  return { files, packages };
}

describe("start-up of xbar idn", () => {
  const { files, packages } = loadedAtOnce([
    "src/cli/main.ts",
    "src/cli/board-commands.ts",
    "src/board/connect.ts",
  ]);

  it("reads the graph (sanity: the client and the protocol board are in it)", () => {
    expect(files).toContain("drivers/crossbar-client.ts");
    expect(files).toContain("src/board/protocol-board.ts");
    expect(packages).toContain("commander");
  });

  it("does not load the whole of RxJS, csv-parse or the emulator proper", () => {
    const heavy = [...packages].filter(
      (p) => p === "rxjs" || p === "rxjs/operators" || p.startsWith("csv-parse"),
    );
    const emulator = [...files].filter((f) =>
      ["mocks/index.ts", "mocks/board.ts", "mocks/array.ts", "mocks/serve.ts"].includes(f),
    );
    expect({ heavy, emulator }).toEqual({ heavy: [], emulator: [] });
  });

  it("drivers/rx.ts exports the same objects as rxjs", async () => {
    const rx: Record<string, unknown> = await import("../drivers/rx.ts");
    const rxjs: Record<string, unknown> = await import("rxjs");
    expect(Object.keys(rx).length).toBeGreaterThan(5);
    for (const [name, value] of Object.entries(rx)) expect(value, name).toBe(rxjs[name]);
  });
});
