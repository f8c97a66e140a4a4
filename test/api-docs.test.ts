/**
 * docs/api (TypeDoc, `npm run docs:api`) is current: the outline of the public API read from the
 * sources equals the outline read from the generated pages. Running TypeDoc here takes 20-45 s on a
 * loaded 2-core machine, so the check compares outlines instead (about 3-5 s: the TypeScript parser
 * and binder over the sources reachable from the entry points, no type checking, node_modules not read):
 *
 *   module:name                        every export of each entry point (a page or a re-export)
 *   module:kind/name                   its kind (classes, interfaces, functions, variables, …)
 *   name(a, b?)                        the parameters of each exported function
 *   Class#member                       each own public or protected member of a class or interface
 *   Class#method(a, b?)                the parameters of each method (and of its own constructor)
 *
 * A doc comment reworded without a change of names is not caught; a member, export or parameter
 * added, removed or renamed is. When this fails: `npm run docs:api` and commit docs/api.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../tools/run-xbar.ts";

const config = JSON.parse(readFileSync(join(REPO_ROOT, "typedoc.json"), "utf8")) as {
  entryPoints: string[];
  out: string;
};
const DOCS = join(REPO_ROOT, config.out);
/** The module of an entry point, as TypeDoc names it: its folder ("src/learning"). */
const moduleOf = (entry: string) => entry.replace(/\/index\.ts$/, "");

// ---- from the sources -------------------------------------------------------------------------

function program(): ts.Program {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    resolveJsonModule: true,
    noEmit: true,
    noLib: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile;
  // The outline needs the project's own declarations only: packages are read as empty modules.
  host.getSourceFile = (file, lang, ...rest) =>
    file.includes("/node_modules/")
      ? ts.createSourceFile(file, "export {};", lang)
      : read(file, lang, ...rest);
  return ts.createProgram(
    config.entryPoints.map((e) => join(REPO_ROOT, e)),
    options,
    host,
  );
}

const isInternal = (d: ts.Node) => ts.getJSDocTags(d).some((t) => t.tagName.text === "internal");

function params(decl: ts.SignatureDeclaration): string {
  const names = decl.parameters
    .filter((p) => !(ts.isIdentifier(p.name) && p.name.text === "this"))
    .map((p) => {
      const name = ts.isIdentifier(p.name) ? p.name.text : "__namedParameters";
      return `${p.dotDotDotToken ? "..." : ""}${name}${p.questionToken || p.initializer ? "?" : ""}`;
    });
  return `(${names.join(", ")})`;
}

const KINDS: Array<[ts.SymbolFlags, string]> = [
  [ts.SymbolFlags.Class, "classes"],
  [ts.SymbolFlags.Interface, "interfaces"],
  [ts.SymbolFlags.Function, "functions"],
  [ts.SymbolFlags.Enum, "enumerations"],
  [ts.SymbolFlags.Variable, "variables"],
  [ts.SymbolFlags.TypeAlias, "type-aliases"],
];

const modifiers = (n: ts.Node) => (ts.canHaveModifiers(n) ? (ts.getModifiers(n) ?? []) : []);
const isPrivate = (n: ts.Node) => modifiers(n).some((x) => x.kind === ts.SyntaxKind.PrivateKeyword);

/** The names a class or interface declares, with its constructor's `readonly x` parameters. */
function declared(sym: ts.Symbol): Array<[string, ts.ClassElement | ts.TypeElement]> {
  const out: Array<[string, ts.ClassElement | ts.TypeElement]> = [];
  for (const decl of sym.declarations ?? []) {
    if (!ts.isClassDeclaration(decl) && !ts.isInterfaceDeclaration(decl)) continue;
    for (const m of decl.members) {
      if (ts.isConstructorDeclaration(m))
        for (const p of m.parameters)
          if (modifiers(p).length && !isPrivate(p) && ts.isIdentifier(p.name)) out.push([p.name.text, m]);
      if (!m.name || ts.isConstructorDeclaration(m) || isInternal(m) || isPrivate(m)) continue;
      if (ts.isPrivateIdentifier(m.name)) continue;
      out.push([ts.isIdentifier(m.name) || ts.isStringLiteral(m.name) ? m.name.text : m.name.getText(), m]);
    }
  }
  return out;
}

