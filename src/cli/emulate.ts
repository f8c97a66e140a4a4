/** `xbar emulate`: serve an emulated board until interrupted. */
import { XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
import { emulatorFaults, startArc1Server, startEmulatorServer } from "../board/connect.ts";

export interface EmulateOptions {
  listen?: string;
  serial?: string;
  rows: number;
  cols: number;
  device: string;
  seed: number;
  noise?: number;
  lut?: string;
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
  /** Token every session must present in HELLO (clients: socket://HOST:PORT?token=...). */
  token?: string;
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

export async function runEmulate(o: EmulateOptions, out: (s: string) => void): Promise<void> {
  if (Boolean(o.listen) === Boolean(o.serial))
    throw new XbarError(ErrorCode.BAD_INPUT, "give exactly one of --listen [HOST:]PORT and --serial PATH");
  const listen = o.listen ? parseListen(o.listen) : undefined;
  if (listen && !LOOPBACK.has(listen.host)) {
    if (!o.allowRemote)
      throw new XbarError(
        ErrorCode.BAD_INPUT,
        `--listen ${listen.host} is reachable from other machines: add --allow-remote and --token SECRET (or listen on 127.0.0.1)`,
      );
    if (!o.token)
      throw new XbarError(
        ErrorCode.BAD_INPUT,
        `--allow-remote needs --token SECRET: clients then connect with socket://HOST:PORT?token=SECRET`,
      );
  }
  if (o.token !== undefined && !/^[\x21-\x7e]{8,256}$/.test(o.token))
    throw new XbarError(ErrorCode.BAD_INPUT, "--token must be 8..256 printable characters without spaces");
  let faults: ReturnType<typeof emulatorFaults>;
  if (o.fault !== undefined) {
    try {
      faults = emulatorFaults(new URLSearchParams({ fault: o.fault }));
    } catch (e) {
      throw new XbarError(
        ErrorCode.BAD_INPUT,
        `--fault: ${(e as Error).message.replace(/^.*fault=\S*: /, "")}`,
      );
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
    token: o.token,
    faults,
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
      server.stop().finally(resolve);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  out("xbar emulate: stopped");
}

/** `xbar emulate --arc1 --serial PATH`: an emulated ArC ONE on a serial path until interrupted. */
export async function runEmulateArc1(
  o: EmulateOptions & { arc1?: boolean },
  out: (s: string) => void,
): Promise<void> {
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
