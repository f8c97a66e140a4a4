/**
 * Who may use an emulated board (PROTOCOL.md §3, "Access token", and "Connections"):
 *
 *   a line arrives ─▶ session authorised? (token presented in HELLO, or the board needs none)
 *                         │ no ─▶ ERR 403, nothing of the board touched (no error queue, no counter)
 *                         ▼ yes
 *                     board owned by another session? ─▶ ERR 402, nothing touched
 *                         ▼ no: this session owns the board until its link closes
 *                     executed
 *
 * One session at a time, as ser2net serves a serial port to one TCP client: every session has its own
 * replay window, so two sessions sharing one array would break exactly-once execution (the same
 * tagged PULSE on two links runs twice) and see each other's errors and counters.
 */
import { sameSecret, secretDigest } from "../firmware-protocol/secret-compare.ts";

export class Admission<S extends object = object> {
  private owner: S | undefined;
  /** SHA-256 of the board's token, or undefined when the board needs none. */
  private readonly want: Buffer | undefined;

  constructor(token: string | undefined) {
    this.want = token === undefined ? undefined : secretDigest(token);
  }

  /** True when sessions must present a token in HELLO. */
  get required(): boolean {
    return this.want !== undefined;
  }

  /** True when the given token is the board's (fixed-length digests compared: secret-compare.ts). */
  check(given: string | undefined): boolean {
    return this.want === undefined || sameSecret(given, this.want);
  }

  /** True when `s` owns the board, taking it first when nobody does. */
  claim(s: S): boolean {
    this.owner ??= s;
    return this.owner === s;
  }

  isOwner(s: S): boolean {
    return this.owner === s;
  }

  /** True when some session owns the board. */
  get owned(): boolean {
    return this.owner !== undefined;
  }

  /** A session's link closed: the board is free again if it owned it. */
  release(s: S): void {
    if (this.owner === s) this.owner = undefined;
  }
}
