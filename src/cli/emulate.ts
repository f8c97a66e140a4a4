/** `xbar emulate`: serve an emulated board until interrupted. */
import { XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
import { emulatorFaults, startEmulatorServer } from "../board/connect.ts";
import { readTokenFile, TOKEN_PATTERN } from "../board/token.ts";

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
  /** Token every session must present in HELLO (clients: socket://HOST:PORT?token=...); shows in `ps`. */
  token?: string;
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
    token,
    faults,
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
