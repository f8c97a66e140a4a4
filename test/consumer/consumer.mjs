// A JavaScript consumer of the packed xbar package: connect to an emulated board, read, pulse, and
// run a small pipeline, through the public entry points only.
import { firstValueFrom, lastValueFrom, toArray } from "rxjs";
import { characterize, connect, isXbarError, XbarError } from "xbar";
import { ErrorCode, PROTOCOL_VERSION } from "xbar/protocol";

const board = await connect("emu://?rows=8&cols=8&device=linear&seed=1");
const g0 = await firstValueFrom(board.read(0, 0));
const pulse = await firstValueFrom(
  board.pulse({ row: 0, col: 0, amplitude: 2, width: 1e-4, count: 5, readAfter: true }),
);
const curve = await lastValueFrom(characterize(board, { row: 1, col: 1, pulses: 3 }).pipe(toArray()));
let refused = 0;
try {
  await firstValueFrom(board.pulse({ row: 0, col: 0, amplitude: 99, width: 1e-4 }));
} catch (e) {
  if (isXbarError(e, ErrorCode.AMPLITUDE_LIMIT) && e instanceof XbarError) refused = e.code;
}
await board.close();
console.log(
  JSON.stringify({
    protocol: PROTOCOL_VERSION,
    g0,
    applied: pulse.applied,
    g1: pulse.conductance,
    points: curve.length,
    refused,
  }),
);
