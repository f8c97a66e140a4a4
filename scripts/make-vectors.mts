/**
 * Writes firmware-protocol/vectors.json, the conformance vectors of PROTOCOL.md §7: a fixed list of
 * request lines sent in order over one session to a fresh emulated board, with the exact bytes the
 * board sent back for each (replies and events, checksums and "\n" included).
 *
 *   npx tsx scripts/make-vectors.mts
 *
 * The JSON is laid out by the repository's formatter (biome, as `npx biome check` wants it), so a
 * regenerated file differs from the committed one only where the vectors changed.
 *
 * The output is deterministic (a seeded board with a virtual clock): running the script again
 * rewrites the same file unless the protocol or the emulator changed. test/vectors.test.ts replays
 * every vector against a fresh board and requires byte-identical replies.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  type ArgInput,
  encodeRequest,
  frame,
  PROTOCOL_MINOR,
  PROTOCOL_VERSION,
} from "../firmware-protocol/index.ts";
import { type BoardOptions, EmulatedBoard } from "../mocks/index.ts";

export const BOARD = { rows: 8, cols: 8, device: "linear", seed: 1 } as const satisfies BoardOptions;

export interface Vector {
  name: string;
  /** The request line as sent, terminator included. */
  request: string;
  /** Every line the board sent in answer, in order, terminators included. */
  replies: string[];
}

/** A request line whose checksum does not match its body (the last hex digit changed). */
function badChecksum(line: string): string {
  const last = line.at(-2)!;
  return `${line.slice(0, -2)}${last === "0" ? "1" : "0"}\n`;
}

/** The requests, in the order they are sent; tags count up from 1. */
function requests(): Array<[name: string, request: string]> {
  const list: Array<[string, string, ArgInput?]> = [
    ["HELLO starts the session", "HELLO"],
    ["IDN identity and capabilities", "IDN"],
    ["LIM the effective envelope", "LIM"],
    ["CFG reports the configuration", "CFG"],
    ["CFG sets the read voltage", "CFG", { vread: 0.3 }],
    ["READ one device", "READ", { r: 0, c: 0 }],
    ["PULSE a train of 5 and read back", "PULSE", { r: 0, c: 0, v: 2, w: 0.0001, n: 5, rd: 1 }],
    ["PULSE amplitude outside the envelope (301)", "PULSE", { r: 0, c: 0, v: 5.5, w: 0.0001 }],
    ["PULSE width outside the envelope (302)", "PULSE", { r: 0, c: 0, v: 2, w: 1 }],
    ["PULSE count outside the envelope (303)", "PULSE", { r: 0, c: 0, v: 2, w: 0.0001, n: 20000 }],
    ["READ address outside the array (305)", "READ", { r: 99, c: 0 }],
    ["unknown command (201)", "FOO"],
    ["missing argument (202)", "READ", { r: 0 }],
    ["unknown argument (204)", "READ", { r: 0, c: 0, x: 1 }],
    ["STAT counters", "STAT"],
    ["ERRQ pops the oldest error", "ERRQ"],
    ["bad checksum: REJECT event, not executed (101)", "READ", { r: 0, c: 1 }],
    ["READBLK a 2x2 block", "READBLK", { r0: 0, c0: 0, nr: 2, nc: 2 }],
    ["VMM on a 2x2 block", "VMM", { r0: 0, c0: 0, nr: 2, nc: 2, x: { type: "f32", data: [0.1, 0.2] } }],
    // Protocol 1.1 (PROTOCOL.md, Changelog).
    ["1.1: arguments that do not parse, checksum right: a tagged ERR, not REJECT (102)", "READ r=0 c=0 c=1"],
    ["1.1: a lowercase verb, checksum right: a tagged ERR, not REJECT (102)", "read r=0 c=0"],
    ["1.1: STAT clear=2 refused (203)", "STAT", { clear: 2 }],
    ["1.1: WAIT advances the clock", "WAIT", { t: 0.5 }],
    ["1.1: HELLO again restores the default configuration", "HELLO"],
    ["1.1: CFG after HELLO: vread back at 0.2", "CFG"],
  ];
  return list.map(([name, verb, args], i) => {
    // Lines the encoder refuses to write (malformed on purpose) are framed by hand.
    const line =
      / /.test(verb) || verb !== verb.toUpperCase()
        ? frame(`${i + 1} ${verb}`)
        : encodeRequest(i + 1, verb, args);
    return [name, name.startsWith("bad checksum") ? badChecksum(line) : line];
  });
}

/** Sends every request to one session of a fresh board and records what comes back. */
export async function makeVectors(): Promise<Vector[]> {
  const board = new EmulatedBoard(BOARD);
  let out: string[] = [];
  const session = board.openSession((line) => out.push(line));
  const vectors: Vector[] = [];
  for (const [name, request] of requests()) {
    out = [];
    session.handle(request.replace(/\n$/, ""));
    await new Promise((resolve) => setImmediate(resolve)); // events the board queues (BOOT) included
    vectors.push({ name, request, replies: out });
  }
  session.close();
  return vectors;
}

/** `text` as biome formats it for `file` (biome reads it on stdin); unchanged if biome cannot run. */
function formatJson(file: string, text: string): string {
  const biome = fileURLToPath(new URL("../node_modules/@biomejs/biome/bin/biome", import.meta.url));
  const r = spawnSync(process.execPath, [biome, "format", `--stdin-file-path=${file}`], {
    input: text,
    encoding: "utf8",
  });
  if (r.status === 0 && r.stdout) return r.stdout;
  console.warn(
    `biome could not format the vectors (run "npx biome format --write ${file}"): ${r.stderr || r.error}`,
  );
  return text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = fileURLToPath(new URL("../firmware-protocol/vectors.json", import.meta.url));
  const doc = {
    generatedBy: "npx tsx scripts/make-vectors.mts",
    description:
      "Conformance vectors (PROTOCOL.md section 7): each request is sent, in this order, over one session to a fresh " +
      "emulated board with the options below; replies are the exact lines the board sent back.",
    protocol: PROTOCOL_VERSION,
    minor: PROTOCOL_MINOR,
    board: BOARD,
    vectors: await makeVectors(),
  };
  writeFileSync(file, formatJson(file, `${JSON.stringify(doc, null, 2)}\n`));
  console.log(`wrote ${doc.vectors.length} vectors to ${file}`);
}
