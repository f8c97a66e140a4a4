/**
 * An emulated bench: one emulated array (ProbedArray, the emulated board's physics) on a probe
 * station, an emulated 2400-class SMU and an emulated 707B matrix routing the SMU to its lines. For
 * `bench-emu://` in-process, and served on two TCP ports to test the real-instrument path
 * (`bench://?smu=socket://…&matrix=socket://…`).
 */
import { createServer, type Server } from "node:net";
import type { BoardOptions } from "./board.ts";
import { EmulatedMatrix, type MatrixBehaviour, matrixLoad, serveMatrixStream } from "./matrix.ts";
import { ProbedArray } from "./probe-array.ts";
import { EmulatedSmu, serveSmuStream } from "./smu.ts";

export interface BenchOptions extends BoardOptions {
  matrix?: MatrixBehaviour;
}

export class EmulatedBench {
  readonly array: ProbedArray;
  readonly smu: EmulatedSmu;
  readonly matrix: EmulatedMatrix;

  constructor(opts: BenchOptions = {}) {
    const { matrix, ...board } = opts;
    this.array = new ProbedArray(board);
    if (this.array.rows + this.array.cols > 72)
      throw new RangeError(
        `a 707B with six 8x12 cards has 72 lines: rows + cols = ${this.array.rows + this.array.cols}`,
      );
    this.matrix = new EmulatedMatrix("EMU0002", matrix);
    this.smu = new EmulatedSmu("EMU0001", {}, matrixLoad(this.matrix, this.array));
  }
}

/** Serves the bench's SMU and matrix on two loopback TCP ports; resolves with their URLs. */
export async function serveBenchTcp(
  bench: EmulatedBench,
  host = "127.0.0.1",
): Promise<{ smu: string; matrix: string; stop: () => Promise<void> }> {
  const listen = (serve: (s: import("node:net").Socket) => void) =>
    new Promise<Server>((resolve, reject) => {
      const server = createServer((sock) => {
        sock.on("error", () => {});
        serve(sock);
      });
      server.once("error", reject);
      server.listen(0, host, () => resolve(server));
    });
  const a = await listen((s) => serveSmuStream(bench.smu, s));
  const b = await listen((s) => serveMatrixStream(bench.matrix, s));
  const port = (s: Server) => (s.address() as { port: number }).port;
  const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));
  return {
    smu: `socket://${host}:${port(a)}`,
    matrix: `socket://${host}:${port(b)}`,
    stop: async () => {
      await Promise.all([close(a), close(b)]);
    },
  };
}
