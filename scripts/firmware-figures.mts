/**
 * The figures of docs/firmware.md, written to docs/firmware.json:
 *   npx tsx scripts/firmware-figures.mts
 *
 * - the MCU build's flash and RAM use (make -C firmware mcu), also at 32 x 32 and 128 x 128;
 * - the host build's time to build from clean (make -C firmware clean host), and the ASan build's;
 * - the line fuzzer against the ASan+UBSan build on a pty, differentially against the emulator
 *   (30 000 lines: three seeds of 10 000, each on a fresh process, a board speaking the 1.1 wire:
 *   --dac 8 --adc 10), with the firmware's resident size
 *   a quarter into the run (the replay window filled) and at the end;
 * - the agsi physics: 2 000 pulse trains read back, compared with the emulator;
 * - the exactly-once soak through a faulty link (600 commands, 3 % dropped and 3 % corrupted lines).
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { openSerial } from "../drivers/index.ts";
import { buildFirmware, FIRMWARE_DIR, startFirmware } from "../tools/firmware.ts";
import { fuzzFirmware } from "../tools/reliability/fuzz-firmware.ts";
import { pulseTrains } from "../tools/reliability/pulse-trains.ts";
import { soakFirmware } from "../tools/reliability/soak-firmware.ts";

const make = (target: string) =>
  execFileSync("make", ["-C", FIRMWARE_DIR, "--no-print-directory", target], { encoding: "utf8" });

function timed<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const r = fn();
  return [r, Math.round(performance.now() - t0)];
}

make("clean");
const [, hostBuildMs] = timed(() => make("host"));
const [, asanBuildMs] = timed(() => make("asan"));
/** make mcu at an array size and line limit: flash, RAM and the core's state, bytes. */
function mcuBuild(dim: number, line: number) {
  const out = execFileSync(
    "make",
    [
      "-C",
      FIRMWARE_DIR,
      "--no-print-directory",
      "mcu",
      `MCU_DIM=${dim}`,
      `MCU_LINE=${line}`,
      `MCU_OUT=build/mcu-${dim}`,
    ],
    { encoding: "utf8" },
  );
  const sizes = /flash (\d+) bytes \(budget (\d+)\), RAM (\d+) bytes \(budget (\d+)\)/.exec(out)!;
  const core = /struct xfw_core\): (\d+) bytes/.exec(out)!;
  console.log(out.trim().split("\n").slice(-2).join("\n"));
  return {
    target: `STM32G474RE (Cortex-M4F), ${dim} x ${dim}, maxline ${line}`,
    flash: Number(sizes[1]),
    flashBudget: Number(sizes[2]),
    ram: Number(sizes[3]),
    ramBudget: Number(sizes[4]),
    coreState: Number(core[1]),
  };
}
make("mcu");
const mcu = mcuBuild(64, 24576);
// Other sizes: the line limit that carries a READALL of 32 x 32; 128 x 128 keeps 24 KiB (READALL refused).
const mcuSizes = [mcuBuild(32, 6144), mcuBuild(128, 24576)];

// Fuzzing: three seeds of 10 000 lines, each on a fresh ASan+UBSan firmware process (the emulator it
// is compared with starts fresh too).
// The board speaks the 1.1 wire (IDN dac= adc=), so quantised replies and held vectors are compared too.
const fuzzBoard = { rows: 8, cols: 8, device: "linear", seed: 1, dac: 8, adc: 10 };
const fuzz = [];
for (const seed of [7, 11, 13]) {
  const asan = await startFirmware(await buildFirmware("asan"), fuzzBoard);
  const link = await openSerial(asan.hostPath);
  const rss: number[] = [];
  try {
    const f = await fuzzFirmware(link, {
      seed,
      lines: 10_000,
      board: fuzzBoard,
      onBatch: () => rss.push(asan.rssKb()),
    });
    const { examples: _, ...figures } = f;
    fuzz.push({
      seed,
      ...figures,
      ms: Math.round(f.ms),
      rssKbQuarter: rss[Math.floor(rss.length / 4)],
      rssKbLast: rss.at(-1),
      sanitizerReport: asan.stderr(),
      alive: asan.child.exitCode === null,
    });
    console.log(
      `fuzz seed ${seed}: ${f.lines} lines, ${f.differing} differing from the emulator, ${Math.round(f.ms)} ms`,
    );
  } finally {
    await link.close();
    await asan.stop();
  }
}

// agsi physics.
const agsiBoard = { rows: 8, cols: 8, device: "agsi", seed: 5 };
const fw = await startFirmware(await buildFirmware("host"), agsiBoard);
const agsiLink = await openSerial(fw.hostPath);
const agsi = await fuzzFirmware(agsiLink, {
  seed: 0,
  lines: 0,
  board: agsiBoard,
  source: pulseTrains(2000, 8, 8, 3.2, -2.8),
});
await agsiLink.close();
await fw.stop();
console.log(`agsi: ${agsi.ok - 1} pulse trains, ${agsi.differing} replies differing from the emulator`);

// Soak.
const soakFw = await startFirmware(await buildFirmware("host"), {
  rows: 16,
  cols: 16,
  device: "linear",
  seed: 1,
});
const soak = await soakFirmware(soakFw.hostPath, { seed: 1, commands: 600 });
await soakFw.stop();
console.log(
  `soak: planned ${soak.planned}, counted ${soak.firmwareCount}, lost ${soak.lost}, doubled ${soak.doubled}`,
);

const out = {
  generatedBy: "npx tsx scripts/firmware-figures.mts",
  date: new Date().toISOString(),
  build: { hostBuildMs, asanBuildMs },
  mcu,
  mcuSizes,
  fuzz: {
    lines: fuzz.reduce((a, f) => a + f.lines, 0),
    answered: fuzz.reduce((a, f) => a + f.answered, 0),
    differing: fuzz.reduce((a, f) => a + f.differing, 0),
    codes: [...new Set(fuzz.flatMap((f) => f.codes))].sort((a, b) => a - b),
    sanitizerReports: fuzz.filter((f) => f.sanitizerReport !== "").length,
    runs: fuzz,
  },
  agsi: { trains: agsi.ok - 1, differing: agsi.differing, ms: Math.round(agsi.ms) },
  soak: { ...soak, ms: Math.round(soak.ms) },
};
writeFileSync(new URL("../docs/firmware.json", import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
console.log("wrote docs/firmware.json");
