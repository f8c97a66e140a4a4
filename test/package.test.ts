/**
 * The package as a user gets it: `npm pack`, the tarball installed into a fresh project in a temporary
 * folder, then a JavaScript consumer run and a TypeScript consumer type-checked against the shipped
 * declarations and run, both importing `xbar` by name. Also what the tarball holds: the compiled
 * code and its declarations, not the tests, docs or scripts, and no TypeScript loader at run time.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../tools/run-xbar.ts";

const npm = (args: string[], cwd: string): string =>
  execFileSync("npm", args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_loglevel: "error" } });

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
};

describe("the packed package in a fresh project", () => {
  let dir: string;
  let files: string[];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "xbar-consumer-"));
    // dist/ is current (the test set-up built it): pack without running `prepare` again.
    const packed = JSON.parse(
      npm(["pack", "--json", "--ignore-scripts", "--pack-destination", dir], REPO_ROOT),
    ) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    files = packed[0]!.files.map((f) => f.path);
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({
        name: "consumer",
        private: true,
        type: "module",
        dependencies: { xbar: `file:./${packed[0]!.filename}`, rxjs: pkg.dependencies.rxjs },
      }),
    );
    npm(["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], dir);
    cpSync(join(REPO_ROOT, "test", "consumer"), dir, { recursive: true });
  }, 240_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("ships dist/, bin/ and the protocol spec; no tests, docs, scripts or TypeScript sources", () => {
    expect(files).toContain("dist/src/index.js");
    expect(files).toContain("dist/src/index.d.ts");
    expect(files).toContain("bin/xbar.mjs");
    expect(files).toContain("firmware-protocol/PROTOCOL.md");
    // The live view's page (HTML, CSS, JavaScript served as they are) is the only source folder shipped.
    const stray = files.filter(
      (f) =>
        (/^(test|docs|scripts|bench|src|mocks|drivers)\//.test(f) && !f.startsWith("src/view/page/")) ||
        /(?<!\.d)\.ts$/.test(f),
    );
    expect(stray).toEqual([]);
  });

  it("a JavaScript consumer imports xbar, reads, pulses, runs a pipeline and gets coded errors", () => {
    const out = JSON.parse(execFileSync(process.execPath, ["consumer.mjs"], { cwd: dir, encoding: "utf8" }));
    expect(out.applied).toBe(5);
    expect(out.g1).toBeGreaterThan(out.g0);
    expect(out.points).toBe(7);
    expect(out.refused).toBe(301);
  });

  it("a TypeScript consumer type-checks against the shipped declarations and runs", () => {
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          skipLibCheck: true,
          outDir: "out",
          typeRoots: [join(REPO_ROOT, "node_modules", "@types")],
          types: ["node"],
        },
        files: ["consumer.ts"],
      }),
    );
    const tsc = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
    execFileSync(process.execPath, [tsc, "-p", "."], { cwd: dir, encoding: "utf8" });
    const out = JSON.parse(
      execFileSync(process.execPath, ["out/consumer.js"], { cwd: dir, encoding: "utf8" }),
    );
    expect(out).toMatchObject({ applied: 5, points: 7, train: "function" });
  }, 120_000);

  it("the installed command runs without a TypeScript loader", () => {
    const v = execFileSync(
      process.execPath,
      [join(dir, "node_modules", "xbar", "bin", "xbar.mjs"), "--version"],
      {
        encoding: "utf8",
      },
    );
    expect(v.trim()).toBe(JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).version);
    expect(() =>
      execFileSync("node", ["-e", "require.resolve('tsx')"], { cwd: dir, stdio: "pipe" }),
    ).toThrow();
  });
});
