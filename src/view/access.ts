/**
 * Who may see the view. On loopback (the default) every local client may, and the Host header must
 * name the loopback address (a web page elsewhere cannot reach the view through DNS rebinding). On any
 * other address the server needs `allowRemote` and a token, and then every request must present it:
 * either `Authorization: Bearer TOKEN` (scripts, a reverse proxy that injects it) or the session
 * cookie given once by `POST /login` with the token in the body. The token itself never travels in a
 * URL, so it does not land in access logs, browser history or stored links.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { ErrorCode, XbarError } from "../../firmware-protocol/index.ts";
import { sameSecret, secretDigest } from "../../firmware-protocol/secret-compare.ts";

export const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);
/** Name of the session cookie. */
export const COOKIE = "xbar_view";
/** Sessions kept at once (the oldest is forgotten beyond this). */
const MAX_SESSIONS = 64;

/** Refuses a listening address other than loopback without `allowRemote` and a token (nothing bound). */
export function checkListen(host: string, allowRemote: boolean | undefined, token: string | undefined): void {
  if (!LOOPBACK.has(host)) {
    if (!allowRemote)
      throw new XbarError(
        ErrorCode.BAD_INPUT,
        `the view on ${host} is reachable from other machines: add --allow-remote and a token (--token-file FILE or $XBAR_VIEW_TOKEN), or listen on 127.0.0.1`,
      );
    if (!token)
      throw new XbarError(
        ErrorCode.BAD_INPUT,
        "--allow-remote needs a token: --token-file FILE or $XBAR_VIEW_TOKEN (8..256 printable characters)",
      );
  }
  if (token !== undefined && !/^[\x21-\x7e]{8,256}$/.test(token))
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      "the view token must be 8..256 printable characters without spaces",
    );
}

export class Access {
  private readonly sessions = new Set<string>();
  /** SHA-256 of the token (compared as fixed-length digests: secret-compare.ts). */
  private readonly want: Buffer | undefined;

  constructor(
    token: string | undefined,
    private readonly loopbackOnly: boolean,
  ) {
    this.want = token === undefined ? undefined : secretDigest(token);
  }

  /** Whether requests must prove they hold the token. */
  get required(): boolean {
    return this.want !== undefined;
  }

  /** Loopback binds: the Host header must be a loopback name (defeats DNS rebinding). */
  hostAllowed(req: IncomingMessage): boolean {
    if (!this.loopbackOnly) return true;
    const host = (req.headers.host ?? "").replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    return LOOPBACK.has(host);
  }

  allowed(req: IncomingMessage): boolean {
    const want = this.want;
    if (!want) return true;
    const auth = req.headers.authorization;
    if (auth?.startsWith("Bearer ") && sameSecret(auth.slice(7).trim(), want)) return true;
    const sid = cookie(req, COOKIE);
    return sid !== undefined && this.sessions.has(sid);
  }

  /** Checks a presented token; on success returns a new session id for the cookie. */
  login(presented: string): string | undefined {
    if (!this.want || !sameSecret(presented, this.want)) return undefined;
    const sid = randomBytes(24).toString("hex");
    this.sessions.add(sid);
    if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.values().next().value!);
    return sid;
  }
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
}
