import { firstValueFrom } from "rxjs";
import { connect } from "/work/main/src/connect.ts";
const b = await connect("emu://?rows=8&cols=8&device=linear&seed=1");
console.log(b.identity, b.limits);
console.log(await firstValueFrom(b.pulse({row:0,col:0,amplitude:2,width:1e-4,count:10,readAfter:true})));
console.log(await firstValueFrom(b.readRow(0)));
console.log(await firstValueFrom(b.counters()));
try { await firstValueFrom(b.pulse({row:0,col:0,amplitude:6,width:1e-4})); } catch(e) { console.log((e as Error).message); }
try { await firstValueFrom(b.read(9,0)); } catch(e) { console.log((e as Error).message); }
await b.close();
