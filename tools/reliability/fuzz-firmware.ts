/**
 * The line fuzzer of tools/reliability/fuzz.ts pointed at the C firmware on a pty, differentially: every
 * generated line goes, as bytes, both to the firmware (a sanitizer build, say) and to an in-process
 * emulated board of the same configuration, and the two replies are compared byte for byte.
 *
 *   fc.sample(lineArbitrary()) ─▶ latin1 bytes ─┬─▶ pty ─▶ xbar-fw (ASan+UBSan) ─▶ replies ─┐
 *                                              └─▶ EmulatedBoard session ───────▶ replies ─┴─ compare
 *
 * Properties per line: exactly one well-formed reply (a reply echoing the tag, or a REJECT; BOOT after
 * RESET aside), never 500, and the same bytes as the emulator (the IDN identity, model= and serial=,
 * is masked, and STAT's tx=, which counts the longer identity). Lines go in batches (several in flight) to keep the pty busy. With `source`, chosen
 * lines go instead of generated ones (e.g. pulse trains on a noisy device, to compare the physics).
 */
import fc from "fast-check";
import type { Transport } from "../../drivers/index.ts";
import { decodeLine, ErrorCode, OVERLONG } from "../../firmware-protocol/index.ts";
import { EmulatedBoard } from "../../mocks/index.ts";
import { lineArbitrary } from "./fuzz.ts";

export interface FirmwareFuzzFigures {
  lines: number;
  /** Lines (after splitting the bytes at LF) that called for a reply. */
  answered: number;
  ok: number;
  err: number;
  rejected: number;
  codes: number[];
  /** Replies that differ from the emulator's, and the first few of them. */
  differing: number;
  examples: Array<{ line: string; firmware: string; emulator: string }>;
  ms: number;
}

export interface FuzzFirmwareOptions {
  seed: number;
  /** Generated lines to send (ignored with `source`). */
  lines: number;
  /** Lines written before waiting for their replies; default 32. */
  batch?: number;
  /** The board both sides run (must match the firmware's command line). */
  board: { rows: number; cols: number; device: string; seed: number; dac?: number; adc?: number };
  /** Lines to send instead of generated ones (a differential run of chosen requests). */
  source?: string[];
  /** Called after every batch (e.g. to sample the firmware's memory). */
  onBatch?: (done: number) => void;
}

/** IDN's identity differs by design, and with it STAT tx (the bytes sent include IDN replies). */
const maskIdentity = (l: string) =>
  / OK vendor=/.test(l)
    ? l.replace(/ (model|serial)=\S+/g, " $1=*").replace(/\*[0-9a-f]{8}$/, "*")
    : / OK pulses=/.test(l)
      ? l.replace(/ tx=[^ *]+/, " tx=*").replace(/\*[0-9a-f]{8}$/, "*")
      : l;

/** Collects lines from a transport; `take(n)` waits for the next n that are not BOOT events. */
function collector(transport: Transport) {
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let ended: unknown;
  const sub = transport.lines.subscribe({
    next: (l) => {
      if (!l.startsWith("! BOOT ")) queue.push(l);
      wake?.();
    },
    error: (e) => {
      ended = e;
      wake?.();
    },
  });
  async function take(n: number, timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (queue.length < n) {
      if (ended) throw ended;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`the firmware answered ${queue.length} of ${n} lines in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
    }
    return queue.splice(0, n);
  }
  return { take, close: () => sub.unsubscribe() };
}

export async function fuzzFirmware(
  transport: Transport,
  opts: FuzzFirmwareOptions,
): Promise<FirmwareFuzzFigures> {
  const batch = opts.batch ?? 32;
  const emulator = new EmulatedBoard(opts.board);
  let emulated: string[] = [];
  const session = emulator.openSession((l) => {
    if (!l.startsWith("! BOOT ")) emulated.push(l.replace(/\n$/, ""));
  });
  const replies = collector(transport);
  const fig: FirmwareFuzzFigures = {
    lines: 0,
    answered: 0,
    ok: 0,
    err: 0,
    rejected: 0,
    codes: [],
    differing: 0,
    examples: [],
    ms: 0,
  };
  const codes = new Set<number>();
  const all = opts.source ?? fc.sample(lineArbitrary(), { seed: opts.seed, numRuns: opts.lines });
  const t0 = performance.now();
  try {
    for (let at = 0; at < all.length; at += batch) {
      const chunk = all.slice(at, at + batch);
      // What goes on the wire: the lines as bytes (characters above 0xFF keep their low byte), so a
      // byte 0x0A inside a generated line ends a line there, on both sides alike.
      const bytes = Buffer.from(`${chunk.join("\n")}\n`, "latin1").toString("latin1");
      const lines = bytes.split("\n").slice(0, -1);
      emulated = [];
      // As the emulator's framer (firmware-protocol/framing.ts LineGuard) passes lines on: a received
      // lone CAN is doubled, so that it is not taken for the over-long marker (1.1).
      for (const l of lines) {
        if (l === OVERLONG) session.handle(OVERLONG + OVERLONG, 2);
        else session.handle(l);
      }
      transport.write(bytes);
      // Every line but a blank one gets exactly one reply; the emulator's session may finish a batch
      // on later turns of the event loop (it never holds the loop for long).
      const expected = lines.filter((l) => l !== "" && l !== "\r").length;
      for (let turns = 0; emulated.length < expected; turns++) {
        if (turns > 10_000) throw new Error(`the emulator answered ${emulated.length} of ${expected} lines`);
        await new Promise((r) => setImmediate(r));
      }
      const got = await replies.take(expected, 10_000);
      fig.lines += chunk.length;
      fig.answered += got.length;
      for (let i = 0; i < got.length; i++) {
        const line = got[i]!;
        const d = decodeLine(line);
        if (!d.ok) throw new Error(`the firmware sent a line that does not decode: ${JSON.stringify(line)}`);
        const m = d.message;
        if (m.kind === "event") {
          if (m.name !== "REJECT") throw new Error(`unexpected event ${line}`);
          fig.rejected++;
          codes.add(Number(m.args.get("code")));
        } else if (m.kind === "ok") fig.ok++;
        else if (m.kind === "err") {
          fig.err++;
          codes.add(m.code);
          if (m.code === ErrorCode.INTERNAL) throw new Error(`500 INTERNAL: ${line}`);
        } else throw new Error(`the firmware sent a request: ${line}`);
        if (maskIdentity(line) !== maskIdentity(emulated[i]!)) {
          fig.differing++;
          if (fig.examples.length < 5) {
            const sent = lines.filter((l) => l !== "" && l !== "\r")[i] ?? "";
            fig.examples.push({ line: sent, firmware: line, emulator: emulated[i]! });
          }
        }
      }
      opts.onBatch?.(fig.lines);
    }
  } finally {
    replies.close();
    session.close();
  }
  fig.ms = performance.now() - t0;
  fig.codes = [...codes].sort((a, b) => a - b);
  return fig;
}
