/**
 * The exactly-once soak (tools/reliability/soak.ts) against the C firmware: the seeded plan of programming
 * commands goes through a link that drops and corrupts lines both ways (mocks/faults.ts) to the
 * firmware on a pty; the same plan goes over a clean link to an emulated board of the same seed.
 * Then the firmware's own pulse counter (STAT) and every device (READALL) are compared with the plan
 * and with the emulator.
 *
 *   plan ─ CrossbarClient ─ duplex pair ─ withFaults ─ pty ─ xbar-fw (16 x 16, linear) ─┐
 *   plan ─ CrossbarClient ─ clean duplex pair ─ EmulatedBoard (16 x 16, linear) ──────────┴─ compare
 */
import { Duplex, PassThrough } from "node:stream";
import { SerialPort } from "serialport";
import { type ClientStats, CrossbarClient, StreamTransport } from "../../drivers/index.ts";
import { argInt, unpack } from "../../firmware-protocol/index.ts";
import { type FaultSpec, type FaultStats, withFaults } from "../../mocks/index.ts";
import { run, soakPlan } from "./soak.ts";

export interface FirmwareSoakResult {
  commands: number;
  planned: number;
  /** Pulses the firmware's STAT counted and the pulses its replies confirmed. */
  firmwareCount: number;
  confirmed: number;
  /** Pulses the firmware got too few / too many against the clean emulator run, from the states. */
  lost: number;
  doubled: number;
  devicesDiffering: number;
  faults: FaultStats;
  client: ClientStats;
  ms: number;
}

const STEP = (1e-4 - 1e-6) / 1000;

function duplexPair(): [Duplex, Duplex] {
  const a = new PassThrough();
  const b = new PassThrough();
  return [Duplex.from({ readable: a, writable: b }), Duplex.from({ readable: b, writable: a })];
}

/** Runs the soak against firmware serving 16 x 16 linear, seed `seed`, at `hostPath`. */
export async function soakFirmware(
  hostPath: string,
  opts: { seed?: number; commands?: number; faults?: FaultSpec; window?: number } = {},
): Promise<FirmwareSoakResult> {
  const { seed = 1, commands = 600, window = 16 } = opts;
  const faults = opts.faults ?? { drop: 0.03, corrupt: 0.03, seed: seed + 1000 };
  const plan = soakPlan(seed, commands);
  const t0 = performance.now();
  const port = new SerialPort({ path: hostPath, baudRate: 115200, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  const [hostEnd, boardEnd] = duplexPair();
  const faulty = withFaults(boardEnd, faults);
  // Destroying a Duplex.from pair at close reports an AbortError: expected, not a failure.
  for (const s of [hostEnd, boardEnd, faulty]) s.on("error", () => {});
  faulty.on("data", (c: Buffer) => port.write(c));
  port.on("data", (c: Buffer) => faulty.write(c));
  const client = new CrossbarClient(new StreamTransport(hostEnd, "soak-firmware"), {
    window,
    baseTimeoutMs: 100,
    retries: 100,
  });
  let firmwareCount: number;
  let confirmed = 0;
  let g: Float32Array;
  try {
    await client.request("HELLO");
    const replies = await Promise.all(plan.map((c) => client.request(c.verb, c.args)));
    for (const [i, a] of replies.entries())
      confirmed += argInt(a, plan[i]!.verb === "PULSE" ? "n" : "pulses");
    firmwareCount = argInt(await client.request("STAT"), "pulses");
    g = unpack((await client.request("READALL")).get("data")!).data as Float32Array;
  } finally {
    await client.close();
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }
  const clean = await run(plan, seed, undefined, window);
  let lost = 0;
  let doubled = 0;
  let devicesDiffering = 0;
  for (let i = 0; i < clean.g.length; i++) {
    const diff = (g[i]! - Math.fround(clean.g[i]!)) / STEP;
    if (g[i] !== Math.fround(clean.g[i]!)) devicesDiffering++;
    const steps = Math.round(diff);
    if (steps < 0) lost -= steps;
    else doubled += steps;
  }
  return {
    commands,
    planned: plan.reduce((a, c) => a + c.pulses, 0),
    firmwareCount,
    confirmed,
    lost,
    doubled,
    devicesDiffering,
    faults: faulty.faultStats,
    client: client.stats,
    ms: performance.now() - t0,
  };
}
