/**
 * The board a command uses without --port or $XBAR_PORT.
 *
 * `DEFAULT_URL` is the library's default for `connect()`: a fresh emulated 64 x 64 Ag:a-Si array.
 * The `xbar` command instead uses `defaultBoardUrl()`: the same emulated board, whose devices' states
 * are kept in a file of the user's state directory, so that `xbar pulse` then `xbar read` behave as
 * on a real board (conductances persist; counters and clock start afresh with each command, as after
 * a power cycle). `xbar reset` deletes the file.
 */
import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const DEFAULT_URL = "emu://?rows=64&cols=64&device=agsi&seed=1";

/**
 * Where xbar keeps state between commands: $XBAR_STATE_DIR, else $XDG_STATE_HOME/xbar, else
 * ~/.local/state/xbar (on macOS ~/Library/Application Support/xbar, on Windows %LOCALAPPDATA%\xbar).
 */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XBAR_STATE_DIR) return env.XBAR_STATE_DIR;
  if (process.platform === "win32" && env.LOCALAPPDATA) return join(env.LOCALAPPDATA, "xbar");
  if (process.platform === "darwin") return join(homedir(), "Library", "Application Support", "xbar");
  return join(env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "xbar");
}

/** The file that keeps the default board's devices. */
export function defaultBoardStateFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), "default-board.state");
}

/** The default board of the `xbar` command: DEFAULT_URL with its state file (the folder is created). */
export function defaultBoardUrl(env: NodeJS.ProcessEnv = process.env): string {
  const file = defaultBoardStateFile(env);
  mkdirSync(stateDir(env), { recursive: true });
  return `${DEFAULT_URL}&state=${encodeURIComponent(file)}`;
}
