/** `xbar emulate`: serve an emulated board until interrupted. */
import { type Command, Option } from "commander";
import { errorMessage, XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
import { emulatorFaults, emulatorPresets, startArc1Server, startEmulatorServer } from "../board/connect.ts";
import { readTokenFile, TOKEN_PATTERN } from "../board/token.ts";
import { out, rate } from "./common.ts";
import { intArg, numArg } from "./options.ts";

export interface EmulateOptions {
  listen?: string;
  serial?: string;
  rows: number;
  cols: number;
  device: string;
  seed: number;
  noise?: number;
  lut?: string;
  /** Protocol 1.1 wire: bits of the converters the board reports in IDN. */
  dac?: number;
  adc?: number;
  sneak?: boolean;
  disturb?: boolean;
  stuckLow?: number;
  stuckHigh?: number;
  readNoise?: number;
  adcBits?: number;
  adcRange?: number;
  wire?: number;
  /** Link faults, the grammar of mocks/faults.ts (drop:0.02,corrupt:0.02,delay:5ms,split,...). */
  fault?: string;
  /** Needed to listen on an address other than loopback (with --token). */
  allowRemote?: boolean;
  /** Token every session must present in HELLO (clients: socket://HOST:PORT?token=...); shows in `ps`. */
  token?: string;
  /** Wall seconds per board second (0: as fast as possible; 1: the board's own time). */
  timescale?: number;
  /** Bandwidth of the link as a UART at this baud rate, 8N1. */
  baud?: number;
  /** State file: the array's conductances kept across restarts. */
  state?: string;
  /** Pulses above the compliance trip (ERR 404, FAULT event). */
  complianceTrip?: boolean;
  /** Answer as a protocol 1.0 board did. */
  protocol?: "1.0" | "1.1";
  /** A file whose first line is the token (else $XBAR_TOKEN, then $XBAR_TOKEN_FILE). */
  tokenFile?: string;
  /** Connections served at once (more are refused with REJECT 405); default 8. */
  maxConnections?: number;
  /** Seconds without a request after which the owner's connection is closed (0: never); default 3600. */
  idleTimeout?: number;
}

/** The emulator's token: --token, --token-file, $XBAR_TOKEN or $XBAR_TOKEN_FILE, or none. */
export function emulatorToken(o: EmulateOptions, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (o.token !== undefined && o.tokenFile !== undefined)
    throw new XbarError(ErrorCode.BAD_INPUT, "give --token or --token-file, not both");
  if (o.tokenFile !== undefined) return readTokenFile(o.tokenFile);
  if (o.token !== undefined) return o.token;
  if (env.XBAR_TOKEN) return env.XBAR_TOKEN;
  if (env.XBAR_TOKEN_FILE) return readTokenFile(env.XBAR_TOKEN_FILE);
  return undefined;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d+)$/.exec(text.trim());
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `--listen must be [HOST:]PORT with a port in 0..65535, got "${text}"`,
    );
  }
  return { host: (m[1] ?? "127.0.0.1").replace(/^\[|\]$/g, ""), port };
}

/** Serves until SIGINT or SIGTERM, or until `until` settles (tests run the documented examples so). */
export async function runEmulate(
  o: EmulateOptions,
  out: (s: string) => void,
  until?: Promise<unknown>,
): Promise<void> {
  if (Boolean(o.listen) === Boolean(o.serial))
    throw new XbarError(ErrorCode.BAD_INPUT, "give exactly one of --listen [HOST:]PORT and --serial PATH");
  const listen = o.listen ? parseListen(o.listen) : undefined;
  const token = emulatorToken(o);
  if (listen && !LOOPBACK.has(listen.host)) {
    if (!o.allowRemote)
      throw new XbarError(
        ErrorCode.BAD_INPUT,
        `--listen ${listen.host} is reachable from other machines: add --allow-remote and --token SECRET (or listen on 127.0.0.1)`,
      );
    if (!token)
      throw new XbarError(
        ErrorCode.BAD_INPUT,
        `--allow-remote needs a token (--token-file FILE, $XBAR_TOKEN or --token SECRET): clients then present it with $XBAR_TOKEN or socket://HOST:PORT?token-file=FILE`,
      );
  }
  if (token !== undefined && !TOKEN_PATTERN.test(token))
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      "the token (--token, --token-file, $XBAR_TOKEN) must be 8..256 printable characters without spaces",
    );
  let faults: ReturnType<typeof emulatorFaults>;
  if (o.fault !== undefined) {
    try {
      faults = emulatorFaults(new URLSearchParams({ fault: o.fault }));
    } catch (e) {
      throw new XbarError(ErrorCode.BAD_INPUT, `--fault: ${errorMessage(e).replace(/^.*fault=\S*: /, "")}`);
    }
  }
  const server = await startEmulatorServer({
    listen,
    serial: o.serial,
    rows: o.rows,
    cols: o.cols,
    device: o.device,
    seed: o.seed,
    noise: o.noise,
    lut: o.lut,
    dac: o.dac,
    adc: o.adc,
    token,
    faults,
    timescale: o.timescale,
    baud: o.baud,
    state: o.state,
    complianceTrip: o.complianceTrip,
    protocol: o.protocol,
    maxConnections: o.maxConnections,
    idleTimeoutMs: o.idleTimeout === undefined ? undefined : o.idleTimeout * 1000,
    effects: {
      sneak: o.sneak ?? false,
      disturb: o.disturb ?? false,
      stuckLow: o.stuckLow ?? 0,
      stuckHigh: o.stuckHigh ?? 0,
      readNoise: o.readNoise ?? 0,
      adcBits: o.adcBits ?? 0,
      adcRange: o.adcRange ?? 0,
      wire: o.wire ?? 0,
    },
  });
  out(`xbar emulate: ${server.describe} serving on ${server.url} (Ctrl-C to stop)`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      server.stop().finally(resolve);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    until?.finally(stop);
  });
  out("xbar emulate: stopped");
}

