/**
 * The crossbar client against the real emulated board over a link that misbehaves on purpose:
 * retransmission with the same tag, exactly-once pulses, resync after garbage, the window bound,
 * timeouts with context, disconnects.
 */
import { describe, expect, it } from "vitest";
import { CrossbarClient, XbarError } from "../drivers/index.ts";
import { argInt, decodeLine, ErrorCode } from "../firmware-protocol/index.ts";
import { FaultyLink } from "./helpers/faulty-link.ts";

const tagOf = (line: string) => Number(line.slice(0, line.indexOf(" ")));
const verbOf = (line: string) => line.split(" ")[1];

async function pulses(link: FaultyLink): Promise<number> {
  return link.board.counters.pulses;
}

describe("CrossbarClient", () => {
  it("retransmits a request whose reply was lost with the same tag, and the board applies it once", async () => {
    const link = new FaultyLink();
    let dropped = 0;
    // Drop the first reply to a PULSE.
    link.boardToHost = (l) => (l.includes(" OK n=") && dropped++ === 0 ? null : l);
    const client = new CrossbarClient(link, { baseTimeoutMs: 50 });
    await client.request("HELLO");
    const reply = await client.request("PULSE", { r: 0, c: 0, v: 2, w: 1e-4, n: 7 });
    expect(argInt(reply, "n")).toBe(7);
    const sent = link.written.filter((l) => verbOf(l) === "PULSE");
    expect(sent).toHaveLength(2);
    expect(sent[0]).toBe(sent[1]); // byte-identical retransmission, same tag
    expect(await pulses(link)).toBe(7); // applied exactly once
    expect(client.stats.retransmissions).toBe(1);
    await client.close();
  });

  it("retransmits a request that never reached the board, and it is then executed", async () => {
    const link = new FaultyLink();
    link.hostToBoard = (l, i) => (i === 1 ? null : l); // lose the second line written (the PULSE)
    const client = new CrossbarClient(link, { baseTimeoutMs: 50 });
    await client.request("HELLO");
    await client.request("PULSE", { r: 1, c: 1, v: 2, w: 1e-4, n: 3 });
    expect(await pulses(link)).toBe(3);
    await client.close();
  });

  it("resends in-flight requests at once when the board REJECTs a corrupted line", async () => {
    const link = new FaultyLink();
    link.hostToBoard = (l, i) => (i === 1 ? l.replace("r=2", "r=3") : l); // corrupt the PULSE in transit
    const client = new CrossbarClient(link, { baseTimeoutMs: 5000 });
    await client.request("HELLO");
    const t0 = performance.now();
    await client.request("PULSE", { r: 2, c: 2, v: 2, w: 1e-4, n: 4 });
    // Answered long before the 5 s timeout: the REJECT event triggered the resend.
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(link.board.g[2 * 8 + 2]).toBeGreaterThan(link.board.g[3 * 8 + 2]!); // the corrupted address was never pulsed
    expect(await pulses(link)).toBe(4);
    await client.close();
  });

  it("survives garbage on the line: discards it as a typed record and takes the next good reply", async () => {
    const link = new FaultyLink();
    const client = new CrossbarClient(link);
    const discarded: number[] = [];
    client.discarded.subscribe((d) => discarded.push(d.code));
    await client.request("HELLO");
    link.inject("\u0000\u00ffnoise\n12 OK g=1*deadbeef\n");
    const idn = await client.request("IDN");
    expect(argInt(idn, "rows")).toBe(8);
    expect(discarded).toEqual([ErrorCode.MALFORMED, ErrorCode.BAD_CHECKSUM]);
    await client.close();
  });

  it("keeps at most `window` requests in flight and answers all of them in order", async () => {
    const link = new FaultyLink();
    let inFlight = 0;
    let maxInFlight = 0;
    const write = link.write.bind(link);
    link.write = (d) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      write(d);
    };
    // Subscribed before the client, so a reply is counted before the client sends the next request.
    link.lines.subscribe(() => inFlight--);
    const client = new CrossbarClient(link, { window: 4 });
    await client.request("HELLO");
    maxInFlight = 0;
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) => client.request("READ", { r: i % 8, c: 0 })),
    );
    expect(replies).toHaveLength(40);
    expect(maxInFlight).toBe(4);
    const tags = link.written.map(tagOf);
    expect(tags).toEqual(tags.map((_, i) => i + 1)); // consecutive tags from 1
    await client.close();
  });

  it("gives up after the retries with a TIMEOUT naming command and tag", async () => {
    const link = new FaultyLink();
    const client = new CrossbarClient(link, { baseTimeoutMs: 20, retries: 2 });
    link.hostToBoard = () => null; // the board hears nothing
    const err = await client.request("READ", { r: 0, c: 0 }, { context: { row: 0, col: 0 } }).catch((e) => e);
    expect(err).toBeInstanceOf(XbarError);
    expect(err.code).toBe(ErrorCode.TIMEOUT);
    expect(err.context).toMatchObject({ command: "READ", tag: 1, row: 0, col: 0 });
    expect(link.written).toHaveLength(3); // first attempt + 2 retries, all the same bytes
    expect(new Set(link.written).size).toBe(1);
    await client.close();
  });

  it("derives the timeout from the operation: a long pulse train is not given up early", async () => {
    const link = new FaultyLink();
    const client = new CrossbarClient(link, { baseTimeoutMs: 20, retries: 0 });
    // Hold the reply back for 150 ms, as a board busy with a long train would.
    const session = link.board;
    const write = link.write.bind(link);
    link.write = (d) => {
      setTimeout(() => write(d), 150);
    };
    const reply = await client.request(
      "PULSE",
      { r: 0, c: 0, v: 2, w: 1e-4, n: 1000 },
      { durationS: 1000 * 1e-4 },
    );
    expect(argInt(reply, "n")).toBe(1000);
    expect(session.counters.pulses).toBe(1000);
    await client.close();
  });

  it("rejects everything outstanding with DISCONNECTED when the link goes away, and later requests too", async () => {
    const link = new FaultyLink();
    link.hostToBoard = () => null;
    const client = new CrossbarClient(link, { baseTimeoutMs: 10_000 });
    const pending = client.request("READ", { r: 0, c: 0 });
    link.disconnect(new XbarError(ErrorCode.DISCONNECTED, "plug pulled"));
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.DISCONNECTED });
    await expect(client.request("NOP")).rejects.toMatchObject({ code: ErrorCode.DISCONNECTED });
  });

  it("reports the board's ERR code with side 'board' and the request's context", async () => {
    const link = new FaultyLink();
    const client = new CrossbarClient(link);
    const err = await client.request("PULSE", { r: 0, c: 0, v: 9, w: 1e-4 }).catch((e) => e);
    expect(err).toMatchObject({
      code: ErrorCode.AMPLITUDE_LIMIT,
      context: { side: "board", command: "PULSE", tag: 1 },
    });
    expect(err.message).toMatch(/^E301 AMPLITUDE_LIMIT: /);
    // The board also queued it.
    const q = await client.request("ERRQ");
    expect(argInt(q, "code")).toBe(301);
    await client.close();
  });

  it("writes exactly the framed bytes of the protocol", async () => {
    const link = new FaultyLink();
    const client = new CrossbarClient(link);
    await client.request("PULSE", { r: 0, c: 3, v: 3.2, w: 0.0003 });
    expect(link.written[0]).toMatch(/^1 PULSE r=0 c=3 v=3\.2 w=0\.0003\*[0-9a-f]{8}\n$/);
    expect(decodeLine(link.written[0]!).ok).toBe(true);
    await client.close();
  });
});
