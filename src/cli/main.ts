/**
 * The `xbar` command. Every subcommand connects through `connect(url)` and sees only the Board
 * interface, so each works the same on a real board, a socket and the in-process emulator.
 *
 * Errors print one line `xbar: E<code> <NAME>: <what> (<context>)`, commander's usage errors
 * included, and exit 2 for bad usage, 1 for errors, 3 for devices not programmed, 130 when
 * interrupted; never a stack trace unless XBAR_DEBUG=1.
 *
 * Start-up: each command group is its own module, imported only when its command runs (all of
 * them for the top-level help), so `xbar --version` and `xbar idn` load a small part of the package.
 */
import { Command, CommanderError } from "commander";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import { errnoCode, isXbarError, XbarError } from "../../firmware-protocol/errors.ts";
import { redactSecrets } from "../../firmware-protocol/redact.ts";
import { packageInfo } from "../version.ts";
import { EXIT, type Out, out } from "./common.ts";

export { EXIT } from "./common.ts";

type Register = (program: Command, out: Out) => void;

/** The command groups, in the order of the help, each with the commands it registers. */
const GROUPS: Array<{ commands: string[]; load: () => Promise<Register> }> = [
  {
    commands: ["demo", "idn", "stat", "read", "pulse", "ports", "reset"],
    load: async () => (await import("./board-commands.ts")).addBoardCommands,
  },
  {
    commands: ["program", "characterize", "characterise"],
    load: async () => (await import("./program-commands.ts")).addProgramCommands,
  },
  { commands: ["emulate"], load: async () => (await import("./emulate.ts")).addEmulateCommand },
  { commands: ["train"], load: async () => (await import("./train.ts")).addTrainCommand },
  { commands: ["run"], load: async () => (await import("./campaigns.ts")).addRunCommands },
  { commands: ["runs"], load: async () => (await import("./runs-commands.ts")).addRunsCommands },
  {
    commands: ["worker", "submit", "queue"],
    load: async () => (await import("./fleet.ts")).addFleetCommands,
  },
  { commands: ["retrain"], load: async () => (await import("./retrain.ts")).addRetrainCommand },
  { commands: ["view"], load: async () => (await import("./view.ts")).addViewCommand },
];

const HELP_AFTER = `
Examples:
  xbar demo                                      run the demo on the built-in emulated board
  xbar emulate --listen 127.0.0.1:5025           serve an emulated board on TCP
  xbar idn --port socket://127.0.0.1:5025        identify it
  xbar read --port /dev/ttyUSB0 --all --csv      read a real board's whole array

Exit status: 0 success, 1 error (one line on stderr), 2 bad usage, 3 devices not programmed,
130 interrupted.`;

/**
 * The program with the command groups that `argv` needs: the group of the command named, or every
 * group when no known command is named (top-level help, an unknown command and its suggestion).
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command("xbar")
    .description("Drive memristor crossbar boards (real or emulated) over the xbar line protocol.")
    .version(packageInfo().version)
    .showSuggestionAfterError()
    .addHelpText("after", HELP_AFTER);
  const args = argv.slice(2);
  const named = args.find((a) => !a.startsWith("-"));
  if (named === undefined && args.length > 0 && args.every((a) => a === "-V" || a === "--version"))
    return program;
  const group = GROUPS.find((g) => named !== undefined && g.commands.includes(named));
  for (const g of group ? [group] : GROUPS) (await g.load())(program, out);
  return program;
}

/** Exit status of an error: 2 for bad usage, 1 otherwise. */
function exitCodeOf(e: XbarError): number {
  if (e.code === ErrorCode.BAD_INPUT || e.code === ErrorCode.BAD_URL) return EXIT.USAGE;
  if (e.code === ErrorCode.INTERRUPTED) return EXIT.INTERRUPTED;
  if (e.code === ErrorCode.NOT_CONVERGED) return EXIT.NOT_CONVERGED;
  return EXIT.ERROR;
}

/** Commander's own message ("error: unknown option '--x'\n(Did you mean --y?)") as one line. */
function usageMessage(e: CommanderError): string {
  return e.message
    .replace(/^error: /, "")
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter(Boolean)
    .join(" ");
}

function report(e: XbarError): void {
  process.stderr.write(`xbar: ${e.message}\n`);
  // The message is redacted by XbarError; a stack taken over from another error may not be.
  if (process.env.XBAR_DEBUG) process.stderr.write(`${redactSecrets(e.stack ?? "")}\n`);
}

let quietOnClosedStdout = false;

export async function main(argv: string[]): Promise<number> {
  // A reader that goes away (`xbar read --all --csv | head -1`) is not an error of ours: stop quietly.
  if (!quietOnClosedStdout) {
    quietOnClosedStdout = true;
    process.stdout.on("error", (e: Error) => {
      if (errnoCode(e) === "EPIPE") process.exit(0);
      throw e;
    });
  }
  const program = await buildProgram(argv);
  // Commander prints help and version itself; its errors are reported below as one coded line.
  program.configureOutput({ outputError: () => {} });
  program.exitOverride();
  const override = (c: Command): void => {
    c.exitOverride();
    c.configureOutput({ outputError: () => {} });
    for (const s of c.commands) override(s);
  };
  for (const c of program.commands) override(c);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return EXIT.OK;
      // "commander.help" with exit code 1: the help was shown because no command was given.
      if (e.code === "commander.help" || e.code === "commander.executeSubCommandAsync")
        return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      report(new XbarError(ErrorCode.BAD_INPUT, usageMessage(e)));
      return EXIT.USAGE;
    }
    const err = isXbarError(e)
      ? e
      : new XbarError(
          ErrorCode.INTERNAL,
          `internal error (please report it): ${e instanceof Error ? e.message : String(e)}`,
          {},
          { cause: e },
        );
    if (!isXbarError(e) && e instanceof Error) err.stack = e.stack;
    report(err);
    return exitCodeOf(err);
  }
}
