// A TypeScript consumer of the packed xbar package, type-checked against the shipped declarations.
import { firstValueFrom, lastValueFrom, toArray } from "rxjs";
import { type Board, type CharacterizePoint, characterize, connect, type PulseResult } from "xbar";
import { trainResult } from "xbar/learning";

const board: Board = await connect("emu://?rows=8&cols=8&device=linear&seed=1");
const g: number = await firstValueFrom(board.read(0, 0));
const r: PulseResult = await firstValueFrom(
  board.pulse({ row: 0, col: 0, amplitude: 2, width: 1e-4, count: 5 }),
);
const pts: CharacterizePoint[] = await lastValueFrom(
  characterize(board, { row: 1, col: 1, pulses: 3 }).pipe(toArray()),
);
await board.close();
const train: typeof trainResult = trainResult;
console.log(JSON.stringify({ g, applied: r.applied, points: pts.length, train: typeof train }));
