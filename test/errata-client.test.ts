/**
 * Protocol 1.1 errata on the host side (PROTOCOL.md "Changelog"): REJECT-triggered resends are
 * bounded per request and not counted against the timeout retries, and a timed-out programming
 * request says its outcome is unknown. Each test failed against the 1.0 client.
 */
import { describe, expect, it } from "vitest";
import { CrossbarClient, XbarError } from "../drivers/index.ts";
import { argInt, ErrorCode } from "../firmware-protocol/index.ts";
import { FaultyLink } from "./helpers/faulty-link.ts";

const verbOf = (line: string) => line.split(" ")[1];
/** Adds a byte to the body so the checksum no longer matches (the board REJECTs the line). */
const corrupt = (line: string) => line.replace("*", "0*");

describe("REJECT resends (1.1)", () => {
  it("are not counted against the timeout retries: a request REJECTed 12 times still succeeds", async () => {
    const link = new FaultyLink();
    let seen = 0;
    link.hostToBoard = (l) => (verbOf(l) === "PULSE" && seen++ < 12 ? corrupt(l) : l);
    const client = new CrossbarClient(link, { baseTimeoutMs: 5000, retries: 0, rejectResendMs: 2 });
    await client.request("HELLO");
    const reply = await client.request("PULSE", { r: 0, c: 0, v: 2, w: 1e-4, n: 3 });
    expect(argInt(reply, "n")).toBe(3);
    expect(link.board.counters.pulses).toBe(3);
    expect(client.stats.rejectResends).toBe(12);
    await client.close();
  });

  it("go out at most once per request per interval, however many REJECTs arrive", async () => {
    const link = new FaultyLink();
    const started = performance.now();
    const noisyMs = 300;
    // Every line is corrupted for the first 300 ms: each copy of each request earns a REJECT.
    link.hostToBoard = (l) =>
      performance.now() - started < noisyMs && verbOf(l) === "READ" ? corrupt(l) : l;
    const client = new CrossbarClient(link, { window: 8, baseTimeoutMs: 2000, rejectResendMs: 50 });
    const reads = Array.from({ length: 8 }, (_, i) => client.request("READ", { r: i, c: 0 }));
    await Promise.all(reads);
    const elapsed = performance.now() - started;
    const perRequest = link.written.length / 8;
    // First transmission, plus one resend per 50 ms while the link was noisy, plus the last one.
    expect(perRequest).toBeLessThanOrEqual(1 + Math.ceil(Math.min(elapsed, noisyMs + 50) / 50) + 1);
    expect(elapsed).toBeLessThan(noisyMs + 500); // recovered by REJECT resends, not by the 2 s timeout
    await client.close();
  });
});

describe("E601 TIMEOUT (1.1)", () => {
  it("carries outcome 'unknown' for a programming request (its reply may be what was lost)", async () => {
    const link = new FaultyLink();
    link.boardToHost = (l) => (l.includes(" OK n=") ? null : l); // the board applies, the reply is lost
    const client = new CrossbarClient(link, { baseTimeoutMs: 20, retries: 1 });
    await client.request("HELLO");
    const err = await client.request("PULSE", { r: 0, c: 0, v: 2, w: 1e-4, n: 2 }).catch((e) => e);
    expect(err).toBeInstanceOf(XbarError);
    expect(err.code).toBe(ErrorCode.TIMEOUT);
    expect(err.context.outcome).toBe("unknown");
    expect(link.board.counters.pulses).toBe(2); // it was applied, once
    await client.close();
  });

  it("carries outcome 'lost' for a read", async () => {
    const link = new FaultyLink();
    link.hostToBoard = () => null;
    const client = new CrossbarClient(link, { baseTimeoutMs: 10, retries: 0 });
    const err = await client.request("READ", { r: 0, c: 0 }).catch((e) => e);
    expect(err.code).toBe(ErrorCode.TIMEOUT);
    expect(err.context.outcome).toBe("lost");
    await client.close();
  });
});
