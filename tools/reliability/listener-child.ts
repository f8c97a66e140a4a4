/**
 * An emulated board on TCP in a process of its own, so its memory can be measured from outside
 * (test/listener-memory.test.ts, scripts/listener-memory.mts). Argument: JSON of
 * { rows, cols, listen: ListenOptions }. Prints "PORT <n>" once listening; stops on SIGTERM; on SIGUSR2
 * prints "HELD <bytes>" (heap used + external after a collection).
 */
import type { AddressInfo } from "node:net";
import { EmulatedBoard, serveTcp } from "../../mocks/index.ts";

const opts = JSON.parse(process.argv[2] ?? "{}") as { rows?: number; cols?: number; listen?: object };
const board = new EmulatedBoard({ rows: opts.rows ?? 64, cols: opts.cols ?? 64, device: "linear" });
const server = await serveTcp(board, { host: "127.0.0.1", port: 0, ...opts.listen });
process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`);
process.on("SIGTERM", () => server.close(() => process.exit(0)));
// SIGUSR2: collect garbage (when started with --expose-gc) and print what is still held, bytes.
process.on("SIGUSR2", () => {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  gc();
  // A second collection after a turn of the loop frees buffers whose finalisers ran in between.
  setTimeout(() => {
    gc();
    const m = process.memoryUsage();
    process.stdout.write(`HELD ${m.heapUsed + m.external}\n`);
  }, 50);
});
