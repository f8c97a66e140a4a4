/**
 * The package's own name and version, read from its package.json, found by walking up from this
 * module: the same code runs from the TypeScript sources (src/) and from the compiled dist/src/.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface PackageInfo {
  name: string;
  version: string;
}

let cached: PackageInfo | undefined;

export function packageInfo(): PackageInfo {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as Partial<PackageInfo>;
      if (pkg.name === "xbar" && pkg.version) {
        cached = { name: pkg.name, version: pkg.version };
        return cached;
      }
    }
    const up = dirname(dir);
    if (up === dir)
      throw new Error(`the xbar package.json was not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** "xbar 0.2.0 (node v20.20.2)": recorded with every run. */
export function softwareVersion(): string {
  const p = packageInfo();
  return `${p.name} ${p.version} (node ${process.version})`;
}
