/**
 * Where a host finds a board's access token (PROTOCOL.md §3, "Access token"), so that it need not
 * appear on a command line (`ps` shows those) or in a file that is shared:
 *
 *   1. the `token=` key of the URL (socket://HOST:PORT?token=SECRET; redacted in every message and record)
 *   2. the `token-file=` key of the URL: a file whose first line is the token
 *   3. the environment: XBAR_TOKEN, else XBAR_TOKEN_FILE (a file as in 2)
 *
 * A URL read back from the run database carries `token=***` (redact.ts); its token then comes from 2 or 3.
 */
import { readFileSync } from "node:fs";
import { ErrorCode, errnoCode, REDACTED, XbarError } from "../../firmware-protocol/index.ts";

/** Printable ASCII without spaces, 8..256 characters: what a board accepts (mocks/board.ts). */
export const TOKEN_PATTERN = /^[\x21-\x7e]{8,256}$/;

/** Reads a token file: its first line, without the line end; refused (`code`) unless a valid token. */
export function readTokenFile(path: string, code: number = ErrorCode.BAD_INPUT): string {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch (e) {
    throw new XbarError(code, `cannot read the token file ${path}: ${errnoCode(e) ?? e}`);
  }
  const token = (text.split("\n")[0] ?? "").replace(/\r$/, "").trim();
  if (!TOKEN_PATTERN.test(token))
    throw new XbarError(
      code,
      `the token file ${path} must hold a token of 8..256 printable characters without spaces on its first line`,
    );
  return token;
}

/** The token for a link, from its URL query or the environment; undefined when none is given. */
export function resolveToken(
  params: URLSearchParams,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const inUrl = params.get("token");
  if (inUrl !== null && inUrl !== REDACTED) return inUrl;
  const file = params.get("token-file");
  if (file) return readTokenFile(file, ErrorCode.BAD_URL);
  if (env.XBAR_TOKEN) return env.XBAR_TOKEN;
  if (env.XBAR_TOKEN_FILE) return readTokenFile(env.XBAR_TOKEN_FILE, ErrorCode.BAD_URL);
  if (inUrl === REDACTED)
    throw new XbarError(
      ErrorCode.BAD_URL,
      `the token of this URL was not stored (token=${REDACTED}): give it with XBAR_TOKEN, XBAR_TOKEN_FILE or token-file=PATH`,
    );
  return undefined;
}