/** The names the base class declares (TypeDoc shows a constructor's re-declaration as inherited). */
function baseNames(checker: ts.TypeChecker, sym: ts.Symbol): Set<string> {
  const names = new Set<string>();
  for (const decl of sym.declarations ?? []) {
    if (!ts.isClassDeclaration(decl)) continue;
    for (const clause of decl.heritageClauses ?? []) {
      if (clause.token !== ts.SyntaxKind.ExtendsKeyword) continue;
      let base = checker.getSymbolAtLocation(clause.types[0]!.expression);
      if (base && base.flags & ts.SymbolFlags.Alias) base = checker.getAliasedSymbol(base);
      if (base) for (const [n] of declared(base)) names.add(n);
    }
  }
  return names;
}

/** The own members of a class or interface (keyed `Name#member`, and `Name#method(a, b?)`). */
function membersOf(
  checker: ts.TypeChecker,
  sym: ts.Symbol,
  owner: string,
  out: Set<string>,
  asClass: boolean,
): void {
  const inherited = baseNames(checker, sym);
  for (const d of sym.declarations ?? [])
    if (asClass && ts.isClassDeclaration(d))
      for (const c of d.members)
        if (ts.isConstructorDeclaration(c) && c.body && !isPrivate(c)) out.add(`${owner}#new${params(c)}`);
  for (const [name, m] of declared(sym)) {
    if (ts.isConstructorDeclaration(m) && inherited.has(name)) continue;
    out.add(`${owner}#${name}`);
    if (ts.isMethodDeclaration(m) || ts.isMethodSignature(m)) out.add(`${owner}#${name}${params(m)}`);
  }
}

/** True when `exported` reaches its declaration through a type-only import or export. */
function typeOnly(checker: ts.TypeChecker, exported: ts.Symbol): boolean {
  for (let s = exported; s.flags & ts.SymbolFlags.Alias; s = checker.getImmediateAliasedSymbol(s)!) {
    if ((s.declarations ?? []).some((d) => ts.isTypeOnlyImportOrExportDeclaration(d))) return true;
    if (!checker.getImmediateAliasedSymbol(s)) break;
  }
  return false;
}

function outlineFromSources(): Set<string> {
  const prog = program();
  const checker = prog.getTypeChecker();
  const out = new Set<string>();
  for (const entry of config.entryPoints) {
    const mod = moduleOf(entry);
    const file = prog.getSourceFile(join(REPO_ROOT, entry));
    const moduleSymbol = file && checker.getSymbolAtLocation(file);
    if (!moduleSymbol) throw new Error(`no module for ${entry}`);
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const sym = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      if ((sym.declarations ?? []).some(isInternal)) continue;
      const name = exported.name;
      out.add(`${mod}:${name}`);
      let kind = KINDS.find(([flag]) => sym.flags & flag)?.[1] ?? "other";
      // TypeDoc shows a class exported as a type only (`export type { C }`) as an interface.
      if (kind === "classes" && typeOnly(checker, exported)) kind = "interfaces";
      out.add(`${mod}:${kind}/${name}`);
      for (const d of sym.declarations ?? [])
        if (ts.isFunctionDeclaration(d) && d.body) out.add(`${name}${params(d)}`);
      // Members and parameters are keyed by the declared name: TypeDoc documents them once, under
      // one entry point (the others list a re-export).
      membersOf(checker, sym, name, out, kind === "classes");
    }
  }
  return out;
}

// ---- from the pages ---------------------------------------------------------------------------

const unescapeMd = (s: string) => s.replace(/\\(.)/g, "$1");