/** Registers `xbar emulate`. */
export function addEmulateCommand(program: Command): void {
  program
    .command("emulate")
    .description("serve an emulated crossbar board on a TCP port or a serial device path until interrupted")
    .option("--listen <[host:]port>", "TCP address to listen on (host defaults to 127.0.0.1, loopback)")
    .option("--serial <path>", "serial device path to serve on, e.g. one end of a socat pty pair")
    .option("--rows <n>", "array rows", intArg("--rows", 1, 4096), 64)
    .option("--cols <n>", "array columns", intArg("--cols", 1, 4096), 64)
    .addOption(
      new Option("--device <name>", "device model preset")
        .choices(emulatorPresets().map((d) => d.name))
        .default("agsi"),
    )
    .option("--seed <n>", "seed of all randomness", intArg("--seed", 0, 2 ** 31 - 1), 1)
    .option(
      "--noise <scale>",
      "scale of the device's randomness (C2C, programming and read noise, D2D spread); 0 = its mean device",
      numArg("--noise", (v) => v >= 0 && v <= 10, "a scale in [0, 10]"),
      1,
    )
    .option("--lut <file.csv>", "pulse-response table for --device lut (the CSV of xbar characterize --out)")
    .option(
      "--dac <bits>",
      "protocol 1.1 wire: bits of the input DAC reported in IDN (with --adc): quantised arrays, held vectors",
      intArg("--dac", 1, 16),
    )
    .option(
      "--adc <bits>",
      "protocol 1.1 wire: bits of the sensing ADC reported in IDN (with --dac)",
      intArg("--adc", 1, 16),
    )
    .option("--sneak", "passive array: sneak currents in reads under the biasing scheme")
    .option("--disturb", "passive array: half-select disturb of programming pulses")
    .option(
      "--stuck-low <rate>",
      "fraction of devices stuck at low conductance",
      numArg("--stuck-low", rate, "in [0, 1]"),
    )
    .option(
      "--stuck-high <rate>",
      "fraction of devices stuck at high conductance",
      numArg("--stuck-high", rate, "in [0, 1]"),
    )
    .option(
      "--read-noise <sigma>",
      "relative read noise of each device current",
      numArg("--read-noise", rate, "in [0, 1]"),
    )
    .option("--adc-bits <n>", "ADC resolution of every sensed current, bits", intArg("--adc-bits", 2, 24))
    .option(
      "--adc-range <amps>",
      "ADC full scale, A (default: one device at 1 V and the preset's Gmax)",
      numArg("--adc-range", (v) => v > 0 && v <= 1, "a current in (0, 1] A"),
    )
    .option(
      "--wire <ohms>",
      "line resistance per cell segment, ohm",
      numArg("--wire", (v) => v >= 0 && v <= 1e4, "in [0, 10000]"),
    )
    .option(
      "--fault <spec>",
      "misbehave on the link, seeded: drop:P (lines), dropbyte:P, corrupt:P, delay:Dms, split, reset-after:N, disconnect-after:N, stall-after:N, seed:S (comma-separated)",
    )
    .option(
      "--timescale <s>",
      "wall seconds per board second: 0 = as fast as possible, 1 = the board's own time (docs/timing.md)",
      numArg("--timescale", (v) => v >= 0 && v <= 1000, "in [0, 1000]"),
      0,
    )
    .option(
      "--baud <n>",
      "limit the link to a UART at this baud rate, 8N1 (N/10 bytes/s each way)",
      intArg("--baud", 300, 100_000_000),
    )
    .option(
      "--state <file>",
      "keep the array's conductances in this file across restarts (non-volatile devices)",
    )
    .option("--compliance-trip", "a pulse above the compliance (CFG cc) trips: ERR 404 and a FAULT event")
    .addOption(
      new Option("--protocol <version>", "answer as a board of this protocol version")
        .choices(["1.0", "1.1"])
        .default("1.1"),
    )
    .option("--allow-remote", "allow --listen on an address other than loopback (needs a token)")
    .option(
      "--token-file <file>",
      "file whose first line is the token every client must present (default: $XBAR_TOKEN, then $XBAR_TOKEN_FILE)",
    )
    .option(
      "--token <secret>",
      "the token itself (other users see it in `ps`: prefer --token-file or $XBAR_TOKEN)",
    )
    .option(
      "--max-connections <n>",
      "TCP connections served at once; more are refused (REJECT 405)",
      intArg("--max-connections", 1, 1024),
      8,
    )
    .option(
      "--idle-timeout <seconds>",
      "close the session's connection after this long without a request (0: never)",
      intArg("--idle-timeout", 0, 604800),
      3600,
    )
    .option("--arc1", "serve an emulated ArC ONE (its own serial protocol) instead; needs --serial")
    .addHelpText("after", () => {
      const presets = emulatorPresets();
      const width = Math.max(...presets.map((d) => d.name.length));
      return `
Device presets:
${presets.map((d) => `  ${d.name.padEnd(width)}  ${d.description}`).join("\n")}

Array effects are off unless given; the board reports them in IDN effects= (docs/devices.md).

Examples:
  xbar emulate --listen 5025 --device linear --rows 128 --cols 128
  xbar emulate --listen 5025 --device pcm --sneak --stuck-low 0.01 --read-noise 0.02
  xbar emulate --listen 5025 --device lut --lut curve.csv      (curve.csv from xbar characterize --out)
  xbar emulate --listen 5025 --device linear --fault drop:0.02,corrupt:0.02,delay:5ms,split,seed:3
  xbar emulate --listen 0.0.0.0:5025 --allow-remote --token-file lab.token   (lab.token: the token on one line)
      clients: XBAR_TOKEN=... xbar idn --port socket://HOST:5025, or socket://HOST:5025?token-file=lab.token
  xbar emulate --listen 5025 --timescale 1 --baud 115200     (a board's own time on a 115200-baud UART)
  xbar emulate --serial /tmp/xbar-board --state board.state  (the array survives restarts; BOOT on start)
  socat -d -d pty,raw,echo=0,link=/tmp/xbar-board pty,raw,echo=0,link=/tmp/xbar-host &
  xbar emulate --serial /tmp/xbar-board &  xbar idn --port /tmp/xbar-host
  xbar emulate --arc1 --serial /tmp/xbar-board --rows 8 --cols 8 &  xbar idn --port "arc1:///tmp/xbar-host?rows=8&cols=8&boot=0"

One connection at a time holds the board's session (others: 402 BUSY); a connection that has not
opened the session within 30 s is closed, and a client that does not read its replies is dropped
after 30 s (docs/reliability.md, "What listens").`;
    })
    .action(async (o, cmd: Command) => {
      if (!o.arc1) return runEmulate(o, out);
      // The ArC ONE's array is at most 32 x 32: that is its default too.
      const dflt = (k: string, v: number) => (cmd.getOptionValueSource(k) === "default" ? 32 : v);
      return runEmulateArc1({ ...o, rows: dflt("rows", o.rows), cols: dflt("cols", o.cols) }, out);
    });
}

/** `xbar emulate --arc1 --serial PATH`: an emulated ArC ONE on a serial path until interrupted. */
export async function runEmulateArc1(o: EmulateOptions, out: (s: string) => void): Promise<void> {
  if (!o.serial || o.listen)
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      "--arc1 serves on a serial path: give --serial PATH (not --listen)",
    );
  if (o.rows > 32 || o.cols > 32)
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `the ArC ONE has at most 32 x 32 lines, not ${o.rows} x ${o.cols}`,
    );
  const server = await startArc1Server({
    serial: o.serial,
    rows: o.rows,
    cols: o.cols,
    device: o.device,
    seed: o.seed,
    noise: o.noise,
  });
  out(
    `xbar emulate: ${server.describe} serving on ${o.serial}; hosts use ${server.url}&boot=0 (Ctrl-C to stop)`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      server.stop().finally(resolve);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  out("xbar emulate: stopped");
}
