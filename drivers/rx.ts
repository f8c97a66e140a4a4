/**
 * The RxJS values on the start-up path of the `xbar` command (connect, the protocol board, the
 * client, `xbar idn|read|pulse`), each imported from its own module. `import … from "rxjs"` loads
 * the whole library, about 220 modules, 150-200 ms of every command's start on a small machine;
 * these few load in about a fifth of that. They are the very objects "rxjs" exports (the same files
 * underneath; test/startup.test.ts checks), so code off that path keeps importing "rxjs".
 */
export { firstValueFrom } from "rxjs/internal/firstValueFrom";
export { lastValueFrom } from "rxjs/internal/lastValueFrom";
export { defer } from "rxjs/internal/observable/defer";
export { catchError } from "rxjs/internal/operators/catchError";
export { map } from "rxjs/internal/operators/map";
export { share } from "rxjs/internal/operators/share";
export { Subject } from "rxjs/internal/Subject";
