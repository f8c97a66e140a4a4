/**
 * The reference firmware in C (firmware/), beyond the conformance suite (which runs every one of its
 * tests against the host build: test/conformance.test.ts, link "firmware"):
 *
 * - the C codec, core and framer against firmware-protocol/vectors.json (make -C firmware test);
 * - the line fuzzer against the ASan+UBSan build on a pty, differentially against the emulator:
 *   one well-formed reply per line, the same bytes as the emulator, no sanitizer report, no growth;
 *   5 000 lines here (scripts/firmware-figures.mts runs 20 000 for docs/firmware.md);
 * - the physics: 300 pulse trains on the seeded, noisy agsi device read back the emulator's values;
 * - the exactly-once soak through a faulty link (3 % of lines dropped and 3 % corrupted, both ways):
 *   pulses planned = counted by the firmware = confirmed, every device as on a clean emulator run;
 *   200 commands here (the script runs 600);
 * - ABORT while a command runs (--timescale 1: a 10 s pulse train, a 30 s WAIT), and the compliance
 *   trip (--trip), each against the emulator given the same lines (PROTOCOL.md §3 Abort, §5 404).
 *
 * Needs make, a C compiler and socat: skipped with a message where they are missing, except when
 * CI=true, where they are required (.ci/run installs them).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSerial, type Transport } from "../drivers/index.ts";
import { type ArgInput, encodeErr, encodeEvent, encodeRequest } from "../firmware-protocol/index.ts";
import { type BoardOptions, DEFAULT_PROFILE, EmulatedBoard, pulseTime } from "../mocks/index.ts";
import {
  buildFirmware,
  FIRMWARE_DIR,
  type RunningFirmware,
  startFirmware,
  toolchainMissing,
} from "../tools/firmware.ts";
import { fuzzFirmware } from "../tools/reliability/fuzz-firmware.ts";
import { pulseTrains } from "../tools/reliability/pulse-trains.ts";
import { soakFirmware } from "../tools/reliability/soak-firmware.ts";

const missing = toolchainMissing();
const skip = missing !== undefined && process.env.CI !== "true";
if (skip) console.warn(`${missing}: skipping the firmware tests (CI=true requires them)`);

describe.skipIf(skip)("reference firmware (C)", () => {
  it("reproduces firmware-protocol/vectors.json with its C codec and core", async () => {
    const bin = await buildFirmware("test");
    const { stdout } = await promisify(execFile)(bin, [`${FIRMWARE_DIR}../firmware-protocol/vectors.json`]);
    expect(stdout).toMatch(/codec: \d+ lines checked/);
    expect(stdout).toMatch(/core: (\d+) of \1 vectors answered byte for byte/);
    expect(stdout).toMatch(/framer: 3 of 3 line-length cases as expected/);
  });

  describe("fuzzed lines into the ASan+UBSan build on a pty", () => {
    // A board that speaks the 1.1 wire: quantised replies (q=1) and held vectors (x=last) are compared too.
    const board = { rows: 8, cols: 8, device: "linear", seed: 1, dac: 8, adc: 10 };
    let fw: RunningFirmware;
    let link: Transport;

    beforeAll(async () => {
      fw = await startFirmware(await buildFirmware("asan"), board);
      link = await openSerial(fw.hostPath);
    });

    afterAll(async () => {
      await link?.close();
      await fw?.stop();
    });

    it("5 000 lines: one well-formed reply each, byte for byte the emulator's, no sanitizer report, no growth", async () => {
      const rss: number[] = [];
      const f = await fuzzFirmware(link, {
        seed: 7,
        lines: 5000,
        board,
        onBatch: () => rss.push(fw.rssKb()),
      });
      expect(f.lines).toBe(5000);
      expect(f.examples).toEqual([]);
      expect(f.differing).toBe(0);
      // Every layer was reached: framing (101-104), the command table (201-204), the envelope (3xx).
      expect(f.codes).toEqual(expect.arrayContaining([101, 102, 104, 201, 202, 203, 204]));
      expect(f.codes.some((c) => c >= 300 && c < 400)).toBe(true);
      expect(f.ok).toBeGreaterThan(500);
      expect(fw.child.exitCode).toBeNull();
      expect(fw.stderr()).toBe("");
      // No allocation in the firmware: once the replay window has been filled (a quarter of the run),
      // the resident size grows at most by the pages of its static reply slots that longer replies
      // reach first (a few per slot, 64 slots): under 512 kB, never in proportion to the lines.
      expect(rss.at(-1)! - rss[Math.floor(rss.length / 4)]!).toBeLessThan(512);
    });
  });

  it("agsi (seeded cycle-to-cycle noise): 300 pulse trains read back byte for byte the emulator's values", async () => {
    const board = { rows: 8, cols: 8, device: "agsi", seed: 5 };
    const fw = await startFirmware(await buildFirmware("host"), board);
    const link = await openSerial(fw.hostPath);
    try {
      const f = await fuzzFirmware(link, {
        seed: 0,
        lines: 0,
        board,
        source: pulseTrains(300, 8, 8, 3.2, -2.8),
      });
      expect(f.ok).toBe(301);
      expect(f.examples).toEqual([]);
      expect(f.differing).toBe(0);
    } finally {
      await link.close();
      await fw.stop();
    }
  });

  it("exactly once through a faulty link: pulses planned = counted = confirmed, devices as the emulator's", async () => {
    const fw = await startFirmware(await buildFirmware("host"), {
      rows: 16,
      cols: 16,
      device: "linear",
      seed: 1,
    });
    try {
      const r = await soakFirmware(fw.hostPath, { seed: 1, commands: 200 });
      expect(r.faults.dropped + r.faults.corrupted).toBeGreaterThan(10);
      expect(r.client.retransmissions).toBeGreaterThan(0);
      expect(r.firmwareCount).toBe(r.planned);
      expect(r.confirmed).toBe(r.planned);
      expect({ lost: r.lost, doubled: r.doubled, devicesDiffering: r.devicesDiffering }).toEqual({
        lost: 0,
        doubled: 0,
        devicesDiffering: 0,
      });
    } finally {
      await fw.stop();
    }
  });
});

/** Lines a board sent, each with the wall time it arrived (performance.now()). */
interface Peer {
  send(tag: number, verb: string, args?: ArgInput): void;
  /** The next line after the ones already taken, waiting at most `timeoutMs`. */
  next(timeoutMs: number): Promise<{ at: number; line: string }>;
  close(): Promise<void>;
}

