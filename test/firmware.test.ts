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
 *   200 commands here (the script runs 600).
 *
 * Needs make, a C compiler and socat: skipped with a message where they are missing, except when
 * CI=true, where they are required (.ci/run installs them).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSerial, type Transport } from "../drivers/index.ts";
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
    const board = { rows: 8, cols: 8, device: "linear", seed: 1 };
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
