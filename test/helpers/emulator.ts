/**
 * `xbar emulate` as the tests use it: on a loopback TCP port, or on a socat pty pair (the serial
 * transport). The pty suite is required when CI=true and skipped with a message elsewhere when socat
 * is missing.
 */
import { afterAll, beforeAll, describe } from "vitest";
import { type PtyPair, startPtyPair, which } from "../../tools/pty.ts";
import { startXbar, stopAll } from "../../tools/run-xbar.ts";

/** Starts `xbar emulate --listen 127.0.0.1:0 ARGS` and resolves with its socket:// URL. */
export async function emulateOnTcp(args: string[]): Promise<string> {
  const emu = startXbar(["emulate", "--listen", "127.0.0.1:0", ...args]);
  return (await emu.waitFor(/serving on (socket:\/\/\S+)/))[1]!;
}

const SOCAT = which("socat");
const CI = process.env.CI === "true";

/**
 * A describe block whose tests reach an `xbar emulate --serial` board (started with `args`) through
 * the host end of a pty pair: `body` gets a function returning that path.
 */
export function describeOnPty(name: string, args: string[], body: (hostPath: () => string) => void): void {
  if (!SOCAT && !CI) console.warn(`${name}: socat is not on PATH, skipping (install socat to run it)`);
  describe.skipIf(!SOCAT && !CI)(name, () => {
    let pty: PtyPair | undefined;
    beforeAll(async () => {
      if (!SOCAT)
        throw new Error("socat is not on PATH, but the pty tests are required when CI=true: install socat");
      pty = await startPtyPair({ socat: SOCAT });
      await startXbar(["emulate", "--serial", pty.boardPath, ...args]).waitFor(/serving on/);
    });
    afterAll(async () => {
      await stopAll();
      await pty?.stop();
    });
    body(() => pty!.hostPath);
  });
}