/** The lines of a peer, BOOT events left out. */
function collect(): {
  got: Array<{ at: number; line: string }>;
  push(line: string): void;
  take: Peer["next"];
} {
  const got: Array<{ at: number; line: string }> = [];
  let taken = 0;
  return {
    got,
    // The BOOT a board announces when it starts may or may not reach a host that opens the link later.
    push: (line) => {
      if (!line.startsWith("! BOOT ")) got.push({ at: performance.now(), line: line.replace(/\n$/, "") });
    },
    take: async (timeoutMs) => {
      const t0 = performance.now();
      while (got.length <= taken) {
        if (performance.now() - t0 > timeoutMs) throw new Error(`no line within ${timeoutMs} ms`);
        await sleep(2);
      }
      return got[taken++]!;
    },
  };
}

/** The host build on a pty (its start-up BOOT is not among the lines). */
async function firmwarePeer(opts: BoardOptions & { timescale?: number; trip?: boolean }): Promise<Peer> {
  const fw = await startFirmware(await buildFirmware("host"), {
    rows: opts.rows!,
    cols: opts.cols!,
    device: opts.device!,
    seed: opts.seed!,
    timescale: opts.timescale,
    trip: opts.trip,
  });
  const link = await openSerial(fw.hostPath);
  const c = collect();
  link.lines.subscribe((line) => c.push(line));
  const peer: Peer = {
    send: (tag, verb, args) => link.write(encodeRequest(tag, verb, args)),
    next: c.take,
    close: async () => {
      await link.close();
      await fw.stop();
    },
  };
  return peer;
}

