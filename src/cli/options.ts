/** Option parsers for the CLI: each refuses bad input with a message that names the option. */
import { InvalidArgumentError, Option } from "commander";
import { DEFAULT_URL, defaultBoardStateFile, defaultBoardUrl } from "../board/default-url.ts";

/** A decimal integer as typed: no hex, no exponent, no padding, no fraction ("16", "-3"). */
const INTEGER = /^[+-]?\d+$/;
/** A decimal number as typed: digits, a point, an exponent ("3.2", "-2.8", "300e-6", ".5"). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

export function intArg(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    const v = INTEGER.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(`${name} must be an integer in ${min}..${max}, got "${raw}"`);
    }
    return v;
  };
}

export function numArg(name: string, check: (v: number) => boolean = Number.isFinite, what = "a number") {
  return (raw: string): number => {
    const v = DECIMAL.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isFinite(v) || !check(v))
      throw new InvalidArgumentError(`${name} must be ${what}, got "${raw}"`);
    return v;
  };
}

export const PORT_HELP = `board URL: a serial device path (/dev/ttyUSB0, serial:///dev/ttyACM0?baud=921600), socket://HOST:PORT (a board's token: $XBAR_TOKEN, $XBAR_TOKEN_FILE or ?token-file=FILE), or emu://?rows=R&cols=C&device=NAME&seed=N (default: $XBAR_PORT, else the default board: ${DEFAULT_URL} with its devices kept in ${defaultBoardStateFile()}; xbar reset clears it)`;

export function defaultPort(): string {
  return process.env.XBAR_PORT || defaultBoardUrl();
}

/** The run database every campaign and fleet command takes. */
export const DEFAULT_DB = "xbar-runs.sqlite";
export const dbOption = () =>
  new Option("--db <file|url>", "run database: an SQLite file, or postgres://USER@HOST/DB").default(
    process.env.XBAR_DB ?? DEFAULT_DB,
    "$XBAR_DB or ./xbar-runs.sqlite",
  );
