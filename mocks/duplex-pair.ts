/**
 * Two connected in-process Duplex ends: what one writes, the other reads, in the same tick. Lighter
 * than `Duplex.from({ readable, writable })` over two PassThroughs (whose async iteration costs a
 * millisecond or so per round trip), which matters for instruments that take several queries per
 * operation (the emulated SMU and matrix, the emulated ArC ONE). Ending one end ends the other's
 * readable side; destroying one destroys the other.
 */
import { Duplex } from "node:stream";

export function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const make = (peer: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        const p = peer();
        if (!p.destroyed) p.push(chunk);
        cb();
      },
      final(cb) {
        const p = peer();
        if (!p.destroyed) p.push(null);
        cb();
      },
      destroy(err, cb) {
        const p = peer();
        if (!p.destroyed) p.destroy();
        cb(err);
      },
    });
  ends.push(
    make(() => ends[1]!),
    make(() => ends[0]!),
  );
  return [ends[0]!, ends[1]!];
}
