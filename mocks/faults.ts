/**
 * Faults of a link, as behaviours of the emulated board's byte stream (never edits of the driver):
 * a wrapper around the Duplex that `serveStream` serves the board on.
 *
 *   host ──bytes──▶ [split into lines ─▶ drop / corrupt / drop bytes ─▶ count: reset? disconnect? stall?]
 *                     ─▶ chunks (split) ─▶ board session
 *   host ◀─bytes── [chunks (split) ◀─ delay ◀─ drop / corrupt / drop bytes ◀─ split into lines] ◀─ board
 *
 * Every random choice comes from one seeded stream, so a run is repeatable. Spec grammar (the
 * `--fault` flag of `xbar emulate`, the `fault=` key of emu://):
 *
 *   drop:P           lose each line with probability P (both directions)
 *   dropbyte:P       lose each byte with probability P (both directions)
 *   corrupt:P        change one byte of each line with probability P (both directions)
 *   delay:Dms        hold every reply D ms (order kept); `delay:D` is ms too, `delay:Ds` seconds
 *   split            deliver lines in random chunks (1..16 bytes), each in its own write
 *   reset-after:N    the N-th request is executed, then the board reboots before its reply leaves
 *                    (the reply is lost, a BOOT event follows): a reset in the middle of a command
 *   disconnect-after:N  the link is closed after the N-th request reaches the board (not executed)
 *   stall-after:N    from the N-th request on the board hears and says nothing (a hung firmware)
 *   seed:S           seed of the fault choices (default 1)
 */
import { Duplex } from "node:stream";
import { Random } from "../firmware-protocol/random.ts";

export interface FaultSpec {
  drop?: number;
  dropByte?: number;
  corrupt?: number;
  delayMs?: number;
  split?: boolean;
  resetAfter?: number;
  disconnectAfter?: number;
  stallAfter?: number;
  seed?: number;
}

/** What a fault layer did so far (for test figures and the reliability page). */
export interface FaultStats {
  /** Lines seen, per direction. */
  toBoard: number;
  toHost: number;
  dropped: number;
  droppedBytes: number;
  corrupted: number;
  delayed: number;
  resets: number;
  disconnects: number;
  stalled: number;
}

const PROB_KEYS = { drop: "drop", dropbyte: "dropByte", corrupt: "corrupt" } as const;
const COUNT_KEYS = {
  "reset-after": "resetAfter",
  "disconnect-after": "disconnectAfter",
  "stall-after": "stallAfter",
} as const;

/** Parses a fault spec such as `drop:0.02,corrupt:0.02,delay:5ms,split,seed:3`; throws RangeError naming the item. */
export function parseFaults(text: string): FaultSpec {
  const spec: FaultSpec = {};
  for (const raw of text.split(",")) {
    const item = raw.trim();
    if (!item) continue;
    const [key = "", value, extra] = item.split(":");
    const bad = (what: string) => new RangeError(`fault "${item}": ${what}`);
    if (extra !== undefined) throw bad("expected NAME or NAME:VALUE");
    if (key === "split") {
      if (value !== undefined) throw bad("split takes no value");
      spec.split = true;
    } else if (key in PROB_KEYS) {
      const p = Number(value);
      if (value === undefined || value === "" || !(p >= 0 && p <= 1))
        throw bad("expected a probability in [0, 1]");
      spec[PROB_KEYS[key as keyof typeof PROB_KEYS]] = p;
    } else if (key === "delay") {
      const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value ?? "");
      if (!m) throw bad("expected a delay such as 5ms or 0.2s");
      const ms = Number(m[1]) * (m[2] === "s" ? 1000 : 1);
      if (ms > 60_000) throw bad("delay above 60 s");
      spec.delayMs = ms;
    } else if (key in COUNT_KEYS || key === "seed") {
      const n = Number(value);
      if (value === undefined || value === "" || !Number.isInteger(n) || n < (key === "seed" ? 0 : 1))
        throw bad(key === "seed" ? "expected an integer seed" : "expected a request count >= 1");
      if (key === "seed") spec.seed = n;
      else spec[COUNT_KEYS[key as keyof typeof COUNT_KEYS]] = n;
    } else {
      throw bad(
        "unknown fault (known: drop:P, dropbyte:P, corrupt:P, delay:Dms, split, reset-after:N, disconnect-after:N, stall-after:N, seed:S)",
      );
    }
  }
  return spec;
}

/** The spec written back in the grammar of parseFaults (for messages). */
export function faultsToken(f: FaultSpec): string {
  const out: string[] = [];
  if (f.drop) out.push(`drop:${f.drop}`);
  if (f.dropByte) out.push(`dropbyte:${f.dropByte}`);
  if (f.corrupt) out.push(`corrupt:${f.corrupt}`);
  if (f.delayMs) out.push(`delay:${f.delayMs}ms`);
  if (f.split) out.push("split");
  if (f.resetAfter) out.push(`reset-after:${f.resetAfter}`);
  if (f.disconnectAfter) out.push(`disconnect-after:${f.disconnectAfter}`);
  if (f.stallAfter) out.push(`stall-after:${f.stallAfter}`);
  if (f.seed !== undefined) out.push(`seed:${f.seed}`);
  return out.join(",") || "none";
}

/** What the fault layer needs of the board: a reboot (BOOT event, replay window and session lost). */
export interface Rebootable {
  reboot(): void;
}