/** An in-process emulated board given the same lines. */
function emulatorPeer(opts: BoardOptions): Peer {
  const c = collect();
  const s = new EmulatedBoard(opts).openSession((line) => c.push(line));
  return {
    send: (tag, verb, args) => s.handle(encodeRequest(tag, verb, args).slice(0, -1)),
    next: c.take,
    close: async () => s.close(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Scheduling slack of a loaded 2-core machine, with a pty and socat on the way, ms. */
const SLACK_MS = 500;
const arg = (line: string, key: string) => Number(new RegExp(` ${key}=([^ *]+)`).exec(line)?.[1]);

describe.skipIf(skip)("reference firmware (C): ABORT while a command runs, compliance trips", () => {
  const board = { rows: 4, cols: 4, device: "linear", seed: 1 } as const;
  const W = 0.01;
  const N = 1000;
  /** The train's modelled duration at timescale 1 (the emulator's profile, which the host build reports). */
  const trainMs = pulseTime(DEFAULT_PROFILE, W, N) * 1000;

  /**
   * HELLO, a 10 s train, a NOP behind it, ABORT after `afterMs`, then STAT and READ. Returns the
   * lines in order and the times the train was sent and ABORT was sent.
   */
  async function abortTrain(peer: Peer, afterMs: number) {
    peer.send(1, "HELLO");
    const hello = await peer.next(5000);
    const t0 = performance.now();
    peer.send(2, "PULSE", { r: 1, c: 2, v: 2, w: W, n: N });
    peer.send(3, "NOP");
    await sleep(afterMs);
    const tAbort = performance.now();
    peer.send(4, "ABORT");
    const limit = trainMs / 2; // stopped long before the train's end
    const pulse = await peer.next(limit);
    const nop = await peer.next(SLACK_MS);
    const abort = await peer.next(SLACK_MS);
    peer.send(5, "STAT");
    const stat = await peer.next(SLACK_MS);
    peer.send(6, "READ", { r: 1, c: 2 });
    const read = await peer.next(SLACK_MS);
    return { hello, t0, tAbort, pulse, nop, abort, stat, read };
  }

  it("--timescale 1: ABORT stops a 10 s pulse train part-way with 401 pulses=N, as the emulator; queued lines run after it", async () => {
    const fw = await firmwarePeer({ ...board, timescale: 1 });
    let f: Awaited<ReturnType<typeof abortTrain>>;
    try {
      f = await abortTrain(fw, 300);
    } finally {
      await fw.close();
    }
    const emu = emulatorPeer({ ...board, timescale: 1 });
    const e = await abortTrain(emu, 300);
    await emu.close();

    const applied = Number(/^2 ERR 401 pulses=(\d+) /.exec(f.pulse.line)?.[1]);
    const emuApplied = Number(/^2 ERR 401 pulses=(\d+) /.exec(e.pulse.line)?.[1]);
    // Part-way: at least one pulse, fewer than the train; about as many as the time until ABORT holds.
    const per = pulseTime(DEFAULT_PROFILE, W, 1) * 1000;
    expect(applied).toBeGreaterThan(0);
    expect(applied).toBeLessThan(N);
    expect(applied).toBeGreaterThanOrEqual(Math.max(1, Math.floor((f.tAbort - f.t0 - SLACK_MS) / per)));
    expect(applied).toBeLessThanOrEqual(Math.ceil((f.tAbort - f.t0 + SLACK_MS) / per));
    expect(f.pulse.at - f.tAbort).toBeLessThan(SLACK_MS);
    // The emulator's reply for the same lines, with its own count replaced by the firmware's: the same
    // bytes (checksum included). Then NOP (queued behind the train) and ABORT, in the order sent.
    expect(emuApplied).toBeGreaterThan(0);
    const emuMessage = e.pulse.line.slice("2 ERR 401 ".length, e.pulse.line.lastIndexOf("*"));
    expect(emuMessage).toBe(
      `pulses=${emuApplied} aborted after ${emuApplied} of ${N} pulses; the array is idle`,
    );
    const expected = emuMessage.replace(`pulses=${emuApplied} `, `pulses=${applied} `);
    expect(f.pulse.line).toBe(
      encodeErr(2, 401, expected.replace(` ${emuApplied} of`, ` ${applied} of`)).slice(0, -1),
    );
    expect(f.nop.line).toBe(e.nop.line);
    expect(f.abort.line).toBe(e.abort.line);
    expect(f.abort.line).toMatch(/^4 OK idle=1\*/);
    // The counters agree with N: pulses, the board clock (N widths), one error (the 401).
    expect(arg(f.stat.line, "pulses")).toBe(applied);
    expect(arg(f.stat.line, "t")).toBeCloseTo(applied * W, 9);
    expect(arg(f.stat.line, "errors")).toBe(arg(e.stat.line, "errors"));
    expect(arg(f.stat.line, "cmds")).toBe(arg(e.stat.line, "cmds"));

    // The device and the energy are those of exactly N pulses on the emulator, applied as one train:
    // both apply the part of a train that elapsed before the ABORT in one piece (mocks/job.ts).
    const ref = emulatorPeer(board);
    const one = (x: number) => ({ type: "u16" as const, data: new Uint16Array([x]) });
    ref.send(1, "PLIST", { r: one(1), c: one(2), v: 2, w: W, n: one(applied) });
    expect((await ref.next(SLACK_MS)).line).toMatch(new RegExp(`^1 OK k=1 pulses=${applied}\\*`));
    ref.send(2, "STAT");
    const refStat = (await ref.next(SLACK_MS)).line;
    ref.send(3, "READ", { r: 1, c: 2 });
    const refRead = (await ref.next(SLACK_MS)).line;
    await ref.close();
    expect(arg(f.read.line, "g")).toBe(arg(refRead, "g"));
    const energy = arg(refStat, "energy");
    expect(energy).toBeGreaterThan(0);
    expect(Math.abs(arg(f.stat.line, "energy") - energy)).toBeLessThanOrEqual(1e-12 * energy);
  });

  it("--timescale 1: ABORT stops a PLIST of 100 trains between two pulses; the trains after it are not applied", async () => {
    const fw = await firmwarePeer({ ...board, timescale: 1 });
    try {
      const k = 100;
      const rows = new Uint16Array(k).map((_, i) => i % 4);
      const cols = new Uint16Array(k).map((_, i) => Math.floor(i / 4) % 4);
      // 100 trains of 10 pulses of 1 ms: about 1 s of board time.
      const listMs = k * pulseTime(DEFAULT_PROFILE, 1e-3, 10) * 1000;
      fw.send(1, "PLIST", {
        r: { type: "u16", data: rows },
        c: { type: "u16", data: cols },
        v: 2,
        w: 1e-3,
        n: 10,
      });
      await sleep(200);
      fw.send(2, "ABORT");
      const list = await fw.next(listMs / 2);
      const applied = Number(
        /^1 ERR 401 pulses=(\d+) aborted after \1 of 1000 pulses; the array is idle\*/.exec(list.line)?.[1],
      );
      expect(applied).toBeGreaterThan(0);
      expect(applied).toBeLessThan(1000);
      expect((await fw.next(SLACK_MS)).line).toMatch(/^2 OK idle=1\*/);
      fw.send(3, "STAT");
      expect(arg((await fw.next(SLACK_MS)).line, "pulses")).toBe(applied);
    } finally {
      await fw.close();
    }
  });

  it("--timescale 1: ABORT ends a 30 s WAIT early with 401 t=T, the board clock at T", async () => {
    const fw = await firmwarePeer({ ...board, timescale: 1 });
    try {
      fw.send(1, "HELLO");
      await fw.next(5000);
      const t0 = performance.now();
      fw.send(2, "WAIT", { t: 30 });
      await sleep(100);
      const tAbort = performance.now();
      fw.send(3, "ABORT");
      const wait = await fw.next(15_000); // half the wait
      const abort = await fw.next(SLACK_MS);
      fw.send(4, "CLK");
      const clk = await fw.next(SLACK_MS);
      const m = /^2 ERR 401 t=(\S+) wait aborted; the array is idle\*/.exec(wait.line);
      expect(m, wait.line).not.toBeNull();
      const t = Number(m![1]);
      // The clock advanced by the time waited until ABORT arrived (modelled at timescale 1), no more.
      expect(t).toBeGreaterThan(Math.max(0.001, (tAbort - t0 - SLACK_MS) / 1000));
      expect(t).toBeLessThan((tAbort - t0 + SLACK_MS) / 1000);
      expect(wait.at - tAbort).toBeLessThan(SLACK_MS);
      expect(abort.line).toMatch(/^3 OK idle=1\*/);
      expect(arg(clk.line, "t")).toBe(t);
    } finally {
      await fw.close();
    }
  });

  it("--trip: a PLIST whose third train would exceed CFG cc stops with ! FAULT and ERR 404 pulses=60, byte for byte the emulator's (trip=1)", async () => {
    const lines = async (peer: Peer) => {
      const out: string[] = [];
      const send = async (tag: number, verb: string, args: ArgInput | undefined, replies: number) => {
        peer.send(tag, verb, args);
        for (let i = 0; i < replies; i++) out.push((await peer.next(5000)).line);
      };
      await send(1, "HELLO", undefined, 1);
      // linear: 1 uS + ~0.1 uS per 2 V pulse; at cc = 10 uA a 2 V pulse trips above 5 uS, i.e. at
      // the start of the third train of 30 (1 -> 4 -> 7 uS).
      await send(2, "CFG", { cc: 1e-5 }, 1);
      const idx = { type: "u16" as const, data: new Uint16Array([3, 3, 3]) };
      await send(3, "PLIST", { r: idx, c: idx, v: 2, w: 1e-4, n: 30 }, 2); // FAULT, then the reply
      await send(4, "STAT", undefined, 1);
      await send(5, "ERRQ", undefined, 1);
      await send(6, "READ", { r: 3, c: 3 }, 1);
      return out;
    };
    const fw = await firmwarePeer({ ...board, trip: true });
    let got: string[];
    try {
      got = await lines(fw);
    } finally {
      await fw.close();
    }
    const emu = emulatorPeer({ ...board, complianceTrip: true });
    const want = await lines(emu);
    await emu.close();
    expect(got[2]).toMatch(/^! FAULT code=404 msg=pulses%3D60%20compliance%20tripped%20at%20device%2015%20/);
    expect(got[3]).toMatch(
      /^3 ERR 404 pulses=60 compliance tripped at device 15 after 60 of 90 pulses; the array is idle\*/,
    );
    expect(arg(got[4]!, "pulses")).toBe(60);
    // STAT tx (bytes sent) also counts the firmware's start-up BOOT, which the in-process session never sends.
    const boot = encodeEvent("BOOT", { fw: "0.1.0", proto: 1, minor: 1 }).length;
    expect(arg(got[4]!, "tx")).toBe(arg(want[4]!, "tx") + boot);
    const noTx = (l: string) => l.replace(/ tx=\d+\*.*$/, "");
    expect(got.map(noTx)).toEqual(want.map(noTx));
    expect(got.filter((_, i) => i !== 4)).toEqual(want.filter((_, i) => i !== 4));
  });

  it("without --trip the same PLIST applies all 90 pulses (the trip is an option, as the emulator's)", async () => {
    const fw = await firmwarePeer(board);
    try {
      fw.send(1, "CFG", { cc: 1e-5 });
      await fw.next(5000);
      const idx = { type: "u16" as const, data: new Uint16Array([3, 3, 3]) };
      fw.send(2, "PLIST", { r: idx, c: idx, v: 2, w: 1e-4, n: 30 });
      expect((await fw.next(5000)).line).toMatch(/^2 OK k=3 pulses=90\*/);
    } finally {
      await fw.close();
    }
  });
});
