/**
 * One grammar for the query of every board and instrument URL (src/board/url-query.ts): an unknown key
 * or a value that is not what its key needs is refused before anything is opened, with E607 BAD_URL in
 * the same wording whatever the scheme.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../firmware-protocol/index.ts";
import { connect } from "../src/board/connect.ts";
import { connectSmu } from "../src/board/instrument.ts";

const refusal = async (open: Promise<unknown>) => {
  try {
    const board = await open;
    (board as { close?: () => Promise<void> }).close?.();
  } catch (e) {
    return e as { code: number; message: string };
  }
  throw new Error("opened");
};

describe("the query of every board URL", () => {
  const schemes = ["emu", "bench-emu", "arc1-emu"];

  it.each(schemes)("%s:// refuses an unknown key, naming it and the keys it knows", async (scheme) => {
    const e = await refusal(connect(`${scheme}://?rows=8&rowz=8`));
    expect(e.code).toBe(ErrorCode.BAD_URL);
    expect(e.message).toMatch(
      new RegExp(`^E607 BAD_URL: unknown ${scheme}:// option "rowz" \\(known: rows, cols, device, seed`),
    );
  });

  it.each(schemes)(
    "%s:// refuses an integer key written as a number that is not a plain integer",
    async (scheme) => {
      for (const v of ["8.5", "1e1", "0x8", "", "eight"]) {
        const e = await refusal(connect(`${scheme}://?rows=${v}&cols=8`));
        expect(e.code, v).toBe(ErrorCode.BAD_URL);
        expect(e.message, v).toBe(`E607 BAD_URL: ${scheme}:// option rows=${v} is not an integer`);
      }
    },
  );

  it.each(schemes)("%s:// refuses a switch that is not 0 or 1", async (scheme) => {
    const e = await refusal(connect(`${scheme}://?sneak=yes`));
    expect(e.code).toBe(ErrorCode.BAD_URL);
    expect(e.message).toMatch(/option sneak=yes is not 0 or 1$/);
  });

  it("bench-emu:// refuses an integration time out of range, and bench:// without its instruments", async () => {
    const nplc = await refusal(connect("bench-emu://?nplc=20"));
    expect(nplc.message).toBe(
      "E607 BAD_URL: bench-emu:// option nplc=20 is not in [0.01, 10] power-line cycles",
    );
    const bench = await refusal(connect("bench://?rows=8&cols=8"));
    expect(bench.code).toBe(ErrorCode.BAD_URL);
    expect(bench.message).toMatch(/needs smu=URL and matrix=URL/);
  });

  it("smu-emu:// takes positive numbers only, in the same wording", async () => {
    const unknown = await refusal(connectSmu("smu-emu://?volts=1"));
    expect(unknown.message).toBe(
      'E607 BAD_URL: unknown smu-emu:// option "volts" (known: g, gmin, gmax, vset, vreset, rate)',
    );
    const negative = await refusal(connectSmu("smu-emu://?g=-1"));
    expect(negative.message).toBe("E607 BAD_URL: smu-emu:// option g=-1 is not a positive number");
  });

  it("a well-formed query opens the board it describes", async () => {
    for (const url of [
      "emu://?rows=4&cols=5&sneak=0",
      "bench-emu://?rows=4&cols=5&nplc=0.1",
      "arc1-emu://?rows=4&cols=5",
    ]) {
      const board = await connect(url);
      expect([board.identity.rows, board.identity.cols], url).toEqual([4, 5]);
      await board.close();
    }
  });
});
