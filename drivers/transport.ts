/**
 * The transport contract: a link that carries lines of the xbar protocol, whatever it is made of.
 *
 * Implementations (all framed identically by firmware-protocol/framing.ts):
 * - serial device path, through node `serialport` (`/dev/ttyUSB0`, `serial:///dev/ttyACM0?baud=921600`);
 * - `socket://host:port`, a raw TCP socket, as pyserial's and ser2net's users know it;
 * - any in-process Duplex stream (`fromDuplex`), which is how `emu://` reaches an emulated board.
 *
 * Semantics every implementation keeps:
 * - `lines` emits each received line without its terminator, in order. It completes when `close()`
 *   was called, and errors with XbarError 602 (DISCONNECTED) when the link goes away on its own
 *   (a pulled USB plug, a closed socket).
 * - `write()` queues bytes; it never throws for a closed link (the loss shows as `lines` ending).
 * - `close()` is idempotent and resolves once the underlying port or socket is released.
 */
import type { Observable } from "rxjs";

export interface Transport {
  /** What the link is, for messages: "serial /dev/ttyUSB0", "socket://127.0.0.1:5025", "emu://". */
  readonly name: string;
  readonly lines: Observable<string>;
  write(data: string): void;
  close(): Promise<void>;
  /** Bytes written and received so far (for the wire-efficiency figures of `npm run bench`). */
  readonly bytes: { sent: number; received: number };
  /** Bytes written but not yet taken by the link (a long line on a slow port); 0 when unknown. */
  writeBacklog?(): number;
}
