/**
 * Comparing a presented secret (a board's access token, the live view's token) with the expected one
 * without telling anything by the time it takes: both are hashed to fixed-length SHA-256 digests and
 * the digests compared in constant time, so neither the time nor the answer depends on where the two
 * first differ or on how long either is.
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** SHA-256 of a secret (latin1, as it travels on the wire). */
export const secretDigest = (s: string): Buffer => createHash("sha256").update(s, "latin1").digest();

/** True when `given` is the secret whose digest is `want`; a missing one is hashed too (as ""). */
export function sameSecret(given: string | undefined, want: Buffer): boolean {
  const same = timingSafeEqual(secretDigest(given ?? ""), want);
  return same && given !== undefined;
}
