/**
 * The conformance vectors (firmware-protocol/vectors.json, made by scripts/make-vectors.mts): every
 * request replayed in order against a fresh emulated board configured as the file says must get
 * byte-identical replies, and every line in the file must decode (except the request whose checksum
 * is wrong on purpose).
 */
import { readFileSync } from "node:fs";
import { Duplex, PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { COMMANDS, decodeLine, isVerb, type Message, PROTOCOL_VERSION } from "../firmware-protocol/index.ts";
import { EmulatedBoard, serveStream } from "../mocks/index.ts";

interface Vector {
  name: string;
  request: string;
  replies: string[];
}

interface VectorFile {
  generatedBy: string;
  protocol: number;
  board: { rows: number; cols: number; device: string; seed: number };
  vectors: Vector[];
}

const doc = JSON.parse(
  readFileSync(new URL("../firmware-protocol/vectors.json", import.meta.url), "utf8"),
) as VectorFile;
const { vectors } = doc;

/** The vector whose request has a wrong checksum on purpose. */
const isBadChecksum = (v: Vector) => v.name.startsWith("bad checksum");

/** The error code a vector's name announces, e.g. "... (301)". */
const announcedCode = (v: Vector): number | undefined => {
  const m = /\((\d{3})\)$/.exec(v.name);
  return m ? Number(m[1]) : undefined;
};

function decoded(line: string): Message {
  const d = decodeLine(line);
  if (!d.ok) throw new Error(`${JSON.stringify(line)} does not decode: ${d.code} ${d.reason}`);
  return d.message;
}

describe("conformance vectors (firmware-protocol/vectors.json)", () => {
  it("state the board they were made on and how to regenerate them", () => {
    expect(doc.generatedBy).toContain("scripts/make-vectors.mts");
    expect(doc.protocol).toBe(PROTOCOL_VERSION);
    expect(doc.board).toEqual({ rows: 8, cols: 8, device: "linear", seed: 1 });
    expect(vectors.length).toBeGreaterThanOrEqual(19);
    expect(new Set(vectors.map((v) => v.name)).size).toBe(vectors.length);
    for (const v of vectors) {
      for (const line of [v.request, ...v.replies]) {
        expect(line, v.name).toMatch(/^[ -~]*\n$/); // one printable-ASCII line with its terminator
      }
      expect(v.replies.length, v.name).toBeGreaterThan(0);
    }
  });

  it("cover the refusals they are meant to cover", () => {
    const codes = new Set<number>();
    for (const v of vectors) {
      for (const r of v.replies) {
        const m = decoded(r);
        if (m.kind === "err") codes.add(m.code);
        if (m.kind === "event" && m.name === "REJECT") codes.add(Number(m.args.get("code")));
      }
    }
    expect([...codes].sort()).toEqual([101, 102, 201, 202, 203, 204, 301, 302, 303, 305]);
    expect(vectors.filter(isBadChecksum)).toHaveLength(1);
  });

  it("are answered byte for byte by a fresh board (one session, in order)", async () => {
    const board = new EmulatedBoard(doc.board);
    let got: string[] = [];
    const session = board.openSession((line) => got.push(line));
    for (const v of vectors) {
      got = [];
      session.handle(v.request.replace(/\n$/, ""));
      await new Promise((resolve) => setImmediate(resolve)); // events a board queues (BOOT)
      expect.soft(got, v.name).toEqual(v.replies);
    }
    session.close();
  });

  it("are answered byte for byte over a byte stream (serveStream, requests split across chunks)", async () => {
    const a = new PassThrough();
    const b = new PassThrough();
    const host = Duplex.from({ readable: a, writable: b });
    const boardEnd = Duplex.from({ readable: b, writable: a });
    const detach = serveStream(new EmulatedBoard(doc.board), boardEnd);
    const expected = vectors.flatMap((v) => v.replies).join("");
    let received = "";
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${received.length} of ${expected.length} bytes arrived`)),
        5000,
      );
      host.on("data", (chunk: Buffer) => {
        received += chunk.toString("latin1");
        if (received.length >= expected.length) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const all = vectors.map((v) => v.request).join("");
    for (let i = 0; i < all.length; i += 7) host.write(all.slice(i, i + 7), "latin1");
    try {
      await done;
      expect(received).toBe(expected);
    } finally {
      detach();
      host.end(); // end, not destroy: destroying a Duplex.from pair mid-flight emits AbortError
      boardEnd.end();
    }
  });

  it.each(vectors)("$name: the request and its replies decode", (v) => {
    const d = decodeLine(v.request);
    if (isBadChecksum(v)) {
      expect(d.ok === false && d.code).toBe(101);
      expect(v.replies).toHaveLength(1);
      const m = decoded(v.replies[0]!);
      expect(m.kind === "event" && m.name).toBe("REJECT");
      expect(m.kind === "event" && m.args.get("code")).toBe("101");
      expect(announcedCode(v)).toBe(101);
      return;
    }
    if (d.ok === false && d.code === 102 && d.tag !== undefined) {
      // 1.1: a request whose checksum is right but whose content does not parse is answered with a
      // tagged ERR 102 (a REJECT would ask the host to resend it, forever).
      expect(v.replies).toHaveLength(1);
      const m = decoded(v.replies[0]!);
      expect(m.kind === "err" && [m.tag, m.code]).toEqual([d.tag, 102]);
      expect(announcedCode(v)).toBe(102);
      return;
    }
    const req = decoded(v.request);
    if (req.kind !== "request") throw new Error(`${v.name}: not a request`);
    const code = announcedCode(v);
    for (const line of v.replies) {
      const m = decoded(line);
      if (m.kind === "event") continue;
      if (m.kind !== "ok" && m.kind !== "err")
        throw new Error(`${v.name}: unexpected ${m.kind} from the board`);
      expect(m.tag).toBe(req.tag);
      if (code !== undefined) {
        expect(m.kind === "err" && m.code).toBe(code);
      } else {
        expect(m.kind, `${v.name}: ${line}`).toBe("ok");
        // An OK reply carries keys of the command table, in its order.
        if (m.kind === "ok" && isVerb(req.verb)) {
          const keys = [...m.args.keys()];
          expect(keys).toEqual(
            (COMMANDS[req.verb].reply as readonly string[]).filter((k) => keys.includes(k)),
          );
        }
      }
    }
  });
});
