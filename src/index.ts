/**
 * The `xbar` package's main entry point: the Board interface (the device-abstraction layer),
 * `connect(url)` to get a Board for a real board, a socket or the in-process emulator, the RxJS
 * operators and procedures that run on any Board, and the one error class with its codes.
 *
 * ```ts
 * import { connect, characterize } from "xbar";
 * const board = await connect("emu://?rows=8&cols=8&device=agsi&seed=1");
 * ```
 * Further entry points: `xbar/protocol` (the wire codec and command table), `xbar/learning`
 * (training rules), `xbar/campaigns` (campaign files, runner, run store), `xbar/emulator` (the
 * emulated board, for tests and CI), `xbar/drivers` (transports and the protocol client).
 */

export { ErrorCode, errorCodeName } from "../firmware-protocol/constants.ts";
export { type ErrorContext, isXbarError, XbarError } from "../firmware-protocol/errors.ts";
export { Arc1Board } from "./board/arc1-board.ts";
export { BenchBoard } from "./board/bench-board.ts";
export * from "./board/board.ts";
export { HostComposedBoard } from "./board/compose.ts";
export {
  type ConnectOptions,
  connect,
  connectSmu,
  DEFAULT_URL,
  type EmulatorServerOptions,
  emulatorPresets,
  startEmulatorServer,
} from "./board/connect.ts";
export * from "./board/counters.ts";
export { type DeviceWork, estimateSeconds, timingOfUrl } from "./board/estimate.ts";
export { CrossbarBoard } from "./board/protocol-board.ts";
export * from "./pipelines/index.ts";
export { packageInfo, softwareVersion } from "./version.ts";