/** Longest partial line a fault layer holds before passing bytes through untouched. */
const MAX_HELD = 16 * 1024 * 1024;

/**
 * Wraps `inner` (the board's end of a link) in a Duplex that misbehaves as `spec` says. Serve the
 * board on the returned stream: `serveStream(board, withFaults(stream, spec, board))`.
 */
export function withFaults(
  inner: Duplex,
  spec: FaultSpec,
  board?: Rebootable,
): Duplex & { faultStats: FaultStats } {
  const rng = new Random(spec.seed ?? 1);
  const stats: FaultStats = {
    toBoard: 0,
    toHost: 0,
    dropped: 0,
    droppedBytes: 0,
    corrupted: 0,
    delayed: 0,
    resets: 0,
    disconnects: 0,
    stalled: 0,
  };
  let inBuf = "";
  let outBuf = "";
  let requests = 0;
  let stalled = false;
  /** Tag of the request whose reply is swallowed by a reboot. */
  let resetTag: string | undefined;
  /** When the last delayed reply leaves (keeps the order of replies under a delay). */
  let lastDue = 0;

  /** Applies the line faults; returns the bytes to pass on, or null to lose the line. */
  const mangle = (line: string): string | null => {
    if (spec.drop && rng.uniform() < spec.drop) {
      stats.dropped++;
      return null;
    }
    let out = line;
    if (spec.corrupt && rng.uniform() < spec.corrupt) {
      stats.corrupted++;
      // Any byte of the line, terminator included; replaced by a different byte.
      const i = Math.floor(rng.uniform() * out.length);
      const old = out.charCodeAt(i);
      const b = (old + 1 + Math.floor(rng.uniform() * 255)) % 256;
      out = out.slice(0, i) + String.fromCharCode(b) + out.slice(i + 1);
    }
    if (spec.dropByte) {
      let kept = "";
      for (let i = 0; i < out.length; i++) {
        if (rng.uniform() < spec.dropByte) stats.droppedBytes++;
        else kept += out[i];
      }
      out = kept;
    }
    return out;
  };

  /** Emits `data` in random chunks when `split` is on. */
  const chunks = (data: string, emit: (chunk: string) => void) => {
    if (!spec.split) return emit(data);
    let i = 0;
    while (i < data.length) {
      const n = 1 + Math.floor(rng.uniform() * 16);
      const part = data.slice(i, i + n);
      i += n;
      setImmediate(() => emit(part));
    }
  };

  const outer = new Duplex({
    read() {},
    write(chunk: Buffer | string, _enc, cb) {
      outBuf += typeof chunk === "string" ? chunk : chunk.toString("latin1");
      let nl = outBuf.indexOf("\n");
      while (nl >= 0) {
        const line = outBuf.slice(0, nl + 1);
        outBuf = outBuf.slice(nl + 1);
        toHost(line);
        nl = outBuf.indexOf("\n");
      }
      if (outBuf.length > MAX_HELD) {
        toHost(outBuf);
        outBuf = "";
      }
      cb();
    },
    final(cb) {
      inner.end();
      cb();
    },
    destroy(err, cb) {
      inner.destroy();
      cb(err);
    },
  });

  const send = (bytes: string) => {
    if (!inner.destroyed && inner.writable) inner.write(bytes, "latin1");
  };

  function toHost(line: string): void {
    if (stalled) return;
    stats.toHost++;
    if (resetTag !== undefined && line.startsWith(`${resetTag} `)) {
      // The board reboots before this reply leaves: the reply is lost, BOOT follows.
      resetTag = undefined;
      stats.resets++;
      board?.reboot();
      return;
    }
    const out = mangle(line);
    if (out === null) return;
    if (spec.delayMs) {
      stats.delayed++;
      const due = Math.max(Date.now() + spec.delayMs, lastDue);
      lastDue = due;
      setTimeout(() => chunks(out, send), due - Date.now());
    } else {
      chunks(out, send);
    }
  }

  function toBoard(line: string): void {
    if (stalled) return;
    stats.toBoard++;
    const body = line.replace(/\r?\n$/, "");
    const isRequest = /^\d+ [A-Z]/.test(body);
    if (isRequest) {
      requests++;
      if (spec.stallAfter && requests >= spec.stallAfter) {
        stalled = true;
        stats.stalled++;
        return;
      }
      if (spec.disconnectAfter && requests >= spec.disconnectAfter) {
        stats.disconnects++;
        stalled = true;
        inner.destroy();
        outer.destroy();
        return;
      }
    }
    const out = mangle(line);
    if (out === null) return;
    if (isRequest && spec.resetAfter && requests === spec.resetAfter && board)
      resetTag = body.slice(0, body.indexOf(" "));
    chunks(out, (c) => outer.push(c, "latin1"));
  }

  inner.on("data", (chunk: Buffer) => {
    inBuf += chunk.toString("latin1");
    let nl = inBuf.indexOf("\n");
    while (nl >= 0) {
      const line = inBuf.slice(0, nl + 1);
      inBuf = inBuf.slice(nl + 1);
      toBoard(line);
      nl = inBuf.indexOf("\n");
    }
    if (inBuf.length > MAX_HELD) {
      toBoard(inBuf);
      inBuf = "";
    }
  });
  inner.once("end", () => outer.push(null));
  inner.once("close", () => outer.destroy());
  inner.once("error", (e) => outer.destroy(e));
  return Object.assign(outer, { faultStats: stats });
}
