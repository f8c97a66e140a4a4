#!/usr/bin/env node
// Entry point of the `xbar` command: the compiled JavaScript in dist/ (built by `npm run build`,
// which `npm ci` and `npm pack` run through the `prepare` script). No TypeScript loader at run time.
let cli;
try {
  cli = await import("../dist/src/cli/main.js");
} catch (e) {
  if (e?.code !== "ERR_MODULE_NOT_FOUND" || !String(e.message).includes("dist/src/cli/main.js")) throw e;
  process.stderr.write(
    "xbar: the compiled command is missing (dist/); run `npm run build` in the xbar folder\n",
  );
  process.exit(1);
}
process.exitCode = await cli.main(process.argv);
