/**
 * Sessions that are not admitted touch nothing of the board (issue 13 finding 4, issue 12 erratum on
 * several connections; PROTOCOL.md §3 "Connections"), and the token is compared as fixed-length
 * digests (finding 6), as is the live view's.
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { describe, expect, it, vi } from "vitest";
import { argInt, argToken, decodeLine, encodeRequest, type Message } from "../firmware-protocol/index.ts";
import { Admission } from "../mocks/admission.ts";
import { EmulatedBoard } from "../mocks/index.ts";
import { Access } from "../src/view/access.ts";

vi.mock("node:crypto", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:crypto")>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});

const TOKEN = "s3cret-T0ken";

/** A session of the board: `send` returns the replies of one request line; `events` collects the rest. */
function open(board: EmulatedBoard) {
  const lines: string[] = [];
  const s = board.openSession((l) => lines.push(l.replace(/\n$/, "")));
  const decode = (l: string): Message => {
    const d = decodeLine(l);
    if (!d.ok) throw new Error(`malformed: ${l}`);
    return d.message;
  };
  return {
    session: s,
    lines,
    send(tag: number, verb: string, args?: Record<string, string | number>): Message {
      const from = lines.length;
      s.handle(encodeRequest(tag, verb, args).replace(/\n$/, ""));
      const replies = lines.slice(from).filter((l) => !l.startsWith("!"));
      expect(replies).toHaveLength(1);
      return decode(replies[0]!);
    },
    raw(line: string): void {
      s.handle(line);
    },
    events: () => lines.filter((l) => l.startsWith("!")),
  };
}

describe("an unauthenticated session leaves the board as it was", () => {
  it("40 NOPs, a bad HELLO and garbage: the owner's ERRQ is empty and its counters unchanged", () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear", token: TOKEN });
    const owner = open(board);
    expect(owner.send(1, "HELLO", { token: TOKEN }).kind).toBe("ok");
    const before = owner.send(2, "STAT");
    const link = { rx: board.counters.rx, tx: board.counters.tx };
    const intruder = open(board);
    for (let i = 0; i < 40; i++)
      expect(intruder.send(i + 1, "NOP")).toMatchObject({ kind: "err", code: 403 });
    expect(intruder.send(99, "HELLO", { token: "wrong-token-1" })).toMatchObject({ kind: "err", code: 403 });
    intruder.raw("garbage without a checksum");
    expect(intruder.lines.at(-1)).toMatch(/^! REJECT code=101/);
    // Nor the link counters: STAT rx/tx count the owner's bytes only.
    expect(board.counters).toMatchObject(link);
    const after = owner.send(3, "STAT");
    expect(before.kind === "ok" && after.kind === "ok").toBe(true);
    if (before.kind !== "ok" || after.kind !== "ok") return;
    expect(argInt(after.args, "errors")).toBe(argInt(before.args, "errors"));
    expect(argInt(after.args, "cmds")).toBe(argInt(before.args, "cmds") + 1); // the STAT itself
    const e = owner.send(4, "ERRQ");
    expect(e.kind === "ok" && argInt(e.args, "code")).toBe(0);
    expect(board.counters.errors).toBe(0);
  });

  it("does not hear the BOOT of the owner's RESET, nor of a reboot; the owner does", async () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear", token: TOKEN });
    const owner = open(board);
    owner.send(1, "HELLO", { token: TOKEN });
    const intruder = open(board);
    intruder.send(1, "NOP");
    owner.send(2, "RESET");
    await new Promise((r) => setTimeout(r, 0)); // the BOOT of RESET leaves after its reply
    board.reboot();
    expect(owner.events().filter((l) => l.startsWith("! BOOT"))).toHaveLength(2);
    expect(intruder.events()).toEqual([]);
  });

  it("an authenticated second session is refused with 402 and touches nothing either", () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear", token: TOKEN });
    const owner = open(board);
    owner.send(1, "HELLO", { token: TOKEN });
    const link = { rx: board.counters.rx, tx: board.counters.tx };
    expect(link.rx).toBeGreaterThan(0);
    const other = open(board);
    expect(other.send(1, "HELLO", { token: TOKEN })).toMatchObject({ kind: "err", code: 402 });
    expect(other.send(2, "PULSE", { r: 0, c: 0, v: 2, w: 1e-4 })).toMatchObject({ kind: "err", code: 402 });
    other.raw("1 NOP*00000000");
    expect(board.counters).toMatchObject({ pulses: 0, errors: 0, ...link });
    // Once the owner's link closes, the other may take the board.
    owner.session.close();
    expect(other.send(3, "HELLO", { token: TOKEN }).kind).toBe("ok");
    expect(other.send(4, "PULSE", { r: 0, c: 0, v: 2, w: 1e-4 }).kind).toBe("ok");
    expect(board.counters.pulses).toBe(1);
  });

  it("on a board without a token the first session to send a request owns it", () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear" });
    const a = open(board);
    const b = open(board);
    expect(a.send(1, "IDN").kind).toBe("ok");
    const refused = b.send(1, "IDN");
    expect(refused).toMatchObject({ kind: "err", code: 402 });
    expect(refused.kind === "err" && refused.message).toMatch(/another connection/);
    expect(board.counters.errors).toBe(0);
  });

  it("the reply of HELLO to the owner is unchanged (proto)", () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear", token: TOKEN });
    const m = open(board).send(1, "HELLO", { token: TOKEN });
    expect(m.kind === "ok" && argToken(m.args, "proto")).toBe("1");
  });
});

describe("the token check (finding 6)", () => {
  it("accepts the token only, whatever the length of the wrong one, and a missing one", () => {
    const a = new Admission(TOKEN);
    expect(a.check(TOKEN)).toBe(true);
    for (const wrong of [undefined, "", "s", TOKEN.slice(0, -1), `${TOKEN}x`, "x".repeat(10_000)])
      expect(a.check(wrong)).toBe(false);
    expect(new Admission(undefined).check(undefined)).toBe(true);
  });

  it("compares fixed-length digests, also for a token of another length (no early return on length)", () => {
    const board = new EmulatedBoard({ rows: 4, cols: 4, device: "linear", token: TOKEN });
    const compare = vi.mocked(timingSafeEqual);
    compare.mockClear();
    for (const wrong of ["short-tok", `${TOKEN}-and-longer`, "x".repeat(200)])
      expect(open(board).send(1, "HELLO", { token: wrong })).toMatchObject({ kind: "err", code: 403 });
    expect(compare).toHaveBeenCalledTimes(3);
    for (const [x, y] of compare.mock.calls) expect([x.byteLength, y.byteLength]).toEqual([32, 32]);
  });

  it("the live view's token is compared the same way (login and Bearer)", () => {
    const access = new Access(TOKEN, false);
    const compare = vi.mocked(timingSafeEqual);
    compare.mockClear();
    expect(access.login(TOKEN)).toMatch(/^[0-9a-f]{48}$/);
    for (const wrong of ["short-tok", `${TOKEN}-and-longer`]) expect(access.login(wrong)).toBeUndefined();
    const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } }) as IncomingMessage;
    expect(access.allowed(bearer(TOKEN))).toBe(true);
    expect(access.allowed(bearer("x".repeat(300)))).toBe(false);
    expect(compare).toHaveBeenCalledTimes(5);
    for (const [x, y] of compare.mock.calls) expect([x.byteLength, y.byteLength]).toEqual([32, 32]);
  });
});
