/**
 * The layers, as the README's architecture states them, checked on the sources' imports:
 * - the emulator (mocks/) sees only protocol frames: it imports firmware-protocol/ and its own files;
 * - the protocol layer (firmware-protocol/) imports nothing of the project's other layers;
 * - of src/, only the composition point (src/board/connect.ts, the connect() factory) reaches into mocks/;
 * - drivers/ import the protocol layer, never src/ or mocks/;
 * - nothing outside test/ imports from test/ (bench/, scripts/ and tools/ share tools/ with it);
 * and one rule of the error format: every XbarError names its code (`ErrorCode.BAD_INPUT`, never `608`).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../tools/run-xbar.ts";

/** Every .ts file under `dir`, relative to the repository. */
function sources(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .map((f) => join(dir, f));
}

/** The top-level folders of the project that `file` imports (static and dynamic imports). */
function layersImported(file: string): Set<string> {
  const text = readFileSync(join(REPO_ROOT, file), "utf8");
  const out = new Set<string>();
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.[^"]+)"/g)) {
    const target = relative(REPO_ROOT, join(REPO_ROOT, file, "..", m[1]!));
    out.add(target.split("/")[0]!);
  }
  return out;
}

describe("the layers", () => {
  it.each([
    ["mocks", ["mocks", "firmware-protocol"]],
    ["firmware-protocol", ["firmware-protocol"]],
    ["drivers", ["drivers", "firmware-protocol"]],
  ])("%s/ imports only %j", (dir, allowed) => {
    const strays = sources(dir).flatMap((f) =>
      [...layersImported(f)].filter((l) => !allowed.includes(l)).map((l) => `${f} → ${l}/`),
    );
    expect(strays).toEqual([]);
  });

  it.each(["src", "drivers", "mocks", "firmware-protocol", "bench", "scripts", "tools"])(
    "%s/ imports nothing from test/",
    (dir) => {
      const files = readdirSync(join(REPO_ROOT, dir), { recursive: true, encoding: "utf8" })
        .filter((f) => /\.m?ts$/.test(f))
        .map((f) => join(dir, f));
      expect(files.filter((f) => layersImported(f).has("test"))).toEqual([]);
    },
  );

  it("of src/, only the composition point (src/board/connect.ts) reaches into mocks/", () => {
    const reaching = sources("src").filter((f) => layersImported(f).has("mocks"));
    expect(reaching.length).toBeGreaterThan(0);
    expect(reaching).toEqual(["src/board/connect.ts"]);
  });
});

describe("the error format", () => {
  it("every XbarError names its code from ErrorCode, never a raw number", () => {
    const files = ["src", "drivers", "mocks", "firmware-protocol", "bench", "scripts"].flatMap((d) =>
      readdirSync(join(REPO_ROOT, d), { recursive: true, encoding: "utf8" })
        .filter((f) => /\.m?ts$/.test(f))
        .map((f) => join(d, f)),
    );
    expect(files.length).toBeGreaterThan(100);
    const raw = files.filter((f) => /new XbarError\(\s*\d/.test(readFileSync(join(REPO_ROOT, f), "utf8")));
    expect(raw).toEqual([]);
  });
});
