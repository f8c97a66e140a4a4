/**
 * The query grammar every board and instrument URL shares (`emu://?rows=8&device=agsi`,
 * `bench-emu://?…`, `arc1://PATH?rows=16`, `smu-emu://?g=1e-5`): `KEY=VALUE` pairs after `?`, each
 * key one the scheme knows, each value read as what the key needs. A key the scheme does not know, or
 * a value that is not what the key needs, is refused with E607 BAD_URL in one wording for all schemes:
 *
 *   unknown bench-emu:// option "rowz" (known: rows, cols, …)
 *   arc1:// option cycles=x is not an integer
 */
import { XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";

export class UrlQuery {
  /**
   * @param scheme the scheme, for messages (`emu`, `bench-emu`, …)
   * @param params the query
   * @param known the keys this scheme takes
   */
  constructor(
    readonly scheme: string,
    readonly params: URLSearchParams,
    readonly known: readonly string[],
  ) {
    for (const k of params.keys())
      if (!known.includes(k))
        throw new XbarError(
          ErrorCode.BAD_URL,
          `unknown ${scheme}:// option "${k}" (known: ${known.join(", ")})`,
        );
  }

  /** The query of `url` (what follows its first `?`), checked against `known`. */
  static of(url: string, scheme: string, known: readonly string[]): UrlQuery {
    const q = url.indexOf("?");
    return new UrlQuery(scheme, new URLSearchParams(q >= 0 ? url.slice(q + 1) : ""), known);
  }

  /** The E310 error for `key=value` not being `what`. */
  bad(key: string, value: string, what: string): XbarError {
    return new XbarError(ErrorCode.BAD_URL, `${this.scheme}:// option ${key}=${value} is not ${what}`);
  }

  has(key: string): boolean {
    return this.params.has(key);
  }

  /** The text of `key`, or `fallback`; refused when given empty. */
  text(key: string, what: string): string | undefined;
  text(key: string, what: string, fallback: string): string;
  text(key: string, what: string, fallback?: string): string | undefined {
    const v = this.params.get(key);
    if (v === null) return fallback;
    if (v === "") throw this.bad(key, v, what);
    return v;
  }

  /** An integer (decimal, no exponent); `fallback` when absent (refused when absent without one). */
  int(key: string, fallback?: number): number {
    const v = this.params.get(key);
    if (v === null) {
      if (fallback !== undefined) return fallback;
      throw new XbarError(ErrorCode.BAD_URL, `${this.scheme}:// needs ${key}=INTEGER`);
    }
    const n = Number(v);
    if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n)) throw this.bad(key, v, "an integer");
    return n;
  }

  /** A finite number, within [min, max] when given; `fallback` when absent. */
  number(key: string, fallback?: number, range?: { min?: number; max?: number; what?: string }): number {
    const v = this.params.get(key);
    if (v === null) {
      if (fallback !== undefined) return fallback;
      throw new XbarError(ErrorCode.BAD_URL, `${this.scheme}:// needs ${key}=NUMBER`);
    }
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n)) throw this.bad(key, v, "a number");
    const { min = -Infinity, max = Infinity, what } = range ?? {};
    if (n < min || n > max) throw this.bad(key, v, what ?? `in [${min}, ${max}]`);
    return n;
  }

  /** A switch written 0 or 1. */
  flag(key: string, fallback = false): boolean {
    const v = this.params.get(key);
    if (v === null) return fallback;
    if (v !== "0" && v !== "1") throw this.bad(key, v, "0 or 1");
    return v === "1";
  }

  /** One of `choices`. */
  choice<T extends string>(key: string, choices: readonly T[]): T | undefined {
    const v = this.params.get(key);
    if (v === null) return undefined;
    if (!(choices as readonly string[]).includes(v)) throw this.bad(key, v, choices.join(" or "));
    return v as T;
  }

  /** The pairs whose keys are in `keys`, as a new query (e.g. the array keys passed on to emu://). */
  pick(keys: readonly string[]): URLSearchParams {
    const out = new URLSearchParams();
    for (const [k, v] of this.params) if (keys.includes(k)) out.set(k, v);
    return out;
  }
}
