/**
 * Keeping secrets out of messages, records and exports. A board's access token travels in URLs
 * (`socket://HOST:PORT?token=SECRET`) and in `HELLO token=SECRET`; a database URL may carry a
 * password (`postgres://user:SECRET@host/db`). Everything the stack prints, stores or exports passes
 * through `redactSecrets`, which replaces each such value by REDACTED and leaves the rest as it was.
 */

/** What a secret is replaced with. No valid token is this short (tokens have 8..256 characters). */
export const REDACTED = "***";

/** `token=VALUE` as a URL query parameter or a protocol argument (VALUE ends at & whitespace quote #). */
const TOKEN = /(^|[?&;\s"'(])(token=)([^&\s"'#]+)/gi;
/** The password of `scheme://user:password@host`. */
const USERINFO = /(\/\/[^/:@\s"']*:)([^@/\s"']+)(@)/g;

/** The text with every token and URL password replaced by REDACTED. */
export function redactSecrets(text: string): string {
  return text
    .replace(TOKEN, (all, pre: string, key: string, value: string) =>
      value === REDACTED ? all : `${pre}${key}${REDACTED}`,
    )
    .replace(USERINFO, (all, pre: string, value: string, at: string) =>
      value === REDACTED ? all : `${pre}${REDACTED}${at}`,
    );
}

/** True when the text still holds a secret redactSecrets would hide. */
export function holdsSecret(text: string): boolean {
  return redactSecrets(text) !== text;
}