/** The parameter list of a TypeDoc signature line `> **name**\<`T`\>(`a`, `b?`): …`, or undefined. */
function signatureParams(line: string, name: string): string | undefined {
  const m = line.match(/^> (?:`[a-z]+` )*\*\*([^*]+)\*\*(?:\\<.*?\\>)?\(([^)]*)\)/);
  if (!m || unescapeMd(m[1]!) !== name) return undefined;
  return `(${unescapeMd(m[2]!).replace(/`/g, "")})`;
}

/** The own members of a class or interface page: `### name` not followed by "Inherited from". */
function membersOfPage(text: string, owner: string, out: Set<string>): void {
  const lines = text.split("\n");
  let section = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith("## ")) section = line.slice(3);
    if (line.startsWith("> **new ")) out.add(`${owner}#new${signatureParams(line, `new ${owner}`)}`);
    if (!line.startsWith("### ") || !["Properties", "Methods", "Accessors"].includes(section)) continue;
    const name = unescapeMd(line.slice(4)).replace(/\?$/, "").replace(/\(\)$/, "");
    const end = lines.findIndex((l, k) => k > i && /^#{2,3} /.test(l));
    const body = lines.slice(i + 1, end < 0 ? undefined : end);
    if (body.some((l) => /^#{4,} Inherited from/.test(l))) continue;
    out.add(`${owner}#${name}`);
    if (section !== "Methods") continue;
    for (const l of body) {
      const p = signatureParams(l, name);
      if (p) out.add(`${owner}#${name}${p}`);
    }
  }
}

function outlineFromDocs(): Set<string> {
  const out = new Set<string>();
  for (const entry of config.entryPoints) {
    const mod = moduleOf(entry);
    const dir = join(DOCS, mod);
    const readme = readFileSync(join(dir, "README.md"), "utf8");
    for (const m of readme.matchAll(/^- \[(.+)\]\(([a-z-]+)\/[^)]+\.md\)$/gm)) {
      const name = unescapeMd(m[1]!);
      const kind = m[2]!;
      out.add(`${mod}:${name}`);
      out.add(`${mod}:${kind}/${name}`);
      const text = readFileSync(join(dir, m[0].match(/\(([^)]+)\)/)![1]!), "utf8");
      if (kind === "functions")
        for (const line of text.split("\n")) {
          const p = signatureParams(line, name);
          if (p) out.add(`${name}${p}`);
        }
      if (kind === "classes" || kind === "interfaces") membersOfPage(text, name, out);
    }
    // Exports that another entry point documents: "## References" / "### name" / "Re-exports …".
    const refs = readme.split(/^## References$/m)[1]?.split(/^## /m)[0] ?? "";
    for (const m of refs.matchAll(/^### (.+)$/gm)) {
      const name = unescapeMd(m[1]!);
      out.add(`${mod}:${name}`);
      const target = refs.split(`### ${m[1]}`)[1]!.match(/Re-exports \[[^\]]+\]\(([^)]+)\)/)?.[1];
      const kind = target?.match(/([a-z-]+)\/[^/]+\.md$/)?.[1];
      if (kind) out.add(`${mod}:${kind}/${name}`);
    }
  }
  return out;
}

describe("docs/api", () => {
  it("documents the entry points' exports, their members and parameters as the sources declare them", () => {
    expect(existsSync(DOCS) && readdirSync(DOCS).length > 0, "docs/api is missing: npm run docs:api").toBe(
      true,
    );
    const sources = outlineFromSources();
    // A class without a constructor of its own shows its base's (maybe a package's): compared only
    // where the sources declare one.
    const ctors = new Set([...sources].filter((k) => k.includes("#new(")).map((k) => k.split("#")[0]));
    const docs = new Set(
      [...outlineFromDocs()].filter((k) => !k.includes("#new(") || ctors.has(k.split("#")[0])),
    );
    const missing = [...sources].filter((k) => !docs.has(k)).sort();
    const stale = [...docs].filter((k) => !sources.has(k)).sort();
    // Sanity: the outline is not empty on either side (a parser that reads nothing would pass).
    expect(sources.size).toBeGreaterThan(500);
    expect(
      { missingFromDocs: missing, notInSources: stale },
      "docs/api is stale: run `npm run docs:api` and commit docs/api",
    ).toEqual({ missingFromDocs: [], notInSources: [] });
  });
});
