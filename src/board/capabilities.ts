/**
 * Capabilities of a protocol board, from what it says in IDN (`ops=`) and the link it is reached
 * through. Every operation of the Board interface has a protocol verb and our emulator and firmware
 * list them all. A board that lists fewer is reported honestly (`composed`), but the protocol board
 * does not yet compose for it: it sends the verb and the board refuses it (E201).
 */
import { type Capabilities, OPERATIONS, type Operation, type OperationTiming } from "./board.ts";

/** The protocol verb of each Board operation. */
export const OPERATION_VERBS: Record<Operation, string> = {
  read: "READ",
  readRow: "READROW",
  readCol: "READCOL",
  readBlock: "READBLK",
  readAll: "READALL",
  pulse: "PULSE",
  pulseRead: "PULSE",
  pulseList: "PLIST",
  pulseBlock: "PBLK",
  outerProductUpdate: "OPU",
  vmm: "VMM",
  vmmT: "VMMT",
  fire: "FIRE",
};

/**
 * Round trip of one short command on a link, s (our estimate, not a measurement): a request and
 * its reply of about 60 bytes each at 10 bits per byte on a serial line, 1 ms on a socket, 50 µs
 * to an in-process emulator.
 */
export function linkRoundTrip(url: string): number {
  if (url.startsWith("socket://")) return 1e-3;
  const serial = url.startsWith("serial") || url.startsWith("/") || /^COM\d/i.test(url);
  if (!serial) return 5e-5; // in-process: emu://, bench-emu://
  const m = /[?&]baud=(\d+)/.exec(url);
  const baud = m ? Number(m[1]) : 115200;
  return (120 * 10) / baud;
}

/** Capabilities of a board speaking our protocol, from its IDN ops. */
export function protocolCapabilities(ops: readonly string[], url: string, readTime: number): Capabilities {
  const native = OPERATIONS.filter((op) => ops.includes(OPERATION_VERBS[op]));
  const timing: OperationTiming = { command: linkRoundTrip(url), read: readTime, pulse: 0, batched: true };
  return {
    native,
    composed: OPERATIONS.filter((op) => op !== "fire" && !native.includes(op)),
    schemes: ["V/2", "V/3", "FLOAT"],
    timing,
  };
}
